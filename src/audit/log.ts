/**
 * AuditLog: append-only, hash-chained records of every command, approval, refusal and job outcome, written
 * to a Redis stream (`<prefix>:audit`, the complete chain) and to a JSON-lines file (one record per line).
 *
 * One chain across processes: the chain head (seq + hash of the last record) lives in Redis
 * (`<prefix>:audit:head`). An append
 *   1. takes a short Redis lock (`<prefix>:audit:lock`, SET NX PX with a random token), so writers take turns
 *      and records reach a shared file in seq order;
 *   2. reads the head, builds the record (seq = head.seq + 1, prevHash = head.hash) and hashes it;
 *   3. commits with a Lua script that XADDs the record and moves the head only if the head is still the one
 *      the record was built on (compare-and-set). The lock is for ordering; the CAS is what guarantees the
 *      chain never forks, even if a stalled writer outlives its lock;
 *   4. appends the line to the file and fdatasyncs it, still under the lock.
 * Appends queued while one is in flight go together (group commit): one lock, one commit and one fdatasync
 * for up to MAX_BATCH records, so a burst of commands costs a few round trips, not a few per command.
 * If Redis has no head and no stream (fresh or flushed Redis, e.g. the console's embedded one) but the file
 * has records, the chain continues from the file's last record instead of restarting at seq 1.
 */
import { randomUUID } from "node:crypto";
import { mkdir, open } from "node:fs/promises";
import { dirname } from "node:path";
import type { Redis } from "ioredis";
import { ZodError } from "zod";
import { errorMessage, XenopsError } from "../errors";
import type { Logger } from "../log";
import { type ChainHead, recordHash, redactSecrets } from "./chain";
import { AuditEntry, type AuditEntryInput, AuditRecord, GENESIS_HASH } from "./schema";

export const auditKeys = (prefix: string) => ({
  /** The chain, one entry per record: fields seq, hash, record (the JSON line). Never trimmed. */
  stream: `${prefix}:audit`,
  /** Hash {seq, hash} of the last committed record. */
  head: `${prefix}:audit:head`,
  lock: `${prefix}:audit:lock`,
});

/** Lua: the current head as {seq, hash, source}; from the head key, else the stream's last entry, else genesis. */
const CURRENT_HEAD = `
local function current_head()
  local h = redis.call("HMGET", KEYS[1], "seq", "hash")
  if h[1] and h[2] then return h[1], h[2], "head" end
  local last = redis.call("XREVRANGE", KEYS[2], "+", "-", "COUNT", 1)
  if last[1] then
    local f, s, x = last[1][2], nil, nil
    for i = 1, #f, 2 do
      if f[i] == "seq" then s = f[i + 1] elseif f[i] == "hash" then x = f[i + 1] end
    end
    if s and x then return s, x, "stream" end
  end
  return "0", "${GENESIS_HASH}", "empty"
end
`;

/** KEYS: head, stream. Returns {seq, hash, source}. */
const HEAD_SCRIPT = `${CURRENT_HEAD}
local s, h, src = current_head()
return {s, h, src}
`;

/**
 * KEYS: head, stream. ARGV: expected seq, expected hash, seeded ("1": the caller continues a chain from its
 * file, accepted only while Redis holds none), then per record (in chain order) its seq, hash and JSON.
 * Returns {1} or {0, current seq, current hash}.
 */
const COMMIT_SCRIPT = `${CURRENT_HEAD}
local s, h, src = current_head()
if src == "empty" and ARGV[3] == "1" then s, h = ARGV[1], ARGV[2] end
if s ~= ARGV[1] or h ~= ARGV[2] then return {0, s, h} end
local last = #ARGV - 2
for i = 4, #ARGV, 3 do
  redis.call("XADD", KEYS[2], "*", "seq", ARGV[i], "hash", ARGV[i + 1], "record", ARGV[i + 2])
end
redis.call("HSET", KEYS[1], "seq", ARGV[last], "hash", ARGV[last + 1])
return {1}
`;

const RELEASE_SCRIPT = `
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
`;

export interface AuditLogOptions {
  /** The caller's client (the composition root's); close() leaves it open. */
  redis: Redis;
  /** Key prefix (the deployment's queue prefix). */
  prefix: string;
  /** The JSON-lines file (XENOPS_AUDIT_FILE). */
  file: string;
  logger?: Logger;
  /** Clock for `time` (tests). */
  now?: () => Date;
  /** Give up taking the lock after this long (default 10 s). */
  lockTimeoutMs?: number;
  /** Lock lifetime; a writer that dies holding it blocks others at most this long (default 5 s). */
  lockTtlMs?: number;
  /** fdatasync after each line (default true). */
  sync?: boolean;
}

/** Conflicts only happen when a lock expired under a stalled writer, so this is rarely more than 1. */
const COMMIT_ATTEMPTS = 20;
/** Records per group commit: bounds the commit script's arguments and the file write. */
const MAX_BATCH = 100;

interface Pending {
  entry: AuditEntry;
  resolve: (record: AuditRecord) => void;
  reject: (err: unknown) => void;
}

export class AuditLog {
  readonly prefix: string;
  readonly file: string;
  private readonly redis: Redis;
  private readonly keys: ReturnType<typeof auditKeys>;
  private readonly now: () => Date;
  private readonly lockTimeoutMs: number;
  private readonly lockTtlMs: number;
  private readonly sync: boolean;
  private readonly logger: Logger | undefined;
  /** Appends waiting for the batch in flight; each batch of this instance runs after the previous one. */
  private queue: Pending[] = [];
  /** The batch loop while it runs (close() waits for it). */
  private draining: Promise<void> | null = null;
  private closed = false;

  constructor(options: AuditLogOptions) {
    this.prefix = options.prefix;
    this.file = options.file;
    this.logger = options.logger?.child({ component: "audit" });
    this.redis = options.redis;
    this.keys = auditKeys(options.prefix);
    this.now = options.now ?? (() => new Date());
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
    this.lockTtlMs = options.lockTtlMs ?? 5_000;
    this.sync = options.sync ?? true;
  }

  /**
   * Appends one record and returns it once it is in Redis and in the file. Secret-looking parameter keys are
   * redacted first. Throws XenopsError: "invalid_argument" for a malformed entry, "internal" when Redis or the
   * file fails (a record committed to Redis but not to the file says so: the file will show the gap).
   */
  append(entry: AuditEntryInput): Promise<AuditRecord> {
    if (this.closed) return Promise.reject(new XenopsError("internal", "audit log is closed"));
    let clean: AuditEntry;
    try {
      clean = AuditEntry.parse(redactSecrets(entry));
    } catch (err) {
      const detail =
        err instanceof ZodError
          ? err.issues.map((i) => `${i.path.join(".") || "entry"}: ${i.message}`).join("; ")
          : errorMessage(err);
      return Promise.reject(new XenopsError("invalid_argument", `bad audit entry: ${detail}`));
    }
    return new Promise<AuditRecord>((resolve, reject) => {
      this.queue.push({ entry: clean, resolve, reject });
      this.draining ??= this.drain();
    });
  }

  /** Commits what is queued, a batch at a time, until nothing is. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          const records = await this.appendLocked(batch.map((p) => p.entry));
          for (const [i, p] of batch.entries()) p.resolve(records[i] as AuditRecord);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.draining = null;
    }
  }

  /** The chain head in Redis (seq 0 and the genesis hash when empty). */
  async head(): Promise<ChainHead> {
    const [seq, hash] = (await this.redis.eval(HEAD_SCRIPT, 2, this.keys.head, this.keys.stream)) as [
      string,
      string,
      string,
    ];
    return { seq: Number(seq), hash };
  }

  /** Waits for pending appends (the client is the caller's to close). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.draining;
  }

  /** Appends `entries` as consecutive records, in order; all or none are committed to Redis. */
  private async appendLocked(entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    const token = randomUUID();
    await this.lock(token);
    try {
      const reply = (await this.redis.eval(HEAD_SCRIPT, 2, this.keys.head, this.keys.stream)) as [
        string,
        string,
        string,
      ];
      let head: ChainHead = { seq: Number(reply[0]), hash: reply[1] };
      let seeded = false;
      if (reply[2] === "empty") {
        const fromFile = await lastRecordOfFile(this.file);
        if (fromFile) {
          head = fromFile;
          seeded = true;
          this.logger?.info({ seq: head.seq, file: this.file }, "audit chain continues from the file");
        }
      }
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
        const records: AuditRecord[] = [];
        const args: string[] = [];
        let prev = head;
        for (const entry of entries) {
          const record = this.build(entry, prev);
          records.push(record);
          args.push(String(record.seq), record.hash, JSON.stringify(record));
          prev = { seq: record.seq, hash: record.hash };
        }
        const result = (await this.redis.eval(
          COMMIT_SCRIPT,
          2,
          this.keys.head,
          this.keys.stream,
          String(head.seq),
          head.hash,
          seeded ? "1" : "0",
          ...args,
        )) as [number, string?, string?];
        if (result[0] === 1) {
          const lines = args.filter((_, i) => i % 3 === 2);
          await this.writeLines(lines, records);
          return records;
        }
        // Someone committed meanwhile (our lock expired under a stall): rebuild on the new head.
        head = { seq: Number(result[1]), hash: String(result[2]) };
        seeded = false;
      }
      throw new XenopsError(
        "internal",
        `audit chain head kept moving; gave up after ${COMMIT_ATTEMPTS} tries`,
      );
    } catch (err) {
      if (err instanceof XenopsError) throw err;
      throw new XenopsError("internal", `audit append failed: ${errorMessage(err)}`, { cause: err });
    } finally {
      await this.redis.eval(RELEASE_SCRIPT, 1, this.keys.lock, token).catch(() => {});
    }
  }

  private build(entry: AuditEntry, head: ChainHead): AuditRecord {
    const unhashed = { ...entry, seq: head.seq + 1, time: this.now().toISOString(), prevHash: head.hash };
    // Hash exactly what a reader will parse back from the line.
    const plain = JSON.parse(JSON.stringify(unhashed)) as Record<string, unknown>;
    return { ...(plain as Omit<AuditRecord, "hash">), hash: recordHash(plain) };
  }

  private async lock(token: string): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      const ok = await this.redis.set(this.keys.lock, token, "PX", this.lockTtlMs, "NX");
      if (ok === "OK") return;
      if (Date.now() >= deadline)
        throw new XenopsError("internal", `audit log busy: no lock within ${this.lockTimeoutMs} ms`);
      // Jitter so two processes do not poll in lockstep.
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
    }
  }

  private async writeLines(lines: readonly string[], records: readonly AuditRecord[]): Promise<void> {
    try {
      await mkdir(dirname(this.file), { recursive: true });
      // Records name users, commands and hosts: readable by the owner only (the mode applies on creation).
      const fh = await open(this.file, "a", 0o600);
      try {
        await fh.write(`${lines.join("\n")}\n`);
        if (this.sync) await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      const first = records[0]?.seq;
      const last = records.at(-1)?.seq;
      const seqs = first === last ? `seq ${first}` : `seqs ${first}-${last}`;
      throw new XenopsError(
        "internal",
        `audit record ${seqs} is in Redis but was not written to ${this.file}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }
}

/** seq and hash of the last line of an audit file; null when the file is missing or empty. */
export async function lastRecordOfFile(path: string): Promise<ChainHead | null> {
  const line = await lastLine(path);
  if (line === null) return null;
  const parsed = AuditRecord.safeParse(safeJson(line));
  if (!parsed.success)
    throw new XenopsError(
      "internal",
      `cannot continue the audit chain: the last line of ${path} is not an audit record (run "xenops audit verify")`,
    );
  return { seq: parsed.data.seq, hash: parsed.data.hash };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The last non-empty line, read backwards in chunks so a large file is not loaded whole. */
async function lastLine(path: string): Promise<string | null> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const chunks: Buffer[] = [];
    let pos = size;
    while (pos > 0) {
      const len = Math.min(64 * 1024, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      chunks.unshift(buf);
      const text = Buffer.concat(chunks).toString("utf8").replace(/\s+$/, "");
      const nl = text.lastIndexOf("\n");
      if (nl >= 0) return text.slice(nl + 1);
      if (pos === 0) return text === "" ? null : text;
    }
    return null;
  } finally {
    await fh.close();
  }
}
