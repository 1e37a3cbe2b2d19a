/**
 * Redis storage of the event pipeline: the last facts and conditions per cluster (so a restarted bot
 * reports what changed while it was down), incidents, the storm limiter, maintenance windows, and a
 * per-cluster mutex so two processes never post the same change twice.
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { XenopsError } from "../errors";
import type { Facts } from "./facts";
import type { Condition } from "./types";

export function eventKeys(prefix: string) {
  const p = `${prefix}:xenops:ev`;
  return {
    state: (cluster: string) => `${p}:state:${cluster}`,
    lock: (cluster: string) => `${p}:lock:${cluster}`,
    incident: (id: string) => `${p}:inc:${id}`,
    /** SET of incident ids not finished with (open, or resolved but still shown as flapping). */
    active: (cluster: string) => `${p}:active:${cluster}`,
    /** ZSET of post times per channel (storm limiter). */
    posts: (channel: string, what: "new" | "all") => `${p}:posts:${what}:${channel}`,
    storm: (channel: string) => `${p}:storm:${channel}`,
    maintenance: (cluster: string, node: string) => `${p}:maint:${cluster}:${node}`,
    maintenancePrefix: (cluster: string) => `${p}:maint:${cluster}:`,
    /** Webhook replay guard: one key per accepted signature. */
    nonce: (id: string) => `${p}:nonce:${id}`,
    /** Pub/sub: "run the monitor of this cluster now" (webhook, events2 hints). */
    pokeChannel: `${p}:poke`,
  };
}

export type EventKeys = ReturnType<typeof eventKeys>;

export interface StoredState {
  facts: Facts | null;
  conditions: Condition[];
}

const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;
const EXTEND = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`;

/** Keeps per-cluster state 30 days after the last change; a monitor refreshes it every run. */
const STATE_TTL_S = 30 * 24 * 3600;

export class EventStore {
  constructor(
    readonly redis: Redis,
    readonly keys: EventKeys,
  ) {}

  async load(cluster: string): Promise<StoredState> {
    const raw = await this.redis.get(this.keys.state(cluster));
    if (!raw) return { facts: null, conditions: [] };
    try {
      const parsed = JSON.parse(raw) as Partial<StoredState>;
      return { facts: parsed.facts ?? null, conditions: parsed.conditions ?? [] };
    } catch {
      return { facts: null, conditions: [] };
    }
  }

  async save(cluster: string, state: StoredState): Promise<void> {
    await this.redis.set(this.keys.state(cluster), JSON.stringify(state), "EX", STATE_TTL_S);
  }

  /**
   * Runs `fn` holding the cluster's mutex (renewed while it runs). Waits up to `waitMs` for it;
   * throws when another process holds it longer.
   */
  async withClusterLock<T>(cluster: string, fn: () => Promise<T>, waitMs = 60_000): Promise<T> {
    const key = this.keys.lock(cluster);
    const token = randomBytes(8).toString("hex");
    const ttl = 30_000;
    const deadline = Date.now() + waitMs;
    let delay = 10;
    while ((await this.redis.set(key, token, "PX", ttl, "NX")) !== "OK") {
      if (Date.now() > deadline)
        throw new XenopsError("internal", `the event pipeline of ${cluster} is busy elsewhere (lock held)`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
    const renew = setInterval(() => {
      this.redis.eval(EXTEND, 1, key, token, String(ttl)).catch(() => {});
    }, ttl / 3);
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.redis.eval(RELEASE, 1, key, token).catch(() => {});
    }
  }
}
