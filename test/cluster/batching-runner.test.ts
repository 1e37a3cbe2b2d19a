/**
 * batchingRunner: which calls share a batch. The runner under it records what it was asked (a batch
 * or a single run) and answers from a table, so each caller's result can be checked against its argv.
 */
import { describe, expect, it } from "vitest";
import { batchingRunner } from "../../src/cluster/batching-runner";
import type { BatchCommand, CommandRunner, ExecResult, RunOptions } from "../../src/command-runner";
import { ExecError } from "../../src/errors";

interface Recorder {
  runner: CommandRunner;
  /** One entry per exec: the argv of its commands. */
  execs: string[][];
  options: (Pick<RunOptions, "timeoutMs" | "signal"> | undefined)[];
}

/** A node whose every command prints its own words; `false` exits 1. */
function recorder(batches = true): Recorder {
  const execs: string[][] = [];
  const options: Recorder["options"] = [];
  const answer = (argv: readonly string[]): ExecResult => ({
    stdout: `${argv.join(" ")}\n`,
    stderr: "",
    exitCode: argv[0] === "false" ? 1 : 0,
    durationMs: 1,
  });
  const fail = (argv: readonly string[], r: ExecResult) =>
    new ExecError("exec_failed", `n1: ${argv[0]} exited with code ${r.exitCode}`, {
      node: "n1",
      argv,
      exitCode: r.exitCode,
      signal: null,
      stdout: r.stdout,
      stderr: r.stderr,
    });
  const runner: CommandRunner = {
    node: "n1",
    async run(argv, o = {}) {
      execs.push([argv.join(" ")]);
      options.push(o);
      const r = answer(argv);
      if (!(o.okExitCodes ?? [0]).includes(r.exitCode)) throw fail(argv, r);
      return r;
    },
  };
  if (batches)
    runner.runBatch = async (commands: readonly BatchCommand[], o) => {
      execs.push(commands.map((c) => c.argv.join(" ")));
      options.push(o);
      return commands.map((c) => {
        const r = answer(c.argv);
        return (c.okExitCodes ?? [0]).includes(r.exitCode)
          ? { ok: true as const, result: r }
          : { ok: false as const, error: fail(c.argv, r) };
      });
    };
  return { runner, execs, options };
}

const settle = (p: Promise<ExecResult>) =>
  p.then(
    (r) => r.stdout,
    (e: ExecError) => `error ${e.exitCode}`,
  );

describe("batchingRunner", () => {
  it("sends the calls of one turn as one batch and gives each caller its own result", async () => {
    const rec = recorder();
    const b = batchingRunner(rec.runner);
    const results = await Promise.all([
      settle(b.run(["xl", "list"], { timeoutMs: 100 })),
      settle(b.run(["false"], { timeoutMs: 100 })),
      settle(b.run(["false"], { timeoutMs: 100, okExitCodes: [0, 1] })),
    ]);
    expect(results).toEqual(["xl list\n", "error 1", "false\n"]);
    expect(rec.execs).toEqual([["xl list", "false", "false"]]);
    expect(rec.options).toEqual([{ timeoutMs: 100, signal: undefined }]);
  });

  it("runs a call alone when it is alone in its turn, and a later turn in a batch of its own", async () => {
    const rec = recorder();
    const b = batchingRunner(rec.runner);
    expect(await b.run(["xl", "info"])).toMatchObject({ stdout: "xl info\n" });
    await Promise.all([b.run(["a"]), b.run(["b"])]);
    expect(rec.execs).toEqual([["xl info"], ["a", "b"]]);
  });

  it("keeps apart calls with another timeout or signal, and a call with stdin", async () => {
    const rec = recorder();
    const b = batchingRunner(rec.runner);
    const signal = new AbortController().signal;
    await Promise.all([
      b.run(["a"], { timeoutMs: 100 }),
      b.run(["b"], { timeoutMs: 200 }),
      b.run(["c"], { timeoutMs: 100 }),
      b.run(["d"], { timeoutMs: 100, signal }),
      b.run(["e"], { timeoutMs: 100, signal }),
      b.run(["fence_apc"], { timeoutMs: 100, stdin: "secret\n" }),
    ]);
    expect(rec.execs).toEqual([["fence_apc"], ["a", "c"], ["b"], ["d", "e"]]);
  });

  it("spreads one turn over up to `lanes` batches", async () => {
    const rec = recorder();
    const b = batchingRunner(rec.runner, 2);
    await Promise.all(["a", "b", "c", "d", "e"].map((x) => b.run([x])));
    expect(rec.execs).toEqual([
      ["a", "c", "e"],
      ["b", "d"],
    ]);
  });

  it("falls back to one run per command under a runner without batches", async () => {
    const rec = recorder(false);
    const b = batchingRunner(rec.runner);
    const results = await Promise.all([settle(b.run(["a"])), settle(b.run(["false"]))]);
    expect(results).toEqual(["a\n", "error 1"]);
    expect(rec.execs).toEqual([["a"], ["false"]]);
  });

  it("fails every caller of a batch whose runner throws", async () => {
    const rec = recorder();
    rec.runner.runBatch = async () => {
      throw new Error("runner broke");
    };
    const b = batchingRunner(rec.runner);
    const results = await Promise.allSettled([b.run(["a"]), b.run(["b"])]);
    expect(results.map((r) => r.status === "rejected" && (r.reason as Error).message)).toEqual([
      "runner broke",
      "runner broke",
    ]);
  });
});
