/**
 * Every preflight refusal, with its reason, on real snapshots of the simulator (and on snapshots edited
 * by hand where the simulator cannot produce the state). The preflight functions are pure: state and
 * facts in, checks out.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { PreflightCheck } from "../../src/approval/types";
import { mutationDriversFor } from "../../src/drivers/registry";
import { snapshotCluster } from "../../src/operations/plan";
import { buildPlan, DEFAULT_PLAN_SETTINGS } from "../../src/operations/preflight";
import { emptyFacts, type OperationRequest, type PlanOutcome } from "../../src/operations/types";
import type { OperationSpec } from "../../src/queue/schema";
import { modernLab, referenceLab } from "../../src/sim";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function failed(outcome: PlanOutcome): Record<string, string> {
  const checks: PreflightCheck[] = outcome.ok ? outcome.plan.checks : outcome.checks;
  return Object.fromEntries(checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
}

const migrate = (target = "ics1"): OperationSpec => ({ action: "migrate", guest: "internet", target });

describe("migrate preflight", () => {
  it("passes on the healthy reference cluster", async () => {
    h = await harness(referenceLab());
    const plan = await h.plan(migrate());
    expect(failed(plan)).toEqual({});
    expect(plan.ok).toBe(true);
  });

  it("refuses when the guest already runs on the target", async () => {
    h = await harness(referenceLab());
    expect(failed(await h.plan(migrate("ics2")))).toEqual({ location: "internet already runs on ics2" });
  });

  it("refuses while a migration is in flight (migrating-X on the source, X on the target count)", async () => {
    h = await harness(
      referenceLab({ timing: { migrationMsPerGiB: 60_000, shutdownMs: 100, rebootMs: 1000 } }),
    );
    h.sim.promote("internet", "ics1");
    expect(h.sim.startMigration("ics2", "internet", "ics1", true).ok).toBe(true);
    const f = failed(await h.plan(migrate()));
    expect(f.location).toMatch(
      /internet runs on ics1 as internet \(paused\) and ics2 as migrating-internet \(migrating away\)/,
    );
  });

  it("refuses when a node's domain list is unknown (unreachable counts as unknown, never as 'not running')", async () => {
    h = await harness(referenceLab());
    h.sim.node("ics1")!.reachability = "unreachable";
    const f = failed(await h.plan(migrate()));
    expect(f.location).toMatch(/unknown on ics1/);
    expect(f.target).toMatch(/ics1 does not answer over SSH/);
  });

  it("refuses when the target is declared dead by HA", async () => {
    h = await harness(referenceLab());
    const cluster = h.cluster;
    const state = await snapshotCluster(h.deps, cluster);
    for (const n of state.nodes)
      for (const m of n.ha?.nodes ?? []) if (m.name === "ics1") m.status = "offline";
    const plan = buildPlan(
      {
        cluster,
        state,
        facts: emptyFacts(),
        drivers: mutationDriversFor(cluster.toolstack),
        settings: DEFAULT_PLAN_SETTINGS,
      },
      { ...migrate(), cluster: "lab" } as OperationRequest,
    );
    expect(failed(plan).target).toMatch(
      /ics1 is declared dead: ics1 sees ics1 offline; ics2 sees ics1 offline/,
    );
  });

  it("refuses while a resync runs", async () => {
    h = await harness(referenceLab());
    h.sim.startResync("internet", "ics2", 400 * 1024);
    expect(failed(await h.plan(migrate()))["drbd internet"]).toMatch(
      /internet on ics2 is SyncSource \(\d+% done\): a resync is running/,
    );
  });

  it("refuses on split brain (StandAlone)", async () => {
    h = await harness(referenceLab());
    h.sim.splitBrain("internet", { bothPrimary: false });
    expect(failed(await h.plan(migrate()))["drbd internet"]).toMatch(/StandAlone \(split brain suspected/);
  });

  it("refuses when data is out of sync or the link is down", async () => {
    h = await harness(referenceLab());
    h.sim.disconnect("internet", "ics1");
    const f = failed(await h.plan(migrate()));
    expect(f["drbd internet"]).toMatch(/internet on ics2 is (WFConnection|StandAlone), not Connected/);
  });

  it("refuses when the target has too little free memory", async () => {
    h = await harness(
      referenceLab({
        guests: [
          {
            name: "internet",
            memoryMiB: 3070,
            vcpus: 2,
            drbd: ["internet"],
            home: "ics2",
            runningOn: "ics2",
          },
          { name: "spare", memoryMiB: 1024, vcpus: 1, drbd: [], home: "ics1", runningOn: "ics1" },
        ],
      }),
    );
    expect(failed(await h.plan(migrate())).memory).toMatch(
      /^ics1 has \d+ MiB free; internet needs 3070 MiB \(what it uses now on ics2 per the domain list\)$/,
    );
  });

  it("DRBD 8.2 without allow-two-primaries in the config: refused, it cannot be enabled at run time", async () => {
    h = await harness(referenceLab(), {
      cluster: { drbd: [{ name: "internet", minor: 0, device: "/dev/drbd0", allowTwoPrimaries: false }] },
    });
    expect(failed(await h.plan(migrate()))["dual-primary internet"]).toMatch(
      /DRBD 8\.2\.6 on ics2, 8\.2\.6 on ics1 cannot enable it at run time: set allow-two-primaries/,
    );
  });

  it("DRBD 9 without allow-two-primaries: enabled for the migration only", async () => {
    const spec = modernLab();
    for (const r of spec.drbd ?? []) r.allowTwoPrimaries = false;
    h = await harness(spec);
    const plan = await h.plan({ action: "migrate", guest: "db", target: "hv1" });
    expect(failed(plan)).toEqual({});
    if (!plan.ok) return;
    expect(plan.plan.checks.find((c) => c.name === "dual-primary db")?.detail).toMatch(
      /enabled for this migration only/,
    );
  });

  it("refuses on incompatible Xen versions and on unknown ones", async () => {
    h = await harness(referenceLab());
    const cluster = h.cluster;
    const state = await snapshotCluster(h.deps, cluster);
    const ics1 = state.nodes.find((n) => n.name === "ics1")!;
    ics1.xenInfo = { ...ics1.xenInfo!, xenMajor: 4, xenMinor: 0, xenVersion: "4.0.1" };
    const input = {
      cluster,
      state,
      facts: emptyFacts(),
      drivers: mutationDriversFor(cluster.toolstack),
      settings: DEFAULT_PLAN_SETTINGS,
    };
    expect(
      failed(buildPlan(input, { ...migrate(), cluster: "lab" } as OperationRequest))["xen versions"],
    ).toMatch(/ics2 runs Xen 3\.0\.3-1, ics1 Xen 4\.0\.1: live migration needs the same major version/);
    ics1.xenInfo = { ...ics1.xenInfo, xenMajor: null };
    expect(
      failed(buildPlan(input, { ...migrate(), cluster: "lab" } as OperationRequest))["xen versions"],
    ).toBe("the Xen version of the source or the target is unknown");
  });

  it("refuses when a node involved is in a maintenance window (or its window cannot be read)", async () => {
    h = await harness(referenceLab());
    h.deps.maintenance = async (_c, node) =>
      node === "ics1" ? { by: "UADMIN1", until: "2030-01-01T00:00:00.000Z", reason: "new disks" } : null;
    expect(failed(await h.plan(migrate()))).toEqual({
      "maintenance ics1":
        "ics1 is in maintenance until 2030-01-01T00:00:00.000Z (set by <@UADMIN1>: new disks); end it first (`/xen maintenance ics1 off`)",
    });
    h.deps.maintenance = async () => {
      throw new Error("redis down");
    };
    expect(failed(await h.plan({ action: "fence", node: "ics2" }))["maintenance ics2"]).toBe(
      "whether ics2 is in a maintenance window is unknown",
    );
  });

  it("refuses a guest without replicated disks", async () => {
    h = await harness(
      referenceLab({
        guests: [
          {
            name: "internet",
            memoryMiB: 3070,
            vcpus: 2,
            drbd: ["internet"],
            home: "ics2",
            runningOn: "ics2",
          },
          { name: "local", memoryMiB: 256, vcpus: 1, drbd: [], home: "ics2", runningOn: "ics2" },
        ],
      }),
    );
    expect(failed(await h.plan({ action: "migrate", guest: "local", target: "ics1" })).disks).toMatch(
      /declares no DRBD resources/,
    );
  });
});

describe("create preflight", () => {
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

  it("refuses when the guest runs somewhere", async () => {
    h = await harness(referenceLab());
    const f = failed(await h.plan({ action: "create", guest: "internet", node: "ics1" }));
    expect(f["not running"]).toBe("internet runs on ics2");
    expect(f["drbd internet"]).toMatch(/internet is Primary on ics2/);
  });

  it("refuses when the disk is Primary on another node", async () => {
    h = await harness(stopped());
    h.sim.promote("internet", "ics2");
    expect(
      failed(await h.plan({ action: "create", guest: "internet", node: "ics1" }))["drbd internet"],
    ).toMatch(/internet is Primary on ics2/);
  });

  it("refuses when the local disk is not UpToDate", async () => {
    h = await harness(stopped());
    h.sim.startResync("internet", "ics2", 200 * 1024);
    expect(
      failed(await h.plan({ action: "create", guest: "internet", node: "ics1" }))["drbd internet"],
    ).toMatch(/internet on ics1 is Inconsistent, not UpToDate/);
  });

  it("refuses while the silent peer is not proven off (declared dead is not enough); accepts once attested off", async () => {
    h = await harness({
      ...stopped(),
      ha: { deadtimeMs: 100, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
    });
    h.sim.nodeDown("ics1");
    const f = failed(await h.plan({ action: "create", guest: "internet", node: "ics2" }));
    expect(f["not running"]).toBe(
      "cannot tell whether internet runs on ics1: ics1 does not answer over SSH, but ics2 sees it online: what runs there could not be read",
    );
    // After deadtime heartbeat declares it dead: that only says it went silent.
    await vi.waitFor(() => expect(h?.sim.memberStatus("ics2", "ics1").alive).toBe(false), { timeout: 5_000 });
    const dead = failed(await h.plan({ action: "create", guest: "internet", node: "ics2" }));
    expect(dead["not running"]).toMatch(
      /^cannot tell whether internet runs on ics1: ics1 is not proven off \(/,
    );
    expect(dead["drbd internet"]).toContain(
      "`/xen attest-off ics1` once someone has checked it is powered off",
    );
    // Proven off (here: an attestation on record): the create may go ahead, and says what it relies on.
    await h.offProofs.record(h.cluster.name, "ics1", {
      kind: "attested-off",
      at: new Date().toISOString(),
      by: ["UAPPROVER1", "UAPPROVER2"],
      evidence: ["checked powered off by hand"],
      approvalId: null,
    });
    const later = await h.plan({ action: "create", guest: "internet", node: "ics2" });
    expect(failed(later)).toEqual({});
    if (!later.ok) return;
    expect(later.plan.checks.find((c) => c.name === "not running")?.detail).toBe(
      "internet runs on no node (ics1 proven off)",
    );
    expect(later.plan.checks.find((c) => c.name === "off-proof ics1")?.detail).toMatch(
      /^ics1 attested off by <@UAPPROVER1>, <@UAPPROVER2> at /,
    );
  });

  it("refuses when the config file is missing on the node", async () => {
    h = await harness(stopped(), {
      cluster: {
        guests: [
          {
            name: "internet",
            home: "ics2",
            configFile: "/etc/xen/missing.cfg",
            memoryMiB: 3070,
            drbd: ["internet"],
          },
        ],
      },
    });
    expect(failed(await h.plan({ action: "create", guest: "internet", node: null }))["config file"]).toBe(
      "/etc/xen/missing.cfg does not exist on ics2",
    );
  });

  it("refuses when the node lacks memory, and when no node is named and there is no home", async () => {
    h = await harness(stopped(), {
      cluster: {
        guests: [{ name: "internet", configFile: "/etc/xen/internet", memoryMiB: 9000, drbd: ["internet"] }],
      },
    });
    expect(failed(await h.plan({ action: "create", guest: "internet", node: "ics1" })).memory).toMatch(
      /ics1 has \d+ MiB free; internet needs 9000 MiB/,
    );
    expect(failed(await h.plan({ action: "create", guest: "internet", node: null })).node).toMatch(
      /has no home node/,
    );
  });
});

describe("fence and evacuate preflight", () => {
  it("refuses when no fence method is configured", async () => {
    h = await harness(referenceLab(), {
      cluster: { toolstack: { hypervisor: "xm", drbd: 8, ha: "heartbeat", fence: { method: "none" } } },
    });
    expect(failed(await h.plan({ action: "fence", node: "ics1" }))["fence method"]).toMatch(
      /no fence method configured/,
    );
  });

  it("lists the guests that stop with a fenced node (a passed, informative check)", async () => {
    h = await harness(referenceLab());
    const plan = await h.plan({ action: "fence", node: "ics2" });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.plan.checks.find((c) => c.name === "guests on the node")?.detail).toBe(
      "these stop with it: internet (HA may restart them elsewhere)",
    );
    expect(plan.plan.steps[0]?.node).toBe("ics1");
  });

  it("evacuate refuses a node without guests, and guests it does not know", async () => {
    h = await harness(referenceLab());
    expect(failed(await h.plan({ action: "evacuate", node: "ics1" })).guests).toBe(
      "no guests run on ics1: nothing to evacuate",
    );
    h.sim.state.guests.push({
      name: "stray",
      memMiB: 128,
      vcpus: 1,
      drbd: [],
      home: null,
      configFile: "/etc/xen/stray",
    });
    h.sim.createGuest("ics2", "stray");
    expect(failed(await h.plan({ action: "evacuate", node: "ics2" })).guests).toBe(
      "not in the inventory, so xenops cannot plan them: stray",
    );
  });

  it("evacuate runs every guest's migrate preflight", async () => {
    h = await harness(referenceLab());
    h.sim.startResync("internet", "ics2", 400 * 1024);
    const f = failed(await h.plan({ action: "evacuate", node: "ics2" }));
    expect(f["internet: drbd internet"]).toMatch(/a resync is running/);
  });
});
