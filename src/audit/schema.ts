/**
 * The audit record: one line of the audit file, one entry of the `<prefix>:audit` stream. Records are
 * hash-chained (see ./chain), so the schema is part of the tamper evidence: fields are only ever added,
 * never renamed, and old records must keep parsing.
 */
import { z } from "zod";

export const AUDIT_KINDS = [
  "command",
  "refusal",
  "approval_requested",
  "approval_decision",
  "job_started",
  "job_finished",
  "job_cancelled",
  "action",
  "system",
] as const;
export const AuditKind = z.enum(AUDIT_KINDS);
export type AuditKind = z.infer<typeof AuditKind>;

export const AUDIT_OUTCOMES = [
  "ok",
  "failed",
  "refused",
  "pending",
  "approved",
  "denied",
  "expired",
  "cancelled",
  "timeout",
] as const;
export const AuditOutcome = z.enum(AUDIT_OUTCOMES);
export type AuditOutcome = z.infer<typeof AuditOutcome>;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits");

/** `SHA256:` + unpadded base64, as src/ssh/hostkey.ts and ssh-keygen -lf print it. */
const fingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, "expected SHA256:<base64> fingerprint");

export const AuditPlanStep = z.object({
  node: z.string().min(1),
  argv: z.array(z.string()),
});
export type AuditPlanStep = z.infer<typeof AuditPlanStep>;

const entryShape = {
  kind: AuditKind,
  /** Slack user ID, or "system" for what xenops does on its own (timeouts, worker restarts). */
  actor: z.string().min(1),
  cluster: z.string().min(1).optional(),
  /** The command text as typed ("/xen migrate web1 to node2"). */
  command: z.string().optional(),
  /** Parsed parameters; keys that look like secrets are replaced by "[redacted]" before hashing. */
  parameters: z.record(z.string(), z.unknown()).optional(),
  plan: z.array(AuditPlanStep).optional(),
  /** Hash of the cluster state snapshot the plan was made from (what the approver saw). */
  stateHash: z.string().min(1).optional(),
  /** Host-key fingerprints of the nodes touched: {node: "SHA256:..."}. */
  hostKeys: z.record(z.string(), fingerprint).optional(),
  /** Exit code per plan step, in plan order (null: killed, timed out or never started). */
  exitCodes: z.array(z.number().int().nullable()).optional(),
  /** Duration per plan step in ms, in plan order. */
  stepDurationsMs: z.array(z.number().nonnegative()).optional(),
  /** Duration of the whole job or action in ms. */
  durationMs: z.number().nonnegative().optional(),
  outcome: AuditOutcome.optional(),
  /** Why it failed or was refused: a stable ErrorCode (src/errors.ts) and a message. */
  error: z.object({ code: z.string().min(1), message: z.string() }).optional(),
  jobId: z.string().min(1).optional(),
  jobNumber: z.number().int().positive().optional(),
};

/** What callers pass to `AuditLog.append`: everything but the fields the log assigns. Unknown keys are an
 * error here (a typo would silently drop evidence). */
export const AuditEntry = z.strictObject(entryShape);
export type AuditEntry = z.infer<typeof AuditEntry>;
/** The input type of `append` (before defaults and redaction). */
export type AuditEntryInput = z.input<typeof AuditEntry>;

export const GENESIS_HASH = "0".repeat(64);

/** Lenient about unknown keys so records written by a newer version still read; the hash covers them anyway. */
export const AuditRecord = z.object({
  ...entryShape,
  /** 1, 2, 3... without gaps across every process writing the chain. */
  seq: z.number().int().positive(),
  time: z.iso.datetime(),
  /** `hash` of the record with seq - 1; GENESIS_HASH for seq 1. */
  prevHash: sha256Hex,
  /** sha256 of the canonical JSON of this record without `hash` (see ./chain). */
  hash: sha256Hex,
});
export type AuditRecord = z.infer<typeof AuditRecord>;
