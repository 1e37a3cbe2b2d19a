/**
 * The simulator's state: nodes, Xen domains, DRBD resources, HA membership and a fence device.
 *
 * The spec (what a lab looks like at start) is a boundary, so it is a zod schema; the running state is
 * plain typed data owned by Simulation (simulation.ts), which is the only code that mutates it.
 * Sizes are KiB/MiB as the real tools print them; times are milliseconds of simulated time.
 */
import { z } from "zod";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const SimName = z
  .string()
  .regex(NAME, "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit");

export const Flavour = z.enum(["reference", "modern"]);
export type Flavour = z.infer<typeof Flavour>;

export const SimNodeSpec = z
  .object({
    name: SimName,
    /** Physical memory as the hypervisor reports it (total_memory). */
    memoryMiB: z.number().int().positive().default(4095),
    /** Fixed dom0 allocation (dom0_mem=, no ballooning). */
    dom0MemoryMiB: z.number().int().positive().default(512),
    cpus: z.number().int().positive().default(2),
    cpuMhz: z.number().int().positive().default(2992),
    /** DRBD replication address printed by drbdsetup; never connected to. */
    replicationAddress: z.string().optional(),
    /** IPMI address the fence_ipmilan device answers for; never connected to. */
    bmcAddress: z.string().optional(),
    /** Outlet (plug) of the power switch feeding this node. */
    outlet: z.string().optional(),
  })
  .strict();
export type SimNodeSpec = z.input<typeof SimNodeSpec>;

export const SimGuestSpec = z
  .object({
    name: SimName,
    memoryMiB: z.number().int().positive().default(512),
    vcpus: z.number().int().positive().default(1),
    drbd: z.array(SimName).default([]),
    /** haresources owner / preferred node. */
    home: SimName.optional(),
    /** Node running it at start; null: defined but stopped. Defaults to home. */
    runningOn: SimName.nullable().optional(),
    configFile: z.string().optional(),
    /** The cluster manager manages it (a haresources group, a Xen primitive). Default: when it has a home. */
    haManaged: z.boolean().optional(),
    /**
     * Nodes whose /etc/xen/auto links its config (xendomains starts it there at boot). Default: none
     * for an HA-managed guest (as the HA guides demand), its home otherwise.
     */
    autostartOn: z.array(SimName).optional(),
  })
  .strict();
export type SimGuestSpec = z.input<typeof SimGuestSpec>;

export const SimDrbdSpec = z
  .object({
    name: SimName,
    minor: z.number().int().min(0).max(1048575),
    nodes: z.tuple([SimName, SimName]),
    sizeMiB: z.number().int().positive().default(20480),
    backingDisk: z.string().optional(),
    allowTwoPrimaries: z.boolean().default(false),
    port: z.number().int().min(1).max(65535).optional(),
    /** syncer rate (8.x) / c-max-rate (9): resync speed. */
    syncRateKiBps: z.number().positive().default(10240),
    /** Application writes on the Primary: moves counters, and builds out-of-sync data while disconnected. */
    writeRateKiBps: z.number().min(0).default(8),
    /** Nodes that are Primary at start; default: the node running a guest that uses it. */
    primaryOn: z.array(SimName).optional(),
  })
  .strict();
export type SimDrbdSpec = z.input<typeof SimDrbdSpec>;

export const SimHaSpec = z
  .object({
    /** heartbeat `deadtime` / corosync token timeout: how long a silent peer still counts as alive. */
    deadtimeMs: z.number().int().min(0).optional(),
    /** Survivor takes over a dead node's guests by itself after deadtime (heartbeat's normal behaviour). */
    autoTakeover: z.boolean().default(false),
    /** heartbeat auto_failback: a returning node gets its home groups back. */
    autoFailback: z.boolean().default(false),
    /** How long a takeover takes (rscstatus says `transition` meanwhile). */
    takeoverMs: z.number().int().min(0).default(5000),
  })
  .strict();

export const SimFenceSpec = z
  .object({
    /** heartbeat plugin (apcsmart, apcmaster, external/ipmi...) or fence agent (fence_apc, fence_ipmilan). */
    type: z.string().regex(/^[a-z0-9_/.-]+$/),
    reachable: z.boolean().default(true),
    login: z.string().default("apc"),
    password: z.string().default("apc"),
    /** Serial device of a heartbeat serial-line plugin (apcsmart). */
    ttydev: z.string().default("/dev/ttyS0"),
    /** Network address of a power switch (fence_apc); IPMI devices answer on each node's bmcAddress. */
    address: z.string().default("198.51.100.10"),
  })
  .strict();

export const SimTimingSpec = z
  .object({
    /** Live migration of 1 GiB of guest memory; scales with the guest's memory. */
    migrationMsPerGiB: z.number().int().min(0).default(4000),
    /** `xm shutdown` until the domain is gone. */
    shutdownMs: z.number().int().min(0).default(15000),
    /** Fence reset: from power cut until the node answers again. */
    rebootMs: z.number().int().min(0).default(60000),
  })
  .strict();

export const SimClusterSpec = z
  .object({
    name: SimName,
    flavour: Flavour,
    seed: z.number().int().default(1),
    /** Simulated time at start (ISO 8601); also what the clock starts at unless one is injected. */
    startTime: z.string().datetime({ offset: true }).optional(),
    nodes: z.array(SimNodeSpec).min(1),
    guests: z.array(SimGuestSpec).default([]),
    drbd: z.array(SimDrbdSpec).default([]),
    ha: SimHaSpec.default({ autoTakeover: false, autoFailback: false, takeoverMs: 5000 }),
    fence: SimFenceSpec.optional(),
    timing: SimTimingSpec.default({ migrationMsPerGiB: 4000, shutdownMs: 15000, rebootMs: 60000 }),
    /**
     * DRBD 8 module parameter proc_details: at 1 or more, /proc/drbd adds the resync and act_log
     * LRU statistics lines under each minor (0, the module default, leaves them out).
     */
    drbdProcDetails: z.number().int().min(0).max(2).default(0),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const nodes = new Set(spec.nodes.map((n) => n.name));
    if (nodes.size !== spec.nodes.length)
      ctx.addIssue({ code: "custom", path: ["nodes"], message: "duplicate node" });
    const resources = new Map(spec.drbd.map((r) => [r.name, r]));
    const minors = new Set<number>();
    spec.drbd.forEach((r, i) => {
      for (const n of r.nodes)
        if (!nodes.has(n))
          ctx.addIssue({ code: "custom", path: ["drbd", i, "nodes"], message: `unknown node ${n}` });
      if (r.nodes[0] === r.nodes[1])
        ctx.addIssue({ code: "custom", path: ["drbd", i, "nodes"], message: "a resource needs two nodes" });
      if (minors.has(r.minor))
        ctx.addIssue({ code: "custom", path: ["drbd", i, "minor"], message: "minor reused" });
      minors.add(r.minor);
    });
    spec.guests.forEach((g, i) => {
      for (const key of ["home", "runningOn"] as const) {
        const n = g[key];
        if (n && !nodes.has(n))
          ctx.addIssue({ code: "custom", path: ["guests", i, key], message: `unknown node ${n}` });
      }
      for (const r of g.drbd)
        if (!resources.has(r))
          ctx.addIssue({ code: "custom", path: ["guests", i, "drbd"], message: `unknown resource ${r}` });
    });
  });
export type SimClusterSpecInput = z.input<typeof SimClusterSpec>;
export type SimClusterSpecParsed = z.output<typeof SimClusterSpec>;

export type Hypervisor = "xm" | "xl";
export type HaStack = "heartbeat" | "pacemaker";

/** What software a flavour runs; drives which commands exist and which formats they print. */
export interface Toolstack {
  hypervisor: Hypervisor;
  drbd: 8 | 9;
  ha: HaStack;
  xen: { major: number; minor: number; extra: string };
  drbdVersion: string;
  kernelRelease: string;
  kernelVersion: string;
  machine: string;
}

export function toolstackFor(flavour: Flavour): Toolstack {
  return flavour === "reference"
    ? {
        hypervisor: "xm",
        drbd: 8,
        ha: "heartbeat",
        xen: { major: 3, minor: 0, extra: ".3-1" },
        drbdVersion: "8.2.6",
        kernelRelease: "2.6.18-6-xen-686",
        kernelVersion: "#1 SMP Thu Nov 5 19:54:42 UTC 2009",
        machine: "i686",
      }
    : {
        hypervisor: "xl",
        drbd: 9,
        ha: "pacemaker",
        xen: { major: 4, minor: 17, extra: ".3" },
        drbdVersion: "9.2.8",
        kernelRelease: "6.1.0-18-amd64",
        kernelVersion: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
        machine: "x86_64",
      };
}

export type Reachability = "ok" | "unreachable" | "hanging";
export type ShutdownReason = "poweroff" | "reboot" | "suspend" | "crash" | "watchdog";

export interface DomainFlagsState {
  running: boolean;
  blocked: boolean;
  paused: boolean;
  shutdown: boolean;
  crashed: boolean;
  dying: boolean;
  shutdownReason: ShutdownReason | null;
}

export interface SimDomain {
  /** Name as the toolstack prints it (`migrating-X`, `X--incoming`...). */
  name: string;
  /** Guest this domain runs; null for Domain-0. */
  guest: string | null;
  id: number;
  memMiB: number;
  vcpus: number;
  flags: DomainFlagsState;
  cpuTimeSec: number;
  /** Fraction of its VCPUs it keeps busy; drives CPU time and the r/b flag. */
  load: number;
}

export interface SimNode {
  name: string;
  index: number;
  up: boolean;
  reachability: Reachability;
  sshDelayMs: number;
  memoryMiB: number;
  dom0MemMiB: number;
  cpus: number;
  cpuMhz: number;
  replicationAddress: string;
  bmcAddress: string;
  outlet: string;
  domains: SimDomain[];
  nextDomId: number;
  /** When it went down (for HA deadtime), null while up. */
  downSince: number | null;
  /** When a fenced/powered-on node finishes booting, null if not booting. */
  bootAt: number | null;
  /** /proc/sys/kernel/random/boot_id: a lowercase UUID drawn anew at every power-on. */
  bootId: string;
  /** Power-ons since the simulation started (seeds the next boot id). */
  boots: number;
  /** The HA stack runs here (false while down, or after a stop). */
  haRunning: boolean;
  /** heartbeat: holds its own (haresources home) groups. */
  holdsLocal: boolean;
  /** Deterministic PIDs for log lines. */
  pid: number;
  /**
   * Fault: cut off from xenops and from every peer since this time (it keeps running its guests);
   * undefined/null while not partitioned.
   */
  partitionedAt?: number | null;
  /** heartbeat's log file (/var/log/ha-log) on this node, oldest first; kept across reboots. */
  haLog?: string[];
  /** Next PID for a child process that logs (STONITH, mach_down, ResourceManager). */
  childPid?: number;
  /** The HA stack of the survivors has declared this (down) node dead; cleared when it boots. */
  deadDeclared?: boolean;
  /** Lab fault: this node's wall clock (`date`) is off by this much (no NTP). */
  clockSkewMs?: number;
}

export type DrbdRoleState = "Primary" | "Secondary";
export type DrbdDiskState =
  | "Diskless"
  | "Attaching"
  | "Failed"
  | "Negotiating"
  | "Inconsistent"
  | "Outdated"
  | "DUnknown"
  | "Consistent"
  | "UpToDate";

export interface DrbdCounters {
  /** KiB sent / received over the network, written / read on the local disk. */
  ns: number;
  nr: number;
  dw: number;
  dr: number;
  /** Activity-log and bitmap metadata updates (counts). */
  al: number;
  bm: number;
}

export interface DrbdLocal {
  role: DrbdRoleState;
  disk: DrbdDiskState;
  /** Configured to connect (false after `disconnect` or a split-brain drop: StandAlone). */
  netWanted: boolean;
  /** `--discard-my-data` given with the pending connect. */
  discardMyData: boolean;
  /** Data diverged from the peer's (after-sb policies refused to resolve it). */
  splitBrain: boolean;
  /** KiB this side knows to differ from the peer (bitmap weight). */
  oosKiB: number;
  counters: DrbdCounters;
  /** Time (ms) of the last state change, used by events2 ordering and uptime-ish counters. */
  changedAt: number;
}

export interface DrbdResync {
  source: string;
  target: string;
  totalKiB: number;
  leftKiB: number;
  startedAt: number;
}

export interface SimDrbdResource {
  name: string;
  minor: number;
  device: string;
  backingDisk: string;
  sizeKiB: number;
  allowTwoPrimaries: boolean;
  protocol: "A" | "B" | "C";
  port: number;
  nodes: [string, string];
  syncRateKiBps: number;
  writeRateKiBps: number;
  local: Record<string, DrbdLocal>;
  /** The replication link is up (both sides agreed). */
  connected: boolean;
  resync: DrbdResync | null;
}

export interface SimGuest {
  name: string;
  memMiB: number;
  vcpus: number;
  drbd: string[];
  home: string | null;
  configFile: string;
}

export interface SimHaGroup {
  /** haresources line / Pacemaker resource id base: the guest name. */
  id: string;
  guest: string;
  drbd: string[];
  home: string;
  /** Node holding the group in the HA stack's own bookkeeping (not moved by a manual migration). */
  owner: string | null;
}

export interface SimTakeover {
  survivor: string;
  deadNode: string;
  /** HA groups moving to the survivor. */
  groups: string[];
  endsAt: number;
}

/** heartbeat on `survivor` is resetting `deadNode` through its STONITH device before taking over. */
export interface SimStonith {
  survivor: string;
  deadNode: string;
  /** Next attempt (heartbeat retries a failed reset every 5 s). */
  nextAt: number;
  attempts: number;
}

/** heartbeat auto_failback: `holder` gives `home`'s groups back (live migration), once `home` is up. */
export interface SimFailback {
  holder: string;
  home: string;
  groups: string[];
  startAt: number;
  /** Set once the migrations started: when the last one ends. */
  endsAt: number | null;
}

export interface FenceRecord {
  target: string;
  action: string;
  status: "success" | "failed" | "pending";
  delegate: string | null;
  client: string;
  origin: string;
  completedAt: number | null;
  exitReason: string | null;
}

export interface SimHa {
  stack: HaStack;
  deadtimeMs: number;
  autoTakeover: boolean;
  autoFailback: boolean;
  takeoverMs: number;
  groups: SimHaGroup[];
  takeovers: SimTakeover[];
  fenceHistory: FenceRecord[];
  /** heartbeat STONITH operations in progress (before a takeover). */
  stonith?: SimStonith[];
  /** heartbeat auto_failback transitions pending or in progress. */
  failbacks?: SimFailback[];
  /** Time of the last configuration/status change (crm_mon last_change). */
  lastChange: number;
  /** Pacemaker location constraints beyond the home preferences (e.g. `cli-prefer-vm-web`). */
  locations?: { id: string; rsc: string; node: string; score: string }[];
}

/** xendomains on one node: /etc/xen/auto and /etc/default/xendomains. */
export interface SimStartup {
  /** Guests whose config is linked in /etc/xen/auto. */
  autoGuests: string[];
  /** XENDOMAINS_RESTORE. */
  restore: boolean;
  /** XENDOMAINS_SAVE ("" disables saving at shutdown). */
  save: string;
}

export interface SimFence {
  type: string;
  reachable: boolean;
  login: string;
  password: string;
  ttydev: string;
  address: string;
  /** Fault: the device reports success for these nodes but their power never changes (miswired outlet). */
  ineffective?: string[];
}

export interface SimMigration {
  guest: string;
  from: string;
  to: string;
  startedAt: number;
  durationMs: number;
  live: boolean;
  /** xl renames the source `NAME--migratedaway` for the last part (after the target acknowledged). */
  handoverAt: number;
  /** Fault: the migration breaks off at this time (the sender resumes the guest). */
  failAt?: number;
  /** Set when it broke off: the migrate command reports failure. */
  failed?: boolean;
  /** Fault: it completes (the guest runs on the target) but the migrate command reports failure. */
  reportsFailure?: boolean;
}

/** Fault: the next migration (of `guest`, or any when null) breaks off after `fraction` of its duration. */
export interface SimMigrationFault {
  guest: string | null;
  fraction: number;
  /** The guest arrives on the target anyway; only the command's exit status and output say it failed. */
  arrived?: boolean;
}

export interface SimShutdown {
  node: string;
  domId: number;
  endsAt: number;
}

export interface SimTiming {
  migrationMsPerGiB: number;
  shutdownMs: number;
  rebootMs: number;
}

export interface SimState {
  name: string;
  flavour: Flavour;
  toolstack: Toolstack;
  startTime: number;
  nodes: SimNode[];
  guests: SimGuest[];
  drbd: SimDrbdResource[];
  ha: SimHa;
  fence: SimFence | null;
  timing: SimTiming;
  migrations: SimMigration[];
  shutdowns: SimShutdown[];
  drbdProcDetails: number;
  /** xendomains' boot-time configuration per node. */
  startup: Record<string, SimStartup>;
  /** Pending "migration fails midway" faults, consumed by the migrations they hit. */
  migrationFaults?: SimMigrationFault[];
  /**
   * Configuration files edited in the lab (`!sim config`), per node and path: they replace what the
   * node would otherwise render from the simulation (src/sim/config-files.ts). null content: deleted.
   */
  files?: Record<string, Record<string, SimFileEdit>>;
}

/** An edited configuration file of one node. */
export interface SimFileEdit {
  content: string | null;
  /** Octal permission bits as `stat -c %a` prints them. */
  mode: string;
}

/** Free memory as the hypervisor computes it: total minus every domain, dom0 included. */
export function freeMemoryMiB(node: SimNode): number {
  const used = node.domains.reduce((sum, d) => sum + d.memMiB, 0);
  // Xen keeps a little for itself (heap, per-domain structures): about 1% plus 2 MiB per domain.
  const xen = Math.ceil(node.memoryMiB / 100) + 2 * node.domains.length;
  return Math.max(0, node.memoryMiB - used - xen);
}
