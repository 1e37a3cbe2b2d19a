import { describe, expect, it } from "vitest";
import type { CommandRunner, ExecResult, RunOptions } from "../../../src/command-runner";
import { drbd8Driver, parsers } from "../../../src/drivers/drbd8";
import { ExecError } from "../../../src/errors";
import { readFixture } from "../../support/fixtures";

function fakeRunner(
  answer: string | Error,
): CommandRunner & { calls: { argv: readonly string[]; options: RunOptions | undefined }[] } {
  const calls: { argv: readonly string[]; options: RunOptions | undefined }[] = [];
  return {
    node: "xen1",
    calls,
    async run(argv, options): Promise<ExecResult> {
      calls.push({ argv, options });
      if (answer instanceof Error) throw answer;
      return { stdout: answer, stderr: "", exitCode: 0, durationMs: 1 };
    },
  };
}

describe("drbd8Driver", () => {
  it("reads /proc/drbd with the caller's signal and timeout and names minors from the config", async () => {
    const runner = fakeRunner(readFixture("drbd8", "drbd84-ganeti-syncsource-standalone.txt"));
    const signal = new AbortController().signal;
    const states = await drbd8Driver.status(
      runner,
      { resources: [{ name: "vm1-disk", minor: 5, allowTwoPrimaries: false }] },
      { signal, timeoutMs: 3000 },
    );
    expect(drbd8Driver.id).toBe(8);
    expect(runner.calls).toEqual([{ argv: ["cat", "/proc/drbd"], options: { signal, timeoutMs: 3000 } }]);
    expect(states.map((s) => [s.name, s.unconfigured, s.peers[0]?.connectionState ?? null])).toEqual([
      ["minor0", false, "StandAlone"],
      ["minor3", true, null],
      ["vm1-disk", false, "Connected"],
    ]);
  });

  it("passes no options when the caller gives none", async () => {
    const runner = fakeRunner(readFixture("drbd8", "drbd84-node-exporter-dual-primary.txt"));
    await drbd8Driver.status(runner, { resources: [] });
    expect(runner.calls[0]?.options).toEqual({});
  });

  it("rejects unreadable /proc/drbd with a ParseError naming the line", async () => {
    const runner = fakeRunner("version: 8.4.2 (api:1/proto:86-101)\n 0: cs:Connected ro:Primary\n");
    await expect(drbd8Driver.status(runner, { resources: [] })).rejects.toMatchObject({
      name: "ParseError",
      code: "parse_error",
      kind: "proc-drbd",
      line: 2,
    });
  });

  it("passes the runner's failure (no /proc/drbd: module not loaded) through untouched", async () => {
    const failure = new ExecError("exec_failed", "cat exited with 1", {
      node: "xen1",
      argv: ["cat", "/proc/drbd"],
      exitCode: 1,
      signal: null,
      stdout: "",
      stderr: "cat: /proc/drbd: No such file or directory",
    });
    await expect(drbd8Driver.status(fakeRunner(failure), { resources: [] })).rejects.toBe(failure);
  });
});

describe("drbd8 parser entry", () => {
  it("exposes proc-drbd returning the JSON-friendly parsed form", () => {
    expect(parsers.map((p) => p.kind)).toEqual(["proc-drbd"]);
    const parsed = parsers[0]?.parse(readFixture("drbd8", "drbd83-ganeti-synctarget-want.txt"));
    expect(JSON.parse(JSON.stringify(parsed))).toEqual(parsed);
    expect(parsed).toMatchObject({
      version: { version: "8.3.11" },
      minors: [{ minor: 0, cs: "SyncTarget" }, {}, {}, {}],
    });
  });
});
