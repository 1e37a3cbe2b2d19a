/**
 * The Redis clients of one process, one per role. The queue module builds every connection; the runtime asks
 * it for these and injects them, so nothing below opens a connection of its own. (The queues and workers open
 * theirs inside src/queue from the same URL.)
 */
import type { Redis } from "ioredis";
import type { Logger } from "../log";
import { closeConnection, createRedisConnection } from "../queue/redis";

export interface RedisClients {
  /**
   * Plain commands shared by the lifecycle pieces: the audit log, job cards, persistence checks, off-proofs,
   * cluster events, the doctor's runs, DRBD watches and the Slack replay store.
   */
  lifecycle: Redis;
  /** The lock manager's own: a lock renewal must not queue behind an approval's WAIT. */
  locks: Redis;
  /** The approval engine's own: its durable writes WAIT on it. */
  approvals: Redis;
}

export interface OpenRedisClients extends RedisClients {
  /** Closes the clients of these roles, one after the other (the root closes each when its users are done). */
  close(...roles: (keyof RedisClients)[]): Promise<void>;
}

export function openRedisClients(redisUrl: string, logger: Logger): OpenRedisClients {
  const clients: RedisClients = {
    lifecycle: createRedisConnection(redisUrl, { role: "client", name: "xenops:lifecycle", logger }),
    locks: createRedisConnection(redisUrl, {
      role: "client",
      name: "xenops:locks",
      logger: logger.child({ component: "locks" }),
    }),
    approvals: createRedisConnection(redisUrl, {
      role: "client",
      name: "xenops:approval",
      logger: logger.child({ component: "approval" }),
    }),
  };
  return {
    ...clients,
    async close(...roles) {
      for (const role of roles) await closeConnection(clients[role]);
    },
  };
}
