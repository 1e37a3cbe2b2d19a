/**
 * What the process keeps on the shared lifecycle client: the audit trail (with its file when one is
 * configured), the job cards, and whether Redis keeps what is written (AOF).
 */
import type { Redis } from "ioredis";
import { AuditLog } from "../audit/log";
import { AuditRecorder } from "../audit/recorder";
import { RedisCardStore } from "../job-cards/card-store";
import type { Logger } from "../log";
import { RedisDurability } from "../queue/persistence";

export interface StoresOptions {
  redis: Redis;
  prefix: string;
  logger: Logger;
  /** The audit log file; without it nothing is audited and `/xen history` says so. */
  auditFile?: string | undefined;
  /** Risky actions run even when Redis has no AOF (development only). */
  allowVolatileRedis?: boolean | undefined;
  /** How often the Redis persistence settings are read again (default 60 s). */
  persistenceRefreshMs?: number | undefined;
}

export interface Stores {
  /** Audit records (no-op without an audit file). */
  audit: AuditRecorder;
  /** Whether an audit file is kept (else `/xen history` says there is none). */
  audited: boolean;
  cards: RedisCardStore;
  durability: RedisDurability;
  /** Writes what the audit recorder still holds and closes the file; the client stays open. */
  close(): Promise<void>;
}

export function openStores(options: StoresOptions): Stores {
  const { redis, prefix, logger } = options;
  const auditLog = options.auditFile
    ? new AuditLog({ redis, prefix, file: options.auditFile, logger })
    : null;
  const audit = new AuditRecorder(auditLog, logger.child({ component: "audit" }), { redis, prefix });
  const durability = new RedisDurability(redis, {
    allowVolatile: options.allowVolatileRedis === true,
    logger: logger.child({ component: "persistence" }),
    ...(options.persistenceRefreshMs !== undefined ? { refreshMs: options.persistenceRefreshMs } : {}),
  });
  // Read at start, so a Redis without AOF is reported in the log right away.
  void durability
    .persistence()
    .catch((err: unknown) => logger.warn({ err }, "could not read Redis persistence"));
  return {
    audit,
    audited: auditLog !== null,
    cards: new RedisCardStore(redis, prefix),
    durability,
    async close() {
      await audit.flush();
      await auditLog?.close();
    },
  };
}
