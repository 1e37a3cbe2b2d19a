/** Shared fixtures for the SSH tests: loggers, keys, and servers that run commands with /bin/sh. */
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import { afterEach } from "vitest";
import type { SshClock } from "../../src/ssh/clock";
import { generateKeyPair } from "../../src/ssh/keys";
import type { SshNodeSettings } from "../../src/ssh/pool";
import {
  type ConnectionPolicy,
  type ExecHandler,
  type ExecRequest,
  type RunningSshServer,
  startSshServer,
} from "../../src/ssh/server";

/** Keys are generated once per test file: ed25519 generation is fast, but there is no need to repeat it. */
export const hostKeys = generateKeyPair("ed25519", { comment: "test-host" });
export const otherHostKeys = generateKeyPair("ed25519", { comment: "impostor-host" });
export const clientKeys = generateKeyPair("ed25519", { comment: "xenops-client" });
export const strangerKeys = generateKeyPair("ed25519", { comment: "stranger" });

export interface CapturedLogger {
  logger: Logger;
  /** Every log line written so far, raw JSON. */
  text(): string;
  records(): Array<Record<string, unknown>>;
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString("utf8"));
      cb();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  return {
    logger,
    text: () => lines.join(""),
    records: () =>
      lines
        .join("")
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export function nodeSettings(server: { host: string; port: number }, extra: Partial<SshNodeSettings> = {}) {
  return {
    name: "n1",
    host: server.host,
    port: server.port,
    user: "root",
    privateKey: clientKeys.privateKey,
    hostKeyPin: hostKeys.fingerprint,
    ...extra,
  } satisfies SshNodeSettings;
}

export interface ExecTrace {
  command: string;
  pid: number | undefined;
  /** Reason of the abort signal, if it fired ("signal KILL", "channel closed", ...). */
  aborted: string | undefined;
  exitCode: number | undefined;
}

export interface ShellServer extends RunningSshServer {
  execs: ExecTrace[];
  /** Highest number of commands running at the same time. */
  maxConcurrent(): number;
  running(): number;
  /** How many TCP connections reached the server (policy consulted). */
  attempts(): number;
}

function signalExitCode(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return 128 + ((signal && numbers[signal]) ?? 0);
}

/**
 * onExec that really runs the command with `/bin/sh -c` (as sshd does with the user's shell), in
 * its own process group so an abort can kill everything it started.
 */
export function shellHandler(traces: ExecTrace[], cwd?: string): ExecHandler {
  return (req: ExecRequest) =>
    new Promise((resolve) => {
      const trace: ExecTrace = {
        command: req.command,
        pid: undefined,
        aborted: undefined,
        exitCode: undefined,
      };
      traces.push(trace);
      const child = spawn("/bin/sh", ["-c", req.command], { detached: true, stdio: "pipe", cwd });
      trace.pid = child.pid;
      child.stdin.on("error", () => {});
      req.stdin.pipe(child.stdin);
      child.stdout.on("data", (d: Buffer) => req.stdout.write(d));
      child.stderr.on("data", (d: Buffer) => req.stderr.write(d));
      const onAbort = (): void => {
        trace.aborted = String(req.signal.reason);
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      };
      if (req.signal.aborted) onAbort();
      else req.signal.addEventListener("abort", onAbort, { once: true });
      child.on("close", (code, signal) => {
        req.signal.removeEventListener("abort", onAbort);
        trace.exitCode = code ?? signalExitCode(signal);
        resolve({ exitCode: trace.exitCode });
      });
    });
}

export async function startShellServer(
  options: { port?: number; policy?: ConnectionPolicy; cwd?: string; handler?: ExecHandler } = {},
): Promise<ShellServer> {
  const execs: ExecTrace[] = [];
  let running = 0;
  let max = 0;
  let attempts = 0;
  const inner = options.handler ?? shellHandler(execs, options.cwd);
  const server = await startSshServer({
    port: options.port ?? 0,
    hostKeys: [hostKeys.privateKey],
    authorizedKeys: [clientKeys.publicKey],
    connectionPolicy: () => {
      attempts++;
      return options.policy?.() ?? "accept";
    },
    onExec: async (req) => {
      running++;
      max = Math.max(max, running);
      try {
        return await inner(req);
      } finally {
        running--;
      }
    },
  });
  return Object.assign(server, {
    execs,
    maxConcurrent: () => max,
    running: () => running,
    attempts: () => attempts,
  });
}

/**
 * For a test file: `cleanups` it pushes to during a test run in reverse after that test, and
 * `shellServer` starts a shell server that is closed so.
 */
export function perTestCleanups() {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  async function shellServer(options: Parameters<typeof startShellServer>[0] = {}): Promise<ShellServer> {
    const server = await startShellServer(options);
    cleanups.push(() => server.close());
    return server;
  }
  return { cleanups, shellServer };
}

/** True while a process with this pid exists (and is not a zombie we could still reap). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until `check()` holds: something outside the test's control (a remote process, a socket)
 * has happened. Throws, naming `what`, if it has not after `limitMs`; the limit only bounds a
 * failure, so it is generous and nothing is asserted about how soon it held.
 */
export async function waitFor(what: string, check: () => boolean, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() >= deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * An SshClock that moves only when the test advances it, firing the timers that fall due, in order.
 * The pool's timeouts, grace periods and backoff then happen at exact instants of test time.
 */
export class TestClock implements SshClock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; callback: () => void }>();

  now = (): number => this.t;

  setTimeout = (callback: () => void, ms: number): number => {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), callback });
    return id;
  };

  clearTimeout = (timer: unknown): void => {
    this.timers.delete(timer as number);
  };

  /** Timers set and not yet fired or cleared. */
  pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const target = this.t + ms;
    for (;;) {
      let due: [number, { at: number; callback: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].callback();
    }
    this.t = target;
  }
}

/** Whether `promise` has settled yet (a rejection is observed here too, and not reported as unhandled). */
export function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  return () => settled;
}

/** Lets pending callbacks, I/O included, run once. */
export function oneTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Awaits a promise that must reject, returning the error (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}
