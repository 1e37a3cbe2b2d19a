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
import { XenopsError } from "../errors";
import type { Logger } from "../log";

export type ConnectionRole = "queue" | "worker" | "events" | "client";

export interface ConnectionOptions {
  role: ConnectionRole;
  /** Shown by CLIENT LIST (default `xenops:<role>`). */
  name?: string;
  /** Absent or undefined: no connection logs (callers forward their own optional logger). */
  logger?: Logger | undefined;
}

const registry = new Set<Redis>();

function roleOptions(role: ConnectionRole): RedisOptions {
  switch (role) {
    case "worker":
    case "events":
      return { maxRetriesPerRequest: null, enableOfflineQueue: true };
    // Producers and plain clients never block: the commands issued in one event-loop turn (a burst of
    // slash commands: replay check, job claim, add, audit) go out in one socket write instead of one
    // write each. Order and replies are unchanged; MULTI and SCRIPT are never auto-pipelined.
    case "queue":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true };
    case "client":
      return { maxRetriesPerRequest: 1, enableOfflineQueue: true, enableAutoPipelining: true };
  }
}

/**
 * Where Redis is. Besides `redis://` and `rediss://` URLs, xenops takes a Sentinel URL,
 * `redis-sentinel://[[user]:password@]host1:26379,host2:26379/MASTER[?db=N&sentinelPassword=P&tls=1]`,
 * so that every place that passes a Redis URL around works unchanged on Sentinel: ioredis asks the
 * sentinels for the current master and follows failovers.
 */
export type RedisTarget =
  | { kind: "url"; url: string }
  | {
      kind: "sentinel";
      sentinels: { host: string; port: number }[];
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelPassword?: string;
      tls: boolean;
    };

const SENTINEL_SCHEME = "redis-sentinel://";

/**
 * How writes are made durable: after a write the exactly-once promise depends on, `WAIT replicas timeoutMs`
 * on the same connection. Redis replication is asynchronous: a write acknowledged by a master that then
 * loses a failover is gone, so "recorded" may only be said once a replica has it too. `replicas` is 0 on a
 * single Redis (no WAIT at all), 1 by default on Sentinel; `?wait=N` (and `waitTimeoutMs=MS`) on the URL
 * overrides it.
 */
export interface WriteDurability {
  replicas: number;
  timeoutMs: number;
  /**
   * How long a write that is safe to send again (idempotent, or refused before it acted) keeps being sent
   * while no replica confirms it: long enough to ride out a failover. `?waitRetryMs=MS` on the URL.
   */
  retryMs: number;
}

const DEFAULT_WAIT_TIMEOUT_MS = 2_000;
const DEFAULT_WAIT_RETRY_MS = 30_000;

/** The durability a URL asks for (see WriteDurability). */
export function writeDurability(url: string): WriteDurability {
  const sentinel = url.startsWith(SENTINEL_SCHEME);
  const query = new URLSearchParams(url.includes("?") ? url.slice(url.indexOf("?") + 1) : "");
  const number = (name: string, fallback: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0)
      throw new XenopsError(
        "config_invalid",
        `invalid Redis URL parameter ${name}="${raw}": expected an integer >= 0`,
      );
    return n;
  };
  return {
    replicas: number("wait", sentinel ? 1 : 0),
    timeoutMs: Math.max(1, number("waitTimeoutMs", DEFAULT_WAIT_TIMEOUT_MS)),
    retryMs: number("waitRetryMs", DEFAULT_WAIT_RETRY_MS),
  };
}

/** The URL without the parameters only xenops reads (ioredis would take them for connection options). */
function withoutDurabilityParams(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return url;
  const query = new URLSearchParams(url.slice(q + 1));
  query.delete("wait");
  query.delete("waitTimeoutMs");
  query.delete("waitRetryMs");
  const rest = query.toString();
  return rest ? `${url.slice(0, q)}?${rest}` : url.slice(0, q);
}

export function parseRedisTarget(rawUrl: string): RedisTarget {
  const url = withoutDurabilityParams(rawUrl);
  if (!url.startsWith(SENTINEL_SCHEME)) return { kind: "url", url };
  const rest = url.slice(SENTINEL_SCHEME.length);
  const at = rest.lastIndexOf("@", rest.indexOf("/") === -1 ? rest.length : rest.indexOf("/"));
  const auth = at >= 0 ? rest.slice(0, at) : "";
  const afterAuth = at >= 0 ? rest.slice(at + 1) : rest;
  const slash = afterAuth.indexOf("/");
  const hosts = slash >= 0 ? afterAuth.slice(0, slash) : afterAuth;
  const pathAndQuery = slash >= 0 ? afterAuth.slice(slash + 1) : "";
  const [path = "", query = ""] = pathAndQuery.split("?", 2);
  const fail = (what: string): never => {
    throw new XenopsError(
      "config_invalid",
      `invalid Sentinel URL (${what}); expected redis-sentinel://[:password@]host:port[,host:port...]/MASTER_NAME[?db=N]`,
    );
  };
  const sentinels = hosts
    .split(",")
    .filter((h) => h !== "")
    .map((h) => {
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
      if (!m) return fail(`bad address "${h}"`);
      const port = m[2] ? Number(m[2]) : 26379;
      if (!(port > 0 && port < 65536)) return fail(`bad port in "${h}"`);
      return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
    });
  if (sentinels.length === 0) fail("no sentinel address");
  const name = decodeURIComponent(path);
  if (!name) fail("no master name");
  const params = new URLSearchParams(query);
  const db = Number(params.get("db") ?? "0");
  if (!Number.isInteger(db) || db < 0) fail(`bad db "${params.get("db")}"`);
  const colon = auth.indexOf(":");
  const username = colon >= 0 ? decodeURIComponent(auth.slice(0, colon)) : "";
  const password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : decodeURIComponent(auth);
  const sentinelPassword = params.get("sentinelPassword");
  return {
    kind: "sentinel",
    sentinels,
    name,
    db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(sentinelPassword ? { sentinelPassword } : {}),
    tls: params.get("tls") === "1" || params.get("tls") === "true",
  };
}

/** The URL with any password replaced, for logs and messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z+-]+:\/\/)([^@/]*:)?[^@/]*@/i, (_m, scheme: string, user?: string) =>
    user ? `${scheme}${user}[redacted]@` : `${scheme}[redacted]@`,
  );
}

function targetOptions(url: string): { url?: string; options: RedisOptions } {
  const target = parseRedisTarget(url);
  if (target.kind === "url") return { url: target.url, options: {} };
  return {
    options: {
      sentinels: target.sentinels,
      name: target.name,
      db: target.db,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.sentinelPassword ? { sentinelPassword: target.sentinelPassword } : {}),
      ...(target.tls ? { enableTLSForSentinelMode: true, tls: {} } : {}),
      // After a failover the old master turns replica: a write that reaches it before the sentinels
      // told us gets READONLY. Reconnect (ioredis asks the sentinels again) and resend the command.
      reconnectOnError: (err: Error) => (err.message.startsWith("READONLY") ? 2 : false),
      sentinelRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
    },
  };
}

export function createRedisConnection(url: string, options: ConnectionOptions): Redis {
  const target = targetOptions(url);
  // Without replyMapping (never set here): RedisOptions declares it `| undefined`, which ioredis's own
  // constructors do not accept under exactOptionalPropertyTypes.
  const settings: Omit<RedisOptions, "replyMapping"> = {
    ...target.options,
    ...roleOptions(options.role),
    lazyConnect: false,
    connectTimeout: 5_000,
    connectionName: options.name ?? `xenops:${options.role}`,
    // Reconnect forever, backing off to 2 s.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  };
  const client = target.url ? new Redis(target.url, settings) : new Redis(settings);
  registry.add(client);
  durabilities.set(client, writeDurability(url));
  connectionEpoch(client);
  let lastErrorLog = 0;
  client.on("error", (err: Error) => {
    // ioredis emits one error per failed reconnect: log at most one every 5 s per client.
    const now = Date.now();
    if (now - lastErrorLog < 5_000) return;
    lastErrorLog = now;
    options.logger?.warn({ role: options.role, err }, "redis connection error");
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

// ---- durable writes ----

const durabilities = new WeakMap<Redis, WriteDurability>();
const epochs = new WeakMap<Redis, { n: number }>();

/** Counts (re)connections, so a WAIT is known to run on the connection that carried the write. */
function connectionEpoch(client: Redis): { n: number } {
  let epoch = epochs.get(client);
  if (!epoch) {
    const counter = { n: 0 };
    client.on("ready", () => {
      counter.n++;
    });
    epochs.set(client, counter);
    epoch = counter;
  }
  return epoch;
}

/**
 * The durability of a client's writes: as its URL asked for clients made by createRedisConnection; for a
 * copy made by a library (BullMQ duplicates), 1 replica when it talks to Sentinel, else none.
 */
export function durabilityOf(client: Redis): WriteDurability {
  return (
    durabilities.get(client) ?? {
      replicas: (client.options.sentinels?.length ?? 0) > 0 ? 1 : 0,
      timeoutMs: DEFAULT_WAIT_TIMEOUT_MS,
      retryMs: DEFAULT_WAIT_RETRY_MS,
    }
  );
}

function notDurable(detail: string, cause?: unknown): XenopsError {
  return new XenopsError(
    "redis_not_durable",
    `Redis did not confirm the write on a replica (${detail}); it may be lost in a failover: retry`,
    cause === undefined ? undefined : { cause },
  );
}

/** A point right after a write: `confirm()` makes sure what this connection wrote so far is replicated. */
export interface DurableMark {
  confirm(): Promise<void>;
}

/**
 * Call right after the write's reply (no await in between). confirm() sends WAIT on the same connection and
 * throws redis_not_durable when fewer replicas than configured acknowledged, or when the connection was
 * replaced since the mark (the write went to a server this WAIT cannot vouch for). Free with 0 replicas.
 */
export function durableMark(client: Redis): DurableMark {
  const { replicas, timeoutMs } = durabilityOf(client);
  if (replicas === 0) return { confirm: async () => {} };
  const epoch = connectionEpoch(client);
  const at = epoch.n;
  return {
    async confirm() {
      let acked: number;
      try {
        acked = Number(await client.wait(replicas, timeoutMs));
      } catch (err) {
        throw notDurable(`WAIT failed: ${err instanceof Error ? err.message : String(err)}`, err);
      }
      if (epoch.n !== at) throw notDurable("the connection was re-established after the write");
      if (acked < replicas)
        throw notDurable(`${acked} of ${replicas} replicas acknowledged within ${timeoutMs} ms`);
    },
  };
}

/** NOREPLICAS (min-replicas-to-write), directly or as the cause of a discarded MULTI. */
function refusedForReplicas(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.message.startsWith("NOREPLICAS")) return true;
  const previous = (err as Error & { previousErrors?: unknown[] }).previousErrors;
  return (
    Array.isArray(previous) && previous.some((e) => e instanceof Error && e.message.startsWith("NOREPLICAS"))
  );
}

/**
 * Runs a write and makes it durable (see durableMark). A master that refuses writes for lack of replicas
 * (min-replicas-to-write: NOREPLICAS) is reported the same way.
 */
export async function durably<T>(client: Redis, write: () => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await write();
  } catch (err) {
    if (refusedForReplicas(err)) throw notDurable("the master has too few replicas to accept writes", err);
    throw err;
  }
  await durableMark(client).confirm();
  return result;
}

/** Whether `err` is redis_not_durable (see durably). */
export function isNotDurable(err: unknown): err is XenopsError {
  return err instanceof XenopsError && err.code === "redis_not_durable";
}

/**
 * A failure that says nothing about the write itself: not confirmed by a replica, the connection lost
 * (the write may or may not have run), or a server that cannot take writes now (demoted, loading,
 * failing over). A reply error of the command itself (a script error, a wrong type) is not.
 */
export function isTransientRedisError(err: unknown): boolean {
  if (isNotDurable(err)) return true;
  if (err instanceof XenopsError || !(err instanceof Error)) return false;
  if (err.name === "ReplyError")
    return /^(READONLY|LOADING|MASTERDOWN|NOREPLICAS|TRYAGAIN|UNBLOCKED)\b/.test(err.message);
  return true;
}

/**
 * durably(), sent again with backoff while it fails transiently (isTransientRedisError), for at most the
 * client's `retryMs`; then the last error is thrown. Only for writes that may be sent twice: after a
 * failover a write not confirmed may or may not be on the new master, so the write must give the same
 * result either way (idempotent, or keyed on a nonce of its own).
 */
export async function durablyRetried<T>(
  client: Redis,
  write: () => Promise<T>,
  onRetry?: (err: unknown, attempt: number) => void,
): Promise<T> {
  const deadline = Date.now() + durabilityOf(client).retryMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await durably(client, write);
    } catch (err) {
      if (!isTransientRedisError(err) || Date.now() >= deadline || client.status === "end") throw err;
      onRetry?.(err, attempt);
      // NOREPLICAS comes back at once: back off so a failover has time to finish.
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** Math.min(attempt - 1, 4), 1_000)));
    }
  }
}
