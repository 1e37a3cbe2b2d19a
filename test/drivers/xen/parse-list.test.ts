import { describe, expect, it } from "vitest";
import { parseXenList } from "../../../src/drivers/xen/parse-list";
import { ParseError } from "../../../src/errors";
import { Domain } from "../../../src/model";
import { readFixture } from "../../support/fixtures";

const HEADER = "Name                                        ID   Mem VCPUs      State   Time(s)";
const DOM0_ROW = "Domain-0                                     0  1024     1     r-----      5.0";

const RUNNING = {
  running: true,
  blocked: false,
  paused: false,
  shutdown: false,
  crashed: false,
  dying: false,
};
const BLOCKED = { ...RUNNING, running: false, blocked: true };

function dom0(memoryMiB: number, vcpus: number, timeSec: number): Domain {
  return {
    name: "Domain-0",
    guest: null,
    id: 0,
    memoryMiB,
    vcpus,
    state: "r-----",
    flags: RUNNING,
    timeSec,
    migration: null,
    isDom0: true,
  };
}

function guest(name: string, id: number, memoryMiB: number, vcpus: number, state: string, timeSec: number) {
  return {
    name,
    guest: name,
    id,
    memoryMiB,
    vcpus,
    state,
    flags: state === "r-----" ? RUNNING : BLOCKED,
    timeSec,
    migration: null,
    isDom0: false,
  };
}

function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw err;
  }
  throw new Error("expected a ParseError, got a result");
}

describe("parseXenList on fixtures", () => {
  it("xm-xl-list-4.0.1-dom0-only: header plus Domain-0", () => {
    expect(parseXenList(readFixture("xen", "xm-xl-list-4.0.1-dom0-only.txt"), "xm-list")).toEqual([
      dom0(1023, 1, 121152.6),
    ]);
  });

  it("xm-xl-list-4.0.1-four-instances: running and blocked guests, IDs out of order", () => {
    const text = readFixture("xen", "xm-xl-list-4.0.1-four-instances.txt");
    const expected = [
      dom0(1023, 1, 154706.1),
      guest("server01.example.com", 1, 1024, 1, "-b----", 167643.2),
      guest("web3106215069.example.com", 3, 4096, 1, "-b----", 466690.9),
      guest("testinstance.example.com", 2, 2048, 2, "r-----", 244443.0),
    ];
    expect(parseXenList(text, "xm-list")).toEqual(expected);
    expect(parseXenList(text, "xl-list")).toEqual(expected);
  });

  it("xl-list-4.4-crashed-instances: (null) and dying/crashed domains with 5-digit IDs", () => {
    const domains = parseXenList(readFixture("xen", "xl-list-4.4-crashed-instances.txt"), "xl-list");
    const dyingCrashed = {
      running: false,
      blocked: false,
      paused: true,
      shutdown: true,
      crashed: true,
      dying: false,
    };
    expect(domains).toEqual([
      dom0(1023, 1, 154706.1),
      guest("server01.example.com", 1, 1024, 1, "-b----", 167643.2),
      {
        name: "(null)",
        guest: null,
        id: 28441,
        memoryMiB: 789,
        vcpus: 1,
        state: "--psc-",
        flags: dyingCrashed,
        timeSec: 1.2,
        migration: null,
        isDom0: false,
      },
      {
        name: "alsodying.example.com",
        guest: "alsodying.example.com",
        id: 28448,
        memoryMiB: 1024,
        vcpus: 1,
        state: "--psc-",
        flags: dyingCrashed,
        timeSec: 1.4,
        migration: null,
        isDom0: false,
      },
    ]);
  });

  it("xm-list-facter-ruby-era-two-blocked: two-digit IDs", () => {
    expect(parseXenList(readFixture("xen", "xm-list-facter-ruby-era-two-blocked.txt"), "xm-list")).toEqual([
      dom0(656, 4, 48140.9),
      guest("web01", 48, 512, 2, "-b----", 97651.5),
      guest("mailserver", 53, 512, 4, "-b----", 7536.1),
    ]);
  });

  it("xm-list-facter-three-running-no-trailing-newline: last row without a newline", () => {
    const text = readFixture("xen", "xm-list-facter-three-running-no-trailing-newline.txt");
    expect(text.endsWith("\n")).toBe(false);
    expect(parseXenList(text, "xm-list")).toEqual([
      dom0(750, 4, 11794.3),
      guest("win", 1, 1019, 1, "r-----", 0.3),
      guest("linux", 2, 2048, 2, "r-----", 5624.2),
    ]);
  });
});

describe("parseXenList edge cases", () => {
  it("reads inactive managed domains (no ID, no state) with flags null, not all false", () => {
    const text = [
      HEADER,
      "Domain-0                                     0  3943     2     r-----    386.3",
      "vm1                                              512     1                0.0",
      "",
    ].join("\n");
    const [, vm1] = parseXenList(text, "xm-list");
    expect(vm1).toEqual({
      name: "vm1",
      guest: "vm1",
      id: null,
      memoryMiB: 512,
      vcpus: 1,
      state: null,
      flags: null,
      timeSec: 0,
      migration: null,
      isDom0: false,
    });
  });

  it("reads an inactive row that prints an empty state column as dashes", () => {
    const text = `${HEADER}\n${DOM0_ROW}\nvm2                                             1024     2     ------      0.0\n`;
    expect(parseXenList(text, "xm-list")[1]).toMatchObject({
      name: "vm2",
      id: null,
      state: "------",
      flags: { running: false, blocked: false, paused: false, shutdown: false, crashed: false, dying: false },
    });
  });

  it("does not take a numeric name for an ID on an inactive row", () => {
    const text = `${HEADER}\n${DOM0_ROW}\n4242                                             256     1                0.0\n`;
    expect(parseXenList(text, "xm-list")[1]).toMatchObject({
      name: "4242",
      id: null,
      memoryMiB: 256,
      vcpus: 1,
    });
  });

  it("accepts the Mem(MiB) header and tab-separated columns", () => {
    const text = "Name\tID\tMem(MiB)\tVCPUs\tState\tTime(s)\nDomain-0\t0\t2048\t4\tr-----\t12.5\n";
    expect(parseXenList(text, "xl-list")).toEqual([dom0(2048, 4, 12.5)]);
  });

  it("maps migration names to the guest they belong to", () => {
    const text = [
      HEADER,
      DOM0_ROW,
      "migrating-web01                              7   512     1     -b----     10.0",
      "web01--incoming                              9   512     1     --p---      0.1",
      "db01--migratedaway                          11  1024     2     ---s--     99.9",
    ].join("\n");
    expect(parseXenList(text, "xm-list").map((d) => [d.name, d.guest, d.migration, d.flags?.paused])).toEqual(
      [
        ["Domain-0", null, null, false],
        ["migrating-web01", "web01", "migrating", false],
        ["web01--incoming", "web01", "incoming", true],
        ["db01--migratedaway", "db01", "migratedaway", false],
      ],
    );
  });

  it("reads rows whose long name pushes every column", () => {
    const name = "a-very-long-guest-name-that-overflows.example.com";
    const text = `${HEADER}\n${DOM0_ROW}\n${name} 12  2048     2     r-----   1234.5\n`;
    expect(parseXenList(text, "xl-list")).toEqual([
      dom0(1024, 1, 5),
      guest(name, 12, 2048, 2, "r-----", 1234.5),
    ]);
  });

  it("tolerates CRLF line endings and blank lines", () => {
    const text = `\r\n${HEADER}\r\nDomain-0  0  1024  1  r-----  5.0\r\n\r\n`;
    expect(parseXenList(text, "xm-list")).toEqual([dom0(1024, 1, 5)]);
  });

  it("validates every domain against the normalized schema", () => {
    for (const d of parseXenList(readFixture("xen", "xl-list-4.4-crashed-instances.txt"), "xl-list"))
      expect(Domain.safeParse(d).success).toBe(true);
  });
});

describe("parseXenList rejects what it cannot read", () => {
  // A real dom0 always lists Domain-0: without it the table is cut short, never "no guests".
  it("a header alone (no Domain-0 row)", () => {
    const err = parseError(() => parseXenList(`${HEADER}\n`, "xl-list"));
    expect(err).toMatchObject({ kind: "xl-list", line: 0, code: "parse_error" });
    expect(err.message).toContain("no Domain-0 row");
  });

  it("guests without the Domain-0 row (output cut at the top or a foreign table)", () => {
    const text = `${HEADER}\nweb01   3   512   1   r-----   10.0\n`;
    expect(parseError(() => parseXenList(text, "xm-list")).message).toContain("no Domain-0 row");
  });

  it("two Domain-0 rows", () => {
    const text = `${HEADER}\n${DOM0_ROW}\n${DOM0_ROW}\n`;
    expect(parseError(() => parseXenList(text, "xm-list")).message).toContain("2 Domain-0 rows");
  });

  it.each([
    ["inside the name column", 6],
    ["after the ID", 46],
    ["after Mem", 52],
    ["after VCPUs (would read as an inactive domain)", 58],
    ["inside the state column", 65],
    ["after the state column", 70],
    ["inside the time column", 77],
  ])("a real table truncated %s of its last row", (_where, keep) => {
    const text = readFixture("xen", "xm-xl-list-4.0.1-four-instances.txt");
    const lines = text.trimEnd().split("\n");
    const last = lines.at(-1) ?? "";
    const cut = [...lines.slice(0, -1), last.slice(0, keep)].join("\n");
    const err = parseError(() => parseXenList(cut, "xm-list"));
    expect(err).toMatchObject({ kind: "xm-list", line: lines.length, text: last.slice(0, keep).trimEnd() });
  });

  it("a real table truncated to its header and part of the Domain-0 row", () => {
    const text = readFixture("xen", "xm-xl-list-4.0.1-dom0-only.txt");
    const [header = "", row = ""] = text.split("\n");
    const err = parseError(() => parseXenList(`${header}\n${row.slice(0, 20)}`, "xm-list"));
    expect(err.line).toBe(2);
  });

  it("garbage: a crash dump instead of the table", () => {
    const text =
      "*** glibc detected *** xm: corrupted double-linked list: 0x09a4e1f8 ***\n======= Backtrace: =========\n";
    expect(parseError(() => parseXenList(text, "xm-list")).line).toBe(1);
  });

  it("mixed: the table with a stray error line among the rows", () => {
    const text = `${HEADER}\n${DOM0_ROW}\nError: (111, 'Connection refused')\nweb01   3   512   1   r-----   10.0\n`;
    expect(parseError(() => parseXenList(text, "xm-list")).line).toBe(3);
  });

  it("empty output", () => {
    const err = parseError(() => parseXenList("", "xm-list"));
    expect(err.kind).toBe("xm-list");
    expect(err.line).toBe(0);
    expect(err.code).toBe("parse_error");
  });

  it("an error message instead of the table", () => {
    const text = "Error: Unable to connect to xend: No such file or directory. Is xend running?\n";
    const err = parseError(() => parseXenList(text, "xm-list"));
    expect(err).toMatchObject({ kind: "xm-list", line: 1, text: text.trimEnd() });
    expect(err.message).toContain("xm-list: line 1:");
  });

  it("a header with unknown columns (xl list -v)", () => {
    const text = `${HEADER}   UUID                            Reason-Code\tSecurity Label\n`;
    expect(parseError(() => parseXenList(text, "xl-list")).line).toBe(1);
  });

  it.each([
    ["a state with an unknown flag", "web01   3   512   1   rx----   10.0"],
    ["flags in the wrong position", "web01   3   512   1   b-----   10.0"],
    ["a missing time column", "web01   3   512   1   r-----"],
    ["too few numeric columns", "web01   512   r-----   10.0"],
    ["only a state and a time", "r-----   10.0"],
    ["a non-numeric memory column", "web01   3   5x2   1   r-----   10.0"],
    ["a repeated header", HEADER],
  ])("%s, naming the line", (_what, row) => {
    const text = `${HEADER}\nDomain-0   0   1024   1   r-----   5.0\n${row}\n`;
    const err = parseError(() => parseXenList(text, "xl-list"));
    expect(err).toMatchObject({ kind: "xl-list", line: 3, text: row });
  });
});

describe("xl shutdown-reason column", () => {
  it("reads xl's fifth state letter as the shutdown reason (---ss- while migrating away)", () => {
    const text = [
      "Name                                        ID   Mem VCPUs\tState\tTime(s)",
      "Domain-0                                     0  2048    16     r-----     120.5",
      "web--migratedaway                           12  4096     2     ---ss-      33.0",
      "db                                          13 16384     4     ----c-       1.0",
    ].join("\n");
    const domains = parseXenList(text, "xl-list");
    expect(domains[1]).toMatchObject({ guest: "web", migration: "migratedaway", state: "---ss-" });
    expect(domains[1]!.flags).toMatchObject({ shutdown: true, crashed: false });
    expect(domains[2]!.flags).toMatchObject({ crashed: true });
    expect(() => parseXenList(text.replace("---ss-", "---sx-"), "xl-list")).toThrow(/line 3/);
  });
});
