/**
 * The emulated APC Smart-UPS, driven with the byte sequences cluster-glue's apcsmart plugin sends
 * (apcsmart.c: APC_init's smallest-delay search, the S/@000 reset, the ResetHappening poll, Z/^N).
 * Timers are manual, so nothing sleeps.
 */
import { describe, expect, it } from "vitest";
import { classifyHaLog, parseHaLogLine } from "../../src/drivers/heartbeat/ha-log";
import { ApcSmartUps, type Schedule } from "../../src/lab/real-ha/ups";

function harness(delayScale = 1) {
  const sent: string[] = [];
  const outputs: boolean[] = [];
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  let now = 0;
  const schedule: Schedule = (ms, fn) => {
    const t = { at: now + ms, fn, live: true };
    timers.push(t);
    return { cancel: () => (t.live = false) };
  };
  const ups = new ApcSmartUps({
    send: (b) => sent.push(b),
    onOutput: (on) => outputs.push(on),
    schedule,
    delayScale,
  });
  /** Sends one command (as the plugin does) and returns the answer line, CR LF stripped. */
  const ask = (cmd: string): string => {
    sent.length = 0;
    ups.feed(cmd, now);
    return sent.join("").replace(/\r\n$/, "");
  };
  const advance = (ms: number) => {
    now += ms;
    for (;;) {
      const due = timers.filter((t) => t.live && t.at <= now).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      due.live = false;
      due.fn();
    }
  };
  return { ups, ask, advance, outputs, sent };
}

/** APC_get_smallest_delay: read the value, then "-" and re-read until it comes round again. */
function smallestDelay(ask: (c: string) => string, cmd: "p" | "r"): { seen: string[]; smallest: string } {
  expect(ask("Y")).toBe("SM");
  const orig = ask(cmd);
  const seen = [orig];
  let smallest = orig;
  for (let resp = ""; resp !== orig; ) {
    expect(ask("-")).toBe("OK");
    expect(ask("Y")).toBe("SM");
    resp = ask(cmd);
    seen.push(resp);
    if (Number(resp) < Number(smallest)) smallest = resp;
    expect(seen.length).toBeLessThan(10);
  }
  return { seen, smallest };
}

describe("emulated APC Smart-UPS (apcsmart protocol)", () => {
  it("answers the plugin's initialisation: smart mode, model, and delays that cycle back", () => {
    const { ask } = harness();
    expect(ask("Y")).toBe("SM");
    expect(ask("\x01")).toBe("SMART-UPS 700");
    expect(smallestDelay(ask, "p")).toEqual({ seen: ["020", "180", "300", "600", "020"], smallest: "020" });
    expect(smallestDelay(ask, "r")).toEqual({ seen: ["000", "060", "180", "300", "000"], smallest: "000" });
    expect(ask("Q")).toBe("08");
    expect(ask("X")).toBe("NA");
  });

  it("reset: S refused on line power, @000 accepted and shown in register 8; off after the grace delay, on 10 s later", () => {
    const { ups, ask, advance, outputs } = harness();
    expect(ask("Y")).toBe("SM");
    expect(ask("S")).toBe("NA");
    // The plugin sends "@000" one character at a time; only the last digit gets the answer.
    expect(ask("@")).toBe("");
    expect(ask("0")).toBe("");
    expect(ask("0")).toBe("");
    expect(ask("0")).toBe("OK");
    expect(ask("Y")).toBe("SM");
    expect(ask("8")).toBe("08");
    expect(ups.output).toBe(true);
    advance(19_999);
    expect(outputs).toEqual([]);
    advance(1);
    expect(outputs).toEqual([false]);
    expect(ask("~")).toBe("40");
    expect(ask("Q")).toBe("00");
    advance(9_999);
    expect(outputs).toEqual([false]);
    advance(1);
    expect(outputs).toEqual([false, true]);
    expect(ask("8")).toBe("00");
    expect(ask("~")).toBe("00");
    expect(ups.log).toEqual(["Y", "S", "@000", "Y"]);
  });

  it("delayScale shortens the wait (labs and tests), not the delays the UPS reports", () => {
    const { ask, advance, outputs } = harness(0.25);
    expect(ask("p")).toBe("020");
    for (const c of "@000") ask(c);
    advance(5000);
    expect(outputs).toEqual([false]);
    advance(2500);
    expect(outputs).toEqual([false, true]);
  });

  it("Z and ^N act only when sent twice; KK shuts down after the grace delay and stays off", () => {
    const { ups, ask, advance, outputs } = harness();
    ask("Z");
    expect(ups.output).toBe(true);
    advance(2000);
    ask("Z");
    expect(outputs).toEqual([false]);
    ask("\x0e");
    advance(2000);
    ask("\x0e");
    expect(outputs).toEqual([false, true]);
    ask("K");
    advance(1500);
    expect(ask("K")).toBe("OK");
    advance(20_000);
    expect(outputs).toEqual([false, true, false]);
    advance(3_600_000);
    expect(ups.output).toBe(false);
  });

  it("a silent UPS (lab fault) answers nothing, so the plugin times out", () => {
    const { ups, ask } = harness();
    ups.setSilent(true);
    expect(ask("Y")).toBe("");
    ups.setSilent(false);
    expect(ask("Y")).toBe("SM");
  });
});

describe("heartbeat 3.0.6's own log lines (captured from the real-HA lab)", () => {
  it("parses the daemon's syslog-style lines and the scripts' time-first lines", () => {
    const lines = [
      "Dec 04 17:53:52 ics1 heartbeat: [18]: WARN: node ics2: is dead",
      "Dec 04 17:53:52 ics1 heartbeat: [95]: info: Resetting node ics2 with [APCSmart]",
      "Dec 04 17:53:52 ics1 heartbeat: [95]: info: node ics2 now reset.",
      "Dec 04 17:53:52 ics1 heartbeat: [18]: info: Resources being acquired from ics2.",
      "2026/12/04_17:53:52  ResourceManager(default)[147]:    info: Acquiring resource group: ics2 drbddisk::internet xen-guest::internet",
      "2026/12/04_17:53:53  mach_down(default)[123]:    info: mach_down takeover complete for node ics2.",
      "Dec 04 17:53:53 ics1 heartbeat: [18]: info: mach_down takeover complete.",
    ];
    const events = lines.map((l) => {
      const parsed = parseHaLogLine(l);
      expect(parsed, l).not.toBeNull();
      return parsed ? classifyHaLog(parsed) : null;
    });
    expect(events).toEqual([
      { kind: "node_dead", node: "ics2" },
      { kind: "stonith_start", node: "ics2", device: "APCSmart" },
      { kind: "stonith_ok", node: "ics2" },
      { kind: "takeover_start", node: "ics2" },
      { kind: "takeover_group", resources: ["drbddisk::internet", "xen-guest::internet"] },
      { kind: "takeover_done", node: "ics2" },
      { kind: "takeover_done", node: null },
    ]);
    expect(parseHaLogLine(lines[4] as string)).toMatchObject({
      program: "ResourceManager",
      pid: 147,
      at: "2026-12-04T17:53:52Z",
      level: "info",
    });
  });
});
