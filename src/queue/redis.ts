/**
 * The one place that builds Redis clients. Everything else (queues, workers, job numbers, tests) asks here, so
 * connection options stay consistent and `closeAllConnections()` can shut every client we own.
 *
 * Roles:
 * - `queue`: producers (Slack/console acks). Fail fast: no offline queue, one retry per command, so an ack
 *   can report "queue unavailable" instead of hanging past Slack's 3 s.
 * - `worker`: BullMQ workers. `maxRetriesPerRequest: null` as BullMQ requires (it duplicates this client for
 *   its blocking connection); offline queue on so a worker rides out a Redis restart.
 * - `events`: QueueEvents and pub/sub subscribers: long-lived, blocking reads, same settings as `worker`.
 * - `client`: plain commands (inspection, tests): usable at once (commands wait for the connection), but a
 *   command fails after one reconnect attempt rather than hanging.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "../log";

export type ConnectionRole = "queue" | "worker" | "events" | "client";

export interface ConnectionOptions {
  role: ConnectionRole;
  /** Shown by CLIENT LIST (default `xenops:<role>`). */
  name?: string;
  logger?: Logger;
}

const registry = new Set<Redis>();

function roleOptions(role: ConnectionRole): RedisOptions {
  switch (role) {
    case "worker":
    case "events":
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    case "queue":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false };
    case "client":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: true };
  }
}

export function createRedisConnection(url: string, options: ConnectionOptions): Redis {
  const client = new Redis(url, {
    ...roleOptions(options.role),
    lazyConnect: false,
    connectTimeout: 5_000,
    connectionName: options.name ?? `xenops:${options.role}`,
    // Reconnect forever, backing off to 2 s.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  });
  registry.add(client);
  let lastErrorLog = 0;
  client.on("error", (err: Error) => {
    // ioredis emits one error per failed reconnect: log at most one every 5 s per client.
    const now = Date.now();
    if (now - lastErrorLog < 5_000) return;
    lastErrorLog = now;
    options.logger?.warn({ role: options.role, err: err.message }, "redis connection error");
  });
  client.once("end", () => registry.delete(client));
  return client;
}

const readiness = new WeakMap<Redis, Promise<void>>();

/** Resolves once the client can take commands (needed before using a fail-fast client). */
export async function waitReady(client: Redis, timeoutMs = 5_000): Promise<void> {
  if (client.status === "ready") return;
  if (client.status === "end") throw new Error("redis connection is closed");
  // One pair of listeners per client however many callers wait.
  let ready = readiness.get(client);
  if (!ready) {
    ready = new Promise<void>((resolve, reject) => {
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onEnd = () => {
        cleanup();
        reject(new Error("redis connection is closed"));
      };
      const cleanup = () => {
        readiness.delete(client);
        client.off("ready", onReady);
        client.off("end", onEnd);
      };
      client.on("ready", onReady);
      client.on("end", onEnd);
    });
    ready.catch(() => {});
    readiness.set(client, ready);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT (or, if that fails or hangs, drop) one client; resolves once it has ended. Idempotent. */
export async function closeConnection(client: Redis, timeoutMs = 2_000): Promise<void> {
  registry.delete(client);
  if (client.status === "end") return;
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  if (client.status === "ready") client.quit().catch(() => client.disconnect());
  else {
    client.disconnect();
    // Between reconnect attempts there is no socket to close, so no "end" will come: nothing to wait for.
    if (client.status !== "connecting" && client.status !== "connect") return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeoutMs);
  });
  if ((await Promise.race([ended, late])) === "late") {
    client.disconnect();
    await Promise.race([ended, new Promise((r) => setTimeout(r, 200))]);
  }
  clearTimeout(timer);
}

/** Closes every client created by `createRedisConnection` and not closed yet. */
export async function closeAllConnections(): Promise<void> {
  await Promise.all([...registry].map((c) => closeConnection(c)));
}

/** Clients created here and still open (for leak checks in tests). */
export function openConnectionCount(): number {
  return registry.size;
}
