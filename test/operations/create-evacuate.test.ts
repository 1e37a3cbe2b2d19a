/** `create` and `evacuate` executed on the in-process simulator: success, and failures with their undo. */
import { afterEach, describe, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { referenceLab } from "../../src/sim";
import { holdCommand } from "../../src/sim/hooks";
import { type Harness, harness } from "./harness";
import { QUICK_TIMING, twoGuestLab } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function stoppedGuestLab() {
  return referenceLab({
    timing: QUICK_TIMING,
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
}

describe("create", () => {
  it("promotes the disk on the node, starts the guest from its config and verifies it", async () => {
    h = await harness(stoppedGuestLab());
    const plan = await h.plan({ action: "create", guest: "internet", node: null });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.plan.steps.map((s) => `${s.node}: ${s.argv.join(" ")}`)).toEqual([
      "ics2: drbdadm primary internet",
      "ics2: xm create /etc/xen/internet",
    ]);
    const id = await h.approve({ action: "create", guest: "internet", node: null });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome).toMatchObject({ status: "succeeded", summary: "internet runs on ics2 (verified)" });
    expect(h.sim.node("ics2")?.domains.some((d) => d.name === "internet")).toBe(true);
    expect(h.sim.resource("internet")?.local.ics2?.role).toBe("Primary");
  });

  it("on failure demotes what it promoted (the create timed out and never ran)", async () => {
    h = await harness(stoppedGuestLab(), { settings: { createTimeoutMs: 300 } });
    const id = await h.approve({ action: "create", guest: "internet", node: "ics1" });
    const hold = holdCommand(h.sim, { argv: ["xm", "create"] });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    hold.release();
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.summary).toBe("internet did not start; it runs nowhere");
    expect(outcome.details.join("\n")).toContain("undone: promotion of internet on ics1");
    expect(outcome.page).toBe(false);
    expect(h.sim.resource("internet")?.local.ics1?.role).toBe("Secondary");
    expect(h.sim.guestLocations("internet")).toEqual([]);
  });
});

describe("evacuate", () => {
  it("moves every guest, one at a time, with one approval", async () => {
    h = await harness(twoGuestLab());
    const id = await h.approve({ action: "evacuate", node: "ics2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome).toMatchObject({ status: "succeeded", summary: "internet, mail run on ics1 (verified)" });
    expect(h.sim.node("ics2")?.domains.filter((d) => d.guest)).toEqual([]);
    const order = h.calls.filter((c) => c.argv[1] === "migrate").map((c) => c.argv[3]);
    expect(order).toEqual(["internet", "mail"]);
  });

  it("stops at the first failure: the first guest moved, the second rolled back, nothing else tried", async () => {
    h = await harness(twoGuestLab());
    const id = await h.approve({ action: "evacuate", node: "ics2" });
    h.sim.state.migrationFaults = [{ guest: "mail", fraction: 0.4 }];
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.summary).toBe("mail was not moved: it still runs on ics2 only");
    expect(outcome.details).toContain("moved before the failure: internet");
    expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
    expect(h.sim.guestLocations("mail")).toEqual(["ics2"]);
    expect(h.sim.resource("mail")?.local.ics1?.role).toBe("Secondary");
  });

  it("checks the target's memory for all guests together", async () => {
    const spec = twoGuestLab();
    spec.nodes = [
      { name: "ics1", memoryMiB: 5600, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
      { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
    ];
    h = await harness(spec);
    const plan = await h.plan({ action: "evacuate", node: "ics2" });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    const failed = plan.checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.name)).toEqual(["mail: memory"]);
    expect(failed[0]?.detail).toMatch(/after 3070 MiB for the guests before; mail needs 2048 MiB/);
  });
});
