/** Test helpers for the real redis-server started by test/global-setup.ts (or REDIS_URL). */
import { randomBytes } from "node:crypto";
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of the Redis server for this test run. */
    redisUrl: string;
  }
}

/** The Redis server of this test run: REDIS_URL, or the embedded one from the global setup. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL || inject("redisUrl");
  if (!url)
    throw new Error("no Redis for tests: the global setup did not provide one and REDIS_URL is unset");
  return url;
}

/** A BullMQ key prefix no other test uses, so tests can share one server and run in parallel. */
export function uniquePrefix(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_-]+/g, "-").slice(0, 40);
  return `t-${safe}-${randomBytes(4).toString("hex")}`;
}
