/**
 * DRBD 9 resources can have more than one peer, and a peer need not be a node of the inventory (a
 * disaster-recovery copy). The create preflight looks at every peer the local node reports, not the
 * first one only: another Primary, or a peer that is not connected and cannot be proven off, refuses.
 */
import { afterEach, expect, it } from "vitest";
import type { PreflightCheck } from "../../src/approval/types";
import { mutationDriversFor } from "../../src/drivers/registry";
import type { ClusterState, DrbdPeer } from "../../src/model";
import { snapshotCluster } from "../../src/operations/plan";
import { buildPlan, DEFAULT_PLAN_SETTINGS } from "../../src/operations/preflight";
import { emptyFacts, type OperationRequest } from "../../src/operations/types";
import { referenceLab } from "../../src/sim";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const stopped = () =>
  referenceLab({
    guests: [
      { name: "internet", memoryMiB: 3070, vcpus: 2, drbd: ["internet"], home: "ics2", runningOn: null },
    ],
    drbd: [
      {
        name: "internet",
        minor: 0,
        nodes: ["ics1", "ics2"],
        sizeMiB: 40960,
        allowTwoPrimaries: true,
        primaryOn: [],
      },
    ],
  });

function drbdCheck(state: ClusterState, h: Harness): PreflightCheck | undefined {
  const facts = emptyFacts();
  facts.configFile.ics2 = true;
  const outcome = buildPlan(
    {
      cluster: h.cluster,
      state,
      facts,
      drivers: mutationDriversFor(h.cluster.toolstack),
      settings: DEFAULT_PLAN_SETTINGS,
    },
    { action: "create", cluster: "lab", guest: "internet", node: "ics2" } as OperationRequest,
  );
  const checks = outcome.ok ? outcome.plan.checks : outcome.checks;
  return checks.find((c) => c.name === "drbd internet");
}

/** A snapshot with a second peer of `internet` on ics2: `dr1`, not a node of the inventory. */
async function withSecondPeer(extra: Partial<DrbdPeer>): Promise<ClusterState> {
  h = await harness(stopped());
  const state = await snapshotCluster(h.deps, h.cluster);
  const r = state.nodes.find((n) => n.name === "ics2")?.drbd?.find((x) => x.name === "internet");
  const first = r?.peers[0];
  if (!r || !first) throw new Error("no internet resource on ics2 in the snapshot");
  r.peers.push({ ...first, node: "dr1", ...extra });
  return state;
}

it("the first peer is fine: checks pass (baseline)", async () => {
  h = await harness(stopped());
  const state = await snapshotCluster(h.deps, h.cluster);
  expect(drbdCheck(state, h)?.ok).toBe(true);
});

it("a second peer that is Primary refuses the create", async () => {
  const state = await withSecondPeer({ role: "Primary" });
  const c = drbdCheck(state, h as Harness);
  expect(c?.ok).toBe(false);
  expect(c?.detail).toMatch(/dr1 is Primary/);
});

it("a second peer that is not connected (it may be writing) refuses the create", async () => {
  const state = await withSecondPeer({
    connectionState: "Connecting",
    replicationState: null,
    role: "Unknown",
    diskState: "DUnknown",
    outOfSyncKiB: null,
    sync: null,
  });
  const c = drbdCheck(state, h as Harness);
  expect(c?.ok).toBe(false);
  expect(c?.detail).toMatch(/dr1/);
});
