/**
 * SshPool against Debian's real OpenSSH sshd: quoting through a real sshd + sh, exit codes, stderr,
 * stdin, host key pinning, and what remote termination really achieves (see src/ssh/runner.ts).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecError } from "../../src/errors";
import { type SshNodeSettings, SshPool } from "../../src/ssh/pool";
import { splitCommandLine } from "../../src/ssh/quote";
import {
  ensureLoginUser,
  type OpenSshServer,
  openSshUnavailableReason,
  openSshVersion,
  startOpenSsh,
} from "../support/sshd";
import {
  captureLogger,
  clientKeys,
  oneTurn,
  otherHostKeys,
  rejectionOf,
  settledFlag,
  TestClock,
  waitFor,
} from "./helpers";

const unavailable = openSshUnavailableReason();
if (unavailable) console.warn(`skipping OpenSSH interop tests: ${unavailable}`);

/** Runs `$SSH_ORIGINAL_COMMAND` with sh, as a restricted-key wrapper would. */
const FORCE_COMMAND = '#!/bin/sh\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n';

const scratch = mkdtempSync(join(tmpdir(), "xenops-interop-"));
const marker = join(scratch, "PWNED");
const HOSTILE = [
  `x; touch ${marker}`,
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `x && touch ${marker} || touch ${marker}`,
  `> ${marker}`,
  "$(id)",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal shell expansion is the point
  "${HOME}",
  `'"'"'`,
  "a\\b",
  "line1\nline2\n",
  "",
  " ",
  "*",
  "~root",
  "#x",
  "!!",
  "{a,b}",
  "A=b",
  "-n",
  "héllo ✓ 日本語 😀",
  "\x01\x1b[31m\x7f",
];

let sleepSeq = 0;
/** A `sleep` whose command line is unique, so pgrep finds exactly ours. */
function uniqueSleep(seconds = 30): string {
  sleepSeq++;
  return `${seconds}.${process.pid}${sleepSeq}`;
}
function pidsOf(cmdline: string): number[] {
  const out = spawnSync("pgrep", ["-f", "-x", cmdline.replaceAll(".", "\\.")], { encoding: "utf8" });
  return out.stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map(Number);
}

describe.skipIf(unavailable !== undefined)(
  `OpenSSH interop${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    let forced: OpenSshServer;
    let plain: OpenSshServer;
    let user: string;
    const pools: SshPool[] = [];
    const strays: string[] = [];

    beforeAll(async () => {
      user = ensureLoginUser();
      [forced, plain] = await Promise.all([
        startOpenSsh({ authorizedKeys: [clientKeys.publicKey], forceCommandScript: FORCE_COMMAND }),
        startOpenSsh({ authorizedKeys: [clientKeys.publicKey] }),
      ]);
    });

    afterAll(async () => {
      for (const pool of pools) await pool.close();
      for (const s of strays) spawnSync("pkill", ["-KILL", "-f", "-x", s.replaceAll(".", "\\.")]);
      await forced?.stop();
      await plain?.stop();
      rmSync(scratch, { recursive: true, force: true });
    });

    function runnerFor(
      server: OpenSshServer,
      extra: Partial<SshNodeSettings> = {},
      name = "n1",
      clock?: TestClock,
    ) {
      const log = captureLogger();
      const pool = new SshPool({
        nodes: [
          {
            name,
            host: server.host,
            port: server.port,
            user: "root",
            privateKey: clientKeys.privateKey,
            hostKeyPin: server.hostKeyFingerprint,
            ...extra,
          },
        ],
        logger: log.logger,
        options: { reconnect: { initialDelayMs: 0 } },
        ...(clock ? { clock } : {}),
      });
      pools.push(pool);
      return { pool, runner: pool.runner(name), log };
    }

    const setups = () =>
      [
        ["root via ForceCommand sh -c", forced, "root"],
        ["root, plain session (bash -c)", plain, "root"],
        ["unprivileged user, plain session (sh -c)", plain, user],
      ] as const;

    it("passes hostile arguments through sshd and the remote shell verbatim, with no side effect", async () => {
      for (const [label, server, login] of setups()) {
        const { runner } = runnerFor(server, { user: login });
        const argv = ["printf", "%s\\0", ...HOSTILE];
        const result = await runner.run(argv);
        expect(result.stdout.split("\0").slice(0, -1), label).toEqual(HOSTILE);
        expect((await runner.run(["printf", "[%s]", ""])).stdout, label).toBe("[]");
        // A program name that looks like an assignment is still a program name.
        expect(((await rejectionOf(runner.run(["A=b", "true"]))) as ExecError).exitCode, label).toBe(127);
      }
      expect(existsSync(marker)).toBe(false);
    });

    it("reports exit codes, signals, stdout, stderr and reads stdin", async () => {
      const { runner } = runnerFor(forced);
      const argv = ["sh", "-c", "cat; echo 'no such resource' >&2; exit 5"];
      const error = (await rejectionOf(runner.run(argv, { stdin: "fence-secret=1\n" }))) as ExecError;
      expect(error).toBeInstanceOf(ExecError);
      expect(error).toMatchObject({
        code: "exec_failed",
        node: "n1",
        argv,
        exitCode: 5,
        signal: null,
        stdout: "fence-secret=1\n",
        stderr: "no such resource\n",
      });
      // Through the forced wrapper the inner shell's death is an exit code (143); a plain bash session
      // execs the command directly, so sshd reports the signal itself.
      const viaWrapper = (await rejectionOf(runner.run(["sh", "-c", "kill -TERM $$"]))) as ExecError;
      expect(viaWrapper).toMatchObject({ exitCode: 143, signal: null });
      const direct = runnerFor(plain).runner;
      const killed = (await rejectionOf(direct.run(["sh", "-c", "kill -TERM $$"]))) as ExecError;
      expect(killed).toMatchObject({ code: "exec_failed", exitCode: null, signal: "SIGTERM" });
      expect(killed.message).toBe("n1: sh was killed by SIGTERM");
      expect((await runner.run(["false"], { okExitCodes: [1] })).exitCode).toBe(1);
    });

    it("runs a batch of commands in one exec through sshd and the login shell, each as run() gives it", async () => {
      const commands = [
        { argv: ["printf", "%s\\0", ...HOSTILE] },
        { argv: ["printf", "no newline"] },
        { argv: ["sh", "-c", "echo out; echo 'no such resource' >&2; exit 3"], okExitCodes: [0, 3] },
        { argv: ["false"] },
        { argv: ["cat", join(scratch, "missing")] },
        { argv: ["sh", "-c", "printf '%s' \"$0\" >&2", "A=b"] },
      ];
      for (const [label, server, login] of setups()) {
        const { runner } = runnerFor(server, { user: login });
        const batched = await runner.runBatch!(commands);
        const single = await Promise.all(
          commands.map((c) =>
            runner.run(c.argv, c.okExitCodes ? { okExitCodes: c.okExitCodes } : {}).then(
              (r) => ({ ok: true, stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode }),
              (e: ExecError) => ({
                ok: false,
                code: e.code,
                message: e.message,
                stdout: e.stdout,
                stderr: e.stderr,
                exitCode: e.exitCode,
              }),
            ),
          ),
        );
        const shaped = batched.map((o) =>
          o.ok
            ? { ok: true, stdout: o.result.stdout, stderr: o.result.stderr, exitCode: o.result.exitCode }
            : (({ code, message, stdout, stderr, exitCode }: ExecError) => ({
                ok: false,
                code,
                message,
                stdout,
                stderr,
                exitCode,
              }))(o.error as ExecError),
        );
        expect(shaped, label).toEqual(single);
        expect(
          shaped.map((o) => o.ok),
          label,
        ).toEqual([true, true, true, false, false, true]);
        const first = batched[0]!;
        expect(first.ok && first.result.stdout.split("\0").slice(0, -1), label).toEqual(HOSTILE);
      }
      expect(existsSync(marker)).toBe(false);
    });

    it("on a batch timeout kills the whole script's process group (unprivileged login)", async () => {
      const clock = new TestClock();
      const { runner, pool } = runnerFor(plain, { user }, "n1", clock);
      await runner.run(["true"]);
      const s = uniqueSleep();
      strays.push(`sleep ${s}`);
      const pending = runner.runBatch!(
        [{ argv: ["echo", "first"] }, { argv: ["sleep", s] }, { argv: ["echo", "never"] }],
        {
          timeoutMs: 700,
        },
      );
      await waitFor("the batch's sleep to start", () => pidsOf(`sleep ${s}`).length === 1);
      clock.advance(700);
      const outcomes = await pending;
      // Nothing of a batch cut short is trusted. Whether "first" counts as finished (exec_failed) or
      // not (ssh_timeout) depends on whether its frame reached us before the clock moved.
      const codes = outcomes.map((o) => !o.ok && (o.error as ExecError).code);
      expect(["exec_failed", "ssh_timeout"]).toContain(codes[0]);
      expect(codes.slice(1)).toEqual(["ssh_timeout", "ssh_timeout"]);
      await waitFor("sshd to kill the batch's sleep", () => pidsOf(`sleep ${s}`).length === 0);
      await waitFor("the slot to come back", () => pool.stats().nodes.n1!.inFlight === 0);
      expect((await runner.run(["echo", "next"])).stdout).toBe("next\n");
    });

    it("reuses one connection and runs commands concurrently within MaxSessions", async () => {
      const { pool, runner } = runnerFor(plain);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => runner.run(["echo", String(i)])),
      );
      expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 12 }, (_, i) => `${i}\n`));
      expect(pool.stats().nodes.n1!.connects).toBe(1);
    });

    it("streams stdout line by line", async () => {
      const { runner } = runnerFor(forced);
      const lines: string[] = [];
      const handle = runner.stream!(
        ["sh", "-c", "for i in 1 2 3; do echo event $i; sleep 0.05; done"],
        (l) => {
          lines.push(l);
        },
      );
      expect((await handle.done).exitCode).toBe(0);
      expect(lines).toEqual(["event 1", "event 2", "event 3"]);
    });

    it("accepts the pinned key as fingerprint or known_hosts line and refuses any other", async () => {
      const ok = runnerFor(forced, { hostKeyPin: `[${forced.host}]:${forced.port} ${forced.hostPublicKey}` });
      expect((await ok.runner.run(["echo", "pinned"])).stdout).toBe("pinned\n");

      const bad = runnerFor(forced, { hostKeyPin: otherHostKeys.fingerprint });
      const error = (await rejectionOf(bad.runner.run(["touch", marker]))) as ExecError;
      expect(error.code).toBe("ssh_host_key_mismatch");
      expect(error.message).toContain(`expected ${otherHostKeys.fingerprint}`);
      expect(error.message).toContain(`presented ${forced.hostKeyFingerprint}`);
      expect(existsSync(marker)).toBe(false);
      expect(bad.pool.stats().connections).toBe(0);
    });

    it("on timeout kills the remote process group (unprivileged login, no forced command)", async () => {
      const clock = new TestClock();
      const { runner, pool } = runnerFor(plain, { user }, "n1", clock);
      // Connected first, so the timeout below covers the command alone.
      await runner.run(["true"]);
      const a = uniqueSleep();
      const b = uniqueSleep();
      strays.push(`sleep ${a}`, `sleep ${b}`);
      const pending = rejectionOf(
        runner.run(["sh", "-c", `sleep ${a} & sleep ${b}; wait`], { timeoutMs: 700 }),
      );
      const settled = settledFlag(pending);
      await waitFor(
        "both remote sleeps to start",
        () => pidsOf(`sleep ${a}`).length === 1 && pidsOf(`sleep ${b}`).length === 1,
      );
      clock.advance(699);
      await oneTurn();
      expect(settled()).toBe(false);
      clock.advance(1);
      // The caller's ssh_timeout comes at 700 ms of pool time, the clock standing still after it:
      // it waits neither for the remote processes nor for a grace or fallback timer.
      const error = (await pending) as ExecError;
      expect(error.code).toBe("ssh_timeout");
      expect(error.message).toBe("n1: sh timed out after 700 ms");
      // sshd killpg()s the session: the shell, the foreground sleep and the background one.
      await waitFor(
        "sshd to kill both remote sleeps",
        () => pidsOf(`sleep ${a}`).length + pidsOf(`sleep ${b}`).length === 0,
      );
      // The slot comes back when sshd closes the channel (the clock has not moved to the fallback).
      await waitFor("the slot to come back", () => pool.stats().nodes.n1!.inFlight === 0);
      expect(clock.now()).toBe(700);
      expect((await runner.run(["echo", "next"])).stdout).toBe("next\n");
    });

    it("an abort ends the remote process the same way", async () => {
      const { runner } = runnerFor(plain, { user });
      const s = uniqueSleep();
      strays.push(`sleep ${s}`);
      const ac = new AbortController();
      const pending = rejectionOf(runner.run(["sleep", s], { signal: ac.signal }));
      await waitFor("the remote sleep to start", () => pidsOf(`sleep ${s}`).length === 1);
      ac.abort();
      expect(((await pending) as ExecError).code).toBe("exec_aborted");
      await waitFor("sshd to kill the remote sleep", () => pidsOf(`sleep ${s}`).length === 0);
    });

    it("documents the limits: forced commands and (before OpenSSH 10) root logins ignore the signal", async () => {
      const version = openSshVersion() ?? [0, 0];
      const rootCanBeSignalled = version[0] >= 10;
      const cases = [
        {
          label: "forced command",
          server: forced,
          refusal: /refusing to send signal KILL to forced-command/,
        },
        {
          label: "root login",
          server: plain,
          refusal: rootCanBeSignalled ? undefined : /session signalling requires privilege separation/,
        },
      ];
      for (const c of cases) {
        const clock = new TestClock();
        const { runner } = runnerFor(c.server, {}, "n1", clock);
        // Connected first: the timeout must not fire before the command has even reached sshd.
        await runner.run(["true"]);
        const s = uniqueSleep();
        strays.push(`sleep ${s}`);
        const logFrom = c.server.log().length;
        const pending = rejectionOf(runner.run(["sleep", s], { timeoutMs: 500 }));
        await waitFor(`${c.label}: the remote sleep to start`, () => pidsOf(`sleep ${s}`).length === 1);
        clock.advance(500);
        // The caller gets its ssh_timeout on time either way; only the remote side differs.
        expect(((await pending) as ExecError).code, c.label).toBe("ssh_timeout");
        const refusal = c.refusal;
        if (refusal === undefined) {
          await waitFor(`${c.label}: sshd to kill the remote sleep`, () => pidsOf(`sleep ${s}`).length === 0);
        } else {
          await waitFor(`${c.label}: sshd to log that it refused the signal`, () =>
            refusal.test(c.server.log().slice(logFrom)),
          );
          // sshd handles a connection's messages in order: once a later command on it has run, the
          // KILL and the channel close before it have been dealt with. The sleep outlived both.
          expect((await runner.run(["echo", "after"])).stdout, c.label).toBe("after\n");
          expect(pidsOf(`sleep ${s}`), c.label).toHaveLength(1);
        }
        spawnSync("pkill", ["-KILL", "-f", "-x", `sleep ${s}`.replaceAll(".", "\\.")]);
      }
    });

    it("where signals are refused, closing the channel still stops a command at its next write (SIGPIPE)", async () => {
      const clock = new TestClock();
      const { runner } = runnerFor(forced, {}, "n1", clock);
      await runner.run(["true"]); // connected: the timeout covers the command alone
      const tag = uniqueSleep(0);
      const script = `while :; do echo tick; sleep ${tag}; done`;
      strays.push(`sleep ${tag}`);
      const shells = () =>
        spawnSync("pgrep", ["-f", "-x", `sh -c ${script}`.replaceAll(".", "\\.")], {
          encoding: "utf8",
        }).stdout.trim();
      const pending = rejectionOf(runner.run(["sh", "-c", script], { timeoutMs: 300 }));
      // The loop must really be running before the timeout, or its absence afterwards proves nothing.
      await waitFor("the remote loop to start", () => shells() !== "");
      clock.advance(300);
      expect(((await pending) as ExecError).code).toBe("ssh_timeout");
      await waitFor("the remote loop to die of SIGPIPE", () => shells() === "");
      // The request itself was read back faithfully by the simulator's parser too.
      expect(splitCommandLine(`sh -c '${script}'`)).toEqual(["sh", "-c", script]);
    });
  },
);
