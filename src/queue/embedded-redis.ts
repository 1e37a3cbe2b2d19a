/**
 * A throwaway redis-server for tests and the lab: a child process on a free loopback port with its own temp
 * directory, stopped (and cleaned up) by `stop()` or when this process goes away. It runs with AOF
 * (`appendonly yes`, `appendfsync everysec`, in its temp directory) like a production Redis must: xenops
 * refuses risky actions on a Redis without it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XenopsError } from "../errors";
import type { Logger } from "../log";

export interface EmbeddedRedisOptions {
  /** Parent of the temp directory (default: the OS temp dir). */
  dir?: string;
  logger?: Logger;
  /** The redis-server binary (default: `$REDIS_SERVER_BIN` or `redis-server` from PATH). */
  binary?: string;
  /** How long to wait for PING to answer (default 10 s). */
  startTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL (default 5 s). */
  stopTimeoutMs?: number;
  /** AOF persistence (default true). Only tests of the refusal turn it off. */
  appendonly?: boolean;
}

export interface EmbeddedRedis {
  url: string;
  port: number;
  /** Idempotent. */
  stop(): Promise<void>;
}

const MISSING_BINARY_HINT =
  "install the Debian package `redis-server` (apt-get install redis-server), or set REDIS_URL to a running server";

/** Children still running, killed synchronously if this process exits without stopping them. */
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [child, dir] of live) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
    live.clear();
  });
}

/**
 * A shell that sits on a pipe from this process: when this process dies in any way (even SIGKILL, where no
 * exit hook runs) the pipe closes, `read` returns and the shell kills redis and removes its directory.
 */
function spawnWatchdog(redisPid: number, dir: string): ChildProcess | null {
  try {
    const dog = spawn(
      "/bin/sh",
      ["-c", 'read _ ; kill -KILL "$0" 2>/dev/null ; rm -rf "$1"', String(redisPid), dir],
      {
        stdio: ["pipe", "ignore", "ignore"],
      },
    );
    dog.on("error", () => {});
    dog.unref();
    const stdin = dog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null;
    stdin?.on("error", () => {});
    stdin?.unref?.();
    return dog;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

/** One PING over a raw socket; true on +PONG. */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString("utf8");
      if (answer.includes("\r\n")) finish(answer.startsWith("+PONG"));
    });
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off("exit", onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once("exit", onExit);
  });
}

class StartFailure extends Error {
  constructor(
    message: string,
    readonly portInUse: boolean,
  ) {
    super(message);
  }
}

async function startOnce(
  binary: string,
  dir: string,
  port: number,
  opts: EmbeddedRedisOptions,
): Promise<ChildProcess> {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--protected-mode",
    "yes",
    "--save",
    "",
    "--appendonly",
    opts.appendonly === false ? "no" : "yes",
    "--appendfsync",
    "everysec",
    "--daemonize",
    "no",
    "--dir",
    dir,
    "--logfile",
    "",
    "--loglevel",
    "warning",
  ];
  const child = spawn(binary, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 20) output.shift();
      opts.logger?.debug({ port, line }, "redis-server output");
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  let spawnFailure: Error | undefined;
  const spawnError = new Promise<Error>((resolve) =>
    child.once("error", (err) => {
      spawnFailure = err;
      resolve(err);
    }),
  );
  // "exit" may come before or after "error" when the binary cannot be run: let "error" win.
  const exited = new Promise<void>((resolve) => child.once("exit", () => setTimeout(resolve, 10)));
  const deadline = Date.now() + (opts.startTimeoutMs ?? 10_000);

  for (;;) {
    const step = await Promise.race([
      spawnError.then((err) => ({ kind: "error" as const, err })),
      exited.then(() => ({ kind: "exit" as const })),
      ping(port).then((ok) => ({ kind: "ping" as const, ok })),
    ]);
    if (step.kind === "error" || spawnFailure) {
      const err = step.kind === "error" ? step.err : (spawnFailure as Error);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT")
        throw new XenopsError("internal", `redis-server not found (${binary}): ${MISSING_BINARY_HINT}`, {
          cause: err,
        });
      throw new XenopsError("internal", `cannot start redis-server (${binary}): ${err.message}`, {
        cause: err,
      });
    }
    if (step.kind === "exit") {
      const text = output.join("\n");
      throw new StartFailure(
        `redis-server exited at start (code ${child.exitCode ?? child.signalCode}): ${text || "no output"}`,
        /address already in use/i.test(text),
      );
    }
    if (step.ok && child.exitCode === null) return child;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new XenopsError(
        "internal",
        `redis-server on 127.0.0.1:${port} did not answer PING within ${opts.startTimeoutMs ?? 10_000} ms: ${output.join("\n") || "no output"}`,
      );
    }
    await delay(20);
  }
}

export async function startEmbeddedRedis(opts: EmbeddedRedisOptions = {}): Promise<EmbeddedRedis> {
  const binary = opts.binary ?? process.env.REDIS_SERVER_BIN ?? "redis-server";
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), "xenops-redis-"));
  installExitHook();

  let child: ChildProcess | undefined;
  let port = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        child = await startOnce(binary, dir, port, opts);
        break;
      } catch (err) {
        // Someone took the port between our probe and redis binding it: try another.
        if (err instanceof StartFailure && err.portInUse && attempt < 5) continue;
        if (err instanceof StartFailure) throw new XenopsError("internal", err.message);
        throw err;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const redis = child;
  live.set(redis, dir);
  const watchdog = redis.pid ? spawnWatchdog(redis.pid, dir) : null;
  // The pipes must not keep the event loop alive on their own.
  (redis.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (redis.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  redis.unref();
  const url = `redis://127.0.0.1:${port}`;
  opts.logger?.info({ url, pid: redis.pid, dir }, "embedded redis-server started");

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      redis.kill("SIGTERM");
      if (!(await waitForExit(redis, opts.stopTimeoutMs ?? 5_000))) {
        opts.logger?.warn({ pid: redis.pid }, "embedded redis-server ignored SIGTERM; killing it");
        redis.kill("SIGKILL");
        await waitForExit(redis, 5_000);
      }
      live.delete(redis);
      watchdog?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      opts.logger?.info({ url }, "embedded redis-server stopped");
    })();
    return stopping;
  };
  return { url, port, stop };
}
