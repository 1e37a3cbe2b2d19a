/**
 * The approval engine: stores approval requests in Redis, posts and updates their cards, decides clicks
 * atomically, hands an approved plan to exactly one execution job, and keeps that job's journal.
 *
 * Exactly once, end to end:
 * - Every decision is one Lua script on the record (status, expiry, two-person rule, distinct approvers,
 *   count). Only the click that completes the approvals sees "approved"; concurrent clicks, Slack
 *   redeliveries and several bot processes all go through the same script, so there is one winner.
 * - Only the winner calls `enqueueExecution`, with a delivery id derived from the approval id, so even a
 *   retried enqueue (after a crash between decision and enqueue, see the sweeper) yields the same job id.
 * - The execution job calls `claimExecution` before anything else: a second job, or the same job
 *   delivered again, gets "already_claimed" and must not act.
 *
 * Storage: `<prefix>:approval:<id>` is a hash. Field `request` holds the request's JSON (plan, policy,
 * requester, times: never changed after creation); the decision state lives in separate fields that only
 * the scripts write. (Lua's cjson cannot round-trip our JSON: it turns [] into {} and rounds large
 * numbers, so the scripts never re-encode the request.)
 */
import { createHash, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { AuditEntryInput } from "../audit/schema";
import type { Authorizer } from "../chat/authz";
import type { ActionHandler } from "../chat/router";
import type { MessageRef, Notifier, Reply } from "../chat/types";
import { type ErrorCode, errorMessage, XenopsError } from "../errors";
import type { Logger } from "../log";
import { userMention } from "../message/text";
import { durably, durablyRetried } from "../queue/redis";
import { APPROVAL_ACTION_PREFIX, APPROVE_ACTION_ID, DENY_ACTION_ID, renderApprovalCard } from "./card";
import { dataLossConfirmation, enforcePolicyInvariants } from "./policy";
import type {
  ActionPlan,
  ApprovalPolicy,
  ApprovalRecord,
  ApprovalStatus,
  DecisionResult,
  ExecutionCardStatus,
  ExecutionJournal,
  ExecutionOutcome,
  JournalStep,
  StepStatus,
} from "./types";

export interface ApprovalEngineOptions {
  /**
   * The caller's client (the composition root's); close() leaves it open. A connection of the engine's
   * own: WAIT (see `durably`) holds up the connection it runs on.
   */
  redis: Redis;
  /** Key prefix (one per deployment; unique per test). */
  prefix: string;
  notifier: Notifier;
  authorizer: Pick<Authorizer, "has">;
  logger: Logger;
  /**
   * Clock in ms. Without it every time check uses the Redis server's clock (TIME), so bot processes with
   * skewed clocks still agree on expiry.
   */
  now?: () => number;
  /**
   * Queues the execution job. Must be idempotent on `deliveryId` (JobQueues.enqueue is): the sweeper calls
   * it again for an approval whose enqueue did not complete.
   */
  enqueueExecution: (record: ApprovalRecord, options: { deliveryId: string }) => Promise<{ jobId: string }>;
  /** Audit hook; failures are logged, never fail a decision. */
  audit?: (entry: AuditEntryInput) => Promise<void>;
  /** How often `start()` sweeps expiries and stalled enqueues (default 15 s). */
  sweepIntervalMs?: number;
  /** An approval still without an execution job this long after the decision is enqueued again (default 30 s). */
  enqueueRetryAfterMs?: number;
  /** How long decided requests and execution journals are kept (default 30 days). */
  retentionMs?: number;
  /**
   * Whether Redis keeps what is written (src/queue/persistence.ts): a reason when it does not, and then
   * requesting and approving risky actions are refused.
   */
  durability?: { refusal(): Promise<string | null> };
}

/** What an execution's lease looks like to its holder. */
export interface LeaseGrant {
  approvalId: string;
  owner: string;
  token: number;
}

export type LeaseTakeover =
  | { taken: true; token: number }
  | { taken: false; why: "missing" | "finished" | "changed" | "live"; detail?: string };

export interface RequestOptions {
  requestedBy: string;
  channel: string;
  policy: ApprovalPolicy;
  /** Post the card as a reply in this thread. */
  threadTs?: string;
  /**
   * The request's own key (its planning job): asked again with the same key (the job ran again after
   * its worker died or Redis failed it), the same approval is returned and no second card is posted.
   */
  requestKey?: string;
}

export type Decision = "approve" | "deny";

/** The delivery id of an approval's execution job: the same approval always maps to the same job id. */
export function executionDeliveryId(approvalId: string): string {
  return `approval:${approvalId}`;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const DAY_MS = 24 * 3600_000;

export function approvalKeys(prefix: string) {
  return {
    approval: (id: string) => `${prefix}:approval:${id}`,
    /** ZSET approval id → expiresAtMs, of pending requests (the expiry sweep). */
    pending: `${prefix}:approval:pending`,
    /** ZSET approval id → decidedAtMs, of approved requests whose execution job id is not recorded yet. */
    enqueue: `${prefix}:approval:enqueue`,
    exec: (id: string) => `${prefix}:exec:${id}`,
    /** ZSET approval id → claimedAtMs, of claimed executions not finished. */
    unfinished: `${prefix}:exec:unfinished`,
    /**
     * ZSET approval id → decidedAtMs, of approved requests whose execution has not finished: written with
     * the decision, so an approval that survived a Redis data loss its journal did not is still found.
     */
    executing: `${prefix}:approval:executing`,
  };
}

/** Shared by the scripts: `now` from ARGV, or the server clock when ARGV is "". */
const NOW_LUA = `
local function nowMs(arg)
  if arg ~= "" then return arg end
  local t = redis.call("TIME")
  return t[1] .. string.format("%03d", math.floor(tonumber(t[2]) / 1000))
end
`;

/**
 * The decision. KEYS: 1 approval hash, 2 pending zset, 3 enqueue zset, 4 executing zset.
 * ARGV: 1 id, 2 user, 3 "approve" | "deny", 4 now ms or "".
 * Returns {"missing"} | {"decided", status} | {"expired", now} | {"denied", now} | {"self"} | {"duplicate"}
 *   | {"recorded", now, count} | {"approved", now, count}.
 */
const DECIDE_SCRIPT = `${NOW_LUA}
local h = KEYS[1]
local f = redis.call("HMGET", h, "status", "expiresAtMs", "requestedBy", "needed", "twoPerson", "approvedBy")
if not f[1] then return {"missing"} end
if f[1] ~= "pending" then return {"decided", f[1]} end
local now = nowMs(ARGV[4])
if tonumber(now) >= tonumber(f[2]) then
  redis.call("HSET", h, "status", "expired", "decidedAtMs", now)
  redis.call("HINCRBY", h, "version", 1)
  redis.call("ZREM", KEYS[2], ARGV[1])
  return {"expired", now}
end
local user = ARGV[2]
if ARGV[3] == "deny" then
  redis.call("HSET", h, "status", "denied", "deniedBy", user, "decidedAtMs", now)
  redis.call("HINCRBY", h, "version", 1)
  redis.call("ZREM", KEYS[2], ARGV[1])
  return {"denied", now}
end
if f[5] == "1" and user == f[3] then return {"self"} end
local approvers = cjson.decode(f[6])
for _, a in ipairs(approvers) do
  if a == user then return {"duplicate"} end
end
-- Append without re-encoding the list (cjson would turn an empty array into {}).
local enc = cjson.encode(user)
local list
if #approvers == 0 then list = "[" .. enc .. "]" else list = string.sub(f[6], 1, -2) .. "," .. enc .. "]" end
local count = #approvers + 1
redis.call("HSET", h, "approvedBy", list)
redis.call("HINCRBY", h, "version", 1)
if count >= tonumber(f[4]) then
  redis.call("HSET", h, "status", "approved", "decidedAtMs", now)
  redis.call("ZREM", KEYS[2], ARGV[1])
  redis.call("ZADD", KEYS[3], now, ARGV[1])
  redis.call("ZADD", KEYS[4], now, ARGV[1])
  return {"approved", now, count}
end
return {"recorded", now, count}
`;

/** Expires one pending request if due. KEYS: 1 approval, 2 pending. ARGV: 1 id, 2 now or "". Returns 1 if it expired it. */
const EXPIRE_SCRIPT = `${NOW_LUA}
local f = redis.call("HMGET", KEYS[1], "status", "expiresAtMs")
if f[1] ~= "pending" then
  redis.call("ZREM", KEYS[2], ARGV[1])
  return 0
end
local now = nowMs(ARGV[2])
if tonumber(now) < tonumber(f[2]) then return 0 end
redis.call("HSET", KEYS[1], "status", "expired", "decidedAtMs", now)
redis.call("HINCRBY", KEYS[1], "version", 1)
redis.call("ZREM", KEYS[2], ARGV[1])
return 1
`;

/** Records the execution job id once. KEYS: 1 approval, 2 enqueue. ARGV: 1 id, 2 job id. Returns the recorded id or false. */
const SET_JOB_SCRIPT = `
local f = redis.call("HMGET", KEYS[1], "status", "executionJobId")
if f[2] then
  redis.call("ZREM", KEYS[2], ARGV[1])
  return f[2]
end
if f[1] ~= "approved" then return false end
redis.call("HSET", KEYS[1], "executionJobId", ARGV[2])
redis.call("HINCRBY", KEYS[1], "version", 1)
redis.call("ZREM", KEYS[2], ARGV[1])
return ARGV[2]
`;

/**
 * The execution claim. KEYS: 1 approval, 2 exec journal, 3 unfinished zset, 4 enqueue zset.
 * ARGV: 1 id, 2 job id, 3 now or "", 4 journal ttl ms, 5 lease owner, 6 lease ttl ms.
 * Returns {"claimed"} | {"already", jobId} | {"other_job", jobId} | {"missing"} | {"not_approved", status}
 *   | {"lost", claimedAtMs}: claimed before, but the journal is gone (Redis lost data): never run again.
 * The lease starts with fencing token 1. The lease owner is unique per claim: the same claim sent again
 * (no replica confirmed it, or its reply was lost) finds its own lease untouched and is "claimed" again.
 */
const CLAIM_SCRIPT = `${NOW_LUA}
local f = redis.call("HMGET", KEYS[1], "status", "executionJobId", "executionClaimedAtMs")
if not f[1] then return {"missing"} end
if f[1] ~= "approved" then return {"not_approved", f[1]} end
if redis.call("EXISTS", KEYS[2]) == 1 then
  local j = redis.call("HMGET", KEYS[2], "jobId", "leaseOwner", "leaseToken", "finishedAtMs")
  if j[2] == ARGV[5] and j[3] == "1" and not j[4] then return {"claimed"} end
  return {"already", j[1]}
end
if f[3] then return {"lost", f[3]} end
if f[2] and f[2] ~= ARGV[2] then return {"other_job", f[2]} end
local now = nowMs(ARGV[3])
redis.call("HSET", KEYS[2], "approvalId", ARGV[1], "jobId", ARGV[2], "claimedAtMs", now,
  "leaseOwner", ARGV[5], "leaseToken", "1", "leaseExpiresAtMs", tostring(tonumber(now) + tonumber(ARGV[6])),
  "cardStatus", "running")
redis.call("PEXPIRE", KEYS[2], ARGV[4])
redis.call("ZADD", KEYS[3], now, ARGV[1])
-- On the approval too: a claim whose journal is lost later is still known to have happened.
redis.call("HSET", KEYS[1], "executionClaimedAtMs", now)
if not f[2] then
  -- The job claimed before the enqueuer recorded its id (or the enqueuer died): record it now.
  redis.call("HSET", KEYS[1], "executionJobId", ARGV[2])
  redis.call("HINCRBY", KEYS[1], "version", 1)
  redis.call("ZREM", KEYS[4], ARGV[1])
end
return {"claimed"}
`;

/**
 * A journal write. KEYS: 1 exec journal. ARGV: 1 field, 2 value, 3 ttl ms, 4 fencing token or "" (no check).
 * Returns "ok" | "missing" | "finished" | "lost" (another worker took the lease over).
 */
const JOURNAL_STEP_SCRIPT = `
if redis.call("EXISTS", KEYS[1]) == 0 then return "missing" end
if ARGV[4] ~= "" and redis.call("HGET", KEYS[1], "leaseToken") ~= ARGV[4] then return "lost" end
if redis.call("HEXISTS", KEYS[1], "finishedAtMs") == 1 then return "finished" end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return "ok"
`;

/**
 * KEYS: 1 exec journal, 2 unfinished, 3 executing. ARGV: 1 id, 2 outcome, 3 detail, 4 now or "", 5 ttl ms,
 * 6 fencing token or "" (no check), 7 the card's final status or "".
 * Returns "ok" | "missing" | "finished" | "lost" (the lease was taken over: the taker reports).
 */
const FINISH_SCRIPT = `${NOW_LUA}
if redis.call("EXISTS", KEYS[1]) == 0 then return "missing" end
if ARGV[6] ~= "" and redis.call("HGET", KEYS[1], "leaseToken") ~= ARGV[6] then return "lost" end
if redis.call("HEXISTS", KEYS[1], "finishedAtMs") == 1 then return "finished" end
redis.call("HSET", KEYS[1], "finishedAtMs", nowMs(ARGV[4]), "outcome", ARGV[2], "detail", ARGV[3])
if ARGV[7] ~= "" then redis.call("HSET", KEYS[1], "cardStatus", ARGV[7]) end
redis.call("PEXPIRE", KEYS[1], ARGV[5])
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZREM", KEYS[3], ARGV[1])
return "ok"
`;

/**
 * Renews a lease (even past its expiry: as long as nobody took it over, it is still ours).
 * KEYS: 1 exec journal. ARGV: 1 token, 2 ttl ms, 3 now or "". Returns "ok" | "missing" | "lost".
 */
const LEASE_RENEW_SCRIPT = `${NOW_LUA}
if redis.call("EXISTS", KEYS[1]) == 0 then return "missing" end
if redis.call("HGET", KEYS[1], "leaseToken") ~= ARGV[1] then return "lost" end
redis.call("HSET", KEYS[1], "leaseExpiresAtMs", tostring(tonumber(nowMs(ARGV[3])) + tonumber(ARGV[2])))
return "ok"
`;

/**
 * Takes an expired lease over, bumping the fencing token: the old holder's next check fails.
 * KEYS: 1 exec journal. ARGV: 1 expected token, 2 new owner, 3 ttl ms, 4 now or "".
 * Returns {"taken", token} | {"missing"} | {"finished"} | {"changed", token} | {"live", expiresAtMs}.
 */
const LEASE_TAKEOVER_SCRIPT = `${NOW_LUA}
if redis.call("EXISTS", KEYS[1]) == 0 then return {"missing"} end
if redis.call("HEXISTS", KEYS[1], "finishedAtMs") == 1 then return {"finished"} end
local f = redis.call("HMGET", KEYS[1], "leaseToken", "leaseExpiresAtMs")
local token = f[1] or "0"
if token ~= ARGV[1] then return {"changed", token} end
local now = tonumber(nowMs(ARGV[4]))
if f[2] and tonumber(f[2]) > now then return {"live", f[2]} end
local next = redis.call("HINCRBY", KEYS[1], "leaseToken", 1)
redis.call("HSET", KEYS[1], "leaseOwner", ARGV[2], "leaseExpiresAtMs", tostring(now + tonumber(ARGV[3])))
return {"taken", tostring(next)}
`;

/**
 * The card may show "running" only while no final state is recorded (a final state is never replaced).
 * KEYS: 1 exec journal. ARGV: 1 fencing token or "". Returns "ok" | "missing" | "lost" | "final:<status>".
 */
const CARD_RUNNING_SCRIPT = `
if redis.call("EXISTS", KEYS[1]) == 0 then return "missing" end
local f = redis.call("HMGET", KEYS[1], "cardStatus", "finishedAtMs", "leaseToken")
if f[2] or (f[1] and f[1] ~= "running") then return "final:" .. (f[1] or "finished") end
if ARGV[1] ~= "" and f[3] ~= ARGV[1] then return "lost" end
redis.call("HSET", KEYS[1], "cardStatus", "running")
return "ok"
`;

/**
 * Settles an approved execution whose journal was lost (Redis lost data): writes a finished journal marked
 * uncertain, so the execution can never be claimed (run) again. KEYS: 1 approval, 2 exec journal,
 * 3 executing, 4 unfinished. ARGV: 1 id, 2 now or "", 3 detail, 4 ttl ms. Returns "ok" | "exists" | "missing".
 */
const MARK_ORPHAN_SCRIPT = `${NOW_LUA}
if redis.call("EXISTS", KEYS[2]) == 1 then return "exists" end
local f = redis.call("HMGET", KEYS[1], "status", "executionJobId", "executionClaimedAtMs")
if not f[1] then return "missing" end
local now = nowMs(ARGV[2])
redis.call("HSET", KEYS[2], "approvalId", ARGV[1], "jobId", f[2] or "unknown", "claimedAtMs", f[3] or now,
  "finishedAtMs", now, "outcome", "failed", "detail", ARGV[3], "cardStatus", "uncertain", "orphaned", "1",
  "leaseToken", "0", "leaseOwner", "sweeper", "leaseExpiresAtMs", "0")
redis.call("PEXPIRE", KEYS[2], ARGV[4])
redis.call("ZREM", KEYS[3], ARGV[1])
redis.call("ZREM", KEYS[4], ARGV[1])
return "ok"
`;

/** The immutable part of a record, stored as JSON in the `request` field. */
type StoredRequest = Pick<
  ApprovalRecord,
  "id" | "plan" | "policy" | "requestedBy" | "channel" | "createdAt" | "expiresAt"
>;

const STATUSES: ReadonlySet<string> = new Set<ApprovalStatus>([
  "pending",
  "approved",
  "denied",
  "expired",
  "superseded",
]);

const iso = (ms: number) => new Date(ms).toISOString();

function parseRecord(h: Record<string, string>): ApprovalRecord | null {
  if (!h.request || !h.status || !STATUSES.has(h.status)) return null;
  const request = JSON.parse(h.request) as StoredRequest;
  return {
    ...request,
    messageTs: h.messageTs || null,
    status: h.status as ApprovalStatus,
    approvedBy: h.approvedBy ? (JSON.parse(h.approvedBy) as string[]) : [],
    deniedBy: h.deniedBy || null,
    decidedAt: h.decidedAtMs ? iso(Number(h.decidedAtMs)) : null,
    executionJobId: h.executionJobId || null,
  };
}

function refusalCode(kind: string): ErrorCode {
  switch (kind) {
    case "missing":
      return "invalid_argument";
    case "role":
    case "self":
      return "forbidden";
    case "expired":
      return "approval_expired";
    default:
      return "approval_refused";
  }
}

export class ApprovalEngine {
  private readonly redis: Redis;
  private readonly keys: ReturnType<typeof approvalKeys>;
  private readonly log: Logger;
  private readonly retentionMs: number;
  private readonly enqueueRetryAfterMs: number;
  /** Card updates and audit writes in flight (not awaited by decide, so a click acks fast). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Per approval: the tail of its card-update chain, so this process sends a card's updates in order. */
  private readonly cardChains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: ApprovalEngineOptions) {
    this.log = options.logger.child({ component: "approval" });
    this.redis = options.redis;
    this.keys = approvalKeys(options.prefix);
    this.retentionMs = options.retentionMs ?? 30 * DAY_MS;
    this.enqueueRetryAfterMs = options.enqueueRetryAfterMs ?? 30_000;
  }

  /** Why risky actions must be refused now (Redis would not keep their journal), or null. */
  async durabilityRefusal(): Promise<string | null> {
    return (await this.options.durability?.refusal()) ?? null;
  }

  /**
   * A write the exactly-once promise depends on, confirmed by the replicas (WAIT, see `durably`): throws
   * redis_not_durable otherwise. `resend` only for writes that give the same result however often they
   * run (idempotent): those are sent again with backoff while Redis cannot confirm them (a failover),
   * see `durablyRetried`.
   */
  private async durable<T>(write: () => Promise<T>, resend: "once" | "resend" = "once"): Promise<T> {
    if (resend === "once") return durably(this.redis, write);
    return durablyRetried(this.redis, write, (err, attempt) =>
      this.log.warn({ err, attempt }, "redis write not confirmed by a replica: sending it again"),
    );
  }

  /** The clock the journal and the leases use (the injected one, else the Redis server's), in ms. */
  async now(): Promise<number> {
    return this.clockMs();
  }

  /** ARGV "now" for the scripts: the injected clock, or "" for the Redis server's. */
  private nowArg(): string {
    return this.options.now ? String(Math.floor(this.options.now())) : "";
  }

  private async clockMs(): Promise<number> {
    if (this.options.now) return Math.floor(this.options.now());
    const [sec, usec] = await this.redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  /** Runs `work` in the background, tracked by `settled()`; errors are logged. */
  private background(work: Promise<unknown>, what: string): void {
    const tracked = work.catch((err) => this.log.error({ err }, `${what} failed`));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private auditLater(entry: AuditEntryInput): void {
    const audit = this.options.audit;
    // Through a promise even if the hook throws synchronously: an audit failure never fails a decision.
    if (audit)
      this.background(
        Promise.resolve().then(() => audit(entry)),
        "audit write",
      );
  }

  /** Resolves once the card updates and audit writes started so far are done. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async get(id: string): Promise<ApprovalRecord | null> {
    if (!ID_PATTERN.test(id)) return null;
    return parseRecord(await this.redis.hgetall(this.keys.approval(id)));
  }

  /**
   * Stores a request and posts its card. Throws XenopsError("forbidden") when the requester lacks the
   * policy's request role. `messageTs` stays null when the card could not be posted (nobody can click
   * it then; it expires).
   */
  async request(plan: ActionPlan, opts: RequestOptions): Promise<ApprovalRecord> {
    const policy = enforcePolicyInvariants(plan.action, opts.policy);
    const volatile = await this.durabilityRefusal();
    if (volatile) throw new XenopsError("approval_refused", volatile);
    // A data-losing plan is approved only by typing what it loses (NODE/RESOURCE), whoever built the policy.
    const confirmation = dataLossConfirmation(plan.action, plan);
    if (confirmation !== undefined && policy.typedConfirmation !== confirmation)
      throw new XenopsError(
        "invalid_argument",
        `${plan.action === "fence" ? "a fence of the last UpToDate copy" : "split-brain recovery"} needs the typed confirmation ${confirmation}`,
      );
    // An attestation lets a node's guests start elsewhere: the approver types the node's name, too.
    if (plan.action === "attest_off") {
      const node = plan.params.node ?? plan.target.node;
      if (typeof node !== "string" || node === "" || policy.typedConfirmation !== node)
        throw new XenopsError(
          "invalid_argument",
          `an attestation that a node is off needs the typed confirmation ${String(node ?? "(no node)")}`,
        );
    }
    if (!(await this.options.authorizer.has(opts.requestedBy, policy.requestRole)))
      throw new XenopsError("forbidden", `requesting ${plan.action} needs the ${policy.requestRole} role`);
    const id = opts.requestKey
      ? createHash("sha256")
          .update(`${this.options.prefix}\0${opts.requestKey}`)
          .digest("base64url")
          .slice(0, 16)
      : randomBytes(12).toString("base64url");
    const already = opts.requestKey ? parseRecord(await this.redis.hgetall(this.keys.approval(id))) : null;
    if (already?.messageTs) return already;
    if (already) return this.postRequestCard(already, plan, policy, opts);
    const createdMs = await this.clockMs();
    const expiresMs = createdMs + policy.expiresInMs;
    const request: StoredRequest = {
      id,
      plan,
      policy,
      requestedBy: opts.requestedBy,
      channel: opts.channel,
      createdAt: iso(createdMs),
      expiresAt: iso(expiresMs),
    };
    const key = this.keys.approval(id);
    // Durable before the card is posted: no card may exist for a record a failover could take away. The
    // write is idempotent (same fields, nobody can act on the id before the card exists): sent again, it
    // rides out a failover rather than failing the request.
    const stored = await this.durable(
      () =>
        this.redis
          .multi()
          .hset(key, {
            request: JSON.stringify(request),
            status: "pending",
            expiresAtMs: String(expiresMs),
            requestedBy: opts.requestedBy,
            needed: String(policy.approvals),
            twoPerson: policy.twoPerson ? "1" : "0",
            approvedBy: "[]",
            version: "0",
          })
          .pexpire(key, policy.expiresInMs + this.retentionMs)
          .zadd(this.keys.pending, expiresMs, id)
          .exec(),
      "resend",
    );
    // MULTI reports per-command errors in its result instead of throwing them.
    const failed = stored?.find(([err]) => err)?.[0];
    if (!stored || failed)
      throw new XenopsError(
        "internal",
        `could not store approval ${id}: ${failed?.message ?? "transaction aborted"}`,
      );
    const record = parseRecord(await this.redis.hgetall(key));
    if (!record) throw new XenopsError("internal", `approval ${id} vanished right after it was stored`);
    return this.postRequestCard(record, plan, policy, opts);
  }

  /** Posts a stored request's card, keeps its message ts, logs and audits the request. */
  private async postRequestCard(
    stored: ApprovalRecord,
    plan: ActionPlan,
    policy: ApprovalPolicy,
    opts: RequestOptions,
  ): Promise<ApprovalRecord> {
    let record = stored;
    const id = record.id;
    const key = this.keys.approval(id);
    const card = renderApprovalCard(record);
    const ref = await this.options.notifier.post(
      opts.channel,
      opts.threadTs ? { ...card, threadTs: opts.threadTs } : card,
    );
    if (ref) {
      // Without messageTs the card is never updated again: keep it durably (idempotent, so retried).
      await this.durable(() => this.redis.hset(key, "messageTs", ref.ts), "resend");
      record = { ...record, messageTs: ref.ts };
      // Clicks need the card, but a sweep (very short expiry) could have decided it before messageTs was stored.
      if ((await this.redis.hget(key, "status")) !== "pending") this.scheduleCardUpdate(id);
    } else this.log.warn({ approvalId: id, channel: opts.channel }, "approval card could not be posted");
    this.log.info(
      { approvalId: id, action: plan.action, cluster: plan.cluster, requestedBy: opts.requestedBy },
      "approval requested",
    );
    this.auditLater({
      kind: "approval_requested",
      actor: opts.requestedBy,
      cluster: plan.cluster,
      parameters: { approvalId: id, action: plan.action, target: plan.target, params: plan.params, policy },
      plan: plan.steps.map((s) => ({ node: s.node, argv: s.argv })),
      stateHash: plan.stateHash,
      outcome: "pending",
    });
    return record;
  }

  /**
   * One click. Authorization and typed confirmation are checked first (both depend only on the user and the
   * immutable policy); the decision itself is one Lua script. Never throws for a user's mistake: those are
   * "refused" with a reason.
   */
  async decide(
    id: string,
    userId: string,
    decision: Decision,
    opts: { typed?: string } = {},
  ): Promise<DecisionResult> {
    const no = (rec: ApprovalRecord | null, kind: string, reason: string) =>
      this.refuse(rec, userId, decision, kind, reason);
    const record = await this.get(id);
    if (!record) return no(null, "missing", "This approval request does not exist (any more).");
    const { policy } = record;
    // The requester hears about the two-person rule first: it holds whatever roles they have.
    if (decision === "approve" && policy.twoPerson && userId === record.requestedBy)
      return no(
        record,
        "self",
        "You requested this action, so you cannot approve it: the two-person rule needs someone else.",
      );

    const mayDecide =
      decision === "approve"
        ? await this.options.authorizer.has(userId, policy.approveRole)
        : userId === record.requestedBy || (await this.options.authorizer.has(userId, policy.approveRole));
    if (!mayDecide)
      return no(
        record,
        "role",
        `${decision === "approve" ? "Approving" : "Denying"} this needs the ${policy.approveRole} role, which you do not have.`,
      );
    if (decision === "approve" && policy.typedConfirmation !== undefined) {
      const typed = opts.typed?.trim();
      if (typed === undefined || typed === "")
        return no(
          record,
          "typed",
          `This action needs a typed confirmation: type \`/xen approve ${id} ${policy.typedConfirmation}\`.`,
        );
      if (typed !== policy.typedConfirmation)
        return no(
          record,
          "typed",
          `The confirmation "${typed.slice(0, 64)}" does not match: type exactly \`/xen approve ${id} ${policy.typedConfirmation}\`.`,
        );
    }

    if (decision === "approve") {
      const volatile = await this.durabilityRefusal();
      if (volatile) return no(record, "volatile", volatile);
    }
    const reply = await this.decideDurably(id, userId, decision);
    const [kind] = reply;
    const current = async () => (await this.get(id)) ?? record;
    switch (kind) {
      case "missing":
        return no(null, "missing", "This approval request does not exist (any more).");
      case "expired": {
        // This click found it due and expired it (lazy expiry): the same card update as the sweep's.
        const now = await current();
        this.onExpired(now);
        return no(now, "expired", this.expiredReason(now));
      }
      case "decided": {
        const now = await current();
        if (now.status === "expired") return no(now, "expired", this.expiredReason(now));
        const by =
          now.status === "denied" && now.deniedBy
            ? ` by ${userMention(now.deniedBy)}`
            : now.status === "approved"
              ? ` by ${now.approvedBy.map(userMention).join(", ")}`
              : "";
        return no(now, "decided", `This request was already ${now.status}${by}.`);
      }
      case "self":
        return no(
          record,
          "self",
          "You requested this action, so you cannot approve it: the two-person rule needs someone else.",
        );
      case "duplicate":
        return no(record, "duplicate", "You already approved this request; it needs a different approver.");
      case "denied": {
        const now = await current();
        this.log.info({ approvalId: id, user: userId }, "approval denied");
        this.scheduleCardUpdate(id);
        this.auditDecision(now, userId, "denied");
        return { outcome: "denied", record: now };
      }
      case "recorded": {
        const now = await current();
        const missing = policy.approvals - Number(reply[2] ?? 0);
        this.log.info(
          { approvalId: id, user: userId, approvals: reply[2], needed: policy.approvals },
          "approval recorded",
        );
        this.scheduleCardUpdate(id);
        this.auditDecision(now, userId, "pending");
        return {
          outcome: "recorded",
          reason: `Your approval is recorded; ${missing} more approval${missing === 1 ? " is" : "s are"} needed from someone else.`,
          record: now,
        };
      }
      case "approved":
        return this.onApproved(id, userId);
      default:
        throw new XenopsError("internal", `unexpected decision script reply ${JSON.stringify(reply)}`);
    }
  }

  /**
   * The decision script, durably. When a replica did not confirm it, or the connection dropped before its
   * reply, it is run again with backoff (a failover may have taken it away, or not), for as long as the
   * client's retry budget allows (clicks are acknowledged to Slack before this runs): a retry that finds
   * this very click's decision already there answers as the first run would have, so the click is neither
   * lost nor refused, and its winner still enqueues.
   */
  private async decideDurably(
    id: string,
    userId: string,
    decision: Decision,
  ): Promise<[string, string?, number?]> {
    let resent = false;
    const reply = (await durablyRetried(
      this.redis,
      () =>
        this.redis.eval(
          DECIDE_SCRIPT,
          4,
          this.keys.approval(id),
          this.keys.pending,
          this.keys.enqueue,
          this.keys.executing,
          id,
          userId,
          decision,
          this.nowArg(),
        ),
      (err, attempt) => {
        resent = true;
        this.log.warn(
          { approvalId: id, err, attempt },
          "decision not confirmed by a replica: running it again",
        );
      },
    )) as [string, string?, number?];
    if (!resent) return reply;
    const now = await this.get(id);
    if (reply[0] === "duplicate" && now?.status === "pending") return ["recorded", "", now.approvedBy.length];
    if (reply[0] === "decided" && now) {
      if (decision === "approve" && now.status === "approved" && now.approvedBy.at(-1) === userId)
        return ["approved", "", now.approvedBy.length];
      if (decision === "deny" && now.status === "denied" && now.deniedBy === userId) return ["denied", ""];
    }
    return reply;
  }

  private expiredReason(record: ApprovalRecord): string {
    return `This request expired at ${record.expiresAt}; nothing will run. Request it again if it is still needed.`;
  }

  private refuse(
    record: ApprovalRecord | null,
    userId: string,
    decision: Decision,
    kind: string,
    reason: string,
  ): DecisionResult {
    const code = refusalCode(kind);
    this.log.info(
      { approvalId: record?.id, user: userId, decision, refusal: kind },
      "approval decision refused",
    );
    this.auditLater({
      kind: "refusal",
      actor: userId,
      ...(record ? { cluster: record.plan.cluster, stateHash: record.plan.stateHash } : {}),
      parameters: { approvalId: record?.id ?? null, decision, refusal: kind },
      outcome: "refused",
      error: { code, message: reason },
    });
    return { outcome: "refused", reason, code, record };
  }

  private auditDecision(
    record: ApprovalRecord,
    actor: string,
    outcome: "approved" | "denied" | "pending" | "expired",
  ): void {
    this.auditLater({
      kind: "approval_decision",
      actor,
      cluster: record.plan.cluster,
      parameters: {
        approvalId: record.id,
        action: record.plan.action,
        approvedBy: record.approvedBy,
        deniedBy: record.deniedBy,
        approvals: record.approvedBy.length,
        needed: record.policy.approvals,
      },
      stateHash: record.plan.stateHash,
      outcome,
      ...(record.executionJobId ? { jobId: record.executionJobId } : {}),
    });
  }

  private onExpired(record: ApprovalRecord): void {
    this.log.info({ approvalId: record.id }, "approval expired");
    this.scheduleCardUpdate(record.id);
    this.auditDecision(record, "system", "expired");
  }

  /** Only the winner of the decision script gets here: enqueue, record the job id, update the card. */
  private async onApproved(id: string, userId: string): Promise<DecisionResult> {
    let record = await this.get(id);
    if (!record) throw new XenopsError("internal", `approval ${id} vanished right after it was approved`);
    this.log.info({ approvalId: id, user: userId, approvedBy: record.approvedBy }, "approval complete");
    let reason: string | undefined;
    try {
      record = await this.enqueue(record);
    } catch (err) {
      // The decision stands; the sweeper enqueues again (same delivery id, so never twice).
      this.log.error({ approvalId: id, err }, "could not queue the approved execution");
      reason = `Approved, but queuing the execution failed (${errorMessage(err)}); it will be retried.`;
    }
    this.scheduleCardUpdate(id);
    this.auditDecision(record, userId, "approved");
    return reason === undefined ? { outcome: "approved", record } : { outcome: "approved", reason, record };
  }

  private async enqueue(record: ApprovalRecord): Promise<ApprovalRecord> {
    const { jobId } = await this.options.enqueueExecution(record, {
      deliveryId: executionDeliveryId(record.id),
    });
    const recorded = (await this.durable(
      () =>
        this.redis.eval(
          SET_JOB_SCRIPT,
          2,
          this.keys.approval(record.id),
          this.keys.enqueue,
          record.id,
          jobId,
        ),
      "resend",
    )) as string | null;
    if (recorded !== null && recorded !== jobId)
      this.log.warn(
        { approvalId: record.id, jobId, recorded },
        "execution job id differs from the one recorded first",
      );
    this.log.info({ approvalId: record.id, jobId: recorded ?? jobId }, "execution queued");
    return (await this.get(record.id)) ?? { ...record, executionJobId: recorded ?? jobId };
  }

  private scheduleCardUpdate(id: string): void {
    const previous = this.cardChains.get(id) ?? Promise.resolve();
    const next = previous.then(() => this.refreshCard(id));
    const tail = next.catch(() => {});
    this.cardChains.set(id, tail);
    void tail.finally(() => {
      if (this.cardChains.get(id) === tail) this.cardChains.delete(id);
    });
    this.background(next, "approval card update");
  }

  /**
   * Renders the card from the latest stored state. If the record changed while the update was in flight
   * (another process decided meanwhile), renders again, so the last update sent shows the final state.
   */
  private async refreshCard(id: string): Promise<void> {
    const key = this.keys.approval(id);
    for (let attempt = 0; attempt < 5; attempt++) {
      const h = await this.redis.hgetall(key);
      const record = parseRecord(h);
      if (!record?.messageTs) return;
      // Once its execution claimed the message, the execution card owns it (and its final state).
      if ((await this.redis.hexists(this.keys.exec(id), "cardStatus")) === 1) return;
      const ref: MessageRef = { channel: record.channel, ts: record.messageTs };
      await this.options.notifier.update(ref, renderApprovalCard(record));
      if ((await this.redis.hget(key, "version")) === (h.version ?? null)) return;
    }
  }

  /** Expires every pending request past its expiry and updates their cards. Returns the expired ids. */
  async expireDue(): Promise<string[]> {
    const now = await this.clockMs();
    const due = await this.redis.zrangebyscore(this.keys.pending, "-inf", now, "LIMIT", 0, 500);
    const expired: string[] = [];
    for (const id of due) {
      const changed = await this.redis.eval(
        EXPIRE_SCRIPT,
        2,
        this.keys.approval(id),
        this.keys.pending,
        id,
        String(now),
      );
      if (changed !== 1) continue;
      expired.push(id);
      const record = await this.get(id);
      if (record) this.onExpired(record);
    }
    return expired;
  }

  /**
   * Enqueues again the approved requests whose winner did not record an execution job (crashed or Redis
   * failed between decision and enqueue). The delivery id makes that enqueue return the same job.
   */
  async retryStalledEnqueues(): Promise<string[]> {
    const now = await this.clockMs();
    const stalled = await this.redis.zrangebyscore(
      this.keys.enqueue,
      "-inf",
      now - this.enqueueRetryAfterMs,
      "LIMIT",
      0,
      100,
    );
    const done: string[] = [];
    for (const id of stalled) {
      const record = await this.get(id);
      if (record?.status !== "approved" || record.executionJobId) {
        await this.redis.zrem(this.keys.enqueue, id);
        continue;
      }
      try {
        await this.enqueue(record);
        done.push(id);
        this.scheduleCardUpdate(id);
      } catch (err) {
        this.log.error({ approvalId: id, err }, "retrying the execution enqueue failed");
      }
    }
    return done;
  }

  /** Starts the periodic sweep (expiry, stalled enqueues). Idempotent. */
  start(): void {
    if (this.timer || this.closed) return;
    const sweep = () => {
      if (this.sweeping) return;
      this.sweeping = (async () => {
        try {
          await this.expireDue();
          await this.retryStalledEnqueues();
        } catch (err) {
          this.log.warn({ err }, "approval sweep failed");
        } finally {
          this.sweeping = null;
        }
      })();
    };
    this.timer = setInterval(sweep, this.options.sweepIntervalMs ?? 15_000);
    this.timer.unref();
    sweep();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
    await this.settled();
  }

  // --- execution: claim and journal ---

  /**
   * The execution job's first call. "already_claimed": another run (a duplicate job, or this job delivered
   * again) owns the execution; do not act, look at `journal(id)` instead. Throws approval_denied when the
   * request is not approved, invalid_argument when it does not exist.
   */
  async claimExecution(
    id: string,
    jobId: string,
    lease: { owner?: string; ttlMs?: number } = {},
  ): Promise<"claimed" | "already_claimed"> {
    if (!ID_PATTERN.test(id))
      throw new XenopsError("invalid_argument", `not an approval id: "${id.slice(0, 80)}"`);
    // Unique per claim, so that the claim may be sent again (see CLAIM_SCRIPT): nothing has run yet, and a
    // claim no replica confirmed may or may not be on the master after a failover.
    const owner = lease.owner ?? `${jobId}#${randomBytes(6).toString("hex")}`;
    const reply = (await this.durable(
      () =>
        this.redis.eval(
          CLAIM_SCRIPT,
          4,
          this.keys.approval(id),
          this.keys.exec(id),
          this.keys.unfinished,
          this.keys.enqueue,
          id,
          jobId,
          this.nowArg(),
          String(this.retentionMs),
          owner,
          String(lease.ttlMs ?? 60_000),
        ),
      "resend",
    )) as [string, string?];
    switch (reply[0]) {
      case "claimed":
        this.log.info({ approvalId: id, jobId }, "execution claimed");
        return "claimed";
      case "lost":
        // Claimed once already, and its journal is gone: running it again could run a step twice.
        this.log.error(
          { approvalId: id, jobId, claimedAtMs: reply[1] },
          "execution journal lost after its claim: not running it again",
        );
        return "already_claimed";
      case "already":
      case "other_job":
        this.log.warn({ approvalId: id, jobId, owner: reply[1] }, "execution already claimed");
        return "already_claimed";
      case "missing":
        throw new XenopsError("invalid_argument", `approval ${id} does not exist`);
      case "not_approved":
        throw new XenopsError(
          "approval_denied",
          `approval ${id} is ${reply[1]}, not approved: nothing may run`,
        );
      default:
        throw new XenopsError("internal", `unexpected claim script reply ${JSON.stringify(reply)}`);
    }
  }

  private async writeStep(
    id: string,
    index: number,
    status: StepStatus,
    details?: Record<string, unknown>,
    lease?: LeaseGrant,
  ) {
    if (!Number.isInteger(index) || index < 0)
      throw new XenopsError("invalid_argument", `bad step index ${index}`);
    const step: JournalStep = {
      index,
      status,
      at: iso(await this.clockMs()),
      ...(details ? { details } : {}),
    };
    // The same step record however often it is written: sent again while no replica confirms it.
    const result = await this.durable(
      () =>
        this.redis.eval(
          JOURNAL_STEP_SCRIPT,
          1,
          this.keys.exec(id),
          `step:${index}`,
          JSON.stringify(step),
          String(this.retentionMs),
          lease ? String(lease.token) : "",
        ),
      "resend",
    );
    if (result === "missing") {
      const h = await this.redis.hmget(this.keys.approval(id), "status", "executionClaimedAtMs");
      if (h[0] && !h[1]) throw new XenopsError("invalid_argument", `execution ${id} was never claimed`);
      // Claimed once (or even the approval is gone): Redis lost data under a running execution.
      throw new XenopsError(
        "lock_lost",
        `the journal of execution ${id} is gone from Redis (Redis lost its data?): stopping`,
      );
    }
    if (result === "lost")
      throw new XenopsError(
        "lock_lost",
        `execution ${id} was taken over by another worker (fencing token ${lease?.token ?? "?"} is stale): stopping`,
      );
    if (result === "finished") throw new XenopsError("state_changed", `execution ${id} is already finished`);
  }

  /**
   * Call right before running step `index` (0-based, plan order). With the lease, the fencing token is
   * checked in the same script: a worker whose execution was taken over gets lock_lost and must not act.
   */
  stepStarted(id: string, index: number, lease?: LeaseGrant): Promise<void> {
    return this.writeStep(id, index, "started", undefined, lease);
  }

  stepDone(id: string, index: number, details?: Record<string, unknown>, lease?: LeaseGrant): Promise<void> {
    return this.writeStep(id, index, "done", details, lease);
  }

  stepFailed(
    id: string,
    index: number,
    details?: Record<string, unknown>,
    lease?: LeaseGrant,
  ): Promise<void> {
    return this.writeStep(id, index, "failed", details, lease);
  }

  /**
   * Marks the execution finished. False when it already was (the first outcome stands), or when `lease`
   * is given and was taken over (the new holder reports). `cardStatus` is the card's final state.
   */
  async finish(
    id: string,
    outcome: ExecutionOutcome,
    detail = "",
    opts: { lease?: LeaseGrant; cardStatus?: ExecutionCardStatus } = {},
  ): Promise<boolean> {
    const result = await this.settle(id, outcome, detail, opts);
    if (result === "missing") throw new XenopsError("invalid_argument", `execution ${id} was never claimed`);
    return result === "ok";
  }

  /**
   * finish(), saying why not: "finished" (another outcome stands), "lost" (the lease was taken over: the
   * new holder reports), "missing" (no journal: never claimed, or Redis lost it).
   */
  async settle(
    id: string,
    outcome: ExecutionOutcome,
    detail = "",
    opts: { lease?: LeaseGrant; cardStatus?: ExecutionCardStatus } = {},
  ): Promise<"ok" | "finished" | "lost" | "missing"> {
    // Sent again while no replica confirms it. A resend that finds the execution finished under the same
    // fencing token with this very outcome finds its own first attempt ("ok"), not another outcome.
    let resent = false;
    let result = await durablyRetried(
      this.redis,
      () =>
        this.redis.eval(
          FINISH_SCRIPT,
          3,
          this.keys.exec(id),
          this.keys.unfinished,
          this.keys.executing,
          id,
          outcome,
          detail,
          this.nowArg(),
          String(this.retentionMs),
          opts.lease ? String(opts.lease.token) : "",
          opts.cardStatus ?? "",
        ),
      (err, attempt) => {
        resent = true;
        this.log.warn(
          { approvalId: id, err, attempt },
          "execution finish not confirmed by a replica: sending it again",
        );
      },
    );
    if (result === "finished" && resent) {
      const h = await this.redis.hmget(this.keys.exec(id), "outcome", "detail", "cardStatus");
      if (h[0] === outcome && (h[1] ?? "") === detail && (!opts.cardStatus || h[2] === opts.cardStatus))
        result = "ok";
    }
    if (result === "ok") this.log.info({ approvalId: id, outcome }, "execution finished");
    if (result === "lost")
      this.log.warn({ approvalId: id, outcome }, "execution not finished: its lease was taken over");
    return result as "ok" | "finished" | "lost" | "missing";
  }

  /**
   * This engine as seen by the holder of `lease`: its journal writes, its finish and its card's "running"
   * check carry the fencing token, so each fails once the execution was taken over. Everything else is
   * the engine itself (the view's prototype).
   */
  fenced(lease: LeaseGrant): ApprovalEngine {
    const view = Object.create(this) as ApprovalEngine;
    Object.assign(view, {
      stepStarted: (id: string, index: number) => this.stepStarted(id, index, lease),
      stepDone: (id: string, index: number, details?: Record<string, unknown>) =>
        this.stepDone(id, index, details, lease),
      stepFailed: (id: string, index: number, details?: Record<string, unknown>) =>
        this.stepFailed(id, index, details, lease),
      settle: (
        id: string,
        outcome: ExecutionOutcome,
        detail?: string,
        opts: { cardStatus?: ExecutionCardStatus } = {},
      ) => this.settle(id, outcome, detail, { ...opts, lease }),
      cardMayShowRunning: (id: string) => this.cardMayShowRunning(id, lease),
    });
    return view;
  }

  // --- execution leases ---

  /**
   * Renews (and so checks) a lease, atomically: "ok" while the token is still the current one (even past
   * the expiry: nobody took it over), "lost" once another worker took it over, "missing" when the journal
   * is gone (Redis lost its data).
   */
  async renewLease(lease: LeaseGrant, ttlMs: number): Promise<"ok" | "lost" | "missing"> {
    return (await this.durable(() =>
      this.redis.eval(
        LEASE_RENEW_SCRIPT,
        1,
        this.keys.exec(lease.approvalId),
        String(lease.token),
        String(ttlMs),
        this.nowArg(),
      ),
    )) as "ok" | "lost" | "missing";
  }

  /** Takes over the lease of an unfinished execution if it is still `expectedToken`'s and has expired. */
  async takeOverLease(
    id: string,
    expectedToken: number,
    owner: string,
    ttlMs: number,
  ): Promise<LeaseTakeover> {
    const reply = (await this.durable(() =>
      this.redis.eval(
        LEASE_TAKEOVER_SCRIPT,
        1,
        this.keys.exec(id),
        String(expectedToken),
        owner,
        String(ttlMs),
        this.nowArg(),
      ),
    )) as [string, string?];
    if (reply[0] === "taken") {
      this.log.warn({ approvalId: id, owner, token: Number(reply[1]) }, "execution lease taken over");
      return { taken: true, token: Number(reply[1]) };
    }
    return {
      taken: false,
      why: reply[0] as "missing" | "finished" | "changed" | "live",
      ...(reply[1] ? { detail: reply[1] } : {}),
    };
  }

  /**
   * Before showing "running" on the execution card: true only while no final state is recorded (and the
   * lease, when given, is still held). A final state is never replaced; a lost journal allows it (nobody
   * else will update the card).
   */
  async cardMayShowRunning(id: string, lease?: LeaseGrant): Promise<boolean> {
    const result = (await this.durable(
      () => this.redis.eval(CARD_RUNNING_SCRIPT, 1, this.keys.exec(id), lease ? String(lease.token) : ""),
      "resend",
    )) as string;
    return result === "ok" || result === "missing";
  }

  /** Stores the final card (rendered) of a finished execution, for writers that must show it again. */
  async saveFinalCard(id: string, message: string): Promise<void> {
    // Only on an existing journal: a lost one is not brought back as a husk holding just the card.
    await this.durable(
      () =>
        this.redis.eval(
          `if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("HSET", KEYS[1], "finalCard", ARGV[1]) end
return 1`,
          1,
          this.keys.exec(id),
          message,
        ),
      "resend",
    );
  }

  async finalCard(id: string): Promise<string | null> {
    return this.redis.hget(this.keys.exec(id), "finalCard");
  }

  /** A note on the journal from a worker that lost its lease (what it found); never changes the outcome. */
  async addNote(id: string, text: string): Promise<void> {
    const key = this.keys.exec(id);
    if ((await this.redis.exists(key)) === 0) return;
    await this.redis.hset(key, `note:${await this.clockMs()}:${randomBytes(3).toString("hex")}`, text);
  }

  /** Approved executions not known to have finished (the orphan sweep's candidates), oldest first. */
  async executingApprovals(): Promise<string[]> {
    return this.redis.zrange(this.keys.executing, "0", "499");
  }

  /** Whether the execution was ever claimed (recorded on the approval itself), even if its journal is gone. */
  async executionClaimedAt(id: string): Promise<string | null> {
    const ms = await this.redis.hget(this.keys.approval(id), "executionClaimedAtMs");
    return ms ? iso(Number(ms)) : null;
  }

  /** Drops an id from the orphan sweep's index (decided otherwise, or its record is gone). */
  async forgetExecuting(id: string): Promise<void> {
    await this.redis.zrem(this.keys.executing, id);
  }

  /**
   * Settles an approved execution whose journal was lost: a finished journal marked uncertain is written,
   * so it can never be claimed (run) again. False when a journal exists (nothing was lost).
   */
  async markOrphaned(id: string, detail: string): Promise<boolean> {
    const result = await this.durable(() =>
      this.redis.eval(
        MARK_ORPHAN_SCRIPT,
        4,
        this.keys.approval(id),
        this.keys.exec(id),
        this.keys.executing,
        this.keys.unfinished,
        id,
        this.nowArg(),
        detail,
        String(this.retentionMs),
      ),
    );
    if (result === "ok") this.log.error({ approvalId: id }, "execution journal lost: marked uncertain");
    return result === "ok";
  }

  async journal(id: string): Promise<ExecutionJournal | null> {
    if (!ID_PATTERN.test(id)) return null;
    const h = await this.redis.hgetall(this.keys.exec(id));
    if (!h.jobId || !h.claimedAtMs) return null;
    const steps = Object.entries(h)
      .filter(([field]) => field.startsWith("step:"))
      .map(([, value]) => JSON.parse(value) as JournalStep)
      .sort((a, b) => a.index - b.index);
    const finished = h.finishedAtMs
      ? {
          outcome: h.outcome as ExecutionOutcome,
          at: iso(Number(h.finishedAtMs)),
          ...(h.detail ? { detail: h.detail } : {}),
        }
      : null;
    const lease = h.leaseToken
      ? {
          owner: h.leaseOwner ?? "",
          token: Number(h.leaseToken),
          expiresAtMs: Number(h.leaseExpiresAtMs ?? 0),
        }
      : null;
    const notes = Object.entries(h)
      .filter(([field]) => field.startsWith("note:"))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, value]) => value);
    return {
      approvalId: id,
      jobId: h.jobId,
      claimedAt: iso(Number(h.claimedAtMs)),
      steps,
      finished,
      lease,
      notes,
    };
  }

  /** Claimed executions that never finished (their worker died): for crash recovery, oldest first. */
  async unfinishedExecutions(): Promise<ExecutionJournal[]> {
    const ids = await this.redis.zrange(this.keys.unfinished, 0, "-1");
    const out: ExecutionJournal[] = [];
    for (const id of ids) {
      const journal = await this.journal(id);
      if (journal && !journal.finished) out.push(journal);
      // Its journal expired or finished without the index noticing: drop the stale entry.
      else await this.redis.zrem(this.keys.unfinished, id);
    }
    return out;
  }
}

/** Button clicks on approval cards → decide(). Answers only what the clicker alone needs to see. */
export function approvalActionHandler(engine: ApprovalEngine): ActionHandler {
  return {
    prefix: APPROVAL_ACTION_PREFIX,
    async handle(request): Promise<Reply | null> {
      const decision: Decision | null =
        request.actionId === APPROVE_ACTION_ID
          ? "approve"
          : request.actionId === DENY_ACTION_ID
            ? "deny"
            : null;
      if (!decision) return { text: "That approval button is not known to this bot." };
      const result = await engine.decide(request.value, request.userId, decision);
      if (result.outcome === "refused") return { text: `Not recorded: ${result.reason ?? "refused"}` };
      if (result.outcome === "recorded") return { text: result.reason ?? "Your approval is recorded." };
      if (result.outcome === "approved" && result.reason) return { text: result.reason };
      return null;
    },
  };
}
