/** What the simulator gained for the risky operations: faults, hooks, test/ls, net-options, stonith -F /dev/stdin. */
import { describe, expect, it } from "vitest";
import { createFaults, execInProcess, ManualClock, modernLab, referenceLab, Simulation } from "../../src/sim";

describe("simulator additions", () => {
  it("failMigration: xm migrate breaks off midway, the guest keeps running on the sender", async () => {
    const clock = new ManualClock();
    const sim = new Simulation(
      referenceLab({ timing: { migrationMsPerGiB: 1000, shutdownMs: 100, rebootMs: 1000 } }),
      { clock },
    );
    createFaults(sim).failMigration("internet", 0.5);
    sim.promote("internet", "ics1");
    const run = execInProcess(sim, "ics2", "xm migrate --live internet ics1");
    // In-process: the migration has started (and waits for the clock) after one turn of the event loop.
    await new Promise((r) => setImmediate(r));
    sim.tick(10_000);
    const res = await run;
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toMatch(/xc_save .* failed/);
    expect(sim.guestLocations("internet")).toEqual(["ics2"]);
    expect(sim.node("ics2")?.domains.find((d) => d.guest === "internet")?.name).toBe("internet");
  });

  it("fenceIneffective: the device reports success, the node stays up", () => {
    const sim = new Simulation(referenceLab());
    createFaults(sim).fenceIneffective("ics1");
    expect(sim.fence("ics1", "reset", { client: "t", origin: "ics2" }).ok).toBe(true);
    expect(sim.node("ics1")?.up).toBe(true);
  });

  it("holdCommand holds a command before it runs; a client that goes away means it never runs", async () => {
    const sim = new Simulation(referenceLab());
    const faults = createFaults(sim);
    const hold = faults.holdCommand({ node: "ics1", argv: ["drbdadm", "primary"] });
    const ac = new AbortController();
    const run = execInProcess(sim, "ics1", "drbdadm primary internet", { signal: ac.signal });
    await hold.held();
    ac.abort();
    expect((await run).exitCode).toBe(255);
    expect(sim.resource("internet")?.local.ics1?.role).toBe("Secondary");
    hold.stop();
    const watch = faults.watchCommands({ argv: (a) => a[0] === "drbdadm" });
    await execInProcess(sim, "ics1", "drbdadm cstate internet");
    await execInProcess(sim, "ics2", "drbdadm dstate internet");
    expect(watch.count).toBe(2);
    expect(watch.seen).toEqual([
      ["drbdadm", "cstate", "internet"],
      ["drbdadm", "dstate", "internet"],
    ]);
  });

  it("test -f and ls know the guests' config files", async () => {
    const sim = new Simulation(referenceLab());
    expect((await execInProcess(sim, "ics1", "test -f /etc/xen/internet")).exitCode).toBe(0);
    expect((await execInProcess(sim, "ics1", "test -f /etc/xen/nope")).exitCode).toBe(1);
    expect((await execInProcess(sim, "ics1", "ls /etc/xen/nope")).stderr).toMatch(/No such file/);
  });

  it("drbdadm net-options toggles allow-two-primaries on DRBD 9; DRBD 8.2 does not know it", async () => {
    const spec = modernLab();
    for (const r of spec.drbd ?? []) r.allowTwoPrimaries = false;
    const sim = new Simulation(spec);
    expect((await execInProcess(sim, "hv2", "drbdadm primary web")).exitCode).toBe(11);
    expect(
      (await execInProcess(sim, "hv2", "drbdadm net-options --allow-two-primaries=yes web")).exitCode,
    ).toBe(0);
    expect((await execInProcess(sim, "hv2", "drbdadm primary web")).exitCode).toBe(0);
    const off = await execInProcess(sim, "hv2", "drbdadm net-options --allow-two-primaries=no web");
    expect(off.exitCode).toBe(11);
    expect(off.stderr).toMatch(/Multiple primaries not allowed/);
    // drbdadm 8.2 has neither the command nor the option.
    const old = new Simulation(referenceLab());
    const res = await execInProcess(old, "ics1", "drbdadm net-options --allow-two-primaries=yes internet");
    expect(res.exitCode).toBe(20);
    expect(res.stderr).toMatch(/unrecognized option/);
  });
});
