import { afterEach, describe, expect, it } from "vitest";
import type { ApprovalEngine } from "../../src/approval/engine";
import { approvalActionHandler, executionDeliveryId } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import { AuditEntry } from "../../src/audit/schema";
import type { ActionRequest } from "../../src/chat/types";
import { renderPlainText } from "../../src/slack/render/text";
import {
  APPROVERS,
  fencePlan,
  type Harness,
  makeEngine,
  migratePlan,
  splitBrainPlan,
  TestClock,
} from "./helpers";

const engines: ApprovalEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
const track = (e: ApprovalEngine) => {
  engines.push(e);
};

const noInventory = { approvals: undefined };
const CHANNEL = "C0OPS";

async function requestMigrate(h: Harness, requestedBy = "UOPER1") {
  return h.engine.request(migratePlan(), {
    requestedBy,
    channel: CHANNEL,
    policy: policyFor("migrate", noInventory),
  });
}

function cardText(h: Harness, ts: string | null): string {
  const message = ts ? h.notifier.current(ts) : undefined;
  if (!message) throw new Error(`no card ${ts}`);
  return renderPlainText(message);
}

describe("ApprovalEngine.request", () => {
  it("files one approval per request key: asked again (its planning job ran again), no second card", async () => {
    const h = makeEngine({}, track);
    const ask = () =>
      h.engine.request(migratePlan(), {
        requestedBy: "UOPER1",
        channel: CHANNEL,
        policy: policyFor("migrate", noInventory),
        requestKey: "operation-plan-0123abcd",
      });
    const first = await ask();
    const again = await ask();
    expect(again.id).toBe(first.id);
    expect(again.messageTs).toBe(first.messageTs);
    expect(h.notifier.posts).toHaveLength(1);
    // Without a key every request is its own.
    const other = await requestMigrate(h);
    expect(other.id).not.toBe(first.id);
    expect(h.notifier.posts).toHaveLength(2);
  });

  it("stores the record, posts the card with buttons and records messageTs", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    expect(record.id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(record.status).toBe("pending");
    expect(record.messageTs).toBe(h.notifier.posts[0]?.ref.ts);
    expect(h.notifier.posts[0]?.channel).toBe(CHANNEL);
    const stored = await h.engine.get(record.id);
    expect(stored).toEqual(record);
    expect(Date.parse(record.expiresAt) - Date.parse(record.createdAt)).toBe(10 * 60_000);
    const text = cardText(h, record.messageTs);
    expect(text).toContain("[Approve] [Deny]");
    await h.engine.settled();
    expect(h.audit).toHaveLength(1);
    expect(h.audit[0]).toMatchObject({ kind: "approval_requested", actor: "UOPER1", outcome: "pending" });
  });

  it("refuses a requester without the request role", async () => {
    const h = makeEngine({}, track);
    await expect(requestMigrate(h, "UVIEWER1")).rejects.toMatchObject({ code: "forbidden" });
    expect(h.notifier.posts).toHaveLength(0);
  });

  it("keeps fence two-person even when a hand-built policy turns it off", async () => {
    const h = makeEngine({}, track);
    const record = await h.engine.request(fencePlan(), {
      requestedBy: "UOPER1",
      channel: CHANNEL,
      policy: { ...policyFor("fence", noInventory), twoPerson: false },
    });
    expect(record.policy.twoPerson).toBe(true);
  });
});

describe("ApprovalEngine.decide", () => {
  it("refuses self-approval under the two-person rule", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h, "UAPPROVER1");
    const result = await h.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(result).toMatchObject({ outcome: "refused", code: "forbidden" });
    expect(result.reason).toMatch(/two-person/);
    expect(result.record?.status).toBe("pending");
    await h.engine.settled();
    expect(h.enqueued).toHaveLength(0);
    expect(h.audit.at(-1)).toMatchObject({ kind: "refusal", actor: "UAPPROVER1", outcome: "refused" });
  });

  it("refuses users without the approver role (operator, viewer, unknown) and accepts group members", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    for (const user of ["UOPER2", "UVIEWER1", "UNOBODY"]) {
      const result = await h.engine.decide(record.id, user, "approve");
      expect(result).toMatchObject({ outcome: "refused", code: "forbidden" });
      expect(result.reason).toMatch(/approver role/);
    }
    expect((await h.engine.decide(record.id, "UOPER2", "deny")).outcome).toBe("refused");
    expect((await h.engine.get(record.id))?.status).toBe("pending");
    expect((await h.engine.decide(record.id, "UGROUPIE", "approve")).outcome).toBe("approved");
  });

  it("denies: card updated without buttons, nothing queued, later clicks refused", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    const denied = await h.engine.decide(record.id, "UAPPROVER2", "deny");
    expect(denied.outcome).toBe("denied");
    expect(denied.record).toMatchObject({ status: "denied", deniedBy: "UAPPROVER2" });
    expect(denied.record?.decidedAt).not.toBeNull();
    const later = await h.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(later).toMatchObject({ outcome: "refused", code: "approval_refused" });
    expect(later.reason).toMatch(/already denied by <@UAPPROVER2>/);
    await h.engine.settled();
    expect(h.enqueued).toHaveLength(0);
    const text = cardText(h, record.messageTs);
    expect(text).toContain("Denied by @UAPPROVER2");
    expect(text).not.toContain("[Approve]");
    expect(h.audit.map((a) => a.outcome)).toEqual(["pending", "denied", "refused"]);
    // Every entry is valid for the audit log (strict schema: a typo would drop evidence).
    for (const entry of h.audit) expect(AuditEntry.safeParse(entry).success).toBe(true);
  });

  it("lets the requester withdraw (deny) their own request", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    expect((await h.engine.decide(record.id, "UOPER1", "deny")).outcome).toBe("denied");
  });

  it("approves once: enqueues with the approval's delivery id and shows the job on the card", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    const result = await h.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(result.outcome).toBe("approved");
    expect(result.record).toMatchObject({
      status: "approved",
      approvedBy: ["UAPPROVER1"],
      executionJobId: `exec-${record.id}`,
    });
    expect(h.enqueued).toHaveLength(1);
    expect(h.enqueued[0]?.deliveryId).toBe(executionDeliveryId(record.id));
    expect(h.enqueued[0]?.record.status).toBe("approved");
    await h.engine.settled();
    const text = cardText(h, record.messageTs);
    expect(text).toContain("Approved by @UAPPROVER1");
    expect(text).toContain(`exec-${record.id}`);
    expect(text).not.toContain("[Approve]");
    const again = await h.engine.decide(record.id, "UAPPROVER2", "approve");
    expect(again).toMatchObject({ outcome: "refused", code: "approval_refused" });
    expect(h.enqueued).toHaveLength(1);
  });

  it("fifty concurrent approvers on a 1-approval request: one approval, one enqueue", async () => {
    const h = makeEngine({}, track);
    const record = await requestMigrate(h);
    const results = await Promise.all(APPROVERS.map((u) => h.engine.decide(record.id, u, "approve")));
    const approved = results.filter((r) => r.outcome === "approved");
    expect(approved).toHaveLength(1);
    expect(results.filter((r) => r.outcome === "refused")).toHaveLength(49);
    expect(h.enqueued).toHaveLength(1);
    const final = await h.engine.get(record.id);
    expect(final?.approvedBy).toHaveLength(1);
    expect(final?.approvedBy[0]).toBe(approved[0]?.record?.approvedBy[0]);
    expect(final?.executionJobId).toBe(`exec-${record.id}`);
    await h.engine.settled();
    expect(cardText(h, record.messageTs)).toContain("Approved by");
  });

  it("fifty concurrent decisions through two engines (two connections): one approval, one enqueue", async () => {
    const a = makeEngine({}, track);
    const b = makeEngine({ share: a }, track);
    const record = await requestMigrate(a);
    const results = await Promise.all(
      APPROVERS.map((u, i) => (i % 2 === 0 ? a.engine : b.engine).decide(record.id, u, "approve")),
    );
    expect(results.filter((r) => r.outcome === "approved")).toHaveLength(1);
    expect(a.enqueued).toHaveLength(1);
    await Promise.all([a.engine.settled(), b.engine.settled()]);
    expect(renderPlainText(a.notifier.current(record.messageTs ?? "") ?? { text: "" })).toContain(
      "Approved by",
    );
  });

  it("the same approver clicking twice (Slack redelivery) counts once", async () => {
    const h = makeEngine({}, track);
    const record = await h.engine.request(fencePlan(), {
      requestedBy: "UOPER1",
      channel: CHANNEL,
      policy: policyFor("fence", noInventory),
    });
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => h.engine.decide(record.id, "UAPPROVER1", "approve")),
    );
    expect(results.filter((r) => r.outcome === "recorded")).toHaveLength(1);
    expect(results.filter((r) => r.outcome === "refused")).toHaveLength(3);
    expect((await h.engine.get(record.id))?.approvedBy).toEqual(["UAPPROVER1"]);
  });

  it("fence needs two different approvers, never the requester", async () => {
    const h = makeEngine({}, track);
    const record = await h.engine.request(fencePlan(), {
      requestedBy: "UAPPROVER1",
      channel: CHANNEL,
      policy: policyFor("fence", noInventory),
    });
    const self = await h.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(self).toMatchObject({ outcome: "refused", code: "forbidden" });
    const first = await h.engine.decide(record.id, "UAPPROVER2", "approve");
    expect(first.outcome).toBe("recorded");
    expect(first.reason).toMatch(/1 more approval is needed/);
    const dup = await h.engine.decide(record.id, "UAPPROVER2", "approve");
    expect(dup.outcome).toBe("refused");
    expect(dup.reason).toMatch(/already approved/);
    await h.engine.settled();
    expect(cardText(h, record.messageTs)).toMatch(/Approved so far by @UAPPROVER2 \(1 of 2\)/);
    expect(cardText(h, record.messageTs)).toContain("[Approve] [Deny]");
    expect(h.enqueued).toHaveLength(0);
    const second = await h.engine.decide(record.id, "UAPPROVER3", "approve");
    expect(second.outcome).toBe("approved");
    expect(second.record?.approvedBy).toEqual(["UAPPROVER2", "UAPPROVER3"]);
    expect(h.enqueued).toHaveLength(1);
    await h.engine.settled();
    expect(cardText(h, record.messageTs)).toContain("Approved by @UAPPROVER2, @UAPPROVER3");
    expect(h.audit.find((a) => a.outcome === "approved")).toMatchObject({
      kind: "approval_decision",
      actor: "UAPPROVER3",
      jobId: `exec-${record.id}`,
    });
    for (const entry of h.audit) expect(AuditEntry.safeParse(entry).success).toBe(true);
  });

  it("expired: refused lazily in decide and the card says so; expireDue sweeps the others", async () => {
    const clock = new TestClock();
    const h = makeEngine({ now: clock.now }, track);
    const lazy = await requestMigrate(h);
    const swept = await requestMigrate(h);
    clock.advance(10 * 60_000 - 1);
    expect(await h.engine.expireDue()).toEqual([]);
    clock.advance(1);
    const result = await h.engine.decide(lazy.id, "UAPPROVER1", "approve");
    expect(result).toMatchObject({ outcome: "refused", code: "approval_expired" });
    expect(result.record?.status).toBe("expired");
    expect(await h.engine.expireDue()).toEqual([swept.id]);
    expect(await h.engine.expireDue()).toEqual([]);
    await h.engine.settled();
    for (const r of [lazy, swept]) {
      const text = cardText(h, r.messageTs);
      expect(text).toContain("Expired");
      expect(text).not.toContain("[Approve]");
    }
    expect((await h.engine.decide(swept.id, "UAPPROVER1", "approve")).code).toBe("approval_expired");
    expect(h.enqueued).toHaveLength(0);
    expect(h.audit.filter((a) => a.outcome === "expired")).toHaveLength(2);
    for (const entry of h.audit) expect(AuditEntry.safeParse(entry).success).toBe(true);
  });

  it("start() sweeps expiries on a timer; close() stops it", async () => {
    const clock = new TestClock();
    const h = makeEngine({ now: clock.now, sweepIntervalMs: 20 }, track);
    const record = await requestMigrate(h);
    h.engine.start();
    clock.advance(11 * 60_000);
    const deadline = Date.now() + 3_000;
    while ((await h.engine.get(record.id))?.status !== "expired" && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    // The sweep updates the card after it has marked the record expired: wait for the card too.
    while (!cardText(h, record.messageTs).includes("Expired") && Date.now() < deadline) {
      await h.engine.settled();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(cardText(h, record.messageTs)).toContain("Expired");
    await h.engine.close();
  });

  it("split-brain recovery needs NODE/RESOURCE typed exactly; the node alone is refused with what to type", async () => {
    const h = makeEngine({}, track);
    const plan = splitBrainPlan();
    const record = await h.engine.request(plan, {
      requestedBy: "UAPPROVER1",
      channel: CHANNEL,
      policy: policyFor("split_brain_recover", noInventory, plan),
    });
    expect(record.policy.typedConfirmation).toBe("ics2/internet");
    const none = await h.engine.decide(record.id, "UAPPROVER2", "approve");
    expect(none.outcome).toBe("refused");
    expect(none.reason).toMatch(/typed confirmation/);
    const wrong = await h.engine.decide(record.id, "UAPPROVER2", "approve", { typed: "ics1" });
    expect(wrong.reason).toMatch(/does not match/);
    // The old confirmation (the node alone) no longer approves; the refusal says exactly what to type.
    const nodeOnly = await h.engine.decide(record.id, "UAPPROVER2", "approve", { typed: "ics2" });
    expect(nodeOnly.outcome).toBe("refused");
    expect(nodeOnly.reason).toBe(
      `The confirmation "ics2" does not match: type exactly \`/xen approve ${record.id} ics2/internet\`.`,
    );
    expect(
      (await h.engine.decide(record.id, "UAPPROVER2", "approve", { typed: " ics2/internet " })).outcome,
    ).toBe("approved");
  });

  it("refuses unknown and malformed ids", async () => {
    const h = makeEngine({}, track);
    expect(await h.engine.decide("doesnotexist0000", "UAPPROVER1", "approve")).toMatchObject({
      outcome: "refused",
      code: "invalid_argument",
      record: null,
    });
    expect((await h.engine.decide("../../etc", "UAPPROVER1", "approve")).outcome).toBe("refused");
  });

  it("a failed enqueue keeps the approval and the sweeper enqueues it again with the same delivery id", async () => {
    const clock = new TestClock();
    let fail = true;
    const calls: string[] = [];
    const h = makeEngine(
      {
        now: clock.now,
        enqueueExecution: async (record, { deliveryId }) => {
          calls.push(deliveryId);
          if (fail) throw new Error("queue unavailable");
          return { jobId: `exec-${record.id}` };
        },
      },
      track,
    );
    const record = await requestMigrate(h);
    const result = await h.engine.decide(record.id, "UAPPROVER1", "approve");
    expect(result.outcome).toBe("approved");
    expect(result.reason).toMatch(/will be retried/);
    expect(result.record?.executionJobId).toBeNull();
    fail = false;
    expect(await h.engine.retryStalledEnqueues()).toEqual([]);
    clock.advance(30_000);
    expect(await h.engine.retryStalledEnqueues()).toEqual([record.id]);
    expect(await h.engine.retryStalledEnqueues()).toEqual([]);
    expect(calls).toEqual([executionDeliveryId(record.id), executionDeliveryId(record.id)]);
    expect((await h.engine.get(record.id))?.executionJobId).toBe(`exec-${record.id}`);
  });
});

describe("execution claim and journal", () => {
  async function approved(h: Harness) {
    const record = await requestMigrate(h);
    await h.engine.decide(record.id, "UAPPROVER1", "approve");
    return record.id;
  }

  it("claims once under concurrency; duplicates and other jobs get already_claimed", async () => {
    const h = makeEngine({}, track);
    const id = await approved(h);
    const jobId = `exec-${id}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => h.engine.claimExecution(id, jobId)));
    expect(results.filter((r) => r === "claimed")).toHaveLength(1);
    expect(results.filter((r) => r === "already_claimed")).toHaveLength(19);
    expect(await h.engine.claimExecution(id, "some-other-job")).toBe("already_claimed");
  });

  it("a second engine (another worker process) cannot claim it either", async () => {
    const a = makeEngine({}, track);
    const b = makeEngine({ share: a }, track);
    const id = await approved(a);
    const results = await Promise.all([
      a.engine.claimExecution(id, `exec-${id}`),
      b.engine.claimExecution(id, `exec-${id}`),
    ]);
    expect(results.sort()).toEqual(["already_claimed", "claimed"]);
  });

  it("refuses to claim a request that is not approved", async () => {
    const h = makeEngine({}, track);
    const pending = await requestMigrate(h);
    await expect(h.engine.claimExecution(pending.id, "job")).rejects.toMatchObject({
      code: "approval_denied",
    });
    await h.engine.decide(pending.id, "UAPPROVER1", "deny");
    await expect(h.engine.claimExecution(pending.id, "job")).rejects.toMatchObject({
      code: "approval_denied",
    });
    await expect(h.engine.claimExecution("nosuchapproval00", "job")).rejects.toMatchObject({
      code: "invalid_argument",
    });
  });

  it("records the execution job id when the job claims before the enqueuer could record it", async () => {
    const h = makeEngine(
      {
        enqueueExecution: async () => {
          throw new Error("enqueuer crashed");
        },
      },
      track,
    );
    const record = await requestMigrate(h);
    expect((await h.engine.decide(record.id, "UAPPROVER1", "approve")).record?.executionJobId).toBeNull();
    expect(await h.engine.claimExecution(record.id, "job-from-retry")).toBe("claimed");
    expect((await h.engine.get(record.id))?.executionJobId).toBe("job-from-retry");
  });

  it("journals steps so a restarted worker knows how far it got", async () => {
    const clock = new TestClock();
    const h = makeEngine({ now: clock.now }, track);
    const id = await approved(h);
    await expect(h.engine.stepStarted(id, 0)).rejects.toMatchObject({ code: "invalid_argument" });
    expect(await h.engine.claimExecution(id, `exec-${id}`)).toBe("claimed");
    await h.engine.stepStarted(id, 0);
    clock.advance(1_000);
    await h.engine.stepDone(id, 0, { exitCode: 0, durationMs: 1000 });
    await h.engine.stepStarted(id, 1);
    const journal = await h.engine.journal(id);
    expect(journal).toMatchObject({ approvalId: id, jobId: `exec-${id}`, finished: null });
    expect(journal?.steps.map((s) => [s.index, s.status])).toEqual([
      [0, "done"],
      [1, "started"],
    ]);
    expect(journal?.steps[0]?.details).toEqual({ exitCode: 0, durationMs: 1000 });
    expect(journal?.steps[0]?.at).toBe(new Date(clock.ms).toISOString());

    const unfinished = await h.engine.unfinishedExecutions();
    expect(unfinished.map((j) => j.approvalId)).toEqual([id]);

    await h.engine.stepFailed(id, 1, { exitCode: 1 });
    expect(await h.engine.finish(id, "failed", "step 2 failed")).toBe(true);
    expect(await h.engine.finish(id, "ok")).toBe(false);
    await expect(h.engine.stepStarted(id, 2)).rejects.toMatchObject({ code: "state_changed" });
    const done = await h.engine.journal(id);
    expect(done?.finished).toMatchObject({ outcome: "failed", detail: "step 2 failed" });
    expect(done?.steps.map((s) => s.status)).toEqual(["done", "failed"]);
    expect(await h.engine.unfinishedExecutions()).toEqual([]);
  });
});

describe("approvalActionHandler", () => {
  const click = (value: string, userId: string, actionId = "xenops:approval:approve"): ActionRequest => ({
    source: "slack",
    deliveryId: `d-${Math.random()}`,
    channelId: CHANNEL,
    userId,
    messageTs: "1700000000.000001",
    actionId,
    value,
  });

  it("maps buttons to decisions and answers only refusals and partial approvals", async () => {
    const h = makeEngine({}, track);
    const handler = approvalActionHandler(h.engine);
    expect(handler.prefix).toBe("xenops:approval:");
    const fence = await h.engine.request(fencePlan(), {
      requestedBy: "UOPER1",
      channel: CHANNEL,
      policy: policyFor("fence", noInventory),
    });
    expect((await handler.handle(click(fence.id, "UOPER2")))?.text).toMatch(/^Not recorded: .*approver role/);
    expect((await handler.handle(click(fence.id, "UAPPROVER1")))?.text).toMatch(/1 more approval/);
    expect(await handler.handle(click(fence.id, "UAPPROVER2"))).toBeNull();
    expect((await handler.handle(click(fence.id, "UAPPROVER3")))?.text).toMatch(/already approved/);
    expect((await handler.handle(click(fence.id, "UAPPROVER3", "xenops:approval:bogus")))?.text).toMatch(
      /not known/,
    );

    const migrate = await requestMigrate(h);
    expect(await handler.handle(click(migrate.id, "UAPPROVER1", "xenops:approval:deny"))).toBeNull();
    expect((await h.engine.get(migrate.id))?.status).toBe("denied");
    expect(h.enqueued).toHaveLength(1);
  });
});
