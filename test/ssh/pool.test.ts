import { afterEach, describe, expect, it } from "vitest";
import { ExecError, XenopsError } from "../../src/errors";
import { SshPool, type SshPoolOptions } from "../../src/ssh/pool";
import { startSshServer } from "../../src/ssh/server";
import {
  captureLogger,
  clientKeys,
  hostKeys,
  nodeSettings,
  otherHostKeys,
  processAlive,
  rejectionOf,
  type ShellServer,
  startShellServer,
  strangerKeys,
  waitFor,
} from "./helpers";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function shellServer(options: Parameters<typeof startShellServer>[0] = {}): Promise<ShellServer> {
  const server = await startShellServer(options);
  cleanups.push(() => server.close());
  return server;
}

function makePool(
  server: { host: string; port: number },
  options: SshPoolOptions = {},
  extra: Parameters<typeof nodeSettings>[1] = {},
) {
  const log = captureLogger();
  const pool = new SshPool({ nodes: [nodeSettings(server, extra)], logger: log.logger, options });
  cleanups.push(() => pool.close());
  return { pool, runner: pool.runner("n1"), log };
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
    const server = await shellServer();
    const { pool, runner } = makePool(server, { maxConcurrentPerNode: 3 });
    const all = Promise.all(
      Array.from({ length: 10 }, (_, i) => runner.run(["sh", "-c", `sleep 0.1; echo ${i}`])),
    );
    await waitFor(() => pool.stats().nodes.n1!.queued > 0, 2000);
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 3, queued: 7 });
    const results = await all;
    expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(server.maxConcurrent()).toBe(3);
    expect(pool.stats().nodes.n1).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it("fails in-flight commands with ssh_disconnected when the connection drops, then reconnects", async () => {
    const first = await startShellServer();
    const { pool, runner } = makePool(first, { reconnect: { initialDelayMs: 20 } });
    await runner.run(["true"]);
    const inflight = rejectionOf(runner.run(["sleep", "5"]));
    await waitFor(() => first.running() === 1, 2000);
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
    await new Promise((r) => setTimeout(r, 30)); // past the 20 ms backoff
    expect((await runner.run(["echo", "back"])).stdout).toBe("back\n");
    expect(pool.stats().nodes.n1!.connects).toBe(2);
    expect(second.connections()).toBe(1);
  });

  it("backs off after a failed connect instead of trying again per command", async () => {
    const server = await shellServer({ policy: () => "refuse" });
    const { runner } = makePool(server, { reconnect: { initialDelayMs: 60_000 } });
    const first = asExecError(await rejectionOf(runner.run(["true"])));
    expect(first.code).toBe("ssh_connect_failed");
    const started = performance.now();
    const second = asExecError(await rejectionOf(runner.run(["true"])));
    expect(performance.now() - started).toBeLessThan(50);
    expect(second.code).toBe("ssh_connect_failed");
    expect(second.message).toMatch(/next attempt in \d+ ms/);
    expect(server.attempts()).toBe(1);
  });

  it("connection policy 'hang' costs the connect timeout, not forever", async () => {
    const server = await shellServer({ policy: () => "hang" });
    const { runner } = makePool(server, { connectTimeoutMs: 300 });
    const started = performance.now();
    const error = asExecError(await rejectionOf(runner.run(["true"], { timeoutMs: 10_000 })));
    const elapsed = performance.now() - started;
    expect(error.code).toBe("ssh_connect_failed");
    expect(error.message).toMatch(/within 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(280);
    expect(elapsed).toBeLessThan(2000);
  });

  it("connection policy 'refuse' fails fast with ssh_connect_failed", async () => {
    const server = await shellServer({ policy: () => "refuse" });
    const { runner } = makePool(server);
    const started = performance.now();
    const error = asExecError(await rejectionOf(runner.run(["true"])));
    expect(error.code).toBe("ssh_connect_failed");
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error.node).toBe("n1");
    expect(error.argv).toEqual(["true"]);
  });

  it("close() fails in-flight and later commands and ends the connection", async () => {
    const server = await shellServer();
    const { pool, runner } = makePool(server);
    const inflight = rejectionOf(runner.run(["sleep", "5"]));
    await waitFor(() => server.running() === 1, 2000);
    await pool.close();
    const error = asExecError(await inflight);
    expect(error.code).toBe("ssh_disconnected");
    expect(error.message).toMatch(/pool was closed/);
    expect(asExecError(await rejectionOf(runner.run(["true"]))).code).toBe("ssh_disconnected");
    expect(pool.stats().connections).toBe(0);
    expect(await waitFor(() => server.connections() === 0, 2000)).toBe(true);
  });

  it("refuses unknown nodes and unreadable configuration", () => {
    const { pool } = makePool({ host: "127.0.0.1", port: 1 });
    expect(() => pool.runner("nope")).toThrow(XenopsError);
    const logger = captureLogger().logger;
    const bad = (extra: Parameters<typeof nodeSettings>[1]) => () =>
      new SshPool({ nodes: [nodeSettings({ host: "127.0.0.1", port: 1 }, extra)], logger });
    expect(bad({ hostKeyPin: "SHA256:short" })).toThrow(/43 base64/);
    expect(bad({ privateKey: "not a key" })).toThrow(/cannot read private key/);
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
    const server = await startSshServer({
      hostKeys: [hostKeys.privateKey],
      authorizedKeys: [clientKeys.publicKey],
      onExec: async (req) => {
        commands.push(req.command);
        return { exitCode: 0 };
      },
    });
    cleanups.push(() => server.close());
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
    const { pool, runner } = makePool(server);
    const started = performance.now();
    const error = asExecError(
      await rejectionOf(runner.run(["sh", "-c", "echo started; sleep 30"], { timeoutMs: 300 })),
    );
    const elapsed = performance.now() - started;
    expect(error.code).toBe("ssh_timeout");
    expect(error.message).toBe("n1: sh timed out after 300 ms");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1000);
    const trace = server.execs[0]!;
    expect(await waitFor(() => trace.aborted !== undefined, 2000)).toBe(true);
    expect(trace.aborted).toBe("signal KILL");
    expect(await waitFor(() => !processAlive(trace.pid!), 2000)).toBe(true);
    // The slot comes back once the channel is closed, and the connection stays usable.
    expect(await waitFor(() => pool.stats().nodes.n1!.inFlight === 0, 2000)).toBe(true);
    expect((await runner.run(["echo", "still fine"])).stdout).toBe("still fine\n");
    expect(server.attempts()).toBe(1);
  });

  it("on sudo nodes sends TERM first and closes only after the grace period (sudo cannot relay KILL)", async () => {
    const reasons: string[] = [];
    const server = await startSshServer({
      hostKeys: [hostKeys.privateKey],
      authorizedKeys: [clientKeys.publicKey],
      onExec: (req) =>
        new Promise((resolve) => {
          // A command that ignores TERM: only the KILL + close after the grace period ends it.
          req.signal.addEventListener("abort", () => reasons.push(String(req.signal.reason)));
          setTimeout(() => resolve({ exitCode: 0 }), 3000);
        }),
    });
    cleanups.push(() => server.close());
    const { pool, runner } = makePool(server, { killGraceMs: 300 }, { sudo: true });
    const started = performance.now();
    const error = asExecError(await rejectionOf(runner.run(["sleep", "30"], { timeoutMs: 100 })));
    expect(error.code).toBe("ssh_timeout");
    expect(performance.now() - started).toBeLessThan(250); // the caller does not wait for the grace
    expect(await waitFor(() => reasons.length > 0, 1000)).toBe(true);
    expect(reasons).toEqual(["signal TERM"]);
    expect(pool.stats().nodes.n1!.inFlight).toBe(1); // channel still open during the grace period
    expect(await waitFor(() => pool.stats().nodes.n1!.inFlight === 0, 1000)).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  });

  it("an abort signal ends the command with exec_aborted", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const ac = new AbortController();
    const pending = rejectionOf(runner.run(["sleep", "30"], { signal: ac.signal, timeoutMs: 10_000 }));
    await waitFor(() => server.running() === 1, 2000);
    ac.abort();
    const error = asExecError(await pending);
    expect(error.code).toBe("exec_aborted");
    const trace = server.execs[0]!;
    expect(await waitFor(() => !processAlive(trace.pid!), 2000)).toBe(true);
    expect(trace.aborted).toBe("signal KILL");

    // Already aborted: nothing is sent at all.
    const before = server.execs.length;
    const early = asExecError(await rejectionOf(runner.run(["true"], { signal: AbortSignal.abort() })));
    expect(early.code).toBe("exec_aborted");
    expect(server.execs.length).toBe(before);
  });

  it("a queued command times out in the queue without ever running", async () => {
    const server = await shellServer();
    const { runner } = makePool(server, { maxConcurrentPerNode: 1 });
    const blocker = runner.run(["sleep", "0.5"]);
    const queued = asExecError(await rejectionOf(runner.run(["echo", "late"], { timeoutMs: 100 })));
    expect(queued.code).toBe("ssh_timeout");
    await blocker;
    expect(server.execs.map((e) => e.command)).toEqual(["sleep 0.5"]);
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
    await waitFor(() => lines.length >= 3, 2000);
    expect(pool.stats().nodes.n1!.streams).toBe(1);
    handle.close();
    const result = await handle.done;
    expect(result.exitCode).toBe(-1);
    const seen = lines.length;
    const trace = server.execs[0]!;
    expect(await waitFor(() => !processAlive(trace.pid!), 2000)).toBe(true);
    expect(trace.aborted).toBe("signal KILL");
    await new Promise((r) => setTimeout(r, 100));
    expect(lines.length).toBe(seen); // nothing after close
    expect(lines.every((l) => l === "tick")).toBe(true);
    expect(pool.stats().nodes.n1!.streams).toBe(0);
  });

  it("rejects done when the streamed command fails", async () => {
    const server = await shellServer();
    const { runner } = makePool(server);
    const handle = runner.stream!(["sh", "-c", "echo one; echo broken >&2; exit 2"], () => {});
    const error = asExecError(await rejectionOf(handle.done));
    expect(error).toMatchObject({ code: "exec_failed", exitCode: 2, stderr: "broken\n" });
  });
});
