/**
 * An APC Smart-UPS on a serial line, as cluster-glue's `apcsmart` STONITH plugin speaks to it
 * (lib/plugins/stonith/apcsmart.c, after NUT's apcsmart protocol notes). Single-character commands,
 * answers ending in CR LF:
 *
 *   Y        enter smart mode            -> "SM"
 *   ^A       model                       -> "SMART-UPS 700"
 *   Q        status flags (hex)          -> "08" on line, "00" output off
 *   p / r    shutdown / wake-up delay    -> "020" / "000"; "-" right after steps to the next value ("OK")
 *   S        soft shutdown (on battery)  -> "NA" on line power (the plugin then sends @000)
 *   @nnn     shut down after the grace delay, come back on (wake-up delay + nnn x 6 min) -> "OK"
 *   K K      shut down after the grace delay and stay off (two K at least 1.5 s apart)  -> "OK"
 *   Z Z      output off now, stays off; ^N ^N output on
 *   ~        register 2 (bit 0x40: output off); 8 register 4 (bit 0x08: shutdown/reset under way)
 *
 * The emulator is pure: bytes in, bytes out through `send`, output changes through `onOutput`, and
 * timers from `schedule` (so tests drive it without sleeping).
 */

export type UpsTimer = { cancel(): void };
export type Schedule = (ms: number, fn: () => void) => UpsTimer;

export interface ApcSmartUpsOptions {
  /** Writes bytes back to the serial line. */
  send(bytes: string): void;
  /** The UPS switched its output (true on, false off). */
  onOutput(on: boolean, why: string): void;
  schedule?: Schedule;
  /** Multiplies the delays the UPS waits (grace, wake-up); 1 is the real hardware. */
  delayScale?: number;
  model?: string;
}

/** The values a Smart-UPS 700 cycles through (EEPROM choices, NUT's apcsmart tables). */
const SHUTDOWN_DELAYS = ["020", "180", "300", "600"];
const WAKEUP_DELAYS = ["000", "060", "180", "300"];
/**
 * A reset keeps the output off at least this long even with a zero wake-up delay (a real unit also
 * waits for its relays; the lab needs the node visibly off before it boots again).
 */
const MIN_OFF_SECONDS = 10;
/** Two K, Z or ^N count as one command when the second comes this soon after the first. */
const DOUBLE_WINDOW_MS = 5000;

const realSchedule: Schedule = (ms, fn) => {
  const t = setTimeout(fn, ms);
  t.unref?.();
  return { cancel: () => clearTimeout(t) };
};

export class ApcSmartUps {
  private outputOn = true;
  private shutdownIndex = 0;
  private wakeupIndex = 0;
  /** The variable "-" steps: the last p or r asked. */
  private lastVar: "p" | "r" | null = null;
  private pendingAt: string | null = null;
  private lastDouble: { cmd: string; at: number } | null = null;
  private resetUnderWay = false;
  private timers: UpsTimer[] = [];
  private silent = false;
  private readonly schedule: Schedule;
  private readonly scale: number;
  /** Every command the UPS accepted, in order (for the lab and tests). */
  readonly log: string[] = [];

  constructor(private readonly opts: ApcSmartUpsOptions) {
    this.schedule = opts.schedule ?? realSchedule;
    this.scale = opts.delayScale ?? 1;
  }

  get output(): boolean {
    return this.outputOn;
  }

  /** Lab fault: the UPS stops answering (unplugged serial cable, dead management card). */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /** Power restored by hand (the lab's "power on" of a node that stays off). */
  powerOn(why = "output switched on"): void {
    this.cancelTimers();
    this.resetUnderWay = false;
    this.setOutput(true, why);
  }

  close(): void {
    this.cancelTimers();
  }

  /** Bytes the serial line delivered. */
  feed(bytes: string, now: number = Date.now()): void {
    if (this.silent) return;
    for (const ch of bytes) {
      const answer = this.command(ch, now);
      if (answer !== null) this.reply(answer);
    }
  }

  private reply(text: string): void {
    this.opts.send(`${text}\r\n`);
  }

  private setOutput(on: boolean, why: string): void {
    if (this.outputOn === on) return;
    this.outputOn = on;
    this.opts.onOutput(on, why);
  }

  private cancelTimers(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
  }

  private later(seconds: number, fn: () => void): void {
    this.timers.push(this.schedule(Math.max(0, seconds * 1000 * this.scale), fn));
  }

  /** K, Z and ^N act only when sent twice (a single one is ignored, as on the hardware). */
  private doubled(cmd: string, now: number): boolean {
    const prev = this.lastDouble;
    if (prev && prev.cmd === cmd && now - prev.at <= DOUBLE_WINDOW_MS) {
      this.lastDouble = null;
      return true;
    }
    this.lastDouble = { cmd, at: now };
    return false;
  }

  /** The answer to one character (without CR LF), or null when the UPS says nothing. */
  private command(ch: string, now: number): string | null {
    if (this.pendingAt !== null) {
      if (/\d/.test(ch)) {
        this.pendingAt += ch;
        if (this.pendingAt.length === 3) {
          const tenths = Number(this.pendingAt);
          this.pendingAt = null;
          this.log.push(`@${String(tenths).padStart(3, "0")}`);
          this.shutdownAndReturn(tenths * 360);
          return "OK";
        }
        return null;
      }
      this.pendingAt = null;
    }
    if (ch === "\r" || ch === "\n") return null;
    // "-" steps the variable named by the command right before it.
    if (ch !== "-") this.lastVar = ch === "p" || ch === "r" ? ch : null;
    switch (ch) {
      case "Y":
        this.log.push("Y");
        return "SM";
      case "\x01":
        return this.opts.model ?? "SMART-UPS 700";
      case "Q":
        return this.outputOn ? "08" : "00";
      case "p":
        return SHUTDOWN_DELAYS[this.shutdownIndex] as string;
      case "r":
        return WAKEUP_DELAYS[this.wakeupIndex] as string;
      case "-": {
        // The plugin steps a variable, then reads it again after "Y" + the variable's letter.
        const v = this.lastVar;
        if (v === "p") this.shutdownIndex = (this.shutdownIndex + 1) % SHUTDOWN_DELAYS.length;
        else if (v === "r") this.wakeupIndex = (this.wakeupIndex + 1) % WAKEUP_DELAYS.length;
        else return "NA";
        return "OK";
      }
      case "S":
        // Soft shutdown works only on battery; on line power the UPS refuses it.
        this.log.push("S");
        return "NA";
      case "@":
        this.pendingAt = "";
        return null;
      case "K":
        if (this.doubled("K", now)) {
          this.log.push("KK");
          this.shutdownAndStayOff();
          return "OK";
        }
        return null;
      case "Z":
        if (this.doubled("Z", now)) {
          this.log.push("ZZ");
          this.cancelTimers();
          this.resetUnderWay = false;
          this.setOutput(false, "output off (Z)");
        }
        return null;
      case "\x0e":
        if (this.doubled("\x0e", now)) {
          this.log.push("^N^N");
          this.powerOn("output on (^N)");
        }
        return null;
      case "~":
        return this.outputOn ? "00" : "40";
      case "8":
        return this.resetUnderWay ? "08" : "00";
      case "?":
      case "'":
        return "00";
      case "B":
        return "27.87";
      case "f":
        return "100.0";
      case "L":
        return "230.4";
      case "V":
        return "GWD";
      default:
        return "NA";
    }
  }

  private graceSeconds(): number {
    return Number(SHUTDOWN_DELAYS[this.shutdownIndex]);
  }

  private shutdownAndReturn(extraSeconds: number): void {
    this.cancelTimers();
    this.resetUnderWay = true;
    this.later(this.graceSeconds(), () => {
      this.setOutput(false, "reset: output off after the grace delay");
      this.later(Math.max(MIN_OFF_SECONDS, Number(WAKEUP_DELAYS[this.wakeupIndex]) + extraSeconds), () => {
        this.resetUnderWay = false;
        this.setOutput(true, "reset: output back on");
      });
    });
  }

  private shutdownAndStayOff(): void {
    this.cancelTimers();
    this.resetUnderWay = true;
    this.later(this.graceSeconds(), () => {
      this.resetUnderWay = false;
      this.setOutput(false, "shutdown (KK): output off");
    });
  }
}
