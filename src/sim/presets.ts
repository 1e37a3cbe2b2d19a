/**
 * Lab presets. referenceLab() is the cluster the product was built for: two Xen 3.0.3 hosts with
 * DRBD 8.2.6 and heartbeat v1 (haresources), fenced through APC Smart-UPS units on serial lines.
 * modernLab() is the same idea on today's stack (xl, DRBD 9, Pacemaker, IPMI fencing); scaleLab(n)
 * is a large cluster for benchmarks.
 */
import type { SimClusterSpecInput, SimDrbdSpec, SimGuestSpec, SimNodeSpec } from "./model";

type Overrides = Partial<Omit<SimClusterSpecInput, "flavour">>;

/**
 * `lab`: ics1 + ics2; guest `internet` (3070 MiB, 2 VCPUs) on DRBD `internet` (minor 0), running on ics2.
 * heartbeat takes over automatically (STONITH first) and fails back (auto_failback on).
 */
export function referenceLab(overrides: Overrides = {}): SimClusterSpecInput {
  const { ha, ...rest } = overrides;
  return {
    name: "lab",
    flavour: "reference",
    seed: 1,
    nodes: [
      { name: "ics1", memoryMiB: 4095, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
      { name: "ics2", memoryMiB: 4095, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
    ],
    guests: [
      { name: "internet", memoryMiB: 3070, vcpus: 2, drbd: ["internet"], home: "ics2", runningOn: "ics2" },
    ],
    drbd: [
      {
        name: "internet",
        minor: 0,
        nodes: ["ics1", "ics2"],
        sizeMiB: 40960,
        allowTwoPrimaries: true,
        backingDisk: "/dev/vg0/internet",
        syncRateKiBps: 10240,
        writeRateKiBps: 8,
      },
    ],
    // As on the reference cluster: after deadtime heartbeat STONITHs the dead node through the APC
    // and takes its haresources groups over; auto_failback on gives them back when it returns.
    // `ha` overrides are merged, so a test can switch one of them off.
    ha: { deadtimeMs: 30000, autoTakeover: true, autoFailback: true, takeoverMs: 5000, ...ha },
    fence: { type: "apcsmart", ttydev: "/dev/ttyS0", reachable: true },
    // The lab's DRBD module is loaded with proc_details=1, so /proc/drbd shows the LRU lines too.
    drbdProcDetails: 1,
    ...rest,
  };
}

/** `modern`: hv1 + hv2 with xl, DRBD 9.2 and Pacemaker 2.1; guests `web` on hv1 and `db` on hv2. */
export function modernLab(overrides: Overrides = {}): SimClusterSpecInput {
  return {
    name: "modern",
    flavour: "modern",
    seed: 2,
    nodes: [
      { name: "hv1", memoryMiB: 65442, dom0MemoryMiB: 2048, cpus: 16, cpuMhz: 2394 },
      { name: "hv2", memoryMiB: 65442, dom0MemoryMiB: 2048, cpus: 16, cpuMhz: 2394 },
    ],
    guests: [
      { name: "web", memoryMiB: 4096, vcpus: 2, drbd: ["web"], home: "hv1", runningOn: "hv1" },
      { name: "db", memoryMiB: 16384, vcpus: 4, drbd: ["db"], home: "hv2", runningOn: "hv2" },
    ],
    drbd: [
      {
        name: "web",
        minor: 0,
        nodes: ["hv1", "hv2"],
        sizeMiB: 20480,
        allowTwoPrimaries: true,
        backingDisk: "/dev/vg0/web",
      },
      {
        name: "db",
        minor: 1,
        nodes: ["hv1", "hv2"],
        sizeMiB: 102400,
        allowTwoPrimaries: true,
        backingDisk: "/dev/vg0/db",
      },
    ],
    ha: { deadtimeMs: 5000, autoTakeover: false, autoFailback: false, takeoverMs: 3000 },
    fence: { type: "fence_ipmilan", login: "admin", password: "xenops-lab", reachable: true },
    ...overrides,
  };
}

/**
 * n nodes in pairs (the last one pairs with the first when n is odd), two guests per node, each on
 * its own DRBD resource replicated to the partner. Minors are unique cluster-wide.
 */
export function scaleLab(
  n: number,
  overrides: Overrides & { flavour?: "reference" | "modern" } = {},
): SimClusterSpecInput {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`scaleLab needs at least 2 nodes, got ${n}`);
  const { flavour = "reference", ...rest } = overrides;
  const width = Math.max(3, String(n).length);
  const name = (i: number): string => `n${String(i + 1).padStart(width, "0")}`;
  const nodes: SimNodeSpec[] = Array.from({ length: n }, (_, i) => ({
    name: name(i),
    memoryMiB: 32765,
    dom0MemoryMiB: 1024,
    cpus: 8,
    cpuMhz: 2600,
  }));
  const guests: SimGuestSpec[] = [];
  const drbd: SimDrbdSpec[] = [];
  let minor = 0;
  for (let i = 0; i < n; i++) {
    const partner = i % 2 === 0 ? (i + 1 < n ? i + 1 : 0) : i - 1;
    for (const k of [1, 2]) {
      const g = `vm${String(i + 1).padStart(width, "0")}${k === 1 ? "a" : "b"}`;
      drbd.push({
        name: g,
        minor: minor++,
        nodes: [name(i), name(partner)],
        sizeMiB: 10240,
        allowTwoPrimaries: true,
      });
      guests.push({ name: g, memoryMiB: 2048, vcpus: 2, drbd: [g], home: name(i), runningOn: name(i) });
    }
  }
  return {
    name: `scale${n}`,
    flavour,
    seed: 7,
    nodes,
    guests,
    drbd,
    fence:
      flavour === "reference"
        ? { type: "apcsmart" }
        : { type: "fence_ipmilan", login: "admin", password: "xenops-lab" },
    ...rest,
  };
}
