import { describe, expect, it } from "vitest";
import type { DrbdResourceConfig } from "../../../src/config/schema";
import {
  DRBD8_CONNECTED_STATES,
  type ProcDrbdConfiguredMinor,
  type ProcDrbdMinor,
  parseProcDrbd,
  toResourceStates,
} from "../../../src/drivers/drbd8/parse-proc-drbd";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { readFixture } from "../../support/fixtures";

function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw err;
  }
  throw new Error("expected a ParseError, got a result");
}

function configured(minors: ProcDrbdMinor[], n: number): ProcDrbdConfiguredMinor {
  const m = minors.find((x) => x.minor === n);
  if (!m || m.unconfigured) throw new Error(`minor ${n} is not a configured minor`);
  return m;
}

/** [minor, cs, role/peerRole, disk/peerDisk, protocol, flags] for compact expectations. */
function summary(minors: ProcDrbdMinor[]): unknown[] {
  return minors.map((m) =>
    m.unconfigured
      ? [m.minor, "Unconfigured"]
      : [m.minor, m.cs, `${m.role}/${m.peerRole}`, `${m.disk}/${m.peerDisk}`, m.protocol, m.flags],
  );
}

const NO_SYNC_DEFAULTS = { shortTermKiBps: null, stalled: false, sectorPos: null };

describe("parseProcDrbd on DRBD 8.0 fixtures", () => {
  const emptyline = parseProcDrbd(readFixture("drbd8", "drbd80-ganeti-emptyline.txt"));

  it("drbd80-ganeti-emptyline: version, build line and a blank line between minors", () => {
    expect(emptyline.version).toEqual({
      version: "8.0.12",
      api: 86,
      proto: "86",
      gitHash: "5c9f89594553e32adb87d9638dce591782f947e3",
      buildBy: "root@node1.example.com, 2009-05-22 12:47:52",
      srcversion: null,
    });
    expect(summary(emptyline.minors)).toEqual([
      [0, "Connected", "Primary/Secondary", "UpToDate/UpToDate", "C", "r---"],
      [1, "Unconfigured"],
      [2, "Unconfigured"],
      [5, "Unconfigured"],
      [6, "Unconfigured"],
    ]);
    const m0 = configured(emptyline.minors, 0);
    expect(m0.roleKey).toBe("st");
    expect(m0.counters).toEqual({
      ns: 78728316,
      nr: 0,
      dw: 77675644,
      dr: 1277039,
      al: 254,
      bm: 270,
      lo: 0,
      pe: 0,
      ua: 0,
      ap: 0,
      ep: null,
      wo: null,
      oos: null,
    });
    expect(m0.resync).toEqual({
      used: 0,
      size: 61,
      counters: { hits: 65657, misses: 135, starving: 0, dirty: 0, changed: 135 },
    });
    expect(m0.actLog).toEqual({
      used: 0,
      size: 257,
      counters: { hits: 11378843, misses: 254, starving: 0, dirty: 0, changed: 254 },
    });
    expect(m0.sync).toBeNull();
  });

  it("drbd80-ganeti-missing-version-line: starts at GIT-hash, same minors", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd80-ganeti-missing-version-line.txt"));
    expect(parsed.version).toEqual({ ...emptyline.version, version: null, api: null, proto: null });
    expect(parsed.minors).toEqual(emptyline.minors);
  });

  it("drbd80-ganeti-mixed-states: every state, tab- or space-indented cache lines", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd80-ganeti-mixed-states.txt"));
    expect(parsed.version.buildBy).toBe("XXX");
    expect(summary(parsed.minors)).toEqual([
      [0, "Connected", "Primary/Secondary", "UpToDate/UpToDate", "C", "r---"],
      [1, "Connected", "Secondary/Primary", "UpToDate/UpToDate", "C", "r---"],
      [2, "Unconfigured"],
      [4, "WFConnection", "Primary/Unknown", "UpToDate/DUnknown", "C", "r---"],
      [5, "Connected", "Primary/Secondary", "UpToDate/Diskless", "C", "r---"],
      [6, "Connected", "Secondary/Primary", "Diskless/UpToDate", "C", "r---"],
      [7, "WFConnection", "Secondary/Unknown", "UpToDate/DUnknown", "C", "r---"],
      [8, "StandAlone", "Secondary/Unknown", "UpToDate/DUnknown", null, "r---"],
    ]);
    // The diskless minor 6 prints no cache lines.
    expect(configured(parsed.minors, 6).resync).toBeNull();
    expect(configured(parsed.minors, 6).counters.nr).toBe(4375581);
    expect(configured(parsed.minors, 0).actLog?.counters.hits).toBe(793749);
  });
});

describe("parseProcDrbd on DRBD 8.3 fixtures", () => {
  it("drbd83-ganeti-mixed-states-nul: flag columns ending in a NUL byte", () => {
    const text = readFixture("drbd8", "drbd83-ganeti-mixed-states-nul.txt");
    expect(text).toContain("r---\0\n");
    const parsed = parseProcDrbd(text);
    expect(parsed.version).toEqual({
      version: "8.3.1",
      api: 88,
      proto: "86-89",
      gitHash: "fd40f4a8f9104941537d1afc8521e584a6d3003c",
      buildBy: "phil@fat-tyre, 2009-03-27 12:19:49",
      srcversion: null,
    });
    expect(summary(parsed.minors)).toEqual([
      [0, "Connected", "Primary/Secondary", "UpToDate/UpToDate", "C", "r----"],
      [1, "Connected", "Secondary/Primary", "UpToDate/UpToDate", "C", "r---"],
      [2, "Unconfigured"],
      [4, "WFConnection", "Primary/Unknown", "UpToDate/DUnknown", "C", "r----"],
      [5, "Connected", "Primary/Secondary", "UpToDate/Diskless", "C", "r----"],
      [6, "Connected", "Secondary/Primary", "Diskless/UpToDate", "C", "r---"],
      [7, "WFConnection", "Secondary/Unknown", "UpToDate/DUnknown", "C", "r---"],
      [8, "StandAlone", "Secondary/Unknown", "UpToDate/DUnknown", null, "r---"],
    ]);
    const m0 = configured(parsed.minors, 0);
    expect(m0.roleKey).toBe("ro");
    expect(m0.counters).toEqual({
      ns: 140978,
      nr: 0,
      dw: 9906,
      dr: 131533,
      al: 27,
      bm: 8,
      lo: 0,
      pe: 0,
      ua: 0,
      ap: 0,
      ep: 1,
      wo: "b",
      oos: 0,
    });
    expect(configured(parsed.minors, 1).counters.wo).toBe("f");
  });

  it("drbd83-ganeti-syncsource-kernel2.6.39: finish glued to the MiB progress bar", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd83-ganeti-syncsource-kernel2.6.39.txt"));
    expect(parsed.minors.map((m) => m.minor)).toEqual([0, 1, 2, 3, 4]);
    const m3 = configured(parsed.minors, 3);
    expect([m3.cs, m3.role, m3.peerRole, m3.disk, m3.peerDisk, m3.protocol, m3.flags]).toEqual([
      "SyncSource",
      "Primary",
      "Secondary",
      "UpToDate",
      "Inconsistent",
      "A",
      "r-----",
    ]);
    expect(m3.counters).toMatchObject({ ns: 373888, lo: 7, pe: 27, ua: 7, oos: 15358208 });
    expect(m3.sync).toEqual({
      kind: "resync",
      percent: 2.4,
      left: 14996,
      total: 15360,
      unit: "M",
      finishSec: 248,
      speedKiBps: 61736,
      averageKiBps: 61736,
      wantKiBps: null,
      ...NO_SYNC_DEFAULTS,
    });
  });

  it("drbd83-ganeti-synctarget-want: srcversion line, KiB bar and want: speed", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd83-ganeti-synctarget-want.txt"));
    expect(parsed.version).toEqual({
      version: "8.3.11",
      api: 88,
      proto: "86-96",
      gitHash: null,
      buildBy: null,
      srcversion: "2D876214BAAD53B31ADC1D6",
    });
    expect(summary(parsed.minors)).toEqual([
      [0, "SyncTarget", "Secondary/Primary", "Inconsistent/UpToDate", "C", "r-----"],
      [1, "Unconfigured"],
      [2, "Unconfigured"],
      [3, "Unconfigured"],
    ]);
    const m0 = configured(parsed.minors, 0);
    expect(m0.counters.oos).toBe(588416);
    expect(m0.sync).toEqual({
      kind: "resync",
      percent: 44.4,
      left: 588416,
      total: 1048576,
      unit: "K",
      finishSec: 8,
      speedKiBps: 65736,
      averageKiBps: 65736,
      wantKiBps: 61440,
      ...NO_SYNC_DEFAULTS,
    });
  });

  it("drbd83-ganeti-synctarget: SyncTarget while locally Primary, bar indented 5 spaces", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd83-ganeti-synctarget.txt"));
    const m3 = configured(parsed.minors, 3);
    expect([m3.cs, m3.role, m3.peerRole, m3.disk, m3.peerDisk]).toEqual([
      "SyncTarget",
      "Primary",
      "Secondary",
      "Inconsistent",
      "UpToDate",
    ]);
    expect(m3.counters).toMatchObject({ nr: 178176, al: 104, bm: 42, wo: "b", oos: 346112 });
    expect(m3.sync).toEqual({
      kind: "resync",
      percent: 34.9,
      left: 346112,
      total: 524288,
      unit: "M",
      finishSec: 5,
      speedKiBps: 59392,
      averageKiBps: 59392,
      wantKiBps: null,
      ...NO_SYNC_DEFAULTS,
    });
  });
});

describe("parseProcDrbd on DRBD 8.4 fixtures", () => {
  it("drbd84-ganeti-emptyfirst: blank line after the header, first minor is 1", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-ganeti-emptyfirst.txt"));
    expect(parsed.version).toMatchObject({ version: "8.4.2", api: 1, proto: "86-101" });
    expect(summary(parsed.minors)).toEqual([
      [1, "Connected", "Secondary/Primary", "UpToDate/UpToDate", "C", "r-----"],
      [2, "Unconfigured"],
      [4, "WFConnection", "Primary/Unknown", "UpToDate/DUnknown", "C", "r-----"],
      [6, "Connected", "Secondary/Primary", "Diskless/UpToDate", "C", "r-----"],
      [8, "StandAlone", "Secondary/Unknown", "UpToDate/DUnknown", null, "r-----"],
    ]);
    expect(configured(parsed.minors, 4).counters.oos).toBe(1048320);
    expect(configured(parsed.minors, 6).counters.wo).toBe("b");
  });

  it("drbd84-ganeti-mixed-states: minors separated by blank lines", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-ganeti-mixed-states.txt"));
    expect(summary(parsed.minors)).toEqual([
      [0, "Connected", "Primary/Secondary", "UpToDate/UpToDate", "C", "r-----"],
      [1, "Connected", "Secondary/Primary", "UpToDate/UpToDate", "C", "r-----"],
      [2, "Unconfigured"],
      [4, "WFConnection", "Primary/Unknown", "UpToDate/DUnknown", "C", "r-----"],
      [6, "Connected", "Secondary/Primary", "Diskless/UpToDate", "C", "r-----"],
      [8, "StandAlone", "Secondary/Unknown", "UpToDate/DUnknown", null, "r-----"],
    ]);
    expect(configured(parsed.minors, 0).counters).toMatchObject({ ns: 1048576, dr: 1048776, bm: 64 });
  });

  it("drbd84-ganeti-syncsource-standalone: StandAlone Primary with oos, SyncSource with flags r---n-", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-ganeti-syncsource-standalone.txt"));
    expect(summary(parsed.minors)).toEqual([
      [0, "StandAlone", "Primary/Unknown", "UpToDate/DUnknown", null, "r-----"],
      [3, "Unconfigured"],
      [5, "SyncSource", "Secondary/Secondary", "UpToDate/Inconsistent", "C", "r---n-"],
    ]);
    expect(configured(parsed.minors, 0).counters).toMatchObject({
      dw: 33318,
      dr: 730,
      al: 15,
      wo: "d",
      oos: 1048320,
    });
    expect(configured(parsed.minors, 5).sync).toEqual({
      kind: "resync",
      percent: 68.5,
      left: 335744,
      total: 1048576,
      unit: "K",
      finishSec: 5,
      speedKiBps: 64800,
      averageKiBps: 64800,
      wantKiBps: null,
      ...NO_SYNC_DEFAULTS,
    });
  });

  it("drbd84-node-exporter-dual-primary: srcversion with trailing space, Primary/Primary", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-node-exporter-dual-primary.txt"));
    expect(parsed.version).toEqual({
      version: "8.4.3",
      api: 1,
      proto: "86-101",
      gitHash: null,
      buildBy: null,
      srcversion: "1A9F77B1CA5FF92235C2213",
    });
    expect(summary(parsed.minors)).toEqual([
      [1, "Connected", "Primary/Primary", "UpToDate/UpToDate", "C", "r-----"],
    ]);
    expect(configured(parsed.minors, 1).counters).toEqual({
      ns: 17324442,
      nr: 10961011,
      dw: 28263521,
      dr: 118696670,
      al: 1100,
      bm: 221,
      lo: 12345,
      pe: 12346,
      ua: 12347,
      ap: 12348,
      ep: 1,
      wo: "d",
      oos: 12349,
    });
  });
});

const V84 =
  "version: 8.4.2 (api:1/proto:86-101)\nGIT-hash: 7ad5f850d711223713d6dcadc3dd48860321070c build by x, 2013-04-10\n";
const C84 = "    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0";

describe("parseProcDrbd: other layouts the kernel prints", () => {
  it("8.0 MiB bar with finish on the next line, 8.0 speed grouping, and 100% without a space", () => {
    const text = [
      "version: 8.0.16 (api:86/proto:86)",
      " 0: cs:SyncTarget st:Secondary/Primary ds:Inconsistent/UpToDate C r---",
      "    ns:0 nr:123 dw:123 dr:0 al:0 bm:3 lo:0 pe:0 ua:0 ap:0",
      "\t[==>.................] sync'ed: 12.8% (3456/3960)M",
      "\tfinish: 1:02:03 speed: 1234,567 (1000) K/sec",
      " 1: cs:SyncSource st:Primary/Secondary ds:UpToDate/Inconsistent C r---",
      "    ns:9 nr:0 dw:0 dr:9 al:0 bm:0 lo:0 pe:0 ua:0 ap:0",
      "\t[===================>] sync'ed:100.0% (0/1024)K",
      "\tfinish: 0:00:00 speed: 0 (512) K/sec",
    ].join("\n");
    const minors = parseProcDrbd(text).minors;
    expect(configured(minors, 0).sync).toMatchObject({
      percent: 12.8,
      unit: "M",
      finishSec: 3723,
      speedKiBps: 1234567,
      averageKiBps: 1000,
    });
    expect(configured(minors, 1).sync).toMatchObject({ percent: 100, left: 0, total: 1024, finishSec: 0 });
  });

  it("old `stalled` line instead of an estimate", () => {
    const text = `${V84} 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----\n${C84}\n\t[>....................] sync'ed:  0.1% (1000/1001)M\n\tstalled\n`;
    expect(configured(parseProcDrbd(text).minors, 0).sync).toMatchObject({
      stalled: true,
      finishSec: null,
      speedKiBps: null,
    });
  });

  it("proc_details: short-term speed, want, (stalled), sector pos and `locked` cache counters", () => {
    const text = [
      V84,
      " 0: cs:SyncTarget ro:Secondary/Primary ds:Inconsistent/UpToDate C r-----",
      C84,
      "\t[====>...............] sync'ed: 23.0% (7700/10000)K",
      "\tfinish: 10:00:00 speed: 1,234,567 (2,000 -- 1,500) want: 3,000 K/sec (stalled)",
      "\t 23% sector pos: 1024/8192 stop sector: 4096",
      "\tresync: used:1/61 hits:5 misses:1 starving:0 locked:0 changed:1",
      "\tact_log: used:0/1237 hits:0 misses:0 starving:0 locked:0 changed:0",
    ].join("\n");
    const m0 = configured(parseProcDrbd(text).minors, 0);
    expect(m0.sync).toEqual({
      kind: "resync",
      percent: 23,
      left: 7700,
      total: 10000,
      unit: "K",
      finishSec: 36000,
      speedKiBps: 1234567,
      shortTermKiBps: 2000,
      averageKiBps: 1500,
      wantKiBps: 3000,
      stalled: true,
      sectorPos: { percent: 23, sector: 1024, totalSectors: 8192, stopSector: 4096 },
    });
    expect(m0.resync).toEqual({
      used: 1,
      size: 61,
      counters: { hits: 5, misses: 1, starving: 0, locked: 0, changed: 1 },
    });
    expect(m0.actLog?.size).toBe(1237);
  });

  it("online verify: 8.4 `verified:` bar and the pre-8.3.11 percent line", () => {
    const text = [
      V84,
      " 0: cs:VerifyS ro:Primary/Secondary ds:UpToDate/UpToDate C r-----",
      C84,
      "\t[=>..................] verified:  9.5% (905/1000)K",
      "\tfinish: 0:01:00 speed: 15 (15) want: 100 K/sec",
      " 1: cs:VerifyT ro:Secondary/Primary ds:UpToDate/UpToDate C r-----",
      C84,
      "\t 40%      400/1000",
    ].join("\n");
    const minors = parseProcDrbd(text).minors;
    expect(configured(minors, 0).sync).toMatchObject({ kind: "verify", percent: 9.5, wantKiBps: 100 });
    expect(configured(minors, 1).sync).toMatchObject({
      kind: "verify",
      percent: 40,
      left: 600,
      total: 1000,
      unit: "blocks",
    });
  });

  it("pre-release 8.0 minor lines without protocol and flags", () => {
    const text =
      " 0: cs:Connected st:Primary/Secondary ds:UpToDate/UpToDate\n    ns:1 nr:2 dw:3 dr:4 al:5 bm:6 lo:0 pe:0 ua:0 ap:0\n";
    expect(summary(parseProcDrbd(text).minors)).toEqual([
      [0, "Connected", "Primary/Secondary", "UpToDate/UpToDate", null, null],
    ]);
  });

  it("a version header and no devices", () => {
    expect(parseProcDrbd(V84).minors).toEqual([]);
  });
});

describe("parseProcDrbd rejects what it cannot read, naming the line", () => {
  const m0 = " 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----";
  it.each([
    ["garbage", `${V84}hello world\n`, 3, "hello world"],
    [
      "an unknown connection state",
      `${V84} 0: cs:Conected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n${C84}\n`,
      3,
      null,
    ],
    [
      "an unknown role",
      `${V84} 0: cs:Connected ro:Master/Secondary ds:UpToDate/UpToDate C r-----\n${C84}\n`,
      3,
      null,
    ],
    [
      "an unknown disk state",
      `${V84} 0: cs:Connected ro:Primary/Secondary ds:Fine/UpToDate C r-----\n${C84}\n`,
      3,
      null,
    ],
    [
      "a truncated minor line",
      `${V84} 0: cs:Connected ro:Primary/Sec\n`,
      3,
      " 0: cs:Connected ro:Primary/Sec",
    ],
    ["text after cs:Unconfigured", `${V84} 1: cs:Unconfigured ro:Secondary/Unknown\n`, 3, null],
    ["a minor listed twice", `${V84}${m0}\n${C84}\n${m0}\n${C84}\n`, 5, m0],
    ["a counters line before any minor", `${V84}${C84}\n`, 3, C84],
    ["an unknown counter", `${V84}${m0}\n${C84} xx:1\n`, 4, `${C84} xx:1`],
    [
      "a non-numeric counter",
      `${V84}${m0}\n    ns:abc nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0\n`,
      4,
      null,
    ],
    ["a missing counter", `${V84}${m0}\n    ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0\n`, 4, null],
    ["a second counters line", `${V84}${m0}\n${C84}\n${C84}\n`, 5, C84],
    [
      "a NUL byte inside a line",
      `${V84}${m0}\n    ns:0 nr:0\0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0\n`,
      4,
      null,
    ],
    ["a finish line without a bar", `${V84}${m0}\n${C84}\n\tfinish: 0:00:05 speed: 1 (1) K/sec\n`, 5, null],
    [
      "progress above 100%",
      `${V84}${m0}\n${C84}\n\t[>...] sync'ed: 140.0% (9/10)K\n\tfinish: 0:00:01 speed: 1 (1) K/sec\n`,
      5,
      null,
    ],
    [
      "a speed that is not a grouped number",
      `${V84}${m0}\n${C84}\n\t[>...] sync'ed: 1.0% (9/10)K\n\tfinish: 0:00:01 speed: ,,, (1) K/sec\n`,
      6,
      null,
    ],
    [
      "an unreadable finish line",
      `${V84}${m0}\n${C84}\n\t[>...] sync'ed: 1.0% (9/10)K\n\tfinish: soon\n`,
      6,
      "\tfinish: soon",
    ],
    ["a version line after minors", `${V84}${m0}\n${C84}\nversion: 8.4.2 (api:1/proto:86-101)\n`, 5, null],
    ["a second build line", `${V84}srcversion: ABC\n`, 3, "srcversion: ABC"],
    ["a cache line before the counters", `${V84}${m0}\n\tresync: used:0/61 hits:0\n`, 4, null],
    ["a proc_details=2 dump line", `${V84}${m0}\n${C84}\n rs_left\n`, 5, " rs_left"],
  ])("%s", (_what, text, line, lineText) => {
    const err = parseError(() => parseProcDrbd(text));
    expect(err.kind).toBe("proc-drbd");
    expect(err.line).toBe(line);
    expect(err.message).toContain(`proc-drbd: line ${line}:`);
    if (lineText !== null) expect(err.text).toBe(lineText);
  });

  it("a configured minor without its counters line, at the minor's line", () => {
    const err = parseError(() => parseProcDrbd(`${V84}${m0}\n 1: cs:Unconfigured\n`));
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/counters/);
  });

  it("a progress bar cut off before its finish line (truncated output)", () => {
    const err = parseError(() => parseProcDrbd(`${V84}${m0}\n${C84}\n\t[>...] sync'ed: 1.0% (9/10)K\n`));
    expect(err.line).toBe(5);
  });

  it("empty output (a real /proc/drbd always has the version lines)", () => {
    expect(parseError(() => parseProcDrbd("")).line).toBe(0);
    expect(parseError(() => parseProcDrbd("\0\n\n")).line).toBe(0);
  });
});

describe("toResourceStates", () => {
  const resources: DrbdResourceConfig[] = [
    { name: "r0", minor: 0, allowTwoPrimaries: false },
    { name: "web", minor: 5, allowTwoPrimaries: true },
    { name: "mail", device: "/dev/drbd3", allowTwoPrimaries: false },
  ];

  it("names minors from the config (minor, else device), else minorN", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-ganeti-syncsource-standalone.txt"));
    expect(toResourceStates(parsed, resources).map((r) => [r.name, r.minor])).toEqual([
      ["r0", 0],
      ["mail", 3],
      ["web", 5],
    ]);
    expect(toResourceStates(parsed, []).map((r) => r.name)).toEqual(["minor0", "minor3", "minor5"]);
  });

  it("StandAlone: one peer whose connection state is StandAlone, role Unknown, oos kept", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd84-ganeti-syncsource-standalone.txt"));
    const [standalone, unconfigured, syncing] = toResourceStates(parsed, resources);
    expect(standalone).toEqual({
      name: "r0",
      minor: 0,
      role: "Primary",
      diskState: "UpToDate",
      unconfigured: false,
      peers: [
        {
          node: null,
          connectionState: "StandAlone",
          replicationState: null,
          role: "Unknown",
          diskState: "DUnknown",
          outOfSyncKiB: 1048320,
          sync: null,
        },
      ],
    });
    expect(unconfigured).toEqual({
      name: "mail",
      minor: 3,
      role: "Unknown",
      diskState: "Diskless",
      unconfigured: true,
      peers: [],
    });
    expect(syncing).toEqual({
      name: "web",
      minor: 5,
      role: "Secondary",
      diskState: "UpToDate",
      unconfigured: false,
      peers: [
        {
          node: null,
          connectionState: "Connected",
          replicationState: "SyncSource",
          role: "Secondary",
          diskState: "Inconsistent",
          outOfSyncKiB: 335744,
          sync: { percent: 68.5, etaSec: 5, speedKiBps: 64800 },
        },
      ],
    });
  });

  it("Connected becomes Established; WFConnection stays the connection state; 8.0 has no oos", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd80-ganeti-mixed-states.txt"));
    const states = toResourceStates(parsed, []);
    expect(
      states.map((s) => [
        s.name,
        s.role,
        s.diskState,
        s.unconfigured,
        s.peers[0]?.connectionState ?? null,
        s.peers[0]?.replicationState ?? null,
        s.peers[0]?.role ?? null,
        s.peers[0]?.diskState ?? null,
        s.peers[0]?.outOfSyncKiB ?? null,
      ]),
    ).toEqual([
      ["minor0", "Primary", "UpToDate", false, "Connected", "Established", "Secondary", "UpToDate", null],
      ["minor1", "Secondary", "UpToDate", false, "Connected", "Established", "Primary", "UpToDate", null],
      ["minor2", "Unknown", "Diskless", true, null, null, null, null, null],
      ["minor4", "Primary", "UpToDate", false, "WFConnection", null, "Unknown", "DUnknown", null],
      ["minor5", "Primary", "UpToDate", false, "Connected", "Established", "Secondary", "Diskless", null],
      ["minor6", "Secondary", "Diskless", false, "Connected", "Established", "Primary", "UpToDate", null],
      ["minor7", "Secondary", "UpToDate", false, "WFConnection", null, "Unknown", "DUnknown", null],
      ["minor8", "Secondary", "UpToDate", false, "StandAlone", null, "Unknown", "DUnknown", null],
    ]);
  });

  it("SyncTarget with a MiB progress bar carries percent, ETA and speed", () => {
    const parsed = parseProcDrbd(readFixture("drbd8", "drbd83-ganeti-synctarget.txt"));
    const m3 = toResourceStates(parsed, [{ name: "vm-disk", minor: 3, allowTwoPrimaries: false }]).find(
      (s) => s.minor === 3,
    );
    expect(m3).toMatchObject({ name: "vm-disk", role: "Primary", diskState: "Inconsistent" });
    expect(m3?.peers).toEqual([
      {
        node: null,
        connectionState: "Connected",
        replicationState: "SyncTarget",
        role: "Secondary",
        diskState: "UpToDate",
        outOfSyncKiB: 346112,
        sync: { percent: 34.9, etaSec: 5, speedKiBps: 59392 },
      },
    ]);
  });

  it.each([...DRBD8_CONNECTED_STATES].filter((cs) => cs !== "Connected"))(
    "%s counts as connected, with the state as replication state",
    (cs) => {
      const text = `${V84} 0: cs:${cs} ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n${C84}\n`;
      const [state] = toResourceStates(parseProcDrbd(text), []);
      expect(state?.peers[0]).toMatchObject({
        connectionState: "Connected",
        replicationState: cs,
        sync: null,
      });
    },
  );

  it.each([
    "StandAlone",
    "Disconnecting",
    "Unconnected",
    "Timeout",
    "BrokenPipe",
    "NetworkFailure",
    "ProtocolError",
    "TearDown",
    "WFConnection",
    "WFReportParams",
  ])("%s is a connection state with no replication state", (cs) => {
    const text = `${V84} 0: cs:${cs} ro:Secondary/Unknown ds:UpToDate/DUnknown C r-----\n${C84}\n`;
    const [state] = toResourceStates(parseProcDrbd(text), []);
    expect(state?.peers).toEqual([
      {
        node: null,
        connectionState: cs,
        replicationState: null,
        role: "Unknown",
        diskState: "DUnknown",
        outOfSyncKiB: 0,
        sync: null,
      },
    ]);
  });

  it("produces states that satisfy the normalized schema for every fixture", () => {
    for (const file of [
      "drbd80-ganeti-emptyline.txt",
      "drbd83-ganeti-mixed-states-nul.txt",
      "drbd83-ganeti-syncsource-kernel2.6.39.txt",
      "drbd84-node-exporter-dual-primary.txt",
    ]) {
      for (const s of toResourceStates(parseProcDrbd(readFixture("drbd8", file)), resources))
        expect(DrbdResourceState.safeParse(s).success).toBe(true);
    }
  });
});
