/**
 * Whether a failed job runs again. The error's code decides (its retry class, src/errors.ts); BullMQ
 * learns it from the worker, which turns a failure a retry cannot help into its UnrecoverableError.
 * Processors that edit a card ask `isFinalFailure` before writing the failure on it.
 */
import { type Job, UnrecoverableError } from "bullmq";
import { type ErrorCode, errorCode, errorMessage, retryClassOf } from "../errors";

/**
 * What the worker hands BullMQ for a coded failure another attempt cannot help. Its message is the
 * original one (the job's failedReason, shown to users); its stack trace, kept on the failed job,
 * starts with the code.
 */
export class UnrecoverableJobError extends UnrecoverableError {
  readonly code: ErrorCode;
  override readonly cause: unknown;
  constructor(err: unknown) {
    const code = errorCode(err);
    const message = errorMessage(err);
    super(message);
    // BullMQ recognises the class by instanceof, or by this name across copies of the library.
    this.name = "UnrecoverableError";
    this.code = code;
    this.cause = err;
    const causeStack = err instanceof Error && err.stack ? err.stack : message;
    this.stack = `UnrecoverableError: ${code}: ${message}\nCaused by: ${causeStack}`;
  }
}

/** BullMQ's own test: the class, or its name (an error from another copy of the library). */
function isUnrecoverableError(err: unknown): boolean {
  return err instanceof UnrecoverableError || (err instanceof Error && err.name === "UnrecoverableError");
}

/** True when another attempt cannot help: BullMQ's UnrecoverableError, or a code classed unrecoverable. */
export function retryCannotHelp(err: unknown): boolean {
  return isUnrecoverableError(err) || retryClassOf(err) === "unrecoverable";
}

/**
 * True when this failure ends the job: it was cancelled, a retry cannot help, or it was its last
 * attempt (mutating jobs have only one).
 */
export function isFinalFailure(
  job: Pick<Job, "attemptsMade" | "opts">,
  err: unknown,
  signal?: AbortSignal,
): boolean {
  if (signal?.aborted === true) return true;
  if (retryCannotHelp(err)) return true;
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** The error to throw to BullMQ: a coded failure a retry cannot help becomes its UnrecoverableError. */
export function toQueueFailure(err: unknown): unknown {
  if (isUnrecoverableError(err) || !retryCannotHelp(err)) return err;
  return new UnrecoverableJobError(err);
}
