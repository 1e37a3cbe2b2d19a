/**
 * Execution leases. The worker running an execution holds its lease (fields of the execution journal in
 * Redis: owner, fencing token, expiry) and renews it on a timer while it is alive. Crash recovery takes
 * an execution over only once the lease has expired AND the running step's own deadline (its timeout
 * from the start time in the journal, plus a grace period) has passed; the takeover bumps the fencing
 * token atomically. The holder checks its token in Redis right before every step, undo and demotion: a
 * paused worker that wakes up after a takeover finds out there and acts no more.
 *
 * Lease and locks differ: the locks keep two actions off the same guest, disk or node; the lease says
 * whether this execution's worker is alive, so a long step (a migration of minutes) is not mistaken
 * for a dead worker.
 */
import type { ApprovalEngine, LeaseGrant } from "../approval/engine";
import type { ExecutionJournal } from "../approval/types";
import { errorMessage, XenopsError } from "../errors";
import type { Logger } from "../log";
import type { OperationStep } from "./types";

export interface LeaseOptions {
  ttlMs: number;
  /** Renewal period (default ttl / 3). */
  renewEveryMs?: number;
  /** How long a check keeps retrying while Redis does not answer before it gives up (default ttl). */
  checkRetryMs?: number;
  logger?: Logger;
}

/**
 * Executions whose lease a running ExecutionLease of THIS process holds: this process's own recovery
 * loop leaves them alone even when Redis was unreachable long enough for the lease to expire (the
 * worker is demonstrably alive: it is us).
 */
const heldHere = new Map<string, number>();

export class ExecutionLease {
  /** Whether this process runs `approvalId` right now (a started, not stopped, lease). */
  static heldHere(approvalId: string): boolean {
    return (heldHere.get(approvalId) ?? 0) > 0;
  }

  private lostReason: string | null = null;
  /** A renewal failed (Redis did not answer): the lease may have been taken over meanwhile. */
  private unconfirmed = false;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<unknown> | null = null;

  constructor(
    private readonly engine: Pick<ApprovalEngine, "renewLease">,
    readonly grant: LeaseGrant,
    private readonly options: LeaseOptions,
  ) {}

  get token(): number {
    return this.grant.token;
  }

  /** Known lost (a check or renewal found another token, or the journal gone). */
  get lost(): boolean {
    return this.lostReason !== null;
  }

  /** Lost, or not confirmed since a renewal failed. */
  get possiblyLost(): boolean {
    return this.lost || this.unconfirmed;
  }

  /** Starts renewing on a timer. */
  start(): this {
    if (this.timer) return this;
    heldHere.set(this.grant.approvalId, (heldHere.get(this.grant.approvalId) ?? 0) + 1);
    const every = Math.max(10, this.options.renewEveryMs ?? Math.floor(this.options.ttlMs / 3));
    this.timer = setInterval(() => {
      if (this.renewing || this.lost) return;
      this.renewing = this.renew()
        .catch((err: unknown) => {
          this.unconfirmed = true;
          this.options.logger?.warn(
            { approvalId: this.grant.approvalId, token: this.grant.token, err },
            "lease renewal failed: the lease may be lost",
          );
        })
        .finally(() => {
          this.renewing = null;
        });
    }, every);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) {
      const n = (heldHere.get(this.grant.approvalId) ?? 1) - 1;
      if (n > 0) heldHere.set(this.grant.approvalId, n);
      else heldHere.delete(this.grant.approvalId);
    }
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private markLost(why: string): void {
    if (this.lostReason !== null) return;
    this.lostReason = why;
    this.stop();
    this.options.logger?.warn(
      { approvalId: this.grant.approvalId, token: this.grant.token, why },
      "execution lease lost",
    );
  }

  private async renew(): Promise<void> {
    const result = await this.engine.renewLease(this.grant, this.options.ttlMs);
    if (result === "ok") this.unconfirmed = false;
    else
      this.markLost(
        result === "missing"
          ? "the execution journal is gone from Redis (Redis lost its data?)"
          : "another worker took this execution over",
      );
  }

  /**
   * Checks the fencing token in Redis (and renews the lease in the same script). Throws lock_lost once
   * the execution was taken over or its journal is gone, or when Redis cannot be asked: acting on an
   * unconfirmed lease is what fencing is there to prevent.
   */
  async assertHeld(): Promise<void> {
    const lostError = () =>
      new XenopsError(
        "lock_lost",
        `the lease of this execution was lost (fencing token ${this.grant.token}): ${this.lostReason}; nothing more is run`,
      );
    if (this.lostReason !== null) throw lostError();
    const deadline = Date.now() + (this.options.checkRetryMs ?? this.options.ttlMs);
    for (;;) {
      try {
        await this.renew();
        break;
      } catch (err) {
        if (Date.now() >= deadline)
          throw new XenopsError(
            "lock_lost",
            `cannot check the lease of this execution (Redis: ${errorMessage(err)}); nothing more is run`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (this.lostReason !== null) throw lostError();
  }
}

/** Why an unfinished execution may (not) be taken over now. */
export type TakeoverVerdict = { ok: true; token: number } | { ok: false; why: string };

/**
 * Whether crash recovery may take `journal`'s execution over at `nowMs`: its lease expired, and no step
 * is still within its own deadline (the step's timeout from its recorded start, plus `graceMs`).
 */
export function takeoverVerdict(
  journal: ExecutionJournal,
  steps: readonly OperationStep[],
  options: { nowMs: number; graceMs: number; defaultStepTimeoutMs: number },
): TakeoverVerdict {
  const token = journal.lease?.token ?? 0;
  if (journal.lease && journal.lease.expiresAtMs > options.nowMs)
    return {
      ok: false,
      why: `its lease (held by ${journal.lease.owner}) is live for ${journal.lease.expiresAtMs - options.nowMs} ms more`,
    };
  for (const s of journal.steps) {
    if (s.status !== "started") continue;
    const timeout = steps[s.index]?.timeoutMs ?? options.defaultStepTimeoutMs;
    const deadline = Date.parse(s.at) + timeout + options.graceMs;
    if (deadline > options.nowMs)
      return {
        ok: false,
        why: `step ${s.index + 1} started at ${s.at} may still run for ${deadline - options.nowMs} ms (its timeout plus grace)`,
      };
  }
  return { ok: true, token };
}
