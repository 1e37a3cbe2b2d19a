/**
 * A clock for code that takes `{ now(), sleep(ms) }` (the Slack sender, for one): time moves only
 * through sleeps, so a test asserts the exact spacing the code chose, whatever the machine's load.
 *
 * A sleep does not wait for wall time: the earliest pending sleep wakes on the next turn of the event
 * loop (setImmediate), and the clock jumps to its wake-up time. Sleeps wake in order of their wake-up
 * time and the clock never goes back. Real I/O (an HTTP call to a fake server) may take longer than
 * the virtual time that passes meanwhile; spacing decided by the code's own sleeps is exact.
 */
export class VirtualClock {
  private t: number;
  private readonly timers: { at: number; seq: number; wake: () => void }[] = [];
  private seq = 0;
  private ticking = false;
  /** Every sleep asked for, in order. */
  readonly sleeps: number[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now = (): number => this.t;

  sleep = (ms: number): Promise<void> =>
    new Promise((wake) => {
      this.sleeps.push(ms);
      this.timers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, wake });
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      this.tick();
    });

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    setImmediate(() => {
      this.ticking = false;
      const next = this.timers.shift();
      if (!next) return;
      this.t = Math.max(this.t, next.at);
      next.wake();
      if (this.timers.length > 0) this.tick();
    });
  }
}
