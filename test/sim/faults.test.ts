/** The faults API and its consequences, plus heal() and the real-time driver. */
import { describe, expect, it } from "vitest";
import { createFaults, referenceLab, Simulation, startSimulatedCluster } from "../../src/sim";
import { out, run } from "./helpers";

function faulty() {
  const sim = new Simulation(referenceLab());
  return { sim, faults: createFaults(sim) };
}

describe("faults", () => {
  it("nodeDown: peers see DRBD WFConnection at once and the node dead after deadtime; nodeUp boots it", async () => {
    const { sim, faults } = faulty();
    faults.nodeDown("ics1");
    expect(await out(sim, "ics2", "drbdadm state internet")).toBe("Primary/Unknown\n");
    expect(await out(sim, "ics2", "drbdadm cstate internet")).toBe("WFConnection\n");
    sim.tick(29999);
    expect(await out(sim, "ics2", "cl_status nodestatus ics1")).toBe("active\n");
    sim.tick(1);
    expect((await run(sim, "ics2", "cl_status nodestatus ics1")).stdout).toBe("dead\n");
    faults.nodeUp("ics1", 45000);
    sim.tick(44999);
    expect(sim.node("ics1")?.up).toBe(false);
    sim.tick(1);
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Secondary/Primary\n");
    expect(await out(sim, "ics2", "cl_status nodestatus ics1")).toBe("active\n");
  });

  it("fenceDevice(false): stonith gets S_ACCESS; fence agents cannot log in", async () => {
    const { sim, faults } = faulty();
    faults.fenceDevice(false);
    expect(
      (await run(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS0 ics1 ics2' -T off ics2")).exitCode,
    ).toBe(2);
    expect(sim.node("ics2")?.up).toBe(true);
  });

  it("unknown names are errors, not silent no-ops", () => {
    const { faults } = faulty();
    expect(() => faults.nodeDown("ics9")).toThrow(/unknown node ics9/);
    expect(() => faults.splitBrain("nope")).toThrow(/unknown DRBD resource/);
    expect(() => faults.slowSsh("ics1", -1)).toThrow(RangeError);
  });

  it("heal: nodes back, reachable, and a split brain resolved against the side without the guest", async () => {
    const { sim, faults } = faulty();
    faults.splitBrain("internet");
    faults.nodeDown("ics1");
    faults.unreachable("ics2");
    faults.slowSsh("ics2", 500);
    faults.heal();
    expect(sim.node("ics2")).toMatchObject({ reachability: "ok", sshDelayMs: 0 });
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("SyncTarget\n");
    sim.tick(5000);
    expect(await out(sim, "ics1", "drbdadm dstate internet")).toBe("UpToDate/UpToDate\n");
    expect(await out(sim, "ics2", "drbdadm state internet")).toBe("Primary/Secondary\n");
    expect(sim.guestLocations("internet")).toEqual(["ics2"]);
  });

  it("heal resolves a split brain with both nodes up: the guest's side wins", async () => {
    const { sim, faults } = faulty();
    faults.splitBrain("internet", { oosKiB: 1024 });
    faults.heal();
    expect(await out(sim, "ics2", "drbdadm cstate internet")).toBe("SyncSource\n");
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Secondary/Primary\n");
  });
});

describe("real-time driver", () => {
  it("moves simulated time with the wall clock by itself", async () => {
    const lab = await startSimulatedCluster(referenceLab(), { clock: "real" });
    try {
      // 2 MiB at 10 MiB/s: done about 200 ms later without anyone ticking.
      lab.faults.startResync("internet", "ics2", 2048);
      expect((await lab.exec("ics1", "drbdadm cstate internet")).stdout).toBe("SyncTarget\n");
      await lab.cluster.waitFor(
        () => lab.cluster.resource("internet")?.resync === null,
        AbortSignal.timeout(5000),
      );
      expect((await lab.exec("ics1", "drbdadm dstate internet")).stdout).toBe("UpToDate/UpToDate\n");
    } finally {
      await lab.close();
    }
  });
});
