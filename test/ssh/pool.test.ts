import { describe, expect, it } from "vitest";
import { ExecError, XenopsError } from "../../src/errors";
import { SshPool, type SshPoolOptions } from "../../src/ssh/pool";
import {
  captureLogger,
  clientKeys,
  hostKeys,
  nodeSettings,
  oneTurn,
  otherHostKeys,
  perTestCleanups,
  processAlive,
  rejectionOf,
  settledFlag,
  shellHandler,
  startShellServer,
  strangerKeys,
  TestClock,
  waitFor,
} from "./helpers";

const { cleanups, shellServer } = perTestCleanups();

function makePool(
  server: { host: string; port: number },
  options: SshPoolOptions = {},
  extra: Parameters<typeof nodeSettings>[1] = {},
) {
  const log = captureLogger();
  // The pool's timers fire only when a test advances this clock.
  const clock = new TestClock();
  const pool = new SshPool({ nodes: [nodeSettings(server, extra)], logger: log.logger, options, clock });
  cleanups.push(() => pool.close());
  return { pool, runner: pool.runner("n1"), log, clock };
}

function asExecError(error: unknown): ExecError {
  expect(error).toBeInstanceOf(ExecError);
  return error as ExecError;
}

describe("SshPool: connections", () => {
  it("reuses one connection for many sequential and parallel commands", async () => {
    const server = await shellServer();
    const { pool, runner } = makePool(server);
    for (let i = 0; i < 5; i++) expect((await runner.run(["echo", String(i)])).stdout).toBe(`${i}\n`);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.run(["echo", `p${i}`])));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `p${i}\n`));
    expect(server.attempts()).toBe(1);
    expect(server.connections()).toBe(1);
    expect(pool.stats()).toMatchObject({
      connections: 1,
      nodes: { n1: { connected: true, connects: 1, inFlight: 0 } },
    });
  });

  it("bounds the commands running at once per node and queues the rest", async () => {
    // Every command waits at the gate once it runs, so the first three hold their slots until the
    // test opens it: the server then shows whether a fourth started meanwhile.
    let openGate = (): void => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const shell = shellHandler([]);
    const server = await shellServer({
      handler: async (req) => {
        await gate;
        return shell(req);
      },
    });
    const { pool, runner } = makePool(server, { maxConcurrentPerNode: 3 });
    const all = Promise.all(Array.from({ length: 10 }, (_, i) => runner.run(["echo", String(i)])));
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 3, queued: 7 });
    await waitFor("three commands running on the server", () => server.running() === 3);
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 3, queued: 7 });
    openGate();
    const results = await all;
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(server.maxConcurrent()).toBe(3);
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("fails in-flight commands with ssh_disconnected when the connection drops, then reconnects", async () => {
    const first = await startShellServer();
    const { pool, runner, clock } = makePool(first, { reconnect: { initialDelayMs: 20 } });
    await runner.run(["true"]);
    const inflight = rejectionOf(runner.run(["sleep", "5"]));
    await waitFor("the command to run on the server", () => first.running() === 1);
    await first.close();
    const error = asExecError(await inflight);
    expect(error.code).toBe("ssh_disconnected");
    expect(error.message).toMatch(/connection lost while sleep was running/);

    // While the node is down: a connect failure, not a hang.
    const down = asExecError(await rejectionOf(runner.run(["true"])));
    expect(down.code).toBe("ssh_connect_failed");
    expect(down.message).toMatch(/refused/);

    // Same address and host key again (a node that rebooted).
    const second = await shellServer({ port: first.port });
    // Inside the 20 ms backoff the pool does not try yet: the last error, at once.
    const early = asExecError(await rejectionOf(runner.run(["true"])));
    expect(early.code).toBe("ssh_connect_failed");
    expect(early.message).toMatch(/refused \(next attempt in 20 ms\)$/);
    expect(second.attempts()).toBe(0);
    clock.advance(20); // the backoff has passed
    expect((await runner.run(["echo", "back"])).stdout).toBe("back\n");
    expect(pool.stats().nodes.n1!.connects).toBe(2);
    expect(second.attempts()).toBe(1);
    expect(second.connections()).toBe(1);
  });

  it("backs off after a failed connect instead of trying again per command", async () => {
    const server = await shellServer({ policy: () => "refuse" });
    const { runner, clock } = makePool(server, { reconnect: { initialDelayMs: 10_000 } });
    const first = asExecError(await rejectionOf(runner.run(["true"])));
    expect(first.code).toBe("ssh_connect_failed");
    expect(first.message).not.toMatch(/next attempt/);
    // The clock has not moved: these answer at once, from the last error, without a connect.
    const second = asExecError(await rejectionOf(runner.run(["true"])));
    expect(second.code).toBe("ssh_connect_failed");
    expect(second.message).toBe(`${first.message} (next attempt in 10000 ms)`);
    clock.advance(9_999);
    const third = asExecError(await rejectionOf(runner.run(["true"])));
    expect(third.message).toMatch(/\(next attempt in 1 ms\)$/);
    expect(server.attempts()).toBe(1);
    // Once the backoff has passed, one command tries again; a second failure doubles the delay.
    clock.advance(1);
    const retried = asExecError(await rejectionOf(runner.run(["true"])));
    expect(retried.message).not.toMatch(/next attempt/);
    expect(server.attempts()).toBe(2);
    const doubled = asExecError(await rejectionOf(runner.run(["true"])));
    expect(doubled.message).toMatch(/\(next attempt in 20000 ms\)$/);
    expect(server.attempts()).toBe(2);
  });

  it("connection policy 'hang' costs the connect timeout, not forever", async () => {
    const server = await shellServer({ policy: () => "hang" });
    const { runner, clock } = makePool(server, { connectTimeoutMs: 300 });
    const pending = rejectionOf(runner.run(["true"], { timeoutMs: 10_000 }));
    const settled = settledFlag(pending);
    await waitFor("the connection to reach the server", () => server.attempts() === 1);
    clock.advance(299);
    await oneTurn();
    expect(settled()).toBe(false); // still waiting for the handshake
    clock.advance(1);
    // At 300 ms of pool time, far short of the command's 10 s: the connect timeout ended it.
    const error = asExecError(await pending);
    expect(error.code).toBe("ssh_connect_failed");
    expect(error.message).toMatch(/no SSH handshake from .* within 300 ms$/);
    expect(clock.now()).toBe(300);
    expect(clock.pending()).toBe(0);
  });

  it("connection policy 'refuse' fails fast with ssh_connect_failed", async () => {
    const server = await shellServer({ policy: () => "refuse" });
    const { runner, clock } = makePool(server);
    // The pool's clock never moves here: the refusal alone ends the command, not a timeout, and
    // no timer is left behind.
    const error = asExecError(await rejectionOf(runner.run(["true"])));
    expect(error.code).toBe("ssh_connect_failed");
    expect(clock.now()).toBe(0);
    expect(clock.pending()).toBe(0);
    expect(server.attempts()).toBe(1);
    expect(error.node).toBe("n1");
    expect(error.argv).toEqual(["true"]);
  });

  it("close() fails in-flight and later commands and ends the connection", async () => {
    const server = await shellServer();
    const { pool, runner } = makePool(server);
    const inflight = rejectionOf(runner.run(["sleep", "5"]));
    await waitFor("the command to run on the server", () => server.running() === 1);
    await pool.close();
    const error = asExecError(await inflight);
    expect(error.code).toBe("ssh_disconnected");
    expect(error.message).toMatch(/pool was closed/);
    expect(asExecError(await rejectionOf(runner.run(["true"]))).code).toBe("ssh_disconnected");
    expect(pool.stats().connections).toBe(0);
    await waitFor("the server to see the connection end", () => server.connections() === 0);
  });

  it("refuses unknown nodes and unreadable configuration", () => {
    const { pool } = makePool({ host: "127.0.0.1", port: 1 });
    expect(() => pool.runner("nope")).toThrow(XenopsError);
    const logger = captureLogger().logger;
    const bad = (extra: Parameters<typeof nodeSettings>[1]) => () =>
      new SshPool({ nodes: [nodeSettings({ host: "127.0.0.1", port: 1 }, extra)], logger });
    expect(bad({ hostKeyPin: "SHA256:short" })).toThrow(/43 base64/);
    expect(bad({ privateKey: "not a key" })).toThrow(/cannot read private key/);
    expect(bad({ privateKey: clientKeys.publicKey })).toThrow(/holds no private key/);
    try {
      bad({ privateKey: "not a key" })();
    } catch (error) {
      expect((error as XenopsError).code).toBe("config_invalid");
    }
  });
});

describe("SshPool: host keys and authentication", () => {
  it("accepts the pinned fingerprint, a known_hosts line and a hashed known_hosts line", async () => {
    const server = await shellServer();
    const pub = hostKeys.publicKey.split(" ").slice(0, 2).join(" ");
    for (const pin of [
      hostKeys.fingerprint,
      `[${server.host}]:${server.port} ${pub}`,
      `${server.host},other ${pub} comment`,
      `|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= ${pub}`,
    ]) {
      const { runner } = makePool(server, {}, { hostKeyPin: pin });
      expect((await runner.run(["echo", "ok"])).stdout).toBe("ok\n");
    }
  });

  it("refuses a host whose key does not match the pin, every time, naming both fingerprints", async () => {
    const server = await shellServer();
    const { pool, runner, log } = makePool(
      server,
      { reconnect: { initialDelayMs: 0 } },
      { hostKeyPin: otherHostKeys.fingerprint },
    );
    for (let attempt = 1; attempt <= 2; attempt++) {
      const error = asExecError(await rejectionOf(runner.run(["true"])));
      expect(error.code).toBe("ssh_host_key_mismatch");
      expect(error.message).toContain(`expected ${otherHostKeys.fingerprint}`);
      expect(error.message).toContain(`presented ${hostKeys.fingerprint}`);
      expect(server.attempts()).toBe(attempt); // really checked again, never cached as fine
    }
    expect(server.execs).toHaveLength(0);
    expect(pool.stats().connections).toBe(0);
    expect(
      log.records().some((r) => r.msg === "ssh host key mismatch" && r.actual === hostKeys.fingerprint),
    ).toBe(true);
  });

  it("without a pin, refuses and reports the presented fingerprint", async () => {
    const server = await shellServer();
    const { runner } = makePool(server, {}, { hostKeyPin: "" });
    const error = asExecError(await rejectionOf(runner.run(["true"])));
    expect(error.code).toBe("ssh_host_key_unknown");
    expect(error.message).toContain(hostKeys.fingerprint);
    expect(server.execs).toHaveLength(0);
  });

  it("is refused by a server that does not know the client key", async () => {
    const server = await shellServer();
    const { runner } = makePool(server, {}, { privateKey: strangerKeys.privateKey });
    const error = asExecError(await rejectionOf(runner.run(["true"])));
    expect(error.code).toBe("ssh_connect_failed");
    expect(error.message).toMatch(/authentication as root failed/);
    expect(server.execs).toHaveLength(0);
  });
});

describe("SshPool: commands", () => {
  it("reports a non-zero exit as exec_failed with every detail", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const argv = ["sh", "-c", "echo out; echo 'drbd: no such resource' >&2; exit 3"];
    const error = asExecError(await rejectionOf(runner.run(argv)));
    expect(error).toMatchObject({
      code: "exec_failed",
      node: "n1",
      argv,
      exitCode: 3,
      signal: null,
      stdout: "out\n",
      stderr: "drbd: no such resource\n",
    });
    expect(error.message).toBe("n1: sh exited with code 3: drbd: no such resource");
    const ok = await runner.run(argv, { okExitCodes: [0, 3] });
    expect(ok).toMatchObject({ exitCode: 3, stdout: "out\n", stderr: "drbd: no such resource\n" });
    expect(ok.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("writes stdin, then ends it, and never logs it or the key", async () => {
    const server = await shellServer();
    const { runner, log } = makePool(server);
    const secret = "passwd=hunter2-very-secret\n";
    expect((await runner.run(["cat"], { stdin: secret })).stdout).toBe(secret);
    expect((await runner.run(["cat"])).stdout).toBe(""); // EOF at once, no hang
    const text = log.text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain(clientKeys.privateKey.split("\n")[1]);
    expect(log.records().find((r) => r.msg === "ssh command finished")).toMatchObject({
      node: "n1",
      cmd: "cat",
      exitCode: 0,
    });
  });

  it("prefixes sudo -n -- on sudo nodes", async () => {
    const commands: string[] = [];
    const server = await shellServer({
      handler: async (req) => {
        commands.push(req.command);
        return { exitCode: 0 };
      },
    });
    const { runner } = makePool(server, {}, { sudo: true });
    await runner.run(["drbdadm", "primary", "r 0"]);
    expect(commands).toEqual(["sudo -n -- drbdadm primary 'r 0'"]);
  });

  it("fails a command whose output exceeds the cap", async () => {
    const server = await shellServer();
    const { runner } = makePool(server, { maxOutputBytes: 1000 });
    const error = asExecError(await rejectionOf(runner.run(["head", "-c", "100000", "/dev/zero"])));
    expect(error.code).toBe("exec_failed");
    expect(error.message).toMatch(/more than 1000 bytes to stdout/);
    expect(error.stdout).toHaveLength(1000);
  });

  it("on timeout rejects with ssh_timeout, signals KILL and the remote process is gone", async () => {
    const server = await shellServer();
    const { pool, runner, clock } = makePool(server);
    const pending = rejectionOf(runner.run(["sh", "-c", "echo started; sleep 30"], { timeoutMs: 300 }));
    const settled = settledFlag(pending);
    await waitFor("the command to run on the server", () => server.running() === 1);
    clock.advance(299);
    await oneTurn();
    expect(settled()).toBe(false);
    clock.advance(1);
    // Rejected at 300 ms of pool time, with the remote command still running: the caller does not
    // wait for the remote side (nor for the slot's fallback release, a second later).
    const error = asExecError(await pending);
    expect(error.code).toBe("ssh_timeout");
    expect(error.message).toBe("n1: sh timed out after 300 ms");
    expect(clock.now()).toBe(300);
    const trace = server.execs[0]!;
    await waitFor("the KILL to reach the server", () => trace.aborted !== undefined);
    expect(trace.aborted).toBe("signal KILL");
    await waitFor("the remote process to exit", () => !processAlive(trace.pid!));
    // The slot comes back once the channel is closed (the clock stands still, so not by the
    // fallback timer), and the connection stays usable.
    await waitFor("the slot to come back", () => pool.stats().nodes.n1!.inFlight === 0);
    expect(clock.now()).toBe(300);
    expect((await runner.run(["echo", "still fine"])).stdout).toBe("still fine\n");
    expect(server.attempts()).toBe(1);
  });

  it("on sudo nodes sends TERM first and closes only after the grace period (sudo cannot relay KILL)", async () => {
    const reasons: string[] = [];
    let started = false;
    const server = await shellServer({
      handler: async (req) => {
        if (req.command !== "sudo -n -- sleep 30") return { exitCode: 0 };
        started = true;
        // A command that ignores TERM and never ends by itself: only the close after the grace
        // period ends the channel.
        req.signal.addEventListener("abort", () => reasons.push(String(req.signal.reason)));
        return new Promise<never>(() => {});
      },
    });
    const { pool, runner, clock } = makePool(server, { killGraceMs: 300 }, { sudo: true });
    const pending = rejectionOf(runner.run(["sleep", "30"], { timeoutMs: 100 }));
    await waitFor("the command to run on the server", () => started);
    clock.advance(100);
    // The caller has its answer at 100 ms of pool time, while the 300 ms grace is still running.
    const error = asExecError(await pending);
    expect(error.code).toBe("ssh_timeout");
    await waitFor("the TERM to reach the server", () => reasons.length > 0);
    expect(reasons).toEqual(["signal TERM"]);
    clock.advance(299);
    // A command on the same connection after it: the server answers requests in order, so a close
    // sent before the grace ended would have been confirmed by now.
    expect((await runner.run(["true"])).exitCode).toBe(0);
    await oneTurn();
    expect(pool.stats().nodes.n1!.inFlight).toBe(1); // channel still open during the grace period
    clock.advance(1);
    // KILL and close at 400 ms (timeout + grace); the slot comes back once the server confirms.
    await waitFor("the channel to close after the grace period", () => pool.stats().nodes.n1!.inFlight === 0);
    expect(clock.now()).toBe(400);
  });

  it("an abort signal ends the command with exec_aborted", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const ac = new AbortController();
    const pending = rejectionOf(runner.run(["sleep", "30"], { signal: ac.signal, timeoutMs: 10_000 }));
    await waitFor("the command to run on the server", () => server.running() === 1);
    ac.abort();
    const error = asExecError(await pending);
    expect(error.code).toBe("exec_aborted");
    const trace = server.execs[0]!;
    await waitFor("the remote process to exit", () => !processAlive(trace.pid!));
    expect(trace.aborted).toBe("signal KILL");

    // Already aborted: nothing is sent at all.
    const before = server.execs.length;
    const early = asExecError(await rejectionOf(runner.run(["true"], { signal: AbortSignal.abort() })));
    expect(early.code).toBe("exec_aborted");
    expect(server.execs.length).toBe(before);
  });

  it("a queued command times out in the queue without ever running", async () => {
    const server = await shellServer();
    const { pool, runner, clock } = makePool(server, { maxConcurrentPerNode: 1 });
    const stop = new AbortController();
    const blocker = rejectionOf(runner.run(["sleep", "30"], { signal: stop.signal }));
    const queued = rejectionOf(runner.run(["echo", "late"], { timeoutMs: 100 }));
    await waitFor("the first command to run on the server", () => server.running() === 1);
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 1, queued: 1 });
    clock.advance(100);
    const error = asExecError(await queued);
    expect(error.code).toBe("ssh_timeout");
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 1, queued: 0 }); // it left the queue
    stop.abort();
    expect(asExecError(await blocker).code).toBe("exec_aborted");
    // The freed slot goes to the next command in the queue; the timed-out one never runs.
    expect((await runner.run(["echo", "next"])).stdout).toBe("next\n");
    expect(server.execs.map((e) => e.command)).toEqual(["sleep 30", "echo next"]);
  });
});

describe("SshPool: stream", () => {
  it("delivers stdout line by line until the command ends", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const lines: string[] = [];
    const handle = runner.stream!(["sh", "-c", "printf 'a\\nb\\r\\n'; sleep 0.1; printf 'c\\nd'"], (line) => {
      lines.push(line);
    });
    const result = await handle.done;
    expect(lines).toEqual(["a", "b", "c", "d"]);
    expect(result.exitCode).toBe(0);
  });

  it("close() ends a never-ending stream and the remote process", async () => {
    const server = await shellServer();
    const { pool, runner } = makePool(server);
    const lines: string[] = [];
    const handle = runner.stream!(["sh", "-c", "while :; do echo tick; sleep 0.02; done"], (line) => {
      lines.push(line);
    });
    await waitFor("three lines", () => lines.length >= 3);
    expect(pool.stats().nodes.n1!.streams).toBe(1);
    handle.close();
    const seen = lines.length;
    const result = await handle.done;
    expect(result.exitCode).toBe(-1);
    const trace = server.execs[0]!;
    await waitFor("the remote process to exit", () => !processAlive(trace.pid!));
    expect(trace.aborted).toBe("signal KILL");
    // The channel is gone once the stream's count drops, so nothing can arrive on it any more.
    await waitFor("the stream's channel to close", () => pool.stats().nodes.n1!.streams === 0);
    expect(lines.length).toBe(seen); // nothing after close()
    expect(lines.every((l) => l === "tick")).toBe(true);
  });

  it("delivers no line after close(), even one the command writes during the TERM grace", async () => {
    // A command that prints one more line when it gets TERM. On a sudo node the channel stays open
    // after TERM (KILL and close follow after the grace), so that line does reach the pool.
    const server = await shellServer({
      handler: (req) =>
        new Promise((resolve) => {
          req.stdout.write("before\n");
          req.signal.addEventListener(
            "abort",
            () => {
              req.stdout.write("after\n");
              resolve({ exitCode: 0 });
            },
            { once: true },
          );
        }),
    });
    const { pool, runner } = makePool(server, { killGraceMs: 300 }, { sudo: true });
    const lines: string[] = [];
    const handle = runner.stream!(["watch"], (line) => {
      lines.push(line);
    });
    await waitFor("the first line", () => lines.length === 1);
    handle.close();
    expect((await handle.done).exitCode).toBe(-1);
    // The command wrote its last line and exited on TERM; the server then closed the channel, well
    // before the KILL and close due at the end of the grace (the clock is not moved).
    await waitFor("the stream's channel to close", () => pool.stats().nodes.n1!.streams === 0);
    expect(lines).toEqual(["before"]);
  });

  it("rejects done when the streamed command fails", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const handle = runner.stream!(["sh", "-c", "echo one; echo broken >&2; exit 2"], () => {});
    const error = asExecError(await rejectionOf(handle.done));
    expect(error).toMatchObject({ code: "exec_failed", exitCode: 2, stderr: "broken\n" });
  });
});
