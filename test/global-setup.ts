/**
 * Starts the services integration tests need, once per test run: a real redis-server on a free loopback
 * port (unless REDIS_URL points at one), handed to tests through `inject("redisUrl")`.
 */
import type { TestProject } from "vitest/node";
import { startEmbeddedRedis } from "../src/queue/embedded-redis";
import "./support/redis";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.REDIS_URL;
  if (external) {
    project.provide("redisUrl", external);
    return async () => {};
  }
  const redis = await startEmbeddedRedis();
  project.provide("redisUrl", redis.url);
  return () => redis.stop();
}
