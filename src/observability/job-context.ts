/**
 * The job a piece of code runs for, carried through async calls (AsyncLocalStorage): every log line
 * written while a job runs gets its job id, number and Slack user, and every remote command it runs is
 * counted for its audit record.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "../log";

export interface CommandRecord {
  node: string;
  argv: string[];
  /** Exit code of the last run (null: killed, timed out, never started). */
  exitCode: number | null;
  /** Total time over all runs. */
  durationMs: number;
  runs: number;
}

export interface JobContext {
  jobId: string;
  jobNumber: number | null;
  name: string;
  cluster: string | null;
  user: string | null;
  /** Distinct commands run, in first-run order (bounded). */
  commands: Map<string, CommandRecord>;
  /** Remote commands run, all of them. */
  commandCount: number;
}

const MAX_DISTINCT_COMMANDS = 50;
const storage = new AsyncLocalStorage<JobContext>();

export function currentJob(): JobContext | undefined {
  return storage.getStore();
}

export function runInJob<T>(context: JobContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Records one remote command for the job running now (if any). */
export function recordCommand(
  node: string,
  argv: readonly string[],
  exitCode: number | null,
  durationMs: number,
): void {
  const ctx = storage.getStore();
  if (!ctx) return;
  ctx.commandCount += 1;
  const key = `${node}\0${argv.join("\0")}`;
  const known = ctx.commands.get(key);
  if (known) {
    known.exitCode = exitCode;
    known.durationMs += durationMs;
    known.runs += 1;
  } else if (ctx.commands.size < MAX_DISTINCT_COMMANDS) {
    ctx.commands.set(key, { node, argv: [...argv], exitCode, durationMs, runs: 1 });
  }
}

/**
 * A child logger whose lines carry `jobId`, `jobNumber` and `user` of the job running when they are
 * written (fields the call site sets itself win). Children of it inherit this.
 */
export function jobContextLogger(logger: Logger): Logger {
  return logger.child(
    {},
    {
      formatters: {
        log(object: object) {
          const ctx = storage.getStore();
          if (!ctx) return object;
          return {
            jobId: ctx.jobId,
            ...(ctx.jobNumber !== null ? { jobNumber: ctx.jobNumber } : {}),
            ...(ctx.user ? { user: ctx.user } : {}),
            ...object,
          };
        },
      },
    },
  );
}
