/**
 * One watch per resource: a second `/xen drbd watch` (or an automatic one) of a resource that is already
 * watched ends at once and points at the running watch, so events cannot pile up watches.
 */
import type { Redis } from "ioredis";

export interface WatchRegistry {
  /** Claims the resource for `jobId`; returns the job id of a running watch that holds it, else null. */
  claim(cluster: string, resource: string, jobId: string, ttlMs: number): Promise<string | null>;
  release(cluster: string, resource: string, jobId: string): Promise<void>;
}

const RELEASE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;

export class RedisWatchRegistry implements WatchRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Whether a holder is still running (a watch whose worker died must not block the resource). */
    private readonly isRunning: (jobId: string) => Promise<boolean>,
  ) {}

  private key(cluster: string, resource: string): string {
    return `${this.prefix}:xenops:watch:${cluster}:${resource}`;
  }

  async claim(cluster: string, resource: string, jobId: string, ttlMs: number): Promise<string | null> {
    const key = this.key(cluster, resource);
    for (let attempt = 0; attempt < 3; attempt++) {
      if ((await this.redis.set(key, jobId, "PX", ttlMs, "NX")) === "OK") return null;
      const holder = await this.redis.get(key);
      if (holder === null) continue;
      if (holder === jobId) {
        await this.redis.pexpire(key, ttlMs);
        return null;
      }
      if (await this.isRunning(holder)) return holder;
      await this.redis.eval(RELEASE, 1, key, holder);
    }
    return null;
  }

  async release(cluster: string, resource: string, jobId: string): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key(cluster, resource), jobId);
  }
}

export class MemoryWatchRegistry implements WatchRegistry {
  private readonly held = new Map<string, string>();

  async claim(cluster: string, resource: string, jobId: string): Promise<string | null> {
    const key = `${cluster}/${resource}`;
    const holder = this.held.get(key);
    if (holder && holder !== jobId) return holder;
    this.held.set(key, jobId);
    return null;
  }

  async release(cluster: string, resource: string, jobId: string): Promise<void> {
    const key = `${cluster}/${resource}`;
    if (this.held.get(key) === jobId) this.held.delete(key);
  }
}
