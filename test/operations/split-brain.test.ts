/**
 * Split-brain recovery in the one executor (src/operations/executor.ts with the action's hooks,
 * src/operations/split-brain.ts): the steps, the read-back of the victim before the discard,
 * the resync followed to UpToDate/UpToDate, the incident told, and cancel before and past the point of
 * no return (the discard).
 */
import { afterEach, describe, expect, it } from "vitest";
import { policyFor } from "../../src/approval/policy";
import type { OperationDeps } from "../../src/operations/context";
import { executeApproved } from "../../src/operations/executor";
import { referenceLab } from "../../src/sim";
import { type Harness, harness, simRunner } from "./harness";

const hs: Harness[] = [];
afterEach(async () => {
  await Promise.all(hs.splice(0).map((h) => h.close()));
});

async function setup() {
  const h = await harness(
    referenceLab({ timing: { shutdownMs: 100 }, ha: { autoTakeover: false, autoFailback: false } }),
  );
  hs.push(h);
  const told: string[] = [];
  h.deps.splitBrainEvents = {
    async recovering(_cluster, resource, approvalId) {
      told.push(`recovering ${resource} ${approvalId === null ? "over" : "running"}`);
    },
    async resolved(_cluster, resource, title) {
      told.push(`resolved ${resource}: ${title}`);
    },
  };
  h.sim.splitBrain("internet");
  return { h, told };
}

/** Plans the recovery keeping ics1's data; UAPPROVER1 asks, UAPPROVER2 types `ics2/internet`. */
async function approveRecovery(h: Harness): Promise<string> {
  const outcome = await h.plan({
    action: "split_brain_recover",
    resource: "internet",
    survivor: "ics1",
    victim: "ics2",
  });
  if (!outcome.ok) throw new Error(outcome.summary);
  const policy = policyFor("split_brain_recover", h.inventory, outcome.plan);
  expect(policy.typedConfirmation).toBe("ics2/internet");
  const record = await h.deps.approvals.request(outcome.plan, {
    requestedBy: "UAPPROVER1",
    channel: "C0LAB",
    policy,
  });
  const r = await h.deps.approvals.decide(record.id, "UAPPROVER2", "approve", { typed: "ics2/internet" });
  expect(r.outcome).toBe("approved");
  await h.deps.approvals.settled();
  return record.id;
}

/** The harness' deps with a runner that calls `after(argv)` once each command answered. */
function withAfter(h: Harness, after: (argv: readonly string[]) => void): OperationDeps {
  return {
    ...h.deps,
    runnerFor: (_c, node) => {
      const inner = simRunner(h.sim, node, h.calls);
      return {
        node,
        async run(argv, options) {
          const res = await inner.run(argv, options);
          after(argv);
          return res;
        },
      };
    },
  };
}

const discards = (h: Harness) => h.calls.filter((c) => c.argv.includes("--discard-my-data")).length;

describe("split-brain recovery in the executor", () => {
  it("shuts the victim's guest down, discards once, reconnects, follows the resync and resolves the incident", async () => {
    const { h, told } = await setup();
    const id = await approveRecovery(h);
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome).toMatchObject({
      status: "succeeded",
      summary: "Split brain of internet recovered: ics1's data kept, ics2's changes discarded and resynced",
    });
    expect(h.calls.map((c) => `${c.node}: ${c.argv.join(" ")}`)).toEqual(
      expect.arrayContaining([
        "ics2: xm shutdown internet",
        "ics2: drbdadm secondary internet",
        "ics2: drbdadm -- --discard-my-data connect internet",
        "ics1: drbdadm connect internet",
      ]),
    );
    expect(discards(h)).toBe(1);
    const r = h.sim.state.drbd.find((x) => x.name === "internet");
    expect(r?.local.ics1).toMatchObject({ disk: "UpToDate", splitBrain: false });
    expect(r?.local.ics2).toMatchObject({ role: "Secondary", disk: "UpToDate", splitBrain: false });
    expect(told).toEqual([
      "recovering internet running",
      "resolved internet: Recovered by xenops: kept ics1's data; internet is UpToDate/UpToDate",
      "recovering internet over",
    ]);
    const journal = await h.deps.approvals.journal(id);
    expect(journal?.finished?.outcome).toBe("ok");
    expect(journal?.steps.map((s) => s.status)).toEqual(["done", "done", "done", "done"]);
  });

  it("a cancel before the discard stops there: nothing is discarded", async () => {
    const { h, told } = await setup();
    const id = await approveRecovery(h);
    const cancel = new AbortController();
    const deps = withAfter(h, (argv) => {
      if (argv.join(" ") === "xm shutdown internet") cancel.abort();
    });
    const outcome = await executeApproved(deps, id, { jobId: `exec-${id}`, signal: cancel.signal });
    expect(outcome).toMatchObject({
      status: "failed",
      summary: "Cancelled before step 2: ics2's data was not discarded",
      page: false,
    });
    expect(discards(h)).toBe(0);
    expect(h.sim.state.drbd.find((x) => x.name === "internet")?.local.ics2?.splitBrain).toBe(true);
    expect(told).toEqual(["recovering internet running", "recovering internet over"]);
  });

  it("a cancel once the discard ran no longer aborts: it reconnects, resyncs and says so", async () => {
    const { h } = await setup();
    const id = await approveRecovery(h);
    const cancel = new AbortController();
    const deps = withAfter(h, (argv) => {
      if (argv.includes("--discard-my-data")) cancel.abort();
    });
    const outcome = await executeApproved(deps, id, { jobId: `exec-${id}`, signal: cancel.signal });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status === "succeeded")
      expect(outcome.details).toContain(
        "cancel was asked for past the point of no return: it finished and verified",
      );
    expect(h.calls.some((c) => c.node === "ics1" && c.argv.join(" ") === "drbdadm connect internet")).toBe(
      true,
    );
    expect(discards(h)).toBe(1);
  });

  it("the victim no longer Secondary right before the discard: the discard is not run", async () => {
    const { h } = await setup();
    const id = await approveRecovery(h);
    // Something promotes ics2 again between the demotion and the discard.
    const deps = withAfter(h, (argv) => {
      if (argv.join(" ") === "drbdadm secondary internet") {
        const l = h.sim.state.drbd.find((x) => x.name === "internet")?.local.ics2;
        if (l) l.role = "Primary";
        h.sim.changed();
      }
    });
    const outcome = await executeApproved(deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status === "failed")
      expect(outcome.details.join("\n")).toContain(
        "internet is Primary on ics2, not Secondary: the discard was not run",
      );
    expect(discards(h)).toBe(0);
  });
});
