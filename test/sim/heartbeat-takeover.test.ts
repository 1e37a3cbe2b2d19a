/**
 * heartbeat's automatic takeover in the simulator, as on the reference cluster: after deadtime the
 * survivor STONITHs the dead node through the fence device, then starts its haresources groups;
 * a failed STONITH means no takeover (heartbeat retries); auto_failback live-migrates the groups home
 * when the node returns. Everything is in /var/log/ha-log in heartbeat's own formats.
 */
import { describe, expect, it } from "vitest";
import { classifyHaLog, parseHaLogLine } from "../../src/drivers/heartbeat/ha-log";
import { createFaults, execInProcess, referenceLab, Simulation } from "../../src/sim";

type Spec = Parameters<typeof referenceLab>[0];

function lab(overrides: Spec = {}): Simulation {
  return new Simulation(referenceLab(overrides));
}

async function haLog(sim: Simulation, node: string, n = 200): Promise<string[]> {
  const r = await execInProcess(sim, node, `tail -n ${n} /var/log/ha-log`);
  expect(r.exitCode).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

const messages = (lines: string[]): string[] => lines.map((l) => parseHaLogLine(l)?.message ?? `?${l}`);

describe("heartbeat takeover (reference lab defaults: autoTakeover and auto_failback on)", () => {
  it("STONITH through the APC first, then the takeover; the reset node boots and fails back by live migration", async () => {
    const sim = lab();
    sim.nodeDown("ics2");
    sim.tick(29_999);
    expect(await haLog(sim, "ics1")).toEqual([]);
    sim.tick(1);
    const atDeadtime = await haLog(sim, "ics1");
    expect(atDeadtime[0]).toMatch(/^heartbeat\[\d+\]: 2009\/01\/12_10:00:30 WARN: node ics2: is dead$/);
    expect(messages(atDeadtime)).toEqual([
      "node ics2: is dead",
      "Link ics2:eth1 dead.",
      "Link ics2:/dev/ttyS1 dead.",
      "Resetting node ics2 with [APCSmart]",
      "node ics2 now reset.",
      "Resources being acquired from ics2.",
      "Running /etc/ha.d/rc.d/status status",
      "Taking over resource group drbddisk::internet",
      "Acquiring resource group: ics2 drbddisk::internet xendomains::internet",
    ]);
    // Script lines carry heartbeat's tab after the colon; every line parses.
    expect(atDeadtime.find((l) => l.startsWith("mach_down["))).toMatch(/^mach_down\[\d+\]:\t2009\//);
    expect(atDeadtime.every((l) => parseHaLogLine(l) !== null)).toBe(true);
    expect(sim.fenceLog.map((f) => [f.target, f.action, f.client, f.origin])).toEqual([
      ["ics2", "reset", "heartbeat", "ics1"],
    ]);
    expect(sim.guestLocations("internet")).toEqual([]);
    expect((await execInProcess(sim, "ics1", "cl_status rscstatus")).stdout).toBe("transition\n");

    sim.tick(5_000);
    expect(sim.guestLocations("internet")).toEqual(["ics1"]);
    expect(messages(await haLog(sim, "ics1", 3))).toEqual([
      "/usr/share/heartbeat/mach_down: nice_failback: foreign resources acquired",
      "mach_down takeover complete for node ics2.",
      "mach_down takeover complete.",
    ]);

    // The APC reset powers ics2 back on after rebootMs; heartbeat there starts, and ics1 gives the
    // group back (after takeoverMs): a live migration, the guest never stops.
    sim.tick(55_000);
    expect(sim.node("ics2")?.up).toBe(true);
    sim.tick(5_000);
    expect(sim.migrationOf("internet")).toMatchObject({ from: "ics1", to: "ics2", live: true });
    expect((await execInProcess(sim, "ics1", "cl_status rscstatus")).stdout).toBe("transition\n");
    sim.tick(20_000);
    expect(sim.guestLocations("internet")).toEqual(["ics2"]);
    expect(sim.resource("internet")?.local.ics1?.role).toBe("Secondary");
    expect(sim.resource("internet")?.local.ics2?.role).toBe("Primary");
    expect((await execInProcess(sim, "ics2", "cl_status rscstatus")).stdout).toBe("local\n");
    const holder = messages(await haLog(sim, "ics1"));
    expect(holder).toContain("ics1 wants to go standby [foreign]");
    expect(holder.at(-1)).toBe("Other node completed standby takeover of foreign resources.");
    expect(messages(await haLog(sim, "ics2"))).toContain("Standby resource acquisition done [foreign].");
  });

  it("a fence device that does not answer: `Host ics2 not reset!`, retries, no takeover until it works", async () => {
    const sim = lab();
    const faults = createFaults(sim);
    faults.fenceDevice(false);
    sim.nodeDown("ics2");
    sim.tick(40_000);
    const lines = messages(await haLog(sim, "ics1"));
    expect(lines.filter((m) => m === "Host ics2 not reset!")).toHaveLength(3);
    expect(lines.filter((m) => m === "STONITH of ics2 failed.  Retrying...")).toHaveLength(3);
    expect(lines).not.toContain("Resources being acquired from ics2.");
    expect(sim.guestLocations("internet")).toEqual([]);
    const failed = (await haLog(sim, "ics1")).find((l) => l.includes("not reset!")) ?? "";
    expect(failed).toMatch(/^heartbeat\[\d+\]: 2009\/01\/12_10:00:30 ERROR: Host ics2 not reset!$/);
    expect(classifyHaLog(parseHaLogLine(failed) ?? ({} as never))).toEqual({
      kind: "stonith_failed",
      node: "ics2",
    });

    faults.fenceDevice(true);
    sim.tick(5_000);
    expect(messages(await haLog(sim, "ics1", 20))).toContain("node ics2 now reset.");
    sim.tick(5_000);
    expect(sim.guestLocations("internet")).toEqual(["ics1"]);
  });

  it("without a STONITH device heartbeat warns and takes over anyway", async () => {
    const sim = lab({ fence: undefined });
    sim.nodeDown("ics2");
    sim.tick(36_000);
    const lines = messages(await haLog(sim, "ics1"));
    expect(lines).toContain("No STONITH device configured.");
    expect(lines).toContain("Shared disks are not protected.");
    expect(lines.some((m) => m.startsWith("Resetting node"))).toBe(false);
    expect(sim.guestLocations("internet")).toEqual(["ics1"]);
  });

  it("a dead node that held nothing is not reset; automatic takeover off logs the death only", async () => {
    const sim = lab();
    sim.nodeDown("ics1");
    sim.tick(31_000);
    expect(messages(await haLog(sim, "ics2")).slice(-1)).toEqual(["Dead node ics1 gave up resources."]);
    expect(sim.fenceLog).toEqual([]);

    const off = lab({ ha: { autoTakeover: false } });
    off.nodeDown("ics2");
    off.tick(60_000);
    expect(messages(await haLog(off, "ics1"))).toEqual([
      "node ics2: is dead",
      "Link ics2:eth1 dead.",
      "Link ics2:/dev/ttyS1 dead.",
    ]);
    expect(off.guestLocations("internet")).toEqual([]);
    off.setHaPolicy({ autoTakeover: true });
    expect(off.state.ha.autoTakeover).toBe(true);
  });

  it("tail: -n N, -nN, missing files like coreutils", async () => {
    const sim = lab();
    sim.nodeDown("ics2");
    sim.tick(31_000);
    expect((await execInProcess(sim, "ics1", "tail -n2 /var/log/ha-log")).stdout.split("\n")).toHaveLength(3);
    expect(await execInProcess(sim, "ics1", "tail -n 5 /var/log/messages")).toEqual({
      stdout: "",
      stderr: "tail: cannot open '/var/log/messages' for reading: No such file or directory\n",
      exitCode: 1,
    });
  });
});
