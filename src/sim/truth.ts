/**
 * Ground truth: what the simulated cluster really is, read straight from the simulator's state and
 * never through SSH, so it includes nodes xenops cannot reach (unreachable, partitioned). Tests and
 * the two-writer hunter (src/lab/fuzz) compare it against what xenops believed; the lab console
 * prints it with `!sim truth`. Read-only: nothing here changes the simulation.
 */
import type { DrbdDiskState, DrbdRoleState, Reachability, SimDomain } from "./model";
import type { Simulation } from "./simulation";

/** How one domain of a guest stands on one node. */
export type TruthDomainState =
  /** Executing normally (running or blocked). */
  | "running"
  /** Paused outside a migration. */
  | "paused"
  /** The sending side of a live migration, still executing (xm `migrating-X`, xl `X` before hand-over). */
  | "migrating-out"
  /** The sending side after xl's hand-over (`X--migratedaway`, suspended). */
  | "migrated-away"
  /** The receiving side of a migration (paused until it finishes). */
  | "incoming"
  /** `xm shutdown` sent; the guest still runs until its OS is down. */
  | "shutting-down"
  /** Shut down (not executing) but still listed. */
  | "shut-down"
  | "crashed";

export interface TruthPlacement {
  node: string;
  /** The name the toolstack lists it under. */
  domain: string;
  domId: number;
  state: TruthDomainState;
  /** Its vCPUs execute and it may write its disks: neither paused, suspended nor crashed. */
  writer: boolean;
}

export interface TruthGuest {
  name: string;
  on: TruthPlacement[];
  /** The live migration in flight, if any. */
  migration: { from: string; to: string } | null;
}

export type TruthPower = "on" | "off" | "booting";

export interface TruthNode {
  name: string;
  power: TruthPower;
  /** How SSH to the node behaves (the node itself may run regardless). */
  reachability: Reachability;
  /** Cut off from its peers (HA and DRBD links) and from SSH while it keeps running (the partition fault). */
  partitioned: boolean;
  haRunning: boolean;
}

export interface TruthDrbdSide {
  node: string;
  /** Whether the node is up at all (a down node's DRBD is not running; role and disk are its last). */
  up: boolean;
  role: DrbdRoleState;
  disk: DrbdDiskState;
  connection: "Connected" | "WFConnection" | "StandAlone";
  splitBrain: boolean;
  oosKiB: number;
  /** A guest domain using the resource executes on this node. */
  writer: boolean;
}

export interface TruthDrbd {
  name: string;
  connected: boolean;
  resync: { source: string; target: string; leftKiB: number } | null;
  sides: TruthDrbdSide[];
}

export interface TruthFence {
  target: string;
  /** Power actions the fence device was asked for (any outcome): each `stonith -T`, agent or fencer call. */
  executions: number;
  /** Of those, the ones that changed the node's power. */
  effective: number;
}

export interface SimTruth {
  cluster: string;
  /** Simulated time the truth describes (ISO 8601). */
  at: string;
  nodes: TruthNode[];
  guests: TruthGuest[];
  drbd: TruthDrbd[];
  fences: TruthFence[];
}

/** One fence device action as the simulator saw it (recorded by Simulation.fence). */
export interface FenceExecution {
  target: string;
  action: "reset" | "off" | "on";
  origin: string;
  /** Who asked the device: `stonith`, the agent's name, `stonith_admin.PID`. */
  client: string;
  at: number;
  ok: boolean;
  /** The node's power really changed (false: device unreachable, or an ineffective outlet). */
  effective: boolean;
}

function domainState(sim: Simulation, node: string, d: SimDomain): TruthDomainState {
  const guest = d.guest as string;
  const m = sim.state.migrations.find((x) => x.guest === guest);
  if (m?.to === node) return "incoming";
  if (m?.from === node) return d.name.endsWith("--migratedaway") ? "migrated-away" : "migrating-out";
  if (d.flags.crashed || d.flags.dying) return "crashed";
  if (d.flags.shutdown) return "shut-down";
  if (sim.state.shutdowns.some((s) => s.node === node && s.domId === d.id)) return "shutting-down";
  if (d.flags.paused) return "paused";
  return "running";
}

function isWriter(d: SimDomain): boolean {
  const f = d.flags;
  return !f.paused && !f.shutdown && !f.crashed && !f.dying;
}

/** Reads the simulation's ground truth (callers sync() it first). */
export function readTruth(sim: Simulation): SimTruth {
  const s = sim.state;
  const nodes: TruthNode[] = s.nodes.map((n) => ({
    name: n.name,
    power: n.up ? "on" : n.bootAt !== null ? "booting" : "off",
    reachability: n.reachability,
    partitioned: n.partitionedAt !== undefined && n.partitionedAt !== null,
    haRunning: n.haRunning,
  }));
  const guests: TruthGuest[] = s.guests.map((g) => {
    const on: TruthPlacement[] = [];
    for (const n of s.nodes) {
      if (!n.up) continue;
      for (const d of n.domains)
        if (d.guest === g.name)
          on.push({
            node: n.name,
            domain: d.name,
            domId: d.id,
            state: domainState(sim, n.name, d),
            writer: isWriter(d),
          });
    }
    const m = s.migrations.find((x) => x.guest === g.name);
    return { name: g.name, on, migration: m ? { from: m.from, to: m.to } : null };
  });
  const drbd: TruthDrbd[] = s.drbd.map((r) => ({
    name: r.name,
    connected: r.connected,
    resync: r.resync
      ? { source: r.resync.source, target: r.resync.target, leftKiB: Math.floor(r.resync.leftKiB) }
      : null,
    sides: r.nodes.map((name) => {
      const l = r.local[name];
      const node = sim.node(name);
      const writer =
        node?.up === true &&
        node.domains.some(
          (d) => d.guest !== null && sim.guest(d.guest)?.drbd.includes(r.name) && isWriter(d),
        );
      return {
        node: name,
        up: node?.up === true,
        role: l?.role ?? "Secondary",
        disk: l?.disk ?? "DUnknown",
        connection: !l?.netWanted ? "StandAlone" : r.connected ? "Connected" : "WFConnection",
        splitBrain: l?.splitBrain === true,
        oosKiB: Math.floor(l?.oosKiB ?? 0),
        writer,
      };
    }),
  }));
  const fences: TruthFence[] = s.nodes
    .map((n) => {
      const runs = sim.fenceLog.filter((f) => f.target === n.name);
      return { target: n.name, executions: runs.length, effective: runs.filter((f) => f.effective).length };
    })
    .filter((f) => f.executions > 0);
  return { cluster: s.name, at: new Date(sim.time).toISOString(), nodes, guests, drbd, fences };
}

/** Compact, deterministic text of the truth: one line per node, guest, resource, and the fences. */
export function formatTruth(t: SimTruth): string {
  const lines = [`truth of ${t.cluster} at ${t.at}`];
  for (const n of t.nodes) {
    const bits: string[] = [n.power];
    if (n.reachability !== "ok") bits.push(`ssh ${n.reachability}`);
    if (n.partitioned) bits.push("partitioned");
    if (n.power === "on" && !n.haRunning) bits.push("ha stopped");
    lines.push(`node ${n.name}: ${bits.join(", ")}`);
  }
  for (const g of t.guests) {
    const where =
      g.on.length === 0
        ? "runs nowhere"
        : g.on
            .map(
              (p) =>
                `${p.node} ${p.state}${p.domain !== g.name ? ` as ${p.domain}` : ""}${p.writer ? " (writer)" : ""}`,
            )
            .join("; ");
    const m = g.migration ? ` [migrating ${g.migration.from} -> ${g.migration.to}]` : "";
    lines.push(`guest ${g.name}: ${where}${m}`);
  }
  for (const r of t.drbd) {
    const sides = r.sides
      .map(
        (x) =>
          `${x.node} ${x.up ? "" : "(down) "}${x.role}/${x.disk} ${x.connection}${x.splitBrain ? " split-brain" : ""}${x.oosKiB > 0 ? ` oos:${x.oosKiB}` : ""}${x.writer ? " writer" : ""}`,
      )
      .join("; ");
    const resync = r.resync
      ? ` [resync ${r.resync.source} -> ${r.resync.target}, ${r.resync.leftKiB} KiB left]`
      : "";
    lines.push(`drbd ${r.name}: ${sides}${resync}`);
  }
  lines.push(
    t.fences.length === 0
      ? "fences: none"
      : `fences: ${t.fences.map((f) => `${f.target} x${f.executions} (${f.effective} effective)`).join(", ")}`,
  );
  return lines.join("\n");
}

/**
 * What must never hold, whatever happened: a guest executing on two nodes (a live migration's source
 * and its incoming target are the one legitimate pair: the target stays paused until the source has
 * stopped), or two Primaries of one resource each with an executing guest on it. Returns one line
 * per violation; empty when the truth is safe.
 */
export function twoWriterViolations(t: SimTruth): string[] {
  const out: string[] = [];
  for (const g of t.guests) {
    const nodes = [...new Set(g.on.map((p) => p.node))];
    const writers = g.on.filter((p) => p.writer);
    const describe = () => g.on.map((p) => `${p.node} (${p.state})`).join(" and ");
    if (writers.length > 1) out.push(`guest ${g.name} executes on ${describe()}`);
    else if (nodes.length > 1) {
      const m = g.migration;
      const legit =
        m !== null &&
        nodes.length === 2 &&
        g.on.every(
          (p) =>
            (p.node === m.from && (p.state === "migrating-out" || p.state === "migrated-away")) ||
            (p.node === m.to && p.state === "incoming"),
        );
      if (!legit) out.push(`guest ${g.name} has domains on ${describe()} outside a live migration`);
    }
  }
  for (const r of t.drbd) {
    const both = r.sides.filter((x) => x.up && x.role === "Primary" && x.writer);
    if (both.length > 1)
      out.push(
        `drbd ${r.name} is Primary with an executing guest on ${both.map((x) => x.node).join(" and ")}`,
      );
  }
  return out;
}
