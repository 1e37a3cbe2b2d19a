/**
 * Locks on Sentinel (real redis-server master and replica, real sentinel): a lock is handed out, and
 * assertHeld passes, only once a replica has it, so a failover cannot take it away and let a second
 * holder in.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Lock, LockManager } from "../../src/locks/lock";
import { silentLogger } from "../../src/log";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { uniquePrefix } from "../support/redis";
import { type SentinelSetup, startSentinelSetup } from "../support/sentinel";

const GUEST = "guest:lab/internet";
const NODE = "node:lab/ics1";

describe("locks on Sentinel (real master, replica and sentinel)", () => {
  let setup: SentinelSetup;
  let frozen: number | null = null;
  const managers: LockManager[] = [];
  const connections: Redis[] = [];
  const held: Lock[] = [];
  beforeAll(async () => {
    setup = await startSentinelSetup("locks");
  }, 60_000);
  afterEach(async () => {
    if (frozen !== null) setup.thaw(frozen);
    frozen = null;
    await Promise.all(held.splice(0).map((l) => l.release().catch(() => false)));
    await Promise.all(managers.splice(0).map((m) => m.close()));
    await Promise.all(connections.splice(0).map((c) => closeConnection(c)));
  });
  afterAll(async () => {
    await setup?.stop();
  });

  const manager = (prefix: string, query = "waitTimeoutMs=300") => {
    // A connection of its own, with the durability the URL asks for.
    const redis = createRedisConnection(`${setup.url}?${query}`, { role: "client", name: "xenops:locks" });
    connections.push(redis);
    const m = new LockManager({ redis, prefix, logger: silentLogger() });
    managers.push(m);
    return m;
  };
  /** A plain connection to the current master (not through xenops' code). */
  const onMaster = async <T>(fn: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis({ port: (await setup.currentMaster()).port, host: "127.0.0.1", lazyConnect: true });
    r.on("error", () => {});
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  };
  const freezeReplica = async () => {
    const master = (await setup.currentMaster()).port;
    frozen = master === setup.ports.master ? setup.ports.replica : setup.ports.master;
    setup.freeze(frozen);
  };
  const thaw = () => {
    if (frozen !== null) setup.thaw(frozen);
    frozen = null;
  };
  /** Waits (bounded by attempts) until the master has `key`. */
  const untilOnMaster = async (key: string) => {
    for (let i = 0; i < 400; i++) {
      if ((await onMaster((r) => r.exists(key))) === 1) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`${key} never reached the master`);
  };

  it("hands a lock out only once a replica has it, and the resend confirms the first attempt", async () => {
    const prefix = uniquePrefix("lock-durable");
    const m = manager(prefix);
    await freezeReplica();
    let settled = false;
    const pending = m.acquire([GUEST, NODE], { owner: "exec-1", ttlMs: 30_000 }).finally(() => {
      settled = true;
    });
    // The master took the keys, but no replica acknowledged them: the lock is not handed out.
    await untilOnMaster(`${prefix}:lock:${GUEST}`);
    expect(settled).toBe(false);
    thaw();
    const lock = await pending;
    expect(lock).not.toBeNull();
    if (lock) held.push(lock);
    // Sent again (maybe several times) while unconfirmed: one token only, the first attempt's.
    expect(await onMaster((r) => r.get(`${prefix}:locktoken`))).toBe("1");
    expect(lock?.token).toBe(1);
    expect(await onMaster((r) => r.get(`${prefix}:lock:${GUEST}`))).toBe("1|exec-1");
    expect(await manager(prefix).acquire([NODE], { owner: "exec-2", ttlMs: 30_000 })).toBeNull();
  }, 30_000);

  it("refuses with redis_not_durable when no replica confirms the lock in time", async () => {
    const m = manager(uniquePrefix("lock-refused"), "waitTimeoutMs=200&waitRetryMs=0");
    await freezeReplica();
    const err = await m.acquire([GUEST], { owner: "exec-1", ttlMs: 30_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "redis_not_durable" });
  }, 30_000);

  it("assertHeld fails (lock_lost) rather than pass on a check no replica confirmed", async () => {
    const m = manager(uniquePrefix("lock-assert"), "waitTimeoutMs=200&waitRetryMs=0");
    const lock = await m.acquire([GUEST], { owner: "exec-1", ttlMs: 30_000, renew: false });
    expect(lock).not.toBeNull();
    if (lock) held.push(lock);
    await lock?.assertHeld();
    await freezeReplica();
    await expect(lock?.assertHeld()).rejects.toMatchObject({
      code: "lock_lost",
      message: expect.stringMatching(/cannot be confirmed in Redis/),
    });
    thaw();
    // Not lost for all that: once a replica confirms again, the check passes.
    await lock?.assertHeld();
  }, 30_000);

  it("keeps a lock through a failover: the holder still holds it and nobody else gets it", async () => {
    const prefix = uniquePrefix("lock-failover");
    const m = manager(prefix);
    const lock = await m.acquire([GUEST, NODE], { owner: "exec-1", ttlMs: 60_000, retakeExpired: true });
    expect(lock).not.toBeNull();
    if (lock) held.push(lock);
    const { from, to } = await setup.failover();
    expect(to).not.toBe(from);
    expect(await manager(prefix).acquire([GUEST], { owner: "exec-2", ttlMs: 60_000 })).toBeNull();
    await lock?.assertHeld();
    expect(await onMaster((r) => r.get(`${prefix}:lock:${NODE}`))).toBe(`${lock?.token}|exec-1`);
  }, 60_000);
});
