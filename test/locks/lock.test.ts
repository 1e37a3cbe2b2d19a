import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type Lock, LockManager, lockKeys, lockKeysForPlan } from "../../src/locks/lock";
import { silentLogger } from "../../src/log";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const managers: { manager: LockManager; redis: Redis }[] = [];
afterEach(async () => {
  await Promise.all(
    managers.splice(0).map(async ({ manager, redis }) => {
      await manager.close();
      await closeConnection(redis);
    }),
  );
});

/** A lock manager on a connection of its own, as each process has. */
function manager(prefix = uniquePrefix("locks")): LockManager {
  const redis = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:locks" });
  const m = new LockManager({ redis, prefix, logger: silentLogger() });
  managers.push({ manager: m, redis });
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const GUEST = "guest:lab/internet";
const DRBD = "drbd:lab/internet";
const NODE = "node:lab/ics1";

describe("LockManager", () => {
  it("takes all keys or none", async () => {
    const m = manager();
    const first = await m.acquire([DRBD], { owner: "job-1", ttlMs: 5_000 });
    expect(first).not.toBeNull();
    expect(await m.acquire([GUEST, DRBD, NODE], { owner: "job-2", ttlMs: 5_000 })).toBeNull();
    // Nothing of the failed attempt was left behind.
    expect(await m.holders([GUEST, DRBD, NODE])).toEqual([
      null,
      expect.objectContaining({ key: DRBD, owner: "job-1", token: first?.token }),
      null,
    ]);
    expect(await first?.release()).toBe(true);
    const both = await m.acquire([GUEST, DRBD, NODE], { owner: "job-2", ttlMs: 5_000 });
    expect(both?.keys).toEqual([DRBD, GUEST, NODE]);
    await both?.release();
  });

  it("gives each acquisition a strictly increasing fencing token", async () => {
    const m = manager();
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const lock = await m.acquire([GUEST], { owner: `job-${i}`, ttlMs: 5_000 });
      if (!lock) throw new Error("expected the lock");
      tokens.push(lock.token);
      await lock.release();
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
  });

  it("lets exactly one of many concurrent contenders (two connections) win", async () => {
    const prefix = uniquePrefix("locks");
    const a = manager(prefix);
    const b = manager(prefix);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? a : b).acquire([lockKeys.fence("lab"), lockKeys.node("lab", "ics2")], {
          owner: `fence-${i}`,
          ttlMs: 5_000,
        }),
      ),
    );
    const winners = results.filter((l): l is Lock => l !== null);
    expect(winners).toHaveLength(1);
    await winners[0]?.release();
  });

  it("assertHeld fails after expiry, and a stale holder cannot release or extend the new holder's lock", async () => {
    const m = manager();
    let lostCalls = 0;
    const stale = await m.acquire([GUEST, DRBD], {
      owner: "stale",
      ttlMs: 150,
      renew: false,
      onLost: () => {
        lostCalls += 1;
      },
    });
    if (!stale) throw new Error("expected the lock");
    await stale.assertHeld();
    await sleep(250);
    await expect(stale.assertHeld()).rejects.toMatchObject({ code: "lock_lost" });
    expect(stale.lost).toBe(true);
    expect(lostCalls).toBe(1);

    const fresh = await m.acquire([GUEST], { owner: "fresh", ttlMs: 5_000 });
    expect(fresh?.token).toBeGreaterThan(stale.token);
    expect(await stale.extend()).toBe(false);
    expect(await stale.release()).toBe(false);
    await fresh?.assertHeld();
    expect((await m.holders([GUEST]))[0]).toMatchObject({ owner: "fresh" });
    await fresh?.release();
  });

  it("assertHeld fails when another holder took the key over", async () => {
    const prefix = uniquePrefix("locks");
    const m = manager(prefix);
    const lock = await m.acquire([NODE], { owner: "worker-a", ttlMs: 5_000, renew: false });
    if (!lock) throw new Error("expected the lock");
    // A takeover behind the lock's back (e.g. its key was deleted by hand and someone else took it).
    const redis = createRedisConnection(testRedisUrl(), { role: "client" });
    try {
      await redis.set(`${prefix}:lock:${NODE}`, "999999|worker-b", "PX", 5_000);
    } finally {
      await closeConnection(redis);
    }
    await expect(lock.assertHeld()).rejects.toThrow(/lost the lock on node:lab\/ics1/);
    expect(await lock.release()).toBe(false);
    expect((await m.holders([NODE]))[0]).toMatchObject({ owner: "worker-b", token: 999999 });
  });

  it("renews while held and stops renewing on release", async () => {
    const m = manager();
    const lock = await m.acquire([GUEST], { owner: "long-job", ttlMs: 200 });
    if (!lock) throw new Error("expected the lock");
    await sleep(700);
    await lock.assertHeld();
    expect((await m.holders([GUEST]))[0]?.ttlMs).toBeGreaterThan(0);
    expect(await lock.release()).toBe(true);
    expect(await m.holders([GUEST])).toEqual([null]);
    await expect(lock.assertHeld()).rejects.toMatchObject({ code: "lock_lost" });
  });

  it("extend pushes the expiry out", async () => {
    const m = manager();
    const lock = await m.acquire([GUEST], { owner: "job", ttlMs: 200, renew: false });
    if (!lock) throw new Error("expected the lock");
    expect(await lock.extend(5_000)).toBe(true);
    await sleep(300);
    await lock.assertHeld();
    await lock.release();
  });

  it("validates keys, owner and ttl", async () => {
    const m = manager();
    await expect(m.acquire([], { owner: "x", ttlMs: 1_000 })).rejects.toMatchObject({
      code: "invalid_argument",
    });
    await expect(m.acquire(["no spaces allowed"], { owner: "x", ttlMs: 1_000 })).rejects.toThrow(
      /bad lock key/,
    );
    await expect(m.acquire([GUEST], { owner: "a|b", ttlMs: 1_000 })).rejects.toThrow(/owner/);
    await expect(m.acquire([GUEST], { owner: "x", ttlMs: 5 })).rejects.toThrow(/ttl/);
  });
});

describe("lockKeysForPlan", () => {
  const cluster = {
    guests: [{ name: "internet", drbd: ["internet", "internet-swap"] }],
  } as unknown as Parameters<typeof lockKeysForPlan>[1];

  it("locks the guest, its DRBD resources and the target node", () => {
    expect(
      lockKeysForPlan(
        { action: "migrate", cluster: "lab", target: { guest: "internet", node: "ics1" }, params: {} },
        cluster,
      ),
    ).toEqual(["drbd:lab/internet", "drbd:lab/internet-swap", "guest:lab/internet", "node:lab/ics1"]);
  });

  it("adds the cluster's fence key for a fence", () => {
    expect(
      lockKeysForPlan({ action: "fence", cluster: "lab", target: { node: "ics2" }, params: {} }),
    ).toEqual(["fence:lab", "node:lab/ics2"]);
  });

  it("covers every guest of an evacuation", () => {
    expect(
      lockKeysForPlan(
        {
          action: "evacuate",
          cluster: "lab",
          target: { node: "ics2" },
          params: { guests: ["internet", "mail"] },
        },
        cluster,
      ),
    ).toEqual([
      "drbd:lab/internet",
      "drbd:lab/internet-swap",
      "guest:lab/internet",
      "guest:lab/mail",
      "node:lab/ics2",
    ]);
  });
});
