/** How drivers talk to a node. The SSH pool implements it for real nodes; tests may run it locally. */
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

export interface CommandRunner {
  readonly node: string;
  /** Runs argv (quoted, never shell-pasted). Rejects with ExecError on failure, timeout or abort. */
  run(argv: readonly string[], options?: RunOptions): Promise<ExecResult>;
  /** Runs argv and calls onLine for each complete stdout line until it ends or is closed. */
  stream?(
    argv: readonly string[],
    onLine: (line: string) => void,
    options?: { signal?: AbortSignal },
  ): StreamHandle;
}
