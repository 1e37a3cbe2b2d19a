/**
 * Preflight memory from the live state: a migrate, evacuate (and failback, a migrate) needs what the
 * running domain uses per `xm list`, not the inventory's memoryMiB, which counts only for a guest that
 * runs nowhere (create). The running domain's memory is changed like `xm mem-set` (lab: `!sim mem`).
 */
import { afterEach, describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import { guestMemory } from "../../src/operations/locate";
import { snapshotCluster } from "../../src/operations/plan";
import { referenceLab, type SimulatedCluster } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const memoryCheck = async (h: Harness, request: Parameters<Harness["plan"]>[0], name = "memory") => {
  const outcome = await h.plan(request);
  const checks = outcome.ok ? outcome.plan.checks : outcome.checks;
  return { ok: outcome.ok, check: checks.find((c) => c.name === name) };
};

describe("preflight memory from the running domain", () => {
  it("migrate: a guest ballooned above what fits on the target is refused, though the inventory says it fits", async () => {
    // ics2 has room for internet to grow; ics1 is the reference lab's.
    h = await harness(
      referenceLab({
        nodes: [
          { name: "ics1", memoryMiB: 4095, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
          { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
        ],
      }),
    );
    const before = await memoryCheck(h, { action: "migrate", guest: "internet", target: "ics1" });
    expect(before.ok).toBe(true);
    const free = Number(/ics1 has (\d+) MiB free/.exec(before.check?.detail ?? "")?.[1]);
    expect(free).toBeGreaterThan(3070);
    // The inventory still says 3070 MiB; the running domain now uses more than ics1 has free.
    expect(h.cluster.guests.find((g) => g.name === "internet")?.memoryMiB).toBe(3070);
    h.sim.setDomainMemory("internet", free + 10);
    const after = await memoryCheck(h, { action: "migrate", guest: "internet", target: "ics1" });
    expect(after.ok).toBe(false);
    expect(after.check).toEqual({
      name: "memory",
      ok: false,
      detail: `ics1 has ${free} MiB free; internet needs ${free + 10} MiB (what it uses now on ics2 per the domain list)`,
    });
  });

  it("migrate: a guest ballooned down fits where its inventory figure would not", async () => {
    h = await harness(
      referenceLab({
        nodes: [
          { name: "ics1", memoryMiB: 2047, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
          { name: "ics2", memoryMiB: 4095, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
        ],
      }),
    );
    const big = await memoryCheck(h, { action: "migrate", guest: "internet", target: "ics1" });
    expect(big.check?.ok).toBe(false);
    h.sim.setDomainMemory("internet", 1024);
    const small = await memoryCheck(h, { action: "migrate", guest: "internet", target: "ics1" });
    expect(small.check?.ok).toBe(true);
    expect(small.check?.detail).toMatch(/internet needs 1024 MiB \(what it uses now on ics2/);
    expect(small.ok).toBe(true);
  });

  it("evacuate sums the live memory of every guest", async () => {
    h = await harness(
      referenceLab({
        nodes: [
          { name: "ics1", memoryMiB: 5600, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
          { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
        ],
        guests: [
          {
            name: "internet",
            memoryMiB: 3070,
            vcpus: 2,
            drbd: ["internet"],
            home: "ics2",
            runningOn: "ics2",
          },
          { name: "mail", memoryMiB: 2048, vcpus: 1, drbd: ["mail"], home: "ics2", runningOn: "ics2" },
        ],
        drbd: [
          { name: "internet", minor: 0, nodes: ["ics1", "ics2"], sizeMiB: 40960, allowTwoPrimaries: true },
          { name: "mail", minor: 1, nodes: ["ics1", "ics2"], sizeMiB: 10240, allowTwoPrimaries: true },
        ],
      }),
    );
    // By the inventory (3070 + 2048) they would not fit on ics1; as they run now (2000 + 1500) they do.
    const refused = await h.plan({ action: "evacuate", node: "ics2" });
    expect(refused.ok).toBe(false);
    h.sim.setDomainMemory("internet", 2000);
    h.sim.setDomainMemory("mail", 1500);
    const outcome = await h.plan({ action: "evacuate", node: "ics2" });
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.plan.checks.find((c) => c.name === "mail: memory")?.detail).toMatch(
      /after 2000 MiB for the guests before; mail needs 1500 MiB \(what it uses now on ics2/,
    );
  });

  it("a guest that runs nowhere needs the inventory's memoryMiB", async () => {
    h = await harness(
      referenceLab({
        guests: [
          { name: "internet", memoryMiB: 3070, vcpus: 2, drbd: ["internet"], home: "ics2", runningOn: null },
        ],
      }),
    );
    const state = await snapshotCluster(h.deps, h.cluster);
    expect(guestMemory(h.cluster, state, "internet")).toEqual({
      mib: 3070,
      source: "memoryMiB in the inventory (it runs nowhere)",
    });
  });

  it("the lab directive `!sim mem GUEST MiB` balloons the running domain (like xm mem-set)", async () => {
    h = await harness(referenceLab());
    const directive = labDirectives({ cluster: h.sim } as unknown as SimulatedCluster);
    expect(await directive("!sim mem internet 2048")).toBe("lab: internet on ics2 now uses 2048 MiB");
    const state = await snapshotCluster(h.deps, h.cluster);
    expect(guestMemory(h.cluster, state, "internet").mib).toBe(2048);
    await expect(directive("!sim mem internet 999999")).rejects.toThrow(/ics2 has \d+ MiB free/);
    await expect(directive("!sim mem nosuch 512")).rejects.toThrow(/nosuch does not run on any node/);
  });

  it("the lab directive `!sim failMigration GUEST [arrived]` queues the fault for the next migration", async () => {
    h = await harness(referenceLab());
    const sim = h.sim;
    const directive = labDirectives({
      cluster: sim,
      faults: createFaults(sim),
    } as unknown as SimulatedCluster);
    expect(await directive("!sim failMigration internet arrived")).toBe(
      "lab: the next migration of internet arrives, but its migrate command fails",
    );
    expect(await directive("!sim failMigration internet")).toBe(
      "lab: the next migration of internet breaks off midway",
    );
    expect(sim.state.migrationFaults).toEqual([
      { guest: "internet", fraction: 0.5, arrived: true },
      { guest: "internet", fraction: 0.5 },
    ]);
    await expect(directive("!sim failMigration internet later")).rejects.toThrow(/usage/);
  });
});
