/**
 * `xenops audit verify [--file F | --redis]` and `xenops audit export [--file F | --redis] [--format jsonl|csv]
 * [--since ISO]`. The file defaults to $XENOPS_AUDIT_FILE (./xenops-audit.jsonl); --redis reads the stream
 * of $XENOPS_QUEUE_PREFIX on $REDIS_URL.
 *
 * Exit codes: 0 ok; 1 verification found problems (one per line on stdout); 2 could not read the log or bad
 * arguments.
 */
import { type Command, Option } from "commander";
import type { Redis } from "ioredis";
import { formatProblem } from "../audit/chain";
import {
  type AuditExportFormat,
  type AuditSource,
  exportAudit,
  verifyAuditFile,
  verifyAuditStream,
} from "../audit/read";
import { readRuntimeEnv } from "../config/env";
import { errorMessage } from "../errors";
import { closeConnection, createRedisConnection } from "../queue/redis";

export type AuditTarget = { file: string } | { redisUrl: string; prefix: string };

function describe(target: AuditTarget): string {
  return "file" in target ? target.file : `redis stream ${target.prefix}:audit`;
}

/** Runs `fn` on the source of a target, owning the Redis connection if one is needed. */
async function withSource<T>(target: AuditTarget, fn: (source: AuditSource) => Promise<T>): Promise<T> {
  if ("file" in target) return fn({ file: target.file });
  const redis: Redis = createRedisConnection(target.redisUrl, { role: "client", name: "xenops:audit-cli" });
  try {
    return await fn({ redis, prefix: target.prefix });
  } finally {
    await closeConnection(redis);
  }
}

export async function runAuditVerify(
  target: AuditTarget,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const what = describe(target);
  let result: Awaited<ReturnType<typeof verifyAuditFile>>;
  try {
    result = await withSource(target, (s) =>
      "file" in s ? verifyAuditFile(s.file) : verifyAuditStream(s.redis, s.prefix),
    );
  } catch (e) {
    err.write(`xenops: cannot verify ${what}: ${errorMessage(e)}\n`);
    return 2;
  }
  if (result.ok) {
    out.write(`${what}: OK, ${result.records} record${result.records === 1 ? "" : "s"}\n`);
    return 0;
  }
  for (const p of result.problems) out.write(`${formatProblem(p)}\n`);
  err.write(
    `${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} in ${what} (${result.records} records)\n`,
  );
  return 1;
}

export async function runAuditExport(
  target: AuditTarget,
  options: { format: string; since?: string },
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  if (options.format !== "jsonl" && options.format !== "csv") {
    err.write(`xenops: unknown format "${options.format}" (jsonl or csv)\n`);
    return 2;
  }
  const format: AuditExportFormat = options.format;
  let since: Date | undefined;
  if (options.since !== undefined) {
    since = new Date(options.since);
    if (Number.isNaN(since.getTime())) {
      err.write(
        `xenops: --since: not a date: "${options.since}" (use ISO 8601, e.g. 2024-05-01T00:00:00Z)\n`,
      );
      return 2;
    }
  }
  try {
    const { skipped } = await withSource(target, (source) =>
      exportAudit({ source, format, out, ...(since ? { since } : {}) }),
    );
    if (skipped > 0)
      err.write(`xenops: skipped ${skipped} unreadable record(s); run "xenops audit verify"\n`);
    return 0;
  } catch (e) {
    err.write(`xenops: cannot export ${describe(target)}: ${errorMessage(e)}\n`);
    return 2;
  }
}

/** The target from the options and the environment; throws when --redis is asked for without REDIS_URL. */
function targetOf(opts: { file?: string; redis?: boolean }): AuditTarget {
  const env = readRuntimeEnv();
  if (!opts.redis) return { file: opts.file ?? env.XENOPS_AUDIT_FILE };
  if (!env.REDIS_URL) throw new Error("--redis needs REDIS_URL");
  return { redisUrl: env.REDIS_URL, prefix: env.XENOPS_QUEUE_PREFIX };
}

async function guard(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (e) {
    process.stderr.write(`xenops: ${errorMessage(e)}\n`);
    process.exitCode = 2;
  }
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("the hash-chained audit log");
  const sourceOptions = (cmd: Command) =>
    cmd
      .addOption(
        new Option("--file <file>", "audit file (default: $XENOPS_AUDIT_FILE or ./xenops-audit.jsonl)"),
      )
      .addOption(
        new Option("--redis", "the Redis stream ($REDIS_URL, $XENOPS_QUEUE_PREFIX) instead").conflicts(
          "file",
        ),
      );
  sourceOptions(
    audit
      .command("verify")
      .description("check every record's hash and the chain; list each problem (exit 1 if any)"),
  ).action((opts: { file?: string; redis?: boolean }) =>
    guard(() => runAuditVerify(targetOf(opts), process.stdout, process.stderr)),
  );
  sourceOptions(audit.command("export").description("write records to stdout as JSON lines or CSV"))
    .addOption(new Option("--format <format>", "output format").choices(["jsonl", "csv"]).default("jsonl"))
    .option("--since <iso>", "only records at or after this time (ISO 8601)")
    .action((opts: { file?: string; redis?: boolean; format: string; since?: string }) =>
      guard(() =>
        runAuditExport(
          targetOf(opts),
          { format: opts.format, ...(opts.since !== undefined ? { since: opts.since } : {}) },
          process.stdout,
          process.stderr,
        ),
      ),
    );
}
