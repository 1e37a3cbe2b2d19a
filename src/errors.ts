/**
 * Errors with stable codes. Codes are part of the product's contract: they appear in job results,
 * audit records and user-facing messages, so never rename one.
 *
 * Each code has a retry class: whether another attempt of a job that failed with it can help.
 * - `retryable`: transient (a node or Redis did not answer, a connection dropped): the job's retry
 *   policy applies (read-only jobs: 3 attempts with backoff, src/queue/schema.ts).
 * - `unrecoverable`: the same job would fail the same way (bad configuration or input, nothing by that
 *   name, not allowed, refused by a check or an approval, cancelled): the worker fails the job at once
 *   (BullMQ's UnrecoverableError, src/queue/retry.ts), keeping its code and message.
 * A mutating job (an approved execution) has one attempt whatever the code: it is never retried.
 */
export const ERROR_CODES = {
  config_invalid: "unrecoverable",
  /** The tool's output (or a file) would read the same way again. */
  parse_error: "unrecoverable",
  ssh_connect_failed: "retryable",
  ssh_timeout: "retryable",
  /** A host key that is wrong or not pinned needs an operator, never another attempt. */
  ssh_host_key_mismatch: "unrecoverable",
  ssh_host_key_unknown: "unrecoverable",
  ssh_disconnected: "retryable",
  /** A remote command that exited non-zero, was killed or timed out may succeed on a re-read. */
  exec_failed: "retryable",
  /** Ended on purpose (a cancel). */
  exec_aborted: "unrecoverable",
  invalid_argument: "unrecoverable",
  unknown_cluster: "unrecoverable",
  unknown_node: "unrecoverable",
  unknown_guest: "unrecoverable",
  forbidden: "unrecoverable",
  approval_expired: "unrecoverable",
  approval_refused: "unrecoverable",
  approval_denied: "unrecoverable",
  /** Another holder has the lock now: running again could act twice. */
  lock_lost: "unrecoverable",
  /** The cluster no longer matches what was approved: it must be planned and approved again. */
  state_changed: "unrecoverable",
  /** A node could not be read: it may answer the next time. */
  state_unknown: "retryable",
  /** A risky operation's preflight check failed: nothing ran, nothing was asked of the approvers. */
  preflight_failed: "unrecoverable",
  /**
   * Redis took a write but no replica confirmed it (WAIT) in time: it may vanish in a failover. Retryable,
   * like a Redis outage: nothing may be said or done on the strength of that write.
   */
  redis_not_durable: "retryable",
  /** A paging service (PagerDuty, Opsgenie) did not take a page. */
  page_failed: "retryable",
  /** Anything without a code of its own, a Redis outage (ioredis errors) among them. */
  internal: "retryable",
} as const satisfies Record<string, RetryClass>;

export type RetryClass = "retryable" | "unrecoverable";

export type ErrorCode = keyof typeof ERROR_CODES;

export class XenopsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "XenopsError";
    this.code = code;
  }
}

/** Raised by parsers on input they cannot read. `line` is 1-based; 0 when the whole input is at fault. */
export class ParseError extends XenopsError {
  readonly kind: string;
  readonly line: number;
  readonly text: string | undefined;
  /**
   * The whole output the parser was given, as read. Set by the driver that ran the command (parsers
   * see only text), so a refusal can show the operator exactly what could not be read.
   */
  raw: string | undefined;
  constructor(kind: string, line: number, message: string, text?: string) {
    super("parse_error", line > 0 ? `${kind}: line ${line}: ${message}` : `${kind}: ${message}`);
    this.name = "ParseError";
    this.kind = kind;
    this.line = line;
    this.text = text;
  }
}

/**
 * Runs `parse` on a command's output; a ParseError it throws carries that output (`raw`) from then on.
 * Drivers wrap every parse of remote output in it.
 */
export function parseOutput<T>(output: string, parse: (text: string) => T): T {
  try {
    return parse(output);
  } catch (err) {
    if (err instanceof ParseError && err.raw === undefined) err.raw = output;
    throw err;
  }
}

export interface ExecErrorDetails {
  node: string;
  argv: readonly string[];
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A remote command that failed: non-zero exit, killed, timed out, or never started. */
export class ExecError extends XenopsError implements ExecErrorDetails {
  readonly node: string;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(code: ErrorCode, message: string, details: ExecErrorDetails, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "ExecError";
    this.node = details.node;
    this.argv = details.argv;
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

export function errorCode(err: unknown): ErrorCode {
  return err instanceof XenopsError ? err.code : "internal";
}

/** The retry class of an error's code (`internal`, so retryable, for an error without one). */
export function retryClassOf(err: unknown): RetryClass {
  return ERROR_CODES[errorCode(err)];
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
