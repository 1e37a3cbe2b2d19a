/** The audit log: append (AuditLog), verify, export and read back. See ./log for how the chain is kept. */
export {
  type AuditProblem,
  type AuditProblemKind,
  type AuditVerifyResult,
  type ChainHead,
  canonicalJson,
  formatProblem,
  REDACTED,
  recordHash,
  redactSecrets,
} from "./chain";
export { AuditLog, type AuditLogOptions, auditKeys, lastRecordOfFile } from "./log";
export {
  type AuditExportFormat,
  type AuditExportOptions,
  type AuditSource,
  CSV_COLUMNS,
  exportAudit,
  recentAudit,
  verifyAuditFile,
  verifyAuditStream,
} from "./read";
export {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  AuditEntry,
  type AuditEntryInput,
  AuditKind,
  AuditOutcome,
  AuditPlanStep,
  AuditRecord,
  GENESIS_HASH,
} from "./schema";
