import { describe, expect, it } from "vitest";
import type { CommandRunner, ExecResult, RunOptions } from "../../../src/command-runner";
import { parsers, xlDriver, xmDriver } from "../../../src/drivers/xen";
import { ExecError, ParseError } from "../../../src/errors";
import { readFixture } from "../../support/fixtures";

interface Call {
  argv: readonly string[];
  options: RunOptions | undefined;
}

/** Answers each argv (joined by spaces) with canned stdout, or rejects with the given error. */
function fakeRunner(outputs: Record<string, string | Error>): CommandRunner & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    node: "xen1",
    calls,
    async run(argv, options): Promise<ExecResult> {
      calls.push({ argv, options });
      const out = outputs[argv.join(" ")];
      if (out === undefined) throw new Error(`unexpected command ${argv.join(" ")}`);
      if (out instanceof Error) throw out;
      return { stdout: out, stderr: "", exitCode: 0, durationMs: 1 };
    },
  };
}

describe("xm and xl drivers", () => {
  it.each([
    [xmDriver, "xm"],
    [xlDriver, "xl"],
  ] as const)(
    "%#: %s list and info run the toolstack with the caller's signal and timeout",
    async (driver, tool) => {
      expect(driver.id).toBe(tool);
      const runner = fakeRunner({
        [`${tool} list`]: readFixture("xen", "xm-xl-list-4.0.1-four-instances.txt"),
        [`${tool} info`]: readFixture("xen", "xm-info-4.0.1.txt"),
      });
      const signal = new AbortController().signal;
      const domains = await driver.listDomains(runner, { signal, timeoutMs: 5000 });
      const info = await driver.info(runner);
      expect(domains.map((d) => d.name)).toEqual([
        "Domain-0",
        "server01.example.com",
        "web3106215069.example.com",
        "testinstance.example.com",
      ]);
      expect(info.xenVersion).toBe("4.0.1");
      expect(runner.calls).toEqual([
        { argv: [tool, "list"], options: { signal, timeoutMs: 5000 } },
        { argv: [tool, "info"], options: {} },
      ]);
    },
  );

  it("reports unreadable output as a ParseError of the toolstack's kind", async () => {
    const runner = fakeRunner({ "xl list": "libxl: error: cannot init xl context\n" });
    await expect(xlDriver.listDomains(runner)).rejects.toMatchObject({
      name: "ParseError",
      kind: "xl-list",
      line: 1,
    });
    await expect(xlDriver.listDomains(runner)).rejects.toBeInstanceOf(ParseError);
  });

  it("passes the runner's failure through untouched", async () => {
    const failure = new ExecError("exec_failed", "xm exited with 1", {
      node: "xen1",
      argv: ["xm", "info"],
      exitCode: 1,
      signal: null,
      stdout: "",
      stderr: "Error: Unable to connect to xend",
    });
    await expect(xmDriver.info(fakeRunner({ "xm info": failure }))).rejects.toBe(failure);
  });
});

describe("xen parser entries", () => {
  it("exposes xm-list, xl-list and xen-info, returning JSON-friendly results", () => {
    expect(parsers.map((p) => p.kind)).toEqual(["xm-list", "xl-list", "xen-info"]);
    for (const p of parsers) expect(p.description.length).toBeGreaterThan(10);
    const list = parsers[0]?.parse(readFixture("xen", "xm-xl-list-4.0.1-dom0-only.txt"));
    expect(JSON.parse(JSON.stringify(list))).toEqual(list);
    const info = parsers[2]?.parse(readFixture("xen", "xm-info-4.0.1.txt"));
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });

  it("labels errors with the entry's own kind", () => {
    expect(() => parsers[1]?.parse("garbage")).toThrow(/^xl-list: line 1:/);
  });
});
