/** Simulator labs shared by the operation tests that execute plans. */
import { expect, vi } from "vitest";
import { referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import type { Harness } from "./harness";

/** Quick enough for tests: a GiB migrates in 150 ms, a guest shuts down in 100 ms; a reboot takes a minute. */
export const QUICK_TIMING = { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 };

/**
 * internet (3 GiB) and mail (2 GiB) both run on ics2, each on its own resource with allow-two-primaries;
 * ics1 (8 GiB, 512 MiB for dom0) has room for both, so evacuating ics2 moves them there one at a time.
 */
export function twoGuestLab() {
  return referenceLab({
    timing: QUICK_TIMING,
    nodes: [
      { name: "ics1", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
      { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
    ],
    guests: [
      { name: "internet", memoryMiB: 3070, vcpus: 2, drbd: ["internet"], home: "ics2", runningOn: "ics2" },
      { name: "mail", memoryMiB: 2048, vcpus: 1, drbd: ["mail"], home: "ics2", runningOn: "ics2" },
    ],
    drbd: [
      { name: "internet", minor: 0, nodes: ["ics1", "ics2"], sizeMiB: 40960, allowTwoPrimaries: true },
      { name: "mail", minor: 1, nodes: ["ics1", "ics2"], sizeMiB: 10240, allowTwoPrimaries: true },
    ],
  });
}

/** heartbeat declares a silent peer dead after 200 ms and takes nothing over by itself. */
export const QUICK_HA = {
  ha: { deadtimeMs: 200, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
  timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 30_000 },
};

/** Partitions `node` and waits until its peer's HA stack has declared it dead (deadtime). */
export async function partition(x: Harness, node: string, peer: string): Promise<void> {
  createFaults(x.sim).partition(node);
  await vi.waitFor(() => expect(x.sim.memberStatus(peer, node).alive).toBe(false), { timeout: 5_000 });
}
