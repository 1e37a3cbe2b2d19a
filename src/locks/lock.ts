/**
 * Redis locks for risky actions: one action per guest, DRBD resource and node at a time, and at most one
 * fence in flight per cluster (`fence:<cluster>`).
 *
 * - All-or-nothing: a lock covers several keys, taken in one Lua script, so two actions needing
 *   overlapping sets can never each hold half (no deadlock, nothing to roll back).
 * - Fencing tokens: every acquisition gets a number from one INCR counter, strictly increasing, stored as
 *   the keys' value. extend/release only touch keys still holding that exact value, and `assertHeld()`
 *   (called before each destructive step) throws lock_lost once the lock expired or another holder took
 *   it, so a worker that stalled past its TTL cannot act on a lock it lost.
 * - Renewal: while held, a timer extends the TTL every ttl/3; a failed extension marks the lock lost.
 * - `retakeExpired`: a holder that stalled past the TTL (a paused worker) may take its expired keys back,
 *   but only when nobody took any of them since: every acquisition records its token per key
 *   (`lockgen:<key>`), and the keys are taken back only while that record is still this lock's token.
 * - Durable (Sentinel): a lock is only handed out, and `assertHeld()` only passes, once a replica has the
 *   keys (WAIT, see `durably`): a lock a failover takes away would let a second holder in. A write no
 *   replica confirmed may or may not be on the new master, so it is sent again, keyed on a nonce of its
 *   own (`lockreq:<nonce>`): the retry finds its first attempt's keys and confirms them, never takes a
 *   second token for the same request.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import type { ActionPlan } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { XenopsError } from "../errors";
import type { Logger } from "../log";
import { durably, durablyRetried } from "../queue/redis";

/** `kind:scope`, e.g. guest:lab/internet, drbd:lab/internet, node:lab/ics1, fence:lab. */
const KEY_PATTERN = /^[a-z][a-z_]*:[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?$/;

export const lockKeys = {
  guest: (cluster: string, guest: string) => `guest:${cluster}/${guest}`,
  drbd: (cluster: string, resource: string) => `drbd:${cluster}/${resource}`,
  node: (cluster: string, node: string) => `node:${cluster}/${node}`,
  /** One fence in flight per cluster. */
  fence: (cluster: string) => `fence:${cluster}`,
};

const stringList = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : typeof v === "string" ? [v] : [];

/**
 * The keys an action must hold: its guest(s) and their DRBD resources, its node, and for a fence the
 * cluster's fence key. Guests' resources come from the cluster config; `params.guests` (evacuate) and
 * `params.resources` add more.
 */
export function lockKeysForPlan(
  plan: Pick<ActionPlan, "action" | "cluster" | "target" | "params">,
  cluster?: ClusterConfig,
): string[] {
  const c = plan.cluster;
  const keys = new Set<string>();
  const guests = [...(plan.target.guest ? [plan.target.guest] : []), ...stringList(plan.params.guests)];
  const resources = [
    ...(plan.target.resource ? [plan.target.resource] : []),
    ...stringList(plan.params.resources),
  ];
  for (const guest of guests) {
    keys.add(lockKeys.guest(c, guest));
    for (const r of cluster?.guests.find((g) => g.name === guest)?.drbd ?? []) keys.add(lockKeys.drbd(c, r));
  }
  for (const r of resources) keys.add(lockKeys.drbd(c, r));
  if (plan.target.node) keys.add(lockKeys.node(c, plan.target.node));
  if (plan.action === "fence") keys.add(lockKeys.fence(c));
  return [...keys].sort();
}

/**
 * KEYS: the n lock keys, their n generation keys, the token counter, then the request's own key. ARGV: 1 owner,
 * 2 ttl ms, 3 generation ttl ms, 4 request key ttl ms. Returns {1, token} or {0, index of the busy key, its value}.
 * The request key remembers the token this request got: sent again (its confirmation was lost in a
 * failover, or the reply with the connection), it confirms the keys it took instead of finding them busy.
 */
const ACQUIRE_SCRIPT = `
local n = (#KEYS - 2) / 2
local request = KEYS[#KEYS]
local prior = redis.call("GET", request)
if prior then
  local value = prior .. "|" .. ARGV[1]
  local held = true
  for i = 1, n do
    if redis.call("GET", KEYS[i]) ~= value then held = false end
  end
  if held then
    for i = 1, n do redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
    return {1, tonumber(prior)}
  end
  -- What this request took expired meanwhile: drop what is left of it, take the keys afresh.
  for i = 1, n do
    if redis.call("GET", KEYS[i]) == value then redis.call("DEL", KEYS[i]) end
  end
end
for i = 1, n do
  local v = redis.call("GET", KEYS[i])
  if v then return {0, i, v} end
end
local token = redis.call("INCR", KEYS[n * 2 + 1])
local value = token .. "|" .. ARGV[1]
for i = 1, n do
  redis.call("SET", KEYS[i], value, "PX", ARGV[2])
  redis.call("SET", KEYS[n + i], token, "PX", ARGV[3])
end
redis.call("SET", request, token, "PX", ARGV[4])
return {1, token}
`;

/**
 * Extends, taking back keys that expired while nobody else took them. KEYS: the n lock keys, their n
 * generation keys. ARGV: 1 value, 2 ttl ms, 3 token. All or none; 1 when all are (again) held.
 */
const RETAKE_SCRIPT = `
local n = #KEYS / 2
for i = 1, n do
  local v = redis.call("GET", KEYS[i])
  if v ~= ARGV[1] and (v or redis.call("GET", KEYS[n + i]) ~= ARGV[3]) then return 0 end
end
for i = 1, n do redis.call("SET", KEYS[i], ARGV[1], "PX", ARGV[2]) end
return 1
`;

/** How long a request's own key is kept: longer than it is ever sent again. */
const REQUEST_TTL_MS = 15 * 60_000;

/** How long a key's generation record is kept: longer than any stall a holder could come back from. */
const GENERATION_TTL_MS = 7 * 24 * 3600_000;

/** KEYS: the lock keys. ARGV: 1 value, 2 ttl ms. Extends all or none; 1 when all still held. */
const EXTEND_SCRIPT = `
for i = 1, #KEYS do
  if redis.call("GET", KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do redis.call("PEXPIRE", KEYS[i], ARGV[2]) end
return 1
`;

/** KEYS: the lock keys. ARGV: 1 value. Deletes the keys still holding value; returns how many. */
const RELEASE_SCRIPT = `
local n = 0
for i = 1, #KEYS do
  if redis.call("GET", KEYS[i]) == ARGV[1] then
    redis.call("DEL", KEYS[i])
    n = n + 1
  end
end
return n
`;

export interface AcquireOptions {
  /** Who holds it (job id, worker): shown to whoever finds the lock busy. */
  owner: string;
  ttlMs: number;
  /** Extend automatically while held (default true). */
  renew?: boolean;
  /** Renewal period (default ttlMs / 3). */
  renewEveryMs?: number;
  /** Called once when the lock is found lost (renewal failed, or the TTL passed without a renewal). */
  onLost?: (lock: Lock) => void;
  /**
   * Expired keys nobody took since are taken back by the next renewal or assertHeld instead of counting
   * as lost (executions: their lease, not the lock TTL, says whether the worker is alive). Default false.
   */
  retakeExpired?: boolean;
}

export interface LockHolder {
  key: string;
  token: number;
  owner: string;
  ttlMs: number;
}

export interface LockManagerOptions {
  /**
   * The caller's client (the composition root's); close() leaves it open. Give the locks a connection of
   * their own: WAIT (see `durably`) holds up the connection it runs on, and a renewal must not queue
   * behind another component's WAIT.
   */
  redis: Redis;
  prefix: string;
  logger?: Logger;
}

function parseValue(value: string): { token: number; owner: string } {
  const bar = value.indexOf("|");
  return { token: Number(value.slice(0, bar)), owner: value.slice(bar + 1) };
}

export class Lock {
  private lostFlag = false;
  /** Local time just before the last successful acquire/extend was sent: the lock surely lives until + ttl. */
  private confirmedAt: number;
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private renewing: Promise<unknown> | null = null;

  constructor(
    private readonly redis: Redis,
    /** Full Redis keys. */
    private readonly redisKeys: readonly string[],
    /** Per key, the record of the token that took it last (see retakeExpired). */
    private readonly generationKeys: readonly string[],
    readonly keys: readonly string[],
    readonly token: number,
    readonly owner: string,
    private readonly value: string,
    private ttlMs: number,
    sentAt: number,
    private readonly options: AcquireOptions,
    private readonly log: Logger | undefined,
    private readonly onDone: (lock: Lock) => void,
  ) {
    this.confirmedAt = sentAt;
    if (options.renew !== false) {
      const every = Math.max(10, options.renewEveryMs ?? Math.floor(ttlMs / 3));
      this.timer = setInterval(() => this.renewTick(), every);
      this.timer.unref();
    }
  }

  /** True once the lock is known lost (locally; assertHeld also asks Redis). */
  get lost(): boolean {
    return this.lostFlag;
  }

  private markLost(why: string): void {
    if (this.lostFlag) return;
    this.lostFlag = true;
    this.stopRenewal();
    this.log?.warn({ keys: this.keys, token: this.token, owner: this.owner, why }, "lock lost");
    try {
      this.options.onLost?.(this);
    } catch (err) {
      this.log?.error({ err }, "lock onLost callback failed");
    }
  }

  private stopRenewal(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private renewTick(): void {
    if (this.renewing || this.lostFlag || this.released) return;
    this.renewing = this.extend()
      .catch((err) => {
        // Redis unreachable: we cannot know, but past the TTL the keys are gone for sure.
        this.log?.warn({ keys: this.keys, err }, "lock renewal failed");
        // With retakeExpired the next check asks Redis whether anyone took the keys meanwhile.
        if (Date.now() - this.confirmedAt >= this.ttlMs && !this.options.retakeExpired)
          this.markLost("not renewed within its TTL");
      })
      .finally(() => {
        this.renewing = null;
      });
  }

  /**
   * Extends the TTL (to `ttlMs`, default the acquire TTL). False, and the lock marked lost, when no longer
   * held. Throws redis_not_durable when no replica confirmed the extension (nothing is concluded then).
   */
  async extend(ttlMs = this.ttlMs): Promise<boolean> {
    if (this.lostFlag || this.released) return false;
    return this.extendOnce(ttlMs, (write) => durably(this.redis, write));
  }

  /** One extension, sent through `send` (durably, or durably retried). */
  private async extendOnce(
    ttlMs: number,
    send: (write: () => Promise<unknown>) => Promise<unknown>,
  ): Promise<boolean> {
    const sentAt = Date.now();
    const ok = await send(() =>
      this.options.retakeExpired
        ? this.redis.eval(
            RETAKE_SCRIPT,
            this.redisKeys.length * 2,
            ...this.redisKeys,
            ...this.generationKeys,
            this.value,
            String(ttlMs),
            String(this.token),
          )
        : this.redis.eval(EXTEND_SCRIPT, this.redisKeys.length, ...this.redisKeys, this.value, String(ttlMs)),
    );
    if (ok !== 1) {
      this.markLost("expired or taken over");
      return false;
    }
    this.ttlMs = ttlMs;
    this.confirmedAt = sentAt;
    return true;
  }

  /**
   * Throws XenopsError("lock_lost") unless every key still holds this lock's token, checked (and extended)
   * in Redis and confirmed by a replica. Call it right before each destructive step.
   */
  async assertHeld(): Promise<void> {
    const lost = (why?: string) =>
      new XenopsError(
        "lock_lost",
        `lost the lock on ${this.keys.join(", ")} (token ${this.token}): ${why ?? "it expired or another action took it"}; stopping before the next step`,
      );
    if (this.released) throw new XenopsError("lock_lost", `the lock on ${this.keys.join(", ")} was released`);
    if (this.lostFlag) throw lost();
    // Atomic check and extension (taking back what expired untouched, with retakeExpired), sent again
    // while no replica confirms it: the script gives the same answer however often it runs.
    let ok: boolean;
    try {
      ok = await this.extendOnce(this.ttlMs, (write) => durablyRetried(this.redis, write));
    } catch (err) {
      throw lost(`it cannot be confirmed in Redis (${err instanceof Error ? err.message : String(err)})`);
    }
    if (!ok) throw lost();
  }

  /** Deletes the keys this lock still holds (never another holder's). True when it held all of them. */
  async release(): Promise<boolean> {
    if (this.released) return false;
    this.released = true;
    this.stopRenewal();
    this.onDone(this);
    await this.renewing;
    // Sent again while Redis cannot confirm it (a failover): a release lost, or refused, would keep the keys
    // busy until their TTL. Deleting only what still holds this lock's value, it may run twice.
    const n = await durablyRetried(this.redis, () =>
      this.redis.eval(RELEASE_SCRIPT, this.redisKeys.length, ...this.redisKeys, this.value),
    );
    return n === this.redisKeys.length && !this.lostFlag;
  }

  /** Stops renewing without releasing (shutdown): the keys expire after their TTL. */
  abandon(): void {
    this.stopRenewal();
  }
}

export class LockManager {
  private readonly redis: Redis;
  private readonly live = new Set<Lock>();
  private closed = false;

  constructor(private readonly options: LockManagerOptions) {
    this.redis = options.redis;
  }

  private redisKey(key: string): string {
    return `${this.options.prefix}:lock:${key}`;
  }

  private generationKey(key: string): string {
    return `${this.options.prefix}:lockgen:${key}`;
  }

  private checkKeys(keys: readonly string[]): string[] {
    const unique = [...new Set(keys)].sort();
    if (unique.length === 0) throw new XenopsError("invalid_argument", "a lock needs at least one key");
    for (const key of unique)
      if (!KEY_PATTERN.test(key))
        throw new XenopsError(
          "invalid_argument",
          `bad lock key "${key.slice(0, 80)}": expected kind:scope such as guest:lab/internet`,
        );
    return unique;
  }

  /** Takes every key or none. Null when any is held (see `holders()` for by whom). */
  async acquire(keys: readonly string[], options: AcquireOptions): Promise<Lock | null> {
    if (this.closed) throw new XenopsError("internal", "the lock manager is closed");
    if (!Number.isInteger(options.ttlMs) || options.ttlMs < 100)
      throw new XenopsError("invalid_argument", `lock ttl must be at least 100 ms, got ${options.ttlMs}`);
    if (options.owner === "" || options.owner.includes("|"))
      throw new XenopsError("invalid_argument", "lock owner must be non-empty and without '|'");
    const sorted = this.checkKeys(keys);
    const redisKeys = sorted.map((k) => this.redisKey(k));
    const generationKeys = sorted.map((k) => this.generationKey(k));
    const requestKey = `${this.options.prefix}:lockreq:${randomBytes(12).toString("hex")}`;
    let sentAt = Date.now();
    // Handed out only once a replica has it; sent again (same request key) while none confirms it.
    const reply = (await durablyRetried(
      this.redis,
      () => {
        sentAt = Date.now();
        return this.redis.eval(
          ACQUIRE_SCRIPT,
          redisKeys.length * 2 + 2,
          ...redisKeys,
          ...generationKeys,
          `${this.options.prefix}:locktoken`,
          requestKey,
          options.owner,
          String(options.ttlMs),
          String(GENERATION_TTL_MS),
          String(REQUEST_TTL_MS),
        );
      },
      (err, attempt) =>
        this.options.logger?.warn(
          { keys: sorted, owner: options.owner, attempt, err },
          "lock not confirmed by a replica: sending again",
        ),
    )) as [number, number, string?];
    if (reply[0] !== 1) {
      this.options.logger?.info(
        { keys: sorted, busy: sorted[reply[1] - 1], holder: reply[2], owner: options.owner },
        "lock busy",
      );
      return null;
    }
    const token = Number(reply[1]);
    const value = `${token}|${options.owner}`;
    const lock = new Lock(
      this.redis,
      redisKeys,
      generationKeys,
      sorted,
      token,
      options.owner,
      value,
      options.ttlMs,
      sentAt,
      options,
      this.options.logger,
      (l) => this.live.delete(l),
    );
    this.live.add(lock);
    return lock;
  }

  /** Who holds each key (null: free), in the order given. */
  async holders(keys: readonly string[]): Promise<(LockHolder | null)[]> {
    const checked = [...keys];
    if (checked.length === 0) return [];
    this.checkKeys(checked);
    const pipeline = this.redis.pipeline();
    for (const key of checked) pipeline.get(this.redisKey(key)).pttl(this.redisKey(key));
    const results = (await pipeline.exec()) ?? [];
    return checked.map((key, i) => {
      const value = results[2 * i]?.[1];
      const ttl = results[2 * i + 1]?.[1];
      if (typeof value !== "string") return null;
      return { key, ...parseValue(value), ttlMs: typeof ttl === "number" ? ttl : -1 };
    });
  }

  /** Stops renewing the locks still held (they expire after their TTL) and closes the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lock of this.live) lock.abandon();
    this.live.clear();
  }
}
