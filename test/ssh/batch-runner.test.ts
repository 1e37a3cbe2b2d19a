/**
 * SshCommandRunner.runBatch against an SSH server that runs every exec with a real /bin/sh: the batch
 * gives each command what run() gives it, takes one exec, and fails every command when its frames
 * cannot be trusted.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type BatchCommand, type BatchOutcome, type CommandRunner, runBatch } from "../../src/command-runner";
import { ExecError } from "../../src/errors";
import { SshPool } from "../../src/ssh/pool";
import { splitCommandLine } from "../../src/ssh/quote";
import { captureLogger, nodeSettings, perTestCleanups, rejectionOf, TestClock } from "./helpers";

const { cleanups, shellServer } = perTestCleanups();

function makePool(
  server: { host: string; port: number },
  options: { realClock?: boolean; sudo?: boolean } = {},
) {
  const log = captureLogger();
  const pool = new SshPool({
    nodes: [nodeSettings(server, options.sudo ? { sudo: true } : {})],
    logger: log.logger,
    ...(options.realClock ? {} : { clock: new TestClock() }),
  });
  cleanups.push(() => pool.close());
  return { pool, runner: pool.runner("n1"), log };
}

/** What run() gives for each command, as outcomes. */
async function oneByOne(runner: CommandRunner, commands: readonly BatchCommand[]): Promise<BatchOutcome[]> {
  return Promise.all(
    commands.map((c) =>
      runner.run(c.argv, c.okExitCodes ? { okExitCodes: c.okExitCodes } : {}).then(
        (result): BatchOutcome => ({ ok: true, result }),
        (error: unknown): BatchOutcome => ({ ok: false, error }),
      ),
    ),
  );
}

/** An outcome without its duration (a batch's commands share the batch's). */
function comparable(o: BatchOutcome) {
  if (o.ok)
    return { ok: true, stdout: o.result.stdout, stderr: o.result.stderr, exitCode: o.result.exitCode };
  const e = o.error as ExecError;
  return {
    ok: false,
    name: e.name,
    code: e.code,
    message: e.message,
    node: e.node,
    argv: e.argv,
    exitCode: e.exitCode,
    signal: e.signal,
    stdout: e.stdout,
    stderr: e.stderr,
  };
}

const HOSTILE = [
  "x; echo PWNED",
  "$(echo PWNED)",
  "`echo PWNED`",
  "'\"'\"'",
  "line1\nline2\n",
  "",
  "*",
  "#x",
  "A=b",
  "-n",
  "xenops-:e:0:0",
  "héllo ✓ 日本語",
];

describe("SshCommandRunner.runBatch through a real sh", () => {
  it("gives every command what run() gives it, in one exec", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const commands: BatchCommand[] = [
      { argv: ["printf", "%s\\0", ...HOSTILE] },
      { argv: ["printf", "no newline at the end"] },
      { argv: ["sh", "-c", "echo out; echo 'a warning' >&2"] },
      { argv: ["sh", "-c", "echo partial; echo 'no such resource' >&2; exit 3"], okExitCodes: [0, 3] },
      { argv: ["sh", "-c", "echo broken >&2; exit 1"] },
      { argv: ["cat", "/nonexistent/xenops"] },
      { argv: ["xenops-no-such-program"] },
      { argv: ["true"] },
    ];
    const batched = await runner.runBatch!(commands);
    expect(server.execs).toHaveLength(1);
    const single = await oneByOne(runner, commands);
    // A shell names itself and the script's line in "not found" (`sh: 41:` vs `/bin/sh: 1:`); the rest
    // is identical, the status first of all.
    const notFound = (o: BatchOutcome) => {
      const c = comparable(o) as ReturnType<typeof comparable> & { message: string; stderr: string };
      return c.ok
        ? c
        : {
            ...c,
            message: c.message.replace(/[/a-z]*sh: \d+:/, "sh: N:"),
            stderr: c.stderr.replace(/^[/a-z]*sh: \d+:/, "sh: N:"),
          };
    };
    expect(batched.map(notFound)).toEqual(single.map(notFound));
    expect(comparable(batched[6]!)).toMatchObject({
      exitCode: 127,
      stderr: expect.stringMatching(/not found/),
    });
    // The hostile words came through verbatim, and nothing they spell ran.
    const first = batched[0]!;
    expect(first.ok && first.result.stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);
    expect(batched.map(comparable).map((o) => o.ok)).toEqual([
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      true,
    ]);
    expect(comparable(batched[4]!)).toMatchObject({
      code: "exec_failed",
      message: "n1: sh exited with code 1: broken",
      exitCode: 1,
      stderr: "broken\n",
    });
  });

  it("fails every command, never part of them, when a command prints the batch's marker", async () => {
    const server = await shellServer();
    const { runner, log } = makePool(server);
    // The marker is in the shell's command line: a command that reads it (ps, /proc) spoils the frames.
    const outcomes = await runner.runBatch!([
      { argv: ["echo", "fine"] },
      { argv: ["sh", "-c", "tr '\\0' ' ' < /proc/$PPID/cmdline"] },
      { argv: ["echo", "also fine"] },
    ]);
    expect(outcomes.every((o) => !o.ok)).toBe(true);
    for (const o of outcomes) {
      const e = (o as { error: ExecError }).error;
      expect(e).toBeInstanceOf(ExecError);
      expect(e).toMatchObject({ code: "exec_failed", exitCode: null, stdout: "", stderr: "" });
      expect(e.message).toMatch(/could not be split back .*its result is unknown/);
    }
    expect(log.text()).toContain("ssh batch output unreadable");
  });

  it("fails every command when the shell running the batch dies mid-way", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const outcomes = await runner.runBatch!([
      { argv: ["echo", "fine"] },
      { argv: ["sh", "-c", "kill -KILL $PPID"] },
      { argv: ["echo", "never"] },
    ]);
    expect(outcomes.map((o) => !o.ok && (o.error as ExecError).code)).toEqual([
      "exec_failed",
      "exec_failed",
      "exec_failed",
    ]);
    for (const o of outcomes) expect((o as { error: ExecError }).error.exitCode).toBeNull();
  });

  it("on a timeout, times out the running command and distrusts the ones that finished", async () => {
    const server = await shellServer();
    // Real time: the first command's output must reach the client before the timeout, which a clock
    // that only moves on command cannot tell.
    const { runner } = makePool(server, { realClock: true });
    const scratch = mkdtempSync(join(tmpdir(), "xenops-batch-"));
    cleanups.push(async () => rmSync(scratch, { recursive: true, force: true }));
    const outcomes = await runner.runBatch!(
      [
        { argv: ["echo", "done"] },
        { argv: ["sh", "-c", `touch ${join(scratch, "sleeping")}; sleep 30`] },
        { argv: ["echo", "after"] },
      ],
      { timeoutMs: 2000 },
    );
    expect(existsSync(join(scratch, "sleeping"))).toBe(true);
    const errors = outcomes.map((o) => (o.ok ? null : (o.error as ExecError)));
    expect(errors.map((e) => e?.code)).toEqual(["exec_failed", "ssh_timeout", "ssh_timeout"]);
    expect(errors[0]?.message).toMatch(/finished, but its batch was cut off by a timeout/);
    expect(errors[1]?.message).toMatch(/^n1: sh timed out after 2000 ms \(batch \[echo, sh, echo\]\)$/);
    expect(errors[2]?.message).toMatch(/did not start: .* while sh was running$/);
  });

  it("fails every command with the transport's error when the node cannot be reached", async () => {
    const server = await shellServer({ policy: () => "refuse" });
    const { runner } = makePool(server);
    const outcomes = await runner.runBatch!([{ argv: ["echo", "a"] }, { argv: ["echo", "b"] }]);
    expect(outcomes.map((o) => !o.ok && (o.error as ExecError).code)).toEqual([
      "ssh_connect_failed",
      "ssh_connect_failed",
    ]);
    expect(outcomes.map((o) => !o.ok && (o.error as ExecError).argv)).toEqual([
      ["echo", "a"],
      ["echo", "b"],
    ]);
  });

  it("refuses a shell builtin in a batch and runs the others", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const outcomes = await runner.runBatch!([{ argv: ["exit", "0"] }, { argv: ["echo", "still here"] }]);
    expect(outcomes[0]).toMatchObject({ ok: false, error: { code: "invalid_argument" } });
    expect(outcomes[1]).toMatchObject({ ok: true, result: { stdout: "still here\n", exitCode: 0 } });
  });

  it("puts sudo -n -- before each command on sudo nodes, not before the shell", async () => {
    const commands: string[] = [];
    const server = await shellServer({
      handler: async (req) => {
        commands.push(req.command);
        return { exitCode: 0 };
      },
    });
    const { runner } = makePool(server, { sudo: true });
    // The server prints nothing: no frames, so nothing is trusted.
    const outcomes = await runner.runBatch!([
      { argv: ["xl", "list"] },
      { argv: ["ls", "-l", "/etc/xen/auto"] },
    ]);
    expect(outcomes.every((o) => !o.ok && (o.error as ExecError).code === "exec_failed")).toBe(true);
    const [sh, c, script] = splitCommandLine(commands[0]!);
    expect([sh, c]).toEqual(["sh", "-c"]);
    const lines = script!.split("\n");
    expect(lines).toContain("sudo -n -- xl list");
    expect(lines).toContain("sudo -n -- ls -l /etc/xen/auto");
    expect(lines.filter((l) => l.startsWith("sudo"))).toHaveLength(2);
  });
});

describe("runBatch without a batch-capable runner", () => {
  it("runs the commands one by one, each settling as run() does", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const plain: CommandRunner = { node: runner.node, run: (argv, o) => runner.run(argv, o) };
    const outcomes = await runBatch(plain, [
      { argv: ["echo", "a"] },
      { argv: ["sh", "-c", "exit 2"], okExitCodes: [0, 2] },
      { argv: ["false"] },
    ]);
    expect(server.execs).toHaveLength(3);
    expect(outcomes.map(comparable)).toMatchObject([
      { ok: true, stdout: "a\n", exitCode: 0 },
      { ok: true, exitCode: 2 },
      { ok: false, code: "exec_failed", exitCode: 1 },
    ]);
    expect(await rejectionOf(plain.run(["false"]))).toBeInstanceOf(ExecError);
  });
});
