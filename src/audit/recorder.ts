/**
 * The product's side of the audit log: fire-and-forget appends (an audit write never delays an ack or
 * fails a job; failures are logged as errors), a flush for shutdown, and the latest records for
 * `/xen history`.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../log";
import type { AuditLog } from "./log";
import { recentAudit } from "./read";
import type { AuditEntryInput, AuditRecord } from "./schema";

export class AuditRecorder {
  private readonly pending = new Set<Promise<unknown>>();
  /** Appends that failed (tests, healthz could report it). */
  failures = 0;

  constructor(
    readonly log: AuditLog | null,
    private readonly logger: Logger,
    private readonly reader?: { redis: Redis; prefix: string },
  ) {}

  get enabled(): boolean {
    return this.log !== null;
  }

  /** Appends in the background. */
  record(entry: AuditEntryInput): void {
    void this.append(entry);
  }

  /** Appends and resolves when written (or failed and logged); never rejects. The ApprovalEngine's hook. */
  append(entry: AuditEntryInput): Promise<void> {
    if (!this.log) return Promise.resolve();
    const p = this.log.append(entry).then(
      () => {},
      (err: unknown) => {
        this.failures += 1;
        this.logger.error({ err, kind: entry.kind, actor: entry.actor }, "audit write failed");
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  /** Waits for every append started so far. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** The latest n records, oldest first. */
  async recent(n: number): Promise<AuditRecord[]> {
    if (!this.reader) return [];
    await this.flush();
    return recentAudit(this.reader.redis, this.reader.prefix, n);
  }
}
