/** How drivers talk to a node. The SSH pool implements it for real nodes; tests may run it locally. */
import { ExecError } from "./errors";

export interface RunOptions {
  /** Ends the command (and the remote process) after this long; absent or undefined: the runner's default. */
  timeoutMs?: number | undefined;
  /** Absent or undefined: not cancellable (drivers forward their caller's optional signal as is). */
  signal?: AbortSignal | undefined;
  /** Written to the command's standard input, then closed. Used for secrets (fence agent options). */
  stdin?: string;
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: readonly number[];
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

/** Streaming output of a long-running command (drbdsetup events2). */
export interface StreamHandle {
  /** Resolves when the command ends; rejects with ExecError on transport failure. */
  readonly done: Promise<ExecResult>;
  close(): void;
}

/** One read command of a batch: no stdin (a batch shares one standard input). */
export interface BatchCommand {
  argv: readonly string[];
  /** Exit codes that count as success (default [0]). */
  okExitCodes?: readonly number[];
}

/** What run() would have given for one command of a batch: its result, or the error it would throw. */
export type BatchOutcome = { ok: true; result: ExecResult } | { ok: false; error: unknown };

export interface CommandRunner {
  readonly node: string;
  /** Runs argv (quoted, never shell-pasted). Rejects with ExecError on failure, timeout or abort. */
  run(argv: readonly string[], options?: RunOptions): Promise<ExecResult>;
  /**
   * Runs read commands one after the other in one remote exec; one outcome per command, in order,
   * each as run() would have settled it. An output it cannot split back with certainty fails every
   * command of the batch (never part of it). The timeout covers the whole batch. Call it through
   * runBatch(), which falls back to run() for runners without it.
   */
  runBatch?(
    commands: readonly BatchCommand[],
    options?: Pick<RunOptions, "timeoutMs" | "signal">,
  ): Promise<BatchOutcome[]>;
  /** Runs argv and calls onLine for each complete stdout line until it ends or is closed. */
  stream?(
    argv: readonly string[],
    onLine: (line: string) => void,
    options?: { signal?: AbortSignal },
  ): StreamHandle;
}

/** runner.runBatch when it has one; otherwise each command through run(), all at once. */
export async function runBatch(
  runner: CommandRunner,
  commands: readonly BatchCommand[],
  options: Pick<RunOptions, "timeoutMs" | "signal"> = {},
): Promise<BatchOutcome[]> {
  if (runner.runBatch) return runner.runBatch(commands, options);
  return Promise.all(
    commands.map(({ argv, okExitCodes }) =>
      runner.run(argv, { ...options, ...(okExitCodes ? { okExitCodes } : {}) }).then(
        (result): BatchOutcome => ({ ok: true, result }),
        (error: unknown): BatchOutcome => ({ ok: false, error }),
      ),
    ),
  );
}

/** The error run() throws for a command that exited with a code outside okExitCodes. */
export function exitError(node: string, argv: readonly string[], result: ExecResult): ExecError {
  const line = result.stderr.trim().split("\n")[0] ?? "";
  const detail = line.length > 200 ? `${line.slice(0, 200)}...` : line;
  return new ExecError(
    "exec_failed",
    `${node}: ${argv[0] ?? ""} exited with code ${result.exitCode}${detail ? `: ${detail}` : ""}`,
    { node, argv, exitCode: result.exitCode, signal: null, stdout: result.stdout, stderr: result.stderr },
  );
}
