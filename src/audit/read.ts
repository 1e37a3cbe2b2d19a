/** Reading the audit chain back: verification, export (JSON lines / CSV) and the latest records. */
import { once } from "node:events";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Redis } from "ioredis";
import { type AuditVerifyResult, ChainVerifier } from "./chain";
import { auditKeys } from "./log";
import { AuditRecord } from "./schema";

/** Where records are read from: an audit file, or the Redis stream of a prefix. */
export type AuditSource = { file: string } | { redis: Redis; prefix: string };

interface RawEntry {
  raw: string;
  /** File line, or 1-based position in the stream. */
  line: number;
  id?: string;
}

const PAGE = 500;

async function* fileEntries(path: string): AsyncGenerator<RawEntry> {
  const lines = createInterface({ input: createReadStream(path, { encoding: "utf8" }), crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line++;
    if (text.trim() !== "") yield { raw: text, line };
  }
}

async function* streamEntries(redis: Redis, prefix: string): AsyncGenerator<RawEntry> {
  const key = auditKeys(prefix).stream;
  let start = "-";
  let position = 0;
  for (;;) {
    const page = await redis.xrange(key, start, "+", "COUNT", PAGE);
    for (const [id, fields] of page) {
      position++;
      const at = fields.indexOf("record");
      // An entry without a record field is reported by the verifier as unreadable.
      yield { raw: at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? "") : "", line: position, id };
    }
    const last = page.at(-1);
    if (page.length < PAGE || !last) return;
    start = `(${last[0]}`;
  }
}

function entries(source: AuditSource): AsyncGenerator<RawEntry> {
  return "file" in source ? fileEntries(source.file) : streamEntries(source.redis, source.prefix);
}

/**
 * Checks every record's hash and the links between them. Finds edited records ("hash mismatch"), removed
 * ones ("missing record", naming the seqs), reordered ones ("out of order"), re-hashed or substituted ones
 * ("broken chain" at their successor), duplicates and unreadable lines. Records cut from the end of a file
 * are only detectable against the chain head: pass `expectedHead` (e.g. from Redis) for that.
 */
export async function verifyAuditFile(
  path: string,
  options: { expectedHead?: { seq: number; hash: string } } = {},
): Promise<AuditVerifyResult> {
  const verifier = new ChainVerifier();
  for await (const e of fileEntries(path)) verifier.add(e.raw, e.line);
  return verifier.finish(options.expectedHead);
}

/** As verifyAuditFile, over the `<prefix>:audit` stream, checked against the head key as well. */
export async function verifyAuditStream(redis: Redis, prefix: string): Promise<AuditVerifyResult> {
  const verifier = new ChainVerifier();
  for await (const e of streamEntries(redis, prefix)) verifier.add(e.raw, e.line, e.id);
  const [seq, hash] = await redis.hmget(auditKeys(prefix).head, "seq", "hash");
  return verifier.finish(seq && hash ? { seq: Number(seq), hash } : undefined);
}

/**
 * The latest `n` records from the stream, oldest first (for `/xen history N`). Entries that do not parse are
 * skipped: verification is where they get reported.
 */
export async function recentAudit(redis: Redis, prefix: string, n: number): Promise<AuditRecord[]> {
  if (!Number.isInteger(n) || n <= 0) return [];
  const page = await redis.xrevrange(auditKeys(prefix).stream, "+", "-", "COUNT", n);
  const records: AuditRecord[] = [];
  for (const [, fields] of page.reverse()) {
    const at = fields.indexOf("record");
    const parsed = AuditRecord.safeParse(parseJson(at >= 0 ? fields[at + 1] : undefined));
    if (parsed.success) records.push(parsed.data);
  }
  return records;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type AuditExportFormat = "jsonl" | "csv";

export interface AuditExportOptions {
  source: AuditSource;
  format: AuditExportFormat;
  /** Only records with time >= since. */
  since?: Date;
  out: NodeJS.WritableStream;
}

export const CSV_COLUMNS = [
  "seq",
  "time",
  "kind",
  "actor",
  "cluster",
  "command",
  "outcome",
  "jobId",
  "jobNumber",
  "parameters",
  "plan",
  "stateHash",
  "hostKeys",
  "exitCodes",
  "stepDurationsMs",
  "durationMs",
  "error",
  "prevHash",
  "hash",
] as const;

/** RFC 4180 field: quoted when it holds a comma, quote or line break; objects as JSON. */
function csvField(value: unknown): string {
  if (value === undefined || value === null) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * Writes records as JSON lines (exactly the stored fields, so the output still verifies when unfiltered) or
 * CSV with a header. Unreadable records are skipped and counted.
 */
export async function exportAudit(
  options: AuditExportOptions,
): Promise<{ exported: number; skipped: number }> {
  const { out, format, since } = options;
  const sinceMs = since?.getTime();
  let exported = 0;
  let skipped = 0;
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, "drain");
  };
  if (format === "csv") await write(`${CSV_COLUMNS.join(",")}\r\n`);
  for await (const e of entries(options.source)) {
    const raw = parseJson(e.raw);
    const parsed = AuditRecord.safeParse(raw);
    if (!parsed.success) {
      skipped++;
      continue;
    }
    if (sinceMs !== undefined && Date.parse(parsed.data.time) < sinceMs) continue;
    if (format === "jsonl") await write(`${JSON.stringify(raw)}\n`);
    else {
      const rec = parsed.data as Record<string, unknown>;
      await write(`${CSV_COLUMNS.map((c) => csvField(rec[c])).join(",")}\r\n`);
    }
    exported++;
  }
  return { exported, skipped };
}
