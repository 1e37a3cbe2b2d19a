/**
 * Errors with stable codes. Codes are part of the product's contract: they appear in job results,
 * audit records and user-facing messages, so never rename one.
 */
export type ErrorCode =
  | "config_invalid"
  | "parse_error"
  | "ssh_connect_failed"
  | "ssh_timeout"
  | "ssh_host_key_mismatch"
  | "ssh_host_key_unknown"
  | "ssh_disconnected"
  | "exec_failed"
  | "exec_aborted"
  | "invalid_argument"
  | "unknown_cluster"
  | "unknown_node"
  | "unknown_guest"
  | "forbidden"
  | "approval_expired"
  | "approval_refused"
  | "approval_denied"
  | "lock_lost"
  | "state_changed"
  | "state_unknown"
  /** A risky operation's preflight check failed: nothing ran, nothing was asked of the approvers. */
  | "preflight_failed"
  /**
   * Redis took a write but no replica confirmed it (WAIT) in time: it may vanish in a failover. Retryable,
   * like a Redis outage: nothing may be said or done on the strength of that write.
   */
  | "redis_not_durable"
  /** A paging service (PagerDuty, Opsgenie) did not take a page. */
  | "page_failed"
  | "internal";

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

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
