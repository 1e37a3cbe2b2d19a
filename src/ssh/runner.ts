/**
 * One command on one SSH channel, and the CommandRunner built on it.
 *
 * Remote termination (timeout, abort, stream close) is requested with an SSH `signal` channel request
 * and then a channel close. What OpenSSH does with that (session.c, session_signal_req; measured on
 * 9.2 in test/ssh/openssh-interop.test.ts):
 *   - OpenSSH < 7.9 ignores signal requests.
 *   - 7.9 to 9.x: killpg() on the session's process group (sshd setsid()s every session, so the shell
 *     and its children, not daemons that left the group) only for sessions that are neither forced
 *     commands (ForceCommand, authorized_keys command=) nor subsystems, and only for non-root logins:
 *     root skips post-auth privilege separation and is refused ("session signalling requires
 *     privilege separation").
 *   - >= 10.0: the same, root included. Forced commands are always refused.
 *   - Closing the channel (or losing the connection) sends no signal when there is no pty: the command
 *     keeps running until it ends or writes to the closed pipe (SIGPIPE). A silent `sleep` survives.
 * With `sudo: true` the signal reaches the root command only through sudo, which relays catchable
 * signals but cannot relay KILL; so sudo nodes get TERM first and KILL after a grace period.
 * So: the local promise always settles on time; ending the remote process is guaranteed only for a
 * non-root login user (sudo for privileges), no forced command, OpenSSH >= 7.9.
 */
import { StringDecoder } from "node:string_decoder";
import type { Logger } from "pino";
import type { Client, ClientChannel } from "ssh2";
import {
  type BatchCommand,
  type BatchOutcome,
  type CommandRunner,
  type ExecResult,
  exitError,
  type RunOptions,
  type StreamHandle,
} from "../command-runner";
import { ExecError, type ExecErrorDetails, XenopsError } from "../errors";
import {
  type BatchFrame,
  BatchFrameError,
  batchCommandLine,
  batchCommandsStarted,
  checkBatchArgv,
  newBatchMarker,
  splitBatchOutput,
} from "./batch";
import type { SshClock, SshTimer } from "./clock";
import { quoteArgv } from "./quote";

/** What a runner needs from the pool for one node. */
export interface NodeHandle {
  readonly name: string;
  readonly sudo: boolean;
  readonly logger: Logger;
  readonly defaultTimeoutMs: number;
  readonly maxOutputBytes: number;
  /** Time between TERM and KILL on sudo nodes, and how long a closing channel keeps its slot. */
  readonly killGraceMs: number;
  /** Timeouts and grace periods are set on this clock. */
  readonly clock: SshClock;
  /** Waits for a concurrency slot; resolves with its release function. Rejects when `signal` aborts. */
  acquireSlot(signal: AbortSignal): Promise<() => void>;
  /** A connected client (connecting if needed). Rejects with XenopsError, or when `signal` aborts. */
  connection(signal: AbortSignal): Promise<Client>;
  /** True once the pool is closed (a dropped connection is then reported as such). */
  readonly closed: boolean;
  streamOpened(delta: 1 | -1): void;
}

/** Why a command was cut short by us. */
type CancelReason = "timeout" | "aborted" | "closed";

class Cancelled extends Error {
  constructor(readonly reason: CancelReason) {
    super(reason);
  }
}

type ChannelOutcome =
  | { kind: "exited"; exitCode: number | null; signal: string | null; stdout: string; stderr: string }
  | { kind: "cancelled"; reason: CancelReason; stdout: string; stderr: string }
  | { kind: "disconnected"; stdout: string; stderr: string }
  | { kind: "overflow"; stream: "stdout" | "stderr"; stdout: string; stderr: string }
  | { kind: "callback_failed"; error: unknown; stdout: string; stderr: string }
  | { kind: "open_failed"; message: string; disconnected: boolean };

interface ChannelRequest {
  client: Client;
  command: string;
  stdin: string | undefined;
  cancel: AbortSignal;
  maxOutputBytes: number;
  /** Signals sent in order on cancellation, killGraceMs apart; the channel is closed after the last. */
  termination: readonly string[];
  killGraceMs: number;
  clock: SshClock;
  /** Stream mode: stdout goes here instead of being collected. A throw ends the command. */
  onStdout?: (chunk: Buffer) => void;
  /** Called once, when the channel is really gone (or given up on): frees the concurrency slot. */
  release: () => void;
}

/**
 * ssh2's channel.signal() silently does nothing once stdin has been ended (it checks `writable`),
 * yet SSH allows signal requests after EOF, and we always end stdin first. So the request is sent
 * through the protocol object ssh2 itself uses; the interop test proves it reaches sshd.
 */
function sendSignal(channel: ClientChannel, name: string): boolean {
  const internal = channel as unknown as {
    outgoing?: { id?: number; state?: string };
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
  };
  const outgoing = internal.outgoing;
  const protocol = internal._client?._protocol;
  if (
    outgoing?.id === undefined ||
    (outgoing.state !== "open" && outgoing.state !== "eof") ||
    typeof protocol?.signal !== "function"
  ) {
    return false;
  }
  protocol.signal(outgoing.id, name);
  return true;
}

class Collector {
  private readonly chunks: Buffer[] = [];
  size = 0;
  constructor(private readonly limit: number) {}
  /** False once the limit is exceeded (what fits is kept). */
  add(chunk: Buffer): boolean {
    const room = this.limit - this.size;
    if (room > 0) this.chunks.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
    this.size += chunk.length;
    return this.size <= this.limit;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

function runOnChannel(req: ChannelRequest): Promise<ChannelOutcome> {
  return new Promise<ChannelOutcome>((resolve) => {
    const stdout = new Collector(req.maxOutputBytes);
    const stderr = new Collector(req.maxOutputBytes);
    let settled = false;
    let released = false;
    let channel: ClientChannel | undefined;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    const timers: SshTimer[] = [];

    const release = (): void => {
      if (released) return;
      released = true;
      for (const t of timers) req.clock.clearTimeout(t);
      req.client.removeListener("close", onClientClose);
      req.cancel.removeEventListener("abort", onCancel);
      req.release();
    };
    const settle = (outcome: ChannelOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const terminate = (): void => {
      const ch = channel;
      // A server that never confirms the close (or never answers the open) must not hold the slot.
      timers.push(req.clock.setTimeout(release, req.killGraceMs * req.termination.length + 1000));
      if (!ch) return; // still opening: terminated as soon as it opens
      const [first, ...rest] = req.termination;
      if (first) sendSignal(ch, first);
      if (rest.length === 0) {
        ch.close();
      } else {
        // sudo relays TERM to the root command; KILL (not relayable) only if it is still there.
        timers.push(
          req.clock.setTimeout(() => {
            for (const name of rest) sendSignal(ch, name);
            ch.close();
          }, req.killGraceMs),
        );
      }
    };
    function onCancel(): void {
      const reason = req.cancel.reason instanceof Cancelled ? req.cancel.reason.reason : "aborted";
      settle({ kind: "cancelled", reason, stdout: stdout.text(), stderr: stderr.text() });
      terminate();
    }
    function onClientClose(): void {
      settle({ kind: "disconnected", stdout: stdout.text(), stderr: stderr.text() });
      release();
    }
    const overflow = (which: "stdout" | "stderr"): void => {
      settle({ kind: "overflow", stream: which, stdout: stdout.text(), stderr: stderr.text() });
      terminate();
    };

    req.client.once("close", onClientClose);
    req.cancel.addEventListener("abort", onCancel, { once: true });
    if (req.cancel.aborted) {
      onCancel();
      release();
      return;
    }

    try {
      req.client.exec(req.command, (err, ch) => {
        if (err) {
          settle({ kind: "open_failed", message: err.message, disconnected: false });
          release();
          return;
        }
        channel = ch;
        if (settled) {
          // Cancelled while the channel was opening: end it at once. Draining the output lets ssh2
          // report the close (it waits for the end of stdout).
          ch.resume();
          ch.stderr.resume();
          ch.once("close", release);
          terminate();
          return;
        }
        ch.on("data", (chunk: Buffer) => {
          if (req.onStdout) {
            if (settled) return;
            try {
              req.onStdout(chunk);
            } catch (error) {
              settle({ kind: "callback_failed", error, stdout: "", stderr: stderr.text() });
              terminate();
            }
            return;
          }
          if (!stdout.add(chunk) && !settled) overflow("stdout");
        });
        ch.stderr.on("data", (chunk: Buffer) => {
          if (!stderr.add(chunk) && !settled) overflow("stderr");
        });
        ch.on("exit", (code: number | null, signal?: string) => {
          exitCode = typeof code === "number" ? code : null;
          exitSignal = typeof signal === "string" ? signal : null;
        });
        // ssh2 emits the channel's "close" once stdout has ended, but stderr may still hold data:
        // finish when both are done.
        let channelClosed = false;
        let stderrClosed = false;
        const finish = (): void => {
          if (!channelClosed || !stderrClosed) return;
          settle({
            kind: "exited",
            exitCode,
            signal: exitSignal,
            stdout: stdout.text(),
            stderr: stderr.text(),
          });
          release();
        };
        ch.stderr.once("close", () => {
          stderrClosed = true;
          finish();
        });
        ch.once("close", () => {
          channelClosed = true;
          finish();
        });
        // stdin is always ended, so commands that read it see EOF instead of waiting forever.
        if (req.stdin !== undefined && req.stdin.length > 0) ch.end(req.stdin);
        else ch.end();
      });
    } catch (error) {
      // ssh2 throws synchronously when the client is no longer connected.
      settle({
        kind: "open_failed",
        message: error instanceof Error ? error.message : String(error),
        disconnected: true,
      });
      release();
    }
  });
}

function unreachable(value: never): never {
  throw new XenopsError("internal", `unexpected channel outcome ${JSON.stringify(value)}`);
}

function firstLine(text: string, max = 200): string {
  const line = text.trim().split("\n")[0] ?? "";
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** Waits for `promise`, unless `signal` aborts first (then rejects with the abort reason). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** CommandRunner over SSH for one node. Created by SshPool.runner(). */
export class SshCommandRunner implements CommandRunner {
  readonly node: string;

  constructor(private readonly handle: NodeHandle) {
    this.node = handle.name;
  }

  /** The exec request string for argv (with `sudo -n --` on sudo nodes). */
  commandLine(argv: readonly string[]): string {
    return quoteArgv(this.handle.sudo ? ["sudo", "-n", "--", ...argv] : argv);
  }

  private details(argv: readonly string[], extra: Partial<ExecErrorDetails> = {}): ExecErrorDetails {
    return { node: this.node, argv, exitCode: null, signal: null, stdout: "", stderr: "", ...extra };
  }

  private termination(): string[] {
    return this.handle.sudo ? ["TERM", "KILL"] : ["KILL"];
  }

  private prepare(argv: readonly string[]): string {
    try {
      return this.commandLine(argv);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ExecError("invalid_argument", `${this.node}: ${message}`, this.details(argv), {
        cause: error,
      });
    }
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
    return this.exec(this.prepare(argv), argv, options);
  }

  /**
   * The read commands in one exec (src/ssh/batch.ts). Transport failures fail every command with the
   * same error; a batch that ran but whose frames do not split back cleanly fails every command as
   * unreadable. A timeout fails the command that was running (and those after it) with ssh_timeout and
   * the ones that had finished with exec_failed: the node answered, but nothing of a batch cut short is
   * trusted.
   */
  async runBatch(
    commands: readonly BatchCommand[],
    options: Pick<RunOptions, "timeoutMs" | "signal"> = {},
  ): Promise<BatchOutcome[]> {
    const outcomes: (BatchOutcome | undefined)[] = commands.map(() => undefined);
    const lines: string[] = [];
    const framed: number[] = [];
    commands.forEach(({ argv }, i) => {
      try {
        checkBatchArgv(argv);
        lines.push(this.prepare(argv));
        framed.push(i);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        outcomes[i] = {
          ok: false,
          error:
            error instanceof ExecError
              ? error
              : new ExecError("invalid_argument", `${this.node}: ${message}`, this.details(argv), {
                  cause: error,
                }),
        };
      }
    });
    if (framed.length > 0) {
      const marker = newBatchMarker();
      const programs = framed.map((i) => commands[i]!.argv[0]).join(", ");
      const label = ["sh", "-c", `batch: ${programs}`];
      const started = performance.now();
      const failAll = (error: (argv: readonly string[], k: number) => unknown): void => {
        framed.forEach((i, k) => {
          outcomes[i] = { ok: false, error: error(commands[i]!.argv, k) };
        });
      };
      try {
        const res = await this.exec(batchCommandLine(lines, marker), label, options, `batch [${programs}]`);
        const durationMs = Math.round(performance.now() - started);
        let frames: BatchFrame[] | null = null;
        try {
          frames = splitBatchOutput(res.stdout, res.stderr, marker, framed.length);
        } catch (error) {
          if (!(error instanceof BatchFrameError)) throw error;
          this.handle.logger.warn(
            { node: this.node, commands: framed.length, err: error },
            "ssh batch output unreadable",
          );
          failAll(
            (argv) =>
              new ExecError(
                "exec_failed",
                `${this.node}: ${argv[0]} ran in a batch whose output could not be split back (${error.message}); its result is unknown`,
                this.details(argv),
              ),
          );
        }
        frames?.forEach((frame, k) => {
          const i = framed[k]!;
          const { argv, okExitCodes = [0] } = commands[i]!;
          const result = { ...frame, durationMs };
          outcomes[i] = okExitCodes.includes(frame.exitCode)
            ? { ok: true, result }
            : { ok: false, error: exitError(this.node, argv, result) };
        });
      } catch (error) {
        if (!(error instanceof ExecError)) throw error;
        if (error.code === "ssh_timeout") {
          const running = batchCommandsStarted(error.stdout, marker) - 1;
          const limit = options.timeoutMs ?? this.handle.defaultTimeoutMs;
          const cut = running >= 0 ? commands[framed[running]!]!.argv[0] : null;
          failAll((argv, k) =>
            k >= running
              ? new ExecError(
                  "ssh_timeout",
                  k > running && cut !== null
                    ? `${this.node}: ${argv[0]} did not start: its batch [${programs}] timed out after ${limit} ms while ${cut} was running`
                    : `${this.node}: ${argv[0]} timed out after ${limit} ms (batch [${programs}])`,
                  this.details(argv),
                )
              : new ExecError(
                  "exec_failed",
                  `${this.node}: ${argv[0]} finished, but its batch was cut off by a timeout; its result is not trusted`,
                  this.details(argv),
                ),
          );
        } else if (error.exitCode !== null || error.signal !== null) {
          // sh itself failed: the script did not run as written.
          failAll(
            (argv) =>
              new ExecError(
                "exec_failed",
                `${this.node}: ${argv[0]} ran in a batch that ended abnormally (${error.message}); its result is unknown`,
                this.details(argv),
              ),
          );
        } else {
          failAll((argv) => new ExecError(error.code, error.message, this.details(argv), { cause: error }));
        }
      }
    }
    return outcomes as BatchOutcome[];
  }

  /** `program` names the command in messages and logs (argv[0] for a single command). */
  private async exec(
    command: string,
    argv: readonly string[],
    options: RunOptions,
    program = argv[0]!,
  ): Promise<ExecResult> {
    const started = performance.now();
    const log = this.handle.logger;
    const timeoutMs = options.timeoutMs ?? this.handle.defaultTimeoutMs;
    const okExitCodes = options.okExitCodes ?? [0];

    const cancel = new AbortController();
    const clock = this.handle.clock;
    const timer = clock.setTimeout(() => cancel.abort(new Cancelled("timeout")), timeoutMs);
    const onAbort = (): void => cancel.abort(new Cancelled("aborted"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    let release: (() => void) | undefined;
    let handedOver = false;
    const fail = (
      code: ExecError["code"],
      message: string,
      extra: Partial<ExecErrorDetails> = {},
      cause?: unknown,
    ) => {
      const durationMs = Math.round(performance.now() - started);
      const fields = { node: this.node, cmd: program, durationMs, code, exitCode: extra.exitCode ?? null };
      if (code === "exec_failed") log.info(fields, "ssh command failed");
      else log.warn(fields, "ssh command did not complete");
      return new ExecError(
        code,
        message,
        this.details(argv, extra),
        cause === undefined ? undefined : { cause },
      );
    };

    try {
      let client: Client;
      try {
        release = await this.handle.acquireSlot(cancel.signal);
        client = await this.handle.connection(cancel.signal);
      } catch (error) {
        if (error instanceof Cancelled)
          throw this.cancelledError(error.reason, program, timeoutMs, "", "", fail);
        if (error instanceof XenopsError) throw fail(error.code, error.message, {}, error);
        throw error;
      }
      handedOver = true;
      const outcome = await runOnChannel({
        client,
        command,
        stdin: options.stdin,
        cancel: cancel.signal,
        maxOutputBytes: this.handle.maxOutputBytes,
        termination: this.termination(),
        killGraceMs: this.handle.killGraceMs,
        clock: this.handle.clock,
        release,
      });
      const durationMs = Math.round(performance.now() - started);
      switch (outcome.kind) {
        case "exited": {
          const { exitCode, signal, stdout, stderr } = outcome;
          if (exitCode !== null && okExitCodes.includes(exitCode)) {
            log.debug({ node: this.node, cmd: program, durationMs, exitCode }, "ssh command finished");
            return { stdout, stderr, exitCode, durationMs };
          }
          const why =
            exitCode !== null
              ? `exited with code ${exitCode}`
              : signal !== null
                ? `was killed by ${signal}`
                : "ended without an exit status";
          const detail = firstLine(stderr);
          throw fail("exec_failed", `${this.node}: ${program} ${why}${detail ? `: ${detail}` : ""}`, {
            exitCode,
            signal,
            stdout,
            stderr,
          });
        }
        case "cancelled":
          throw this.cancelledError(outcome.reason, program, timeoutMs, outcome.stdout, outcome.stderr, fail);
        case "disconnected":
          throw fail(
            "ssh_disconnected",
            this.handle.closed
              ? `${this.node}: ${program} interrupted: the SSH pool was closed`
              : `${this.node}: connection lost while ${program} was running; its outcome is unknown`,
            { stdout: outcome.stdout, stderr: outcome.stderr },
          );
        case "overflow":
          throw fail(
            "exec_failed",
            `${this.node}: ${program} wrote more than ${this.handle.maxOutputBytes} bytes to ${outcome.stream}; stopped`,
            { stdout: outcome.stdout, stderr: outcome.stderr },
          );
        case "open_failed":
          throw fail(
            outcome.disconnected ? "ssh_disconnected" : "exec_failed",
            `${this.node}: could not start ${program}: ${outcome.message}`,
          );
        case "callback_failed":
          throw outcome.error;
      }
      return unreachable(outcome);
    } finally {
      clock.clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (!handedOver) release?.();
    }
  }

  private cancelledError(
    reason: CancelReason,
    program: string,
    timeoutMs: number,
    stdout: string,
    stderr: string,
    fail: (code: ExecError["code"], message: string, extra?: Partial<ExecErrorDetails>) => ExecError,
  ): ExecError {
    if (reason === "timeout") {
      return fail("ssh_timeout", `${this.node}: ${program} timed out after ${timeoutMs} ms`, {
        stdout,
        stderr,
      });
    }
    return fail("exec_aborted", `${this.node}: ${program} was aborted`, { stdout, stderr });
  }

  /**
   * Runs argv and hands each complete stdout line (without the newline) to onLine. `done` resolves
   * when the command exits 0, or after close() / options.signal (exitCode -1 then); it rejects with
   * ExecError when the command fails or the connection does. Streams do not take a concurrency slot
   * (they are long-lived), but they do use one of sshd's MaxSessions channels.
   */
  stream(
    argv: readonly string[],
    onLine: (line: string) => void,
    options: { signal?: AbortSignal } = {},
  ): StreamHandle {
    const started = performance.now();
    const program = argv[0] ?? "";
    const cancel = new AbortController();
    const onAbort = (): void => cancel.abort(new Cancelled("aborted"));
    const done = (async (): Promise<ExecResult> => {
      const command = this.prepare(argv);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.signal?.aborted) onAbort();
      const log = this.handle.logger;
      const decoder = new StringDecoder("utf8");
      let partial = "";
      const emit = (text: string): void => {
        partial += text;
        let nl = partial.indexOf("\n");
        while (nl >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
          nl = partial.indexOf("\n");
        }
        if (Buffer.byteLength(partial) > this.handle.maxOutputBytes) {
          throw new ExecError(
            "exec_failed",
            `${this.node}: ${program} wrote a line longer than ${this.handle.maxOutputBytes} bytes; stopped`,
            this.details(argv),
          );
        }
      };
      const cancelledResult = (stderr: string): ExecResult => ({
        stdout: "",
        stderr,
        exitCode: -1,
        durationMs: Math.round(performance.now() - started),
      });
      let client: Client;
      try {
        client = await this.handle.connection(cancel.signal);
      } catch (error) {
        if (error instanceof Cancelled) return cancelledResult("");
        if (error instanceof XenopsError) {
          throw new ExecError(error.code, error.message, this.details(argv), { cause: error });
        }
        throw error;
      }
      this.handle.streamOpened(1);
      log.debug({ node: this.node, cmd: program }, "ssh stream started");
      let streamReleased = false;
      const outcome = await runOnChannel({
        client,
        command,
        stdin: undefined,
        cancel: cancel.signal,
        maxOutputBytes: this.handle.maxOutputBytes,
        termination: this.termination(),
        killGraceMs: this.handle.killGraceMs,
        clock: this.handle.clock,
        onStdout: (chunk) => emit(decoder.write(chunk)),
        release: () => {
          if (streamReleased) return;
          streamReleased = true;
          this.handle.streamOpened(-1);
        },
      });
      options.signal?.removeEventListener("abort", onAbort);
      const durationMs = Math.round(performance.now() - started);
      const fields = { node: this.node, cmd: program, durationMs };
      switch (outcome.kind) {
        case "exited": {
          const rest = partial + decoder.end();
          if (rest.length > 0) onLine(rest);
          if (outcome.exitCode === 0) {
            log.debug({ ...fields, exitCode: 0 }, "ssh stream ended");
            return { stdout: "", stderr: outcome.stderr, exitCode: 0, durationMs };
          }
          log.info({ ...fields, exitCode: outcome.exitCode, signal: outcome.signal }, "ssh stream failed");
          const why =
            outcome.exitCode !== null
              ? `exited with code ${outcome.exitCode}`
              : outcome.signal !== null
                ? `was killed by ${outcome.signal}`
                : "ended without an exit status";
          const detail = firstLine(outcome.stderr);
          throw new ExecError(
            "exec_failed",
            `${this.node}: ${program} ${why}${detail ? `: ${detail}` : ""}`,
            this.details(argv, {
              exitCode: outcome.exitCode,
              signal: outcome.signal,
              stderr: outcome.stderr,
            }),
          );
        }
        case "cancelled":
          log.debug(fields, "ssh stream closed");
          return cancelledResult(outcome.stderr);
        case "disconnected":
          log.warn(fields, "ssh stream lost its connection");
          throw new ExecError(
            "ssh_disconnected",
            `${this.node}: connection lost while streaming ${program}`,
            this.details(argv, { stderr: outcome.stderr }),
          );
        case "overflow":
          throw new ExecError(
            "exec_failed",
            `${this.node}: ${program} wrote more than ${this.handle.maxOutputBytes} bytes to ${outcome.stream}; stopped`,
            this.details(argv, { stderr: outcome.stderr }),
          );
        case "open_failed":
          throw new ExecError(
            outcome.disconnected ? "ssh_disconnected" : "exec_failed",
            `${this.node}: could not start ${program}: ${outcome.message}`,
            this.details(argv),
          );
        case "callback_failed":
          throw outcome.error;
      }
      return unreachable(outcome);
    })();
    // The caller may only call close(); an unobserved rejection must not crash the process.
    done.catch(() => {});
    return {
      done,
      close: () => cancel.abort(new Cancelled("closed")),
    };
  }
}
