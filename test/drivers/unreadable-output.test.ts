/**
 * Output the drivers cannot trust is refused with a ParseError that carries the output as read (`raw`):
 * an `xm list` without Domain-0 (header only, cut short), empty or garbage output, a /proc/drbd cut
 * mid-line, and a DRBD resource the inventory places on the node but the status does not list.
 */
import { describe, expect, it } from "vitest";
import type { DrbdResourceConfig } from "../../src/config/schema";
import { drbd8Driver } from "../../src/drivers/drbd8";
import { assertMinorsListed, parseProcDrbd } from "../../src/drivers/drbd8/parse-proc-drbd";
import { drbd9Driver } from "../../src/drivers/drbd9";
import { minorOf, resourcesExpectedOn } from "../../src/drivers/expected";
import { parseXenList, xmDriver } from "../../src/drivers/xen";
import { ParseError, parseOutput } from "../../src/errors";
import { readFixture } from "../support/fixtures";
import { fakeRunner, fixture } from "./drbd9/helpers";

async function parseErrorOf(promise: Promise<unknown>): Promise<ParseError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof ParseError)) throw new Error(`expected a ParseError, got ${String(err)}`);
  return err;
}

const res = (name: string, minor: number, nodes?: string[]): DrbdResourceConfig => ({
  name,
  minor,
  allowTwoPrimaries: false,
  ...(nodes ? { nodes } : {}),
});

describe("parseOutput", () => {
  it("attaches the whole output to a ParseError, once", () => {
    const err = (() => {
      try {
        return parseOutput("Name ID\njunk\n", (t) => parseXenList(t, "xm-list"));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ParseError);
    expect((err as ParseError).raw).toBe("Name ID\njunk\n");
  });

  it("leaves other errors alone", () => {
    const boom = new Error("boom");
    expect(() =>
      parseOutput("x", () => {
        throw boom;
      }),
    ).toThrow(boom);
  });
});

describe("xm list through the driver", () => {
  const HEADER = "Name                                        ID   Mem VCPUs      State   Time(s)\n";
  it.each([
    ["header only", HEADER],
    ["empty output", ""],
    ["garbage", "*** glibc detected *** xm: corrupted double-linked list ***\n"],
    ["truncated mid-row", `${HEADER}Domain-0                                     0  10`],
  ])("%s: ParseError with the raw output", async (_what, stdout) => {
    const runner = fakeRunner({ "xm list": { stdout } });
    const err = await parseErrorOf(xmDriver.listDomains(runner));
    expect(err.code).toBe("parse_error");
    expect(err.raw).toBe(stdout);
  });

  it("any cut of a real table inside a line is refused (a cut at a line end may only drop whole rows)", () => {
    const text = readFixture("xen", "xm-xl-list-4.0.1-four-instances.txt");
    const full = parseXenList(text, "xm-list");
    for (let n = 1; n < text.length; n++) {
      const cut = text.slice(0, n);
      if (text[n] === "\n" || text[n - 1] === "\n") {
        // Whole rows: either refused (no Domain-0 yet) or a prefix of the real list.
        try {
          expect(full.slice(0, parseXenList(cut, "xm-list").length)).toEqual(parseXenList(cut, "xm-list"));
        } catch (err) {
          if (!(err instanceof ParseError)) throw err;
        }
        continue;
      }
      expect(() => parseXenList(cut, "xm-list"), `cut at ${n}: ${JSON.stringify(cut.slice(-20))}`).toThrow(
        ParseError,
      );
    }
  });
});

describe("DRBD 8: configured minors must be listed", () => {
  const proc = readFixture("drbd8", "drbd84-ganeti-syncsource-standalone.txt"); // minors 0, 3 and 5

  it("a configured minor missing from /proc/drbd is unknown, not 'not configured'", async () => {
    const runner = fakeRunner({ "cat /proc/drbd": { stdout: proc } });
    const err = await parseErrorOf(
      drbd8Driver.status(runner, { resources: [res("r0", 0), res("web", 5), res("mail", 7)] }),
    );
    expect(err).toMatchObject({ kind: "proc-drbd", line: 0, code: "parse_error", raw: proc });
    expect(err.message).toContain("minor 7 (mail)");
    expect(err.message).toContain("missing from /proc/drbd");
  });

  it("names every missing minor", () => {
    expect(() => assertMinorsListed(parseProcDrbd(proc), [res("a", 1), res("b", 2), res("r0", 0)])).toThrow(
      /minor 1 \(a\), minor 2 \(b\)/,
    );
  });

  it("an unconfigured minor (cs:Unconfigured) is listed: it reads, as unconfigured", async () => {
    const runner = fakeRunner({ "cat /proc/drbd": { stdout: proc } });
    const states = await drbd8Driver.status(runner, { resources: [res("mail", 3)] });
    expect(states.find((s) => s.name === "mail")).toMatchObject({ unconfigured: true });
  });

  it("a resource placed on other nodes (`nodes`) is not expected here", async () => {
    const runner = fakeRunner({ "cat /proc/drbd": { stdout: proc } }, "xen1");
    const states = await drbd8Driver.status(runner, {
      resources: [res("r0", 0), res("elsewhere", 9, ["xen2", "xen3"]), res("here", 5, ["xen1", "xen2"])],
    });
    expect(states.map((s) => s.name)).toEqual(["r0", "minor3", "here"]);
    await expect(
      drbd8Driver.status(fakeRunner({ "cat /proc/drbd": { stdout: proc } }, "xen2"), {
        resources: [res("elsewhere", 9, ["xen2", "xen3"])],
      }),
    ).rejects.toThrow(/minor 9 \(elsewhere\)/);
  });

  it("a /proc/drbd cut after the version lines lists no minor: unknown", async () => {
    const cut = proc.split("\n").slice(0, 2).join("\n");
    const err = await parseErrorOf(
      drbd8Driver.status(fakeRunner({ "cat /proc/drbd": { stdout: cut } }), { resources: [res("r0", 0)] }),
    );
    expect(err.message).toContain("minor 0 (r0)");
    expect(err.raw).toBe(cut);
  });

  it.each([
    ["inside a resource line", (lines: string[]) => [...lines.slice(0, 2), (lines[2] ?? "").slice(0, 25)]],
    ["a resource line without its counters line", (lines: string[]) => lines.slice(0, 3)],
    ["inside a counters line", (lines: string[]) => [...lines.slice(0, 3), (lines[3] ?? "").slice(0, 20)]],
  ])("truncated %s: ParseError with the raw output", async (_what, cut) => {
    const text = `${cut(proc.split("\n")).join("\n")}\n`;
    const err = await parseErrorOf(
      drbd8Driver.status(fakeRunner({ "cat /proc/drbd": { stdout: text } }), { resources: [] }),
    );
    expect(err.line).toBeGreaterThan(0);
    expect(err.raw).toBe(text);
  });

  it("empty and garbage /proc/drbd", async () => {
    for (const stdout of ["", "Segmentation fault\n"]) {
      const err = await parseErrorOf(
        drbd8Driver.status(fakeRunner({ "cat /proc/drbd": { stdout } }), { resources: [res("r0", 0)] }),
      );
      expect(err.raw).toBe(stdout);
    }
  });

  it("minorOf and resourcesExpectedOn", () => {
    expect(minorOf({ name: "a", device: "/dev/drbd12", allowTwoPrimaries: false })).toBe(12);
    expect(minorOf({ name: "a", allowTwoPrimaries: false })).toBeNull();
    expect(resourcesExpectedOn([res("a", 0), res("b", 1, ["n2"])], "n1").map((r) => r.name)).toEqual(["a"]);
  });
});

describe("DRBD 9: configured resources must be listed", () => {
  const json = fixture("drbd9", "handmade-drbdsetup-status-json.txt"); // internet, mail

  it("a configured resource missing from drbdsetup status --json is unknown", async () => {
    const runner = fakeRunner({ "drbdsetup status --json": { stdout: json } });
    const err = await parseErrorOf(
      drbd9Driver.status(runner, { resources: [res("internet", 0), res("web", 2)] }),
    );
    expect(err).toMatchObject({ kind: "drbd-status-json", code: "parse_error", raw: json });
    expect(err.message).toContain("web configured in the inventory but missing");
  });

  it("listed or placed elsewhere: reads", async () => {
    const runner = fakeRunner({ "drbdsetup status --json": { stdout: json } });
    const states = await drbd9Driver.status(runner, {
      resources: [res("internet", 0), res("web", 2, ["other"])],
    });
    expect(states.map((s) => s.name)).toEqual(["internet", "mail"]);
  });

  it("the drbdadm status fallback: a configured resource that is down is unknown", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": { exitCode: 20, stderr: "drbdsetup: invalid option -- 'j'\n" },
      "drbdadm status": {
        exitCode: 10,
        stdout: fixture("drbd9", "handmade-drbdadm-status-quorum-lost.txt"),
        stderr: "mail: No such resource\n",
      },
    });
    const err = await parseErrorOf(
      drbd9Driver.status(runner, { resources: [res("web", 0), res("mail", 1)] }),
    );
    expect(err).toMatchObject({ kind: "drbd-status" });
    expect(err.message).toContain("mail configured in the inventory but missing");
  });

  it("truncated JSON carries its raw text", async () => {
    const cut = json.slice(0, Math.floor(json.length / 2));
    const err = await parseErrorOf(
      drbd9Driver.status(fakeRunner({ "drbdsetup status --json": { stdout: cut } }), { resources: [] }),
    );
    expect(err.raw).toBe(cut);
  });
});
