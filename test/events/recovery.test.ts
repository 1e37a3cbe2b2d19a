/** The split-brain recovery plan: steps by state and DRBD version, checks, and what it refuses. */
import { describe, expect, it } from "vitest";
import { policyFor } from "../../src/approval/policy";
import { planSplitBrainRecovery } from "../../src/operations/split-brain-plan";
import { modernLab, referenceLab, Simulation } from "../../src/sim";
import { simInventory, snapshotOf } from "./helpers";

const v = (text: string) => {
  const [major, minor, patch] = text.split(".").map(Number);
  return { major: major ?? 0, minor: minor ?? 0, patch: patch ?? null, text };
};

async function plan(
  sim: Simulation,
  survivor: string,
  victim: string,
  version = v("8.2.6"),
  resource?: string,
) {
  const inventory = simInventory(sim);
  const cluster = inventory.clusters[0];
  if (!cluster) throw new Error("no cluster");
  const res = resource ?? sim.state.drbd[0]?.name ?? "";
  const state = await snapshotOf(sim, cluster);
  return {
    inventory,
    outcome: planSplitBrainRecovery(
      cluster,
      state,
      { cluster: cluster.name, resource: res, survivor, victim },
      version,
    ),
  };
}

describe("split-brain recovery plan", () => {
  it("DRBD 8.2 (reference lab): guest stopped on the victim, Secondary, `drbdadm -- --discard-my-data connect`, survivor reconnected", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    sim.splitBrain("internet");
    const { outcome, inventory } = await plan(sim, "ics1", "ics2");
    if (!outcome.ok) throw new Error(outcome.summary);
    expect(outcome.plan.steps.map((s) => [s.node, s.argv.join(" "), s.destructive])).toEqual([
      ["ics2", "xm shutdown internet", true],
      ["ics2", "drbdadm secondary internet", false],
      ["ics2", "drbdadm -- --discard-my-data connect internet", true],
      ["ics1", "drbdadm connect internet", false],
    ]);
    expect(outcome.plan).toMatchObject({
      action: "split_brain_recover",
      target: { resource: "internet", node: "ics2" },
      params: { resource: "internet", survivor: "ics1", victim: "ics2", drbdVersion: "8.2.6" },
    });
    expect(outcome.plan.checks.find((c) => c.name === "guests on the victim")?.detail).toBe(
      "internet runs on ics2 and will be shut down first; start it on ics1 afterwards",
    );
    // Approving needs the victim and the resource typed (NODE/RESOURCE), and only approvers may ask.
    expect(policyFor("split_brain_recover", inventory, outcome.plan)).toMatchObject({
      typedConfirmation: "ics2/internet",
      requestRole: "approver",
    });
  });

  it("DRBD 8.4 and 9: `drbdadm connect --discard-my-data R`; no guest to stop when the victim runs none", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    sim.splitBrain("internet");
    const { outcome } = await plan(sim, "ics2", "ics1", v("8.4.11"));
    if (!outcome.ok) throw new Error(outcome.summary);
    expect(outcome.plan.steps.map((s) => `${s.node}: ${s.argv.join(" ")}`)).toEqual([
      "ics1: drbdadm secondary internet",
      "ics1: drbdadm connect --discard-my-data internet",
      "ics2: drbdadm connect internet",
    ]);
    const modern = new Simulation(modernLab());
    modern.splitBrain("db", { bothPrimary: false });
    const m = await plan(modern, "hv2", "hv1", v("9.2.8"), "db");
    if (!m.outcome.ok) throw new Error(m.outcome.summary);
    expect(m.outcome.plan.steps.map((s) => `${s.node}: ${s.argv.join(" ")}`)).toEqual([
      "hv1: drbdadm connect --discard-my-data db",
      "hv2: drbdadm connect db",
    ]);
  });

  it("a victim still trying to connect is disconnected first (DRBD 8 refuses connect with a net config)", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    sim.splitBrain("internet");
    sim.connect("internet", "ics2", false); // ics2 back to WFConnection, ics1 still StandAlone
    const { outcome } = await plan(sim, "ics1", "ics2");
    if (!outcome.ok) throw new Error(outcome.summary);
    expect(outcome.plan.steps.map((s) => s.argv.join(" "))).toContain("drbdadm disconnect internet");
  });

  it("refuses without a split brain, with the victim unreachable, or with an unknown DRBD version", async () => {
    const healthy = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const a = await plan(healthy, "ics1", "ics2");
    expect(a.outcome.ok).toBe(false);
    if (!a.outcome.ok) expect(a.outcome.checks.find((c) => !c.ok)?.name).toBe("split brain");

    const down = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    down.splitBrain("internet");
    down.nodeDown("ics2");
    const b = await plan(down, "ics1", "ics2");
    expect(b.outcome.ok).toBe(false);
    if (!b.outcome.ok)
      expect(b.outcome.checks.filter((c) => !c.ok).map((c) => c.name)).toContain("ics2 answers");

    const sb = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    sb.splitBrain("internet");
    const inventory = simInventory(sb);
    const cluster = inventory.clusters[0];
    if (!cluster) throw new Error("no cluster");
    const c = planSplitBrainRecovery(
      cluster,
      await snapshotOf(sb, cluster),
      { cluster: "lab", resource: "internet", survivor: "ics1", victim: "ics1" },
      null,
    );
    expect(c.ok).toBe(false);
    if (!c.ok)
      expect(c.checks.filter((x) => !x.ok).map((x) => x.name)).toEqual([
        "two different nodes",
        "DRBD version known",
      ]);
  });
});
