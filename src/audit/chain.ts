/**
 * Hash chaining and its verification, shared by the file and the Redis stream.
 *
 * hash = sha256(canonicalJson(record without `hash`)). The record includes `prevHash` (the previous record's
 * hash; GENESIS_HASH for seq 1), so changing, removing or reordering any record shows up either in its own
 * hash or in the link from its successor.
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "../canonical-json";
import { AuditRecord, GENESIS_HASH } from "./schema";

export { canonicalJson };

/** The hash of a record: over everything but its `hash` field. */
export function recordHash(record: Readonly<Record<string, unknown>>): string {
  const { hash: _ignored, ...rest } = record;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** Keys whose values never belong in an audit trail (matched anywhere in the key, any case). */
const SECRET_KEY =
  /passw(or)?d|passphrase|secret|token|private_?key|api_?key|credential|authorization|cookie/i;
export const REDACTED = "[redacted]";

/** A deep copy with the values of secret-looking keys replaced by "[redacted]". */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v)) as T;
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>))
    out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v);
  return out as T;
}

export type AuditProblemKind =
  | "bad json"
  | "bad record"
  | "hash mismatch"
  | "broken chain"
  | "missing record"
  | "out of order"
  | "duplicate record";

export interface AuditProblem {
  /** The record concerned (for "missing record", the first missing seq); null when unreadable. */
  seq: number | null;
  /** 1-based line of the file, or 1-based position in the stream. */
  line: number;
  /** Stream entry ID (stream verification only). */
  id?: string;
  problem: AuditProblemKind;
  detail: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  /** Records read (with a usable seq). */
  records: number;
  /** Highest seq in the chain, 0 if none. */
  lastSeq: number;
  problems: AuditProblem[];
}

export interface ChainHead {
  seq: number;
  hash: string;
}

interface Seen {
  seq: number;
  line: number;
  id: string | undefined;
  hash: string;
  prevHash: string;
}

/**
 * Feeds raw records in storage order, then `finish()`. Keeps only seq/line/hashes per record, so a large file
 * is verified while streaming it.
 */
export class ChainVerifier {
  private readonly problems: AuditProblem[] = [];
  private readonly bySeq = new Map<number, Seen>();
  private maxSeen: Seen | undefined;
  private lastLine = 0;

  add(raw: string, line: number, id?: string): void {
    this.lastLine = line;
    const at = { line, ...(id !== undefined ? { id } : {}) };
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      this.problems.push({ seq: null, ...at, problem: "bad json", detail: (err as Error).message });
      return;
    }
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      this.problems.push({ seq: null, ...at, problem: "bad json", detail: "not a JSON object" });
      return;
    }
    const rec = obj as Record<string, unknown>;
    const seq = typeof rec.seq === "number" && Number.isSafeInteger(rec.seq) && rec.seq > 0 ? rec.seq : null;
    const parsed = AuditRecord.safeParse(rec);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
      this.problems.push({
        seq,
        ...at,
        problem: "bad record",
        detail: `${where}${issue?.message ?? "invalid"}`,
      });
      // Without a seq the record cannot be placed in the chain; with one, keep checking it.
      if (seq === null) return;
    }
    const hash = typeof rec.hash === "string" ? rec.hash : "";
    if (recordHash(rec) !== hash)
      this.problems.push({
        seq,
        ...at,
        problem: "hash mismatch",
        detail: `record seq ${seq} was altered after it was written`,
      });
    const seen: Seen = {
      seq: seq as number,
      line,
      id,
      hash,
      prevHash: typeof rec.prevHash === "string" ? rec.prevHash : "",
    };
    const dup = this.bySeq.get(seen.seq);
    if (dup) {
      this.problems.push({
        seq,
        ...at,
        problem: "duplicate record",
        detail: `seq ${seq} also at ${where(dup)}`,
      });
      return;
    }
    this.bySeq.set(seen.seq, seen);
    if (this.maxSeen && seen.seq < this.maxSeen.seq)
      this.problems.push({
        seq,
        ...at,
        problem: "out of order",
        detail: `seq ${seq} comes after seq ${this.maxSeen.seq} (${where(this.maxSeen)})`,
      });
    else this.maxSeen = seen;
  }

  /** `expectedHead`: where the writer says the chain ends, to detect records removed from the end. */
  finish(expectedHead?: ChainHead): AuditVerifyResult {
    const problems = [...this.problems];
    const seqs = [...this.bySeq.keys()].sort((a, b) => a - b);
    let prev: Seen | undefined;
    for (const seq of seqs) {
      const cur = this.bySeq.get(seq) as Seen;
      const at = { line: cur.line, ...(cur.id !== undefined ? { id: cur.id } : {}) };
      const expectedSeq = (prev?.seq ?? 0) + 1;
      if (seq > expectedSeq) {
        // The link across a gap cannot be checked: the gap itself is the finding.
        problems.push({
          seq: expectedSeq,
          ...at,
          problem: "missing record",
          detail: `${range(expectedSeq, seq - 1)} missing before seq ${seq}`,
        });
      } else if (cur.prevHash !== (prev?.hash ?? GENESIS_HASH)) {
        problems.push({
          seq,
          ...at,
          problem: "broken chain",
          detail: prev
            ? `prevHash of seq ${seq} is not the hash of seq ${prev.seq} (${where(prev)}): seq ${prev.seq} was replaced or re-hashed`
            : "seq 1 does not start from the genesis hash",
        });
      }
      prev = cur;
    }
    const lastSeq = prev?.seq ?? 0;
    if (expectedHead && expectedHead.seq > lastSeq)
      problems.push({
        seq: lastSeq + 1,
        line: this.lastLine + 1,
        problem: "missing record",
        detail: `${range(lastSeq + 1, expectedHead.seq)} missing at the end (the chain head is seq ${expectedHead.seq})`,
      });
    else if (expectedHead && expectedHead.seq === lastSeq && prev && prev.hash !== expectedHead.hash)
      problems.push({
        seq: lastSeq,
        line: prev.line,
        problem: "hash mismatch",
        detail: `seq ${lastSeq} is not the record the chain head names`,
      });
    problems.sort((a, b) => a.line - b.line || (a.seq ?? 0) - (b.seq ?? 0));
    return { ok: problems.length === 0, records: this.bySeq.size, lastSeq, problems };
  }
}

function where(seen: Seen): string {
  return seen.id !== undefined ? `entry ${seen.line} (${seen.id})` : `line ${seen.line}`;
}

function range(from: number, to: number): string {
  return from === to ? `seq ${from} is` : `seqs ${from}-${to} are`;
}

/** One line per problem, as the CLI prints them. */
export function formatProblem(p: AuditProblem): string {
  const place = p.id !== undefined ? `entry ${p.line} (${p.id})` : `line ${p.line}`;
  return `${p.seq !== null ? `seq ${p.seq}` : "seq ?"} ${place}: ${p.problem}: ${p.detail}`;
}
