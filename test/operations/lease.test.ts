/**
 * Execution leases and fencing tokens on a real Redis, with an injected clock: recovery may take an
 * execution over only once its lease expired AND the running step's deadline plus grace passed; the
 * takeover bumps the token, after which the old holder's journal writes, outcome and "running" card
 * updates are refused; a final state is never replaced; expired lock keys come back only if untouched.
 */
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import type { ApprovalEngine } from "../../src/approval/engine";
import { LockManager } from "../../src/locks/lock";
import { silentLogger } from "../../src/log";
import { ExecutionLease, takeoverVerdict } from "../../src/operations/lease";
import type { OperationStep } from "../../src/operations/types";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { makeEngine, migratePlan, TestClock } from "../approval/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const engines: ApprovalEngine[] = [];
const managers: LockManager[] = [];
const connections: Redis[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await Promise.all(connections.splice(0).map((c) => closeConnection(c)));
});
const track = (e: ApprovalEngine) => {
  engines.push(e);
};

const STEPS: OperationStep[] = [
  {
    node: "ics1",
    argv: ["drbdadm", "primary", "r0"],
    description: "promote",
    destructive: false,
    kind: "drbd-primary",
    timeoutMs: 5_000,
  },
  {
    node: "ics2",
    argv: ["xm", "migrate", "--live", "vm", "ics1"],
    description: "migrate",
    destructive: true,
    kind: "migrate",
    timeoutMs: 600_000,
  },
];

async function claimed(clock: TestClock) {
  const h = makeEngine({ now: clock.now }, track);
  const record = await h.engine.request(migratePlan(), {
    requestedBy: "UOPER1",
    channel: "C0LAB",
    policy: {
      requestRole: "operator",
      approveRole: "approver",
      approvals: 1,
      twoPerson: true,
      expiresInMs: 600_000,
    },
  });
  await h.engine.decide(record.id, "UAPPROVER1", "approve");
  expect(
    await h.engine.claimExecution(record.id, `exec-${record.id}`, { owner: "exec-job-a", ttlMs: 1_000 }),
  ).toBe("claimed");
  return { h, id: record.id };
}

describe("execution leases", () => {
  it("is not taken over while the lease lives, nor while the running step may still run", async () => {
    const clock = new TestClock();
    const { h, id } = await claimed(clock);
    const verdict = async () =>
      takeoverVerdict((await h.engine.journal(id))!, STEPS, {
        nowMs: clock.ms,
        graceMs: 30_000,
        defaultStepTimeoutMs: 10_000,
      });
    // Lease live.
    expect(await verdict()).toMatchObject({ ok: false, why: expect.stringContaining("lease") });
    expect(await h.engine.takeOverLease(id, 1, "recovery-b", 1_000)).toMatchObject({
      taken: false,
      why: "live",
    });

    // The migration step starts, then the worker stalls: the lease expires but the step may still run.
    await h.engine.stepStarted(id, 1, { approvalId: id, owner: "exec-job-a", token: 1 });
    clock.advance(60_000);
    expect(await verdict()).toMatchObject({ ok: false, why: expect.stringContaining("step 2") });

    // Past the step's timeout plus grace: now it may be taken over, and the takeover bumps the token.
    clock.advance(600_000);
    expect(await verdict()).toEqual({ ok: true, token: 1 });
    expect(await h.engine.takeOverLease(id, 1, "recovery-b", 1_000)).toEqual({ taken: true, token: 2 });
    // A second recoverer with the old view loses the race.
    expect(await h.engine.takeOverLease(id, 1, "recovery-c", 1_000)).toMatchObject({
      taken: false,
      why: "changed",
    });
    expect((await h.engine.journal(id))?.lease).toMatchObject({ owner: "recovery-b", token: 2 });
  });

  it("this process knows the executions it runs itself (its own recovery loop leaves them alone)", async () => {
    const clock = new TestClock();
    const { h, id } = await claimed(clock);
    const lease = new ExecutionLease(
      h.engine,
      { approvalId: id, owner: "exec-job-a", token: 1 },
      { ttlMs: 60_000 },
    );
    expect(ExecutionLease.heldHere(id)).toBe(false);
    lease.start();
    expect(ExecutionLease.heldHere(id)).toBe(true);
    lease.stop();
    expect(ExecutionLease.heldHere(id)).toBe(false);
  });

  it("a stalled holder that nobody took over keeps its lease: renewal past the expiry still works", async () => {
    const clock = new TestClock();
    const { h, id } = await claimed(clock);
    clock.advance(10_000);
    const lease = new ExecutionLease(
      h.engine,
      { approvalId: id, owner: "exec-job-a", token: 1 },
      { ttlMs: 1_000 },
    );
    await lease.assertHeld();
    expect((await h.engine.journal(id))?.lease?.expiresAtMs).toBe(clock.ms + 1_000);
    expect(lease.lost).toBe(false);
  });

  it("after a takeover the old holder can neither journal, nor finish, nor show running on the card", async () => {
    const clock = new TestClock();
    const { h, id } = await claimed(clock);
    const old = { approvalId: id, owner: "exec-job-a", token: 1 };
    clock.advance(5_000);
    expect(await h.engine.takeOverLease(id, 1, "recovery-b", 1_000)).toEqual({ taken: true, token: 2 });
    const current = { approvalId: id, owner: "recovery-b", token: 2 };

    const lease = new ExecutionLease(h.engine, old, { ttlMs: 1_000, checkRetryMs: 0 });
    await expect(lease.assertHeld()).rejects.toMatchObject({ code: "lock_lost" });
    expect(lease.lost).toBe(true);
    const stale = h.engine.fenced(old);
    await expect(stale.stepStarted(id, 1)).rejects.toMatchObject({ code: "lock_lost" });
    expect(await stale.cardMayShowRunning(id)).toBe(false);
    expect(await stale.settle(id, "failed", "the old worker's view")).toBe("lost");
    expect((await h.engine.journal(id))?.finished).toBeNull();

    // The new holder finishes; the card's final state stands from then on, for everyone.
    const fresh = h.engine.fenced(current);
    expect(await fresh.cardMayShowRunning(id)).toBe(true);
    expect(await fresh.settle(id, "ok", "verified", { cardStatus: "succeeded" })).toBe("ok");
    expect(await fresh.cardMayShowRunning(id)).toBe(false);
    expect(await h.engine.cardMayShowRunning(id)).toBe(false);
    expect(await stale.settle(id, "failed", "late")).toBe("lost");
    expect(await h.engine.settle(id, "failed", "late, unfenced")).toBe("finished");
    const journal = await h.engine.journal(id);
    expect(journal?.finished).toMatchObject({ outcome: "ok", detail: "verified" });

    await h.engine.addNote(id, "the old worker came back and ran nothing");
    expect((await h.engine.journal(id))?.notes).toEqual(["the old worker came back and ran nothing"]);
  });

  it("a journal that vanished (Redis lost data) stops the holder; a lost claim is never claimed again", async () => {
    const clock = new TestClock();
    const { h, id } = await claimed(clock);
    const grant = { approvalId: id, owner: "exec-job-a", token: 1 };
    const redis = (h.engine as unknown as { redis: import("ioredis").Redis }).redis;
    await redis.del(`${h.prefix}:exec:${id}`);
    await expect(h.engine.stepStarted(id, 0, grant)).rejects.toMatchObject({
      code: "lock_lost",
      message: expect.stringContaining("gone from Redis"),
    });
    expect(await h.engine.renewLease(grant, 1_000)).toBe("missing");
    // The approval remembers the claim: the job delivered again must not run it a second time.
    expect(await h.engine.claimExecution(id, `exec-${id}`)).toBe("already_claimed");
    expect(await h.engine.executionClaimedAt(id)).not.toBeNull();
  });
});

describe("locks taken back after a stall", () => {
  const GUEST = "guest:lab/vm";

  function manager(prefix = uniquePrefix("lease-locks")) {
    const redis = createRedisConnection(testRedisUrl(), { role: "client", name: "xenops:locks" });
    connections.push(redis);
    const m = new LockManager({ redis, prefix, logger: silentLogger() });
    managers.push(m);
    return m;
  }

  it("takes expired keys back only while nobody took them since", async () => {
    const m = manager();
    const paused = await m.acquire([GUEST], {
      owner: "exec-a",
      ttlMs: 100,
      renew: false,
      retakeExpired: true,
    });
    if (!paused) throw new Error("expected the lock");
    const redis = (m as unknown as { redis: import("ioredis").Redis }).redis;
    // Expired while its holder stalled; nobody else took it: it is taken back.
    await redis.del(`${(m as unknown as { options: { prefix: string } }).options.prefix}:lock:${GUEST}`);
    await paused.assertHeld();
    expect((await m.holders([GUEST]))[0]).toMatchObject({ owner: "exec-a", token: paused.token });

    // Expired again, and this time another action took it and finished: not taken back.
    await redis.del(`${(m as unknown as { options: { prefix: string } }).options.prefix}:lock:${GUEST}`);
    const other = await m.acquire([GUEST], { owner: "exec-b", ttlMs: 5_000, renew: false });
    await other?.release();
    await expect(paused.assertHeld()).rejects.toMatchObject({ code: "lock_lost" });
    expect(await m.holders([GUEST])).toEqual([null]);
  });
});
