/**
 * Where a job's card lives, shared by the process that queues a job (it posts the "queued" card) and the
 * worker that runs it (it updates that same message). One Redis hash per job id:
 *
 *   owner   "announcer" | "worker": who posts the message
 *   channel, ts                    the message, once posted
 *   failed  "1" when the announcer's post failed (the worker then posts its own)
 *
 * The announcer claims with HSETNX before posting; a worker that starts first claims it instead and posts
 * its own, so a job never gets two cards unless an announcer is slower than `adoptTimeoutMs`, in which case
 * the late queued card is marked as superseded.
 *
 * On Sentinel the claims and the message refs are confirmed by a replica (WAIT, see `durably`): a ref a
 * failover took away would leave the queued card saying "queued" forever while the worker posts another.
 * The ref writes give the same result however often they run, so they are sent again until confirmed.
 */
import type { Redis } from "ioredis";
import type { MessageRef } from "../chat/types";
import { xenopsKeys } from "../queue/names";
import { durably, durablyRetried } from "../queue/redis";

export type WorkerClaim =
  /** Post a new message (and report it with `setRef`). */
  | { kind: "own" }
  /** Update this message. */
  | { kind: "adopt"; ref: MessageRef }
  /** The queued card is being posted: ask again shortly. */
  | { kind: "pending" };

export interface CardStore {
  /** Announcer: true when it may post the queued card of a job just enqueued. */
  claimForAnnounce(jobId: string): Promise<boolean>;
  /** Announcer: the queued card was posted (ref) or could not be (null). False: a worker took over meanwhile. */
  announced(jobId: string, ref: MessageRef | null): Promise<boolean>;
  /** Worker: whose message to use. */
  claimForWorker(jobId: string): Promise<WorkerClaim>;
  /** Worker: take over after waiting too long for the announcer. */
  takeOver(jobId: string): Promise<void>;
  /** Worker: the message it posted. */
  setRef(jobId: string, ref: MessageRef): Promise<void>;
  /** The card's message, if known (cancel of a queued job updates it). */
  ref(jobId: string): Promise<MessageRef | null>;
  /** The human number of a job, if known. */
  jobNumber(jobId: string): Promise<number | null>;
}

const TTL_SECONDS = 8 * 24 * 3600;

export class RedisCardStore implements CardStore {
  private readonly keys: ReturnType<typeof xenopsKeys>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = xenopsKeys(prefix);
  }

  private key(jobId: string): string {
    return `${this.keys.job(jobId)}:card`;
  }

  async claimForAnnounce(jobId: string): Promise<boolean> {
    const key = this.key(jobId);
    // Not sent again: a claim a failover took away only means the worker posts the card instead.
    const claimed = (await durably(this.redis, () => this.redis.hsetnx(key, "owner", "announcer"))) === 1;
    if (claimed) await this.redis.expire(key, TTL_SECONDS);
    return claimed;
  }

  async announced(jobId: string, ref: MessageRef | null): Promise<boolean> {
    const key = this.key(jobId);
    const owner = await this.redis.hget(key, "owner");
    if (owner !== "announcer") return false;
    await durablyRetried(this.redis, () =>
      ref ? this.redis.hset(key, "channel", ref.channel, "ts", ref.ts) : this.redis.hset(key, "failed", "1"),
    );
    return true;
  }

  async claimForWorker(jobId: string): Promise<WorkerClaim> {
    const key = this.key(jobId);
    // Sent again while unconfirmed: a resend that finds its own first attempt there ends as "own" below.
    if ((await durablyRetried(this.redis, () => this.redis.hsetnx(key, "owner", "worker"))) === 1) {
      await this.redis.expire(key, TTL_SECONDS);
      return { kind: "own" };
    }
    const h = await this.redis.hgetall(key);
    if (h.channel && h.ts) return { kind: "adopt", ref: { channel: h.channel, ts: h.ts } };
    if (h.owner === "announcer" && h.failed !== "1") return { kind: "pending" };
    await this.takeOver(jobId);
    return { kind: "own" };
  }

  async takeOver(jobId: string): Promise<void> {
    await durablyRetried(this.redis, () => this.redis.hset(this.key(jobId), "owner", "worker"));
  }

  async setRef(jobId: string, ref: MessageRef): Promise<void> {
    const key = this.key(jobId);
    await durablyRetried(this.redis, () =>
      this.redis.hset(key, "owner", "worker", "channel", ref.channel, "ts", ref.ts),
    );
    await this.redis.expire(key, TTL_SECONDS);
  }

  async ref(jobId: string): Promise<MessageRef | null> {
    const [channel, ts] = await this.redis.hmget(this.key(jobId), "channel", "ts");
    return channel && ts ? { channel, ts } : null;
  }

  async jobNumber(jobId: string): Promise<number | null> {
    const n = await this.redis.hget(this.keys.job(jobId), "number");
    return n ? Number(n) : null;
  }
}

/** In-process store (tests, single-process tools). */
export class MemoryCardStore implements CardStore {
  private readonly cards = new Map<string, { owner: string; ref: MessageRef | null; failed: boolean }>();
  readonly numbers = new Map<string, number>();

  async claimForAnnounce(jobId: string): Promise<boolean> {
    if (this.cards.has(jobId)) return false;
    this.cards.set(jobId, { owner: "announcer", ref: null, failed: false });
    return true;
  }

  async announced(jobId: string, ref: MessageRef | null): Promise<boolean> {
    const card = this.cards.get(jobId);
    if (card?.owner !== "announcer") return false;
    if (ref) card.ref = ref;
    else card.failed = true;
    return true;
  }

  async claimForWorker(jobId: string): Promise<WorkerClaim> {
    const card = this.cards.get(jobId);
    if (!card) {
      this.cards.set(jobId, { owner: "worker", ref: null, failed: false });
      return { kind: "own" };
    }
    if (card.ref) return { kind: "adopt", ref: card.ref };
    if (card.owner === "announcer" && !card.failed) return { kind: "pending" };
    card.owner = "worker";
    return { kind: "own" };
  }

  async takeOver(jobId: string): Promise<void> {
    const card = this.cards.get(jobId);
    if (card) card.owner = "worker";
  }

  async setRef(jobId: string, ref: MessageRef): Promise<void> {
    this.cards.set(jobId, { owner: "worker", ref, failed: false });
  }

  async ref(jobId: string): Promise<MessageRef | null> {
    return this.cards.get(jobId)?.ref ?? null;
  }

  async jobNumber(jobId: string): Promise<number | null> {
    return this.numbers.get(jobId) ?? null;
  }
}
