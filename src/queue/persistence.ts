/**
 * Whether Redis keeps what xenops writes. Approvals, execution journals, leases and locks live in Redis;
 * a Redis that restarts without an append-only file forgets a running migration's journal, and nobody
 * can tell any more where the guest runs or that a page is due. So at start (and then now and then) the
 * bot and the workers read the persistence settings, refuse risky actions without AOF, and say why on
 * /healthz (`redis_persistence`).
 *
 * Read with `CONFIG GET appendonly appendfsync`; when CONFIG is renamed away (common in hardened set-ups),
 * `INFO persistence` still tells whether AOF is on (`aof_enabled`), not the fsync policy. When neither
 * answers, the setting is unknown, and unknown is refused like "off".
 */
import type { Redis } from "ioredis";
import { errorMessage } from "../errors";
import type { Logger } from "../log";

export interface RedisPersistence {
  /** AOF on (true), off (false), or unknown (null). */
  appendonly: boolean | null;
  /** `always`, `everysec`, `no`, or null when it could not be read. */
  appendfsync: string | null;
  /** Where it was read: CONFIG GET, INFO persistence, or nowhere. */
  source: "config" | "info" | "none";
  /** The server's run_id (INFO server): changes on every restart. */
  runId: string | null;
  /** Why CONFIG or INFO could not be used, when they could not. */
  problem?: string;
}

/** The fix, as the refusals and /healthz name it. */
export const PERSISTENCE_FIX =
  "set `appendonly yes` (and `appendfsync everysec`) in redis.conf and restart Redis, or run `CONFIG SET appendonly yes` and then `CONFIG REWRITE`";

function infoField(info: string, field: string): string | null {
  const m = new RegExp(`^${field}:(.*)$`, "m").exec(info);
  return m?.[1]?.trim() ?? null;
}

/** Reads the persistence settings (read-only: CONFIG GET, INFO). */
export async function readRedisPersistence(redis: Redis): Promise<RedisPersistence> {
  let runId: string | null = null;
  try {
    runId = infoField(await redis.info("server"), "run_id");
  } catch {
    // Not needed for the verdict.
  }
  try {
    const reply = (await redis.call("CONFIG", "GET", "appendonly")) as string[];
    const fsync = (await redis.call("CONFIG", "GET", "appendfsync")) as string[];
    const value = reply[1];
    if (value === "yes" || value === "no")
      return { appendonly: value === "yes", appendfsync: fsync[1] ?? null, source: "config", runId };
    throw new Error(`unexpected CONFIG GET appendonly reply ${JSON.stringify(reply).slice(0, 100)}`);
  } catch (configErr) {
    const problem = `CONFIG GET failed (${errorMessage(configErr)})`;
    try {
      const enabled = infoField(await redis.info("persistence"), "aof_enabled");
      if (enabled === "1" || enabled === "0")
        return { appendonly: enabled === "1", appendfsync: null, source: "info", runId, problem };
      return {
        appendonly: null,
        appendfsync: null,
        source: "none",
        runId,
        problem: `${problem}; INFO persistence has no aof_enabled`,
      };
    } catch (infoErr) {
      return {
        appendonly: null,
        appendfsync: null,
        source: "none",
        runId,
        problem: `${problem}; INFO persistence failed (${errorMessage(infoErr)})`,
      };
    }
  }
}

/** The refusal for a Redis without AOF (or whose setting cannot be read); null when it is durable. */
export function persistenceRefusal(p: RedisPersistence): string | null {
  if (p.appendonly === true) return null;
  if (p.appendonly === false)
    return `Redis runs without persistence (appendonly no): a restart would lose approvals and the journal of a running operation, so risky actions (migrate, create, fence, evacuate, failback, split-brain recovery) are refused. Fix: ${PERSISTENCE_FIX}.`;
  return `Redis' persistence setting cannot be read (${p.problem ?? "unknown"}), so it is treated as off: risky actions (migrate, create, fence, evacuate, failback, split-brain recovery) are refused. Fix: make sure AOF is on (${PERSISTENCE_FIX}) and that CONFIG GET or INFO persistence may be used by xenops.`;
}

export interface DurabilityOptions {
  /** XENOPS_ALLOW_VOLATILE_REDIS: development only; risky actions run even without AOF (warned). */
  allowVolatile?: boolean;
  /** Re-read the settings at most this often (default 60 s): someone may turn AOF off at run time. */
  refreshMs?: number;
  logger?: Logger;
}

/** The persistence check shared by the approval engine, the executor and /healthz. */
export class RedisDurability {
  private last: { at: number; value: RedisPersistence } | null = null;
  private reading: Promise<RedisPersistence> | null = null;
  private warned = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: DurabilityOptions = {},
  ) {}

  /** The settings, read again when older than refreshMs. */
  async persistence(): Promise<RedisPersistence> {
    const refreshMs = this.options.refreshMs ?? 60_000;
    if (this.last && Date.now() - this.last.at < refreshMs) return this.last.value;
    this.reading ??= readRedisPersistence(this.redis)
      .then((value) => {
        this.last = { at: Date.now(), value };
        this.report(value);
        return value;
      })
      .finally(() => {
        this.reading = null;
      });
    return this.reading;
  }

  private report(value: RedisPersistence): void {
    const refusal = persistenceRefusal(value);
    if (refusal === null || this.warned) return;
    this.warned = true;
    if (this.options.allowVolatile)
      this.options.logger?.warn(
        { appendonly: value.appendonly, source: value.source },
        "Redis runs without AOF persistence; XENOPS_ALLOW_VOLATILE_REDIS=1 lets risky actions run anyway (development only)",
      );
    else
      this.options.logger?.error(
        { appendonly: value.appendonly, source: value.source, problem: value.problem, fix: PERSISTENCE_FIX },
        "Redis runs without AOF persistence: risky actions are refused",
      );
  }

  /** Why risky actions must be refused now, or null. */
  async refusal(): Promise<string | null> {
    if (this.options.allowVolatile) {
      await this.persistence().catch(() => null);
      return null;
    }
    try {
      return persistenceRefusal(await this.persistence());
    } catch (err) {
      return persistenceRefusal({
        appendonly: null,
        appendfsync: null,
        source: "none",
        runId: null,
        problem: errorMessage(err),
      });
    }
  }

  /** The /healthz check `redis_persistence`. */
  async health(): Promise<{ ok: boolean; error?: string; [detail: string]: unknown }> {
    const p = await this.persistence();
    const refusal = persistenceRefusal(p);
    const details = {
      appendonly: p.appendonly === null ? "unknown" : p.appendonly ? "yes" : "no",
      appendfsync: p.appendfsync ?? "unknown",
      source: p.source,
      ...(p.problem ? { problem: p.problem } : {}),
    };
    if (refusal === null) return { ok: true, ...details };
    if (this.options.allowVolatile)
      return {
        ok: true,
        ...details,
        warning: `XENOPS_ALLOW_VOLATILE_REDIS=1 (development only): ${refusal}`,
      };
    return { ok: false, error: refusal, ...details };
  }
}
