/**
 * Fault injection, usable while the lab runs. Each fault changes the simulation the way the real
 * failure would, and the consequences follow from the model: a dead node's peers see DRBD
 * WFConnection at once and the node dead after deadtime; a split brain leaves both sides StandAlone
 * with diverged data until someone discards one side's changes.
 */
import {
  type CommandHold,
  type CommandMatch,
  type CommandWatch,
  type HoldPhase,
  holdCommand,
  watchCommands,
} from "./hooks";
import type { Simulation } from "./simulation";
import { setAutostart, setXendomainsRestore } from "./startup";
import { clearAllTampers, clearTamper, parseTamperMode, setTamper, type TamperMode } from "./tamper";

export interface Faults {
  /** Power loss/crash: SSH stops answering, guests die. rebootAfterMs: comes back by itself. */
  nodeDown(node: string, options?: { rebootAfterMs?: number }): void;
  /** Power on: boots after afterMs (0: at once). */
  nodeUp(node: string, afterMs?: number): void;
  /** SSH connections are refused (the node itself keeps running). */
  unreachable(node: string): void;
  /**
   * Network partition: NODE keeps running its guests (DRBD stays Primary there) but neither xenops
   * nor its peers reach it: SSH is refused, DRBD disconnects on both sides, the peers' HA stack
   * declares it dead after deadtime. `heal` (or `partition(node, false)`) joins it again.
   */
  partition(node: string, on?: boolean): void;
  /** SSH accepts TCP connections and never answers. */
  hanging(node: string): void;
  /** Every command on the node waits this long (real time) before it runs, each one of a batch too. */
  slowSsh(node: string, ms: number): void;
  /** Undoes unreachable/hanging/slowSsh for one node. */
  reachable(node: string): void;
  /** Diverged data: both sides StandAlone (by default both Primary too), each with out-of-sync KiB. */
  splitBrain(resource: string, options?: { oosKiB?: number; bothPrimary?: boolean }): void;
  /** A resync of `kib` KiB from `source` to its peer, at the resource's sync rate. */
  startResync(resource: string, source: string, kib: number): void;
  /**
   * The HA stack of a surviving node takes over deadNode's guests (promote DRBD, start guests) at
   * once, with no STONITH first (heartbeat's log shows the takeover only).
   */
  heartbeatTakeover(deadNode: string): boolean;
  /** The fence device stops (false) or starts (true) answering. */
  fenceDevice(reachable: boolean): void;
  /** The fence device reports success for `node` but its power never changes (true), or works again (false). */
  fenceIneffective(node: string, ineffective?: boolean): void;
  /**
   * The next live migration (of `guest`, or any) breaks off after `fraction` (default 0.5) of its time.
   * With `arrived`, it completes instead (the guest runs on the target) but the command still fails.
   */
  failMigration(guest?: string | null, fraction?: number, options?: { arrived?: boolean }): void;
  /** Links (true) or removes (false) GUEST's config in NODE's /etc/xen/auto (xendomains starts it at boot). */
  autostart(node: string, guest: string, on: boolean): void;
  /** NODE's XENDOMAINS_RESTORE (with XENDOMAINS_SAVE=/var/lib/xen/save when true, empty when false). */
  xendomainsRestore(node: string, restore: boolean): void;
  /**
   * Every run of `command` on `node` answers with unreadable output until untampered (see
   * ./tamper.ts): `garbage` (a crash dump), `empty`, `headonly` (first line only), `truncate N` (first
   * N bytes), or `fail` (exit 1, nothing on stdout). `command` is an argv prefix, as words
   * (["xm", "list"]) or one string ("xm list"); the mode as a TamperMode or its text ("truncate 40").
   */
  tamper(node: string, command: string | readonly string[], mode: TamperMode | string): void;
  /** Ends the tamper of `command` on `node`; false when there was none. */
  untamper(node: string, command: string | readonly string[]): boolean;
  /** Test hook: holds matching commands before they run (or after, before they answer) until released. */
  holdCommand(match: CommandMatch, phase?: HoldPhase): CommandHold;
  /** Test hook: counts matching commands. */
  watchCommands(match: CommandMatch): CommandWatch;
  /**
   * Clears every fault: nodes up and reachable, no delays, no tampered output, fence device answering, split brains
   * resolved by discarding the side that runs no guest.
   */
  heal(): void;
}

function commandWords(command: string | readonly string[]): string[] {
  const words = typeof command === "string" ? command.trim().split(/\s+/).filter(Boolean) : [...command];
  if (words.length === 0) throw new Error("tamper needs a command, e.g. xm list");
  return words;
}

export function createFaults(sim: Simulation): Faults {
  const node = (name: string) => {
    const n = sim.node(name);
    if (!n)
      throw new Error(`unknown node ${name}; nodes are ${sim.state.nodes.map((x) => x.name).join(", ")}`);
    return n;
  };
  const faults: Faults = {
    nodeDown(name, options = {}) {
      node(name);
      sim.nodeDown(name, options.rebootAfterMs ?? null);
    },
    nodeUp(name, afterMs = 0) {
      node(name);
      sim.nodeUp(name, afterMs);
    },
    unreachable(name) {
      node(name).reachability = "unreachable";
      sim.changed();
    },
    partition(name, on = true) {
      node(name);
      sim.partition(name, on);
    },
    hanging(name) {
      node(name).reachability = "hanging";
      sim.changed();
    },
    slowSsh(name, ms) {
      if (!(ms >= 0)) throw new RangeError(`slowSsh needs a delay >= 0, got ${ms}`);
      node(name).sshDelayMs = ms;
    },
    reachable(name) {
      const n = node(name);
      n.reachability = "ok";
      n.sshDelayMs = 0;
      sim.changed();
    },
    splitBrain(resource, options) {
      sim.splitBrain(resource, options);
    },
    startResync(resource, source, kib) {
      sim.startResync(resource, source, kib);
    },
    heartbeatTakeover(deadNode) {
      node(deadNode);
      return sim.heartbeatTakeover(deadNode);
    },
    fenceDevice(reachable) {
      if (!sim.state.fence) throw new Error("this lab has no fence device");
      sim.state.fence.reachable = reachable;
      sim.changed();
    },
    fenceIneffective(name, ineffective = true) {
      node(name);
      const fence = sim.state.fence;
      if (!fence) throw new Error("this lab has no fence device");
      const others = (fence.ineffective ?? []).filter((n) => n !== name);
      fence.ineffective = ineffective ? [...others, name] : others;
    },
    autostart(name, guest, on) {
      node(name);
      setAutostart(sim, name, guest, on);
    },
    xendomainsRestore(name, restore) {
      node(name);
      setXendomainsRestore(sim, name, restore);
    },
    failMigration(guest = null, fraction = 0.5, options = {}) {
      if (guest !== null && !sim.guest(guest)) throw new Error(`unknown guest ${guest}`);
      sim.state.migrationFaults = [
        ...(sim.state.migrationFaults ?? []),
        { guest, fraction, ...(options.arrived ? { arrived: true } : {}) },
      ];
    },
    tamper(name, command, mode) {
      node(name);
      setTamper(sim, name, commandWords(command), typeof mode === "string" ? parseTamperMode(mode) : mode);
    },
    untamper(name, command) {
      node(name);
      return clearTamper(sim, name, commandWords(command));
    },
    holdCommand: (match, phase) => holdCommand(sim, match, phase),
    watchCommands: (match) => watchCommands(sim, match),
    heal() {
      if (sim.state.fence) {
        sim.state.fence.reachable = true;
        sim.state.fence.ineffective = [];
      }
      sim.state.migrationFaults = [];
      clearAllTampers(sim);
      for (const n of sim.state.nodes) {
        if (n.partitionedAt !== undefined && n.partitionedAt !== null) sim.partition(n.name, false);
        n.reachability = "ok";
        n.sshDelayMs = 0;
        if (!n.up) sim.nodeUp(n.name, 0);
      }
      for (const r of sim.state.drbd) {
        const sides = r.nodes.map((n) => r.local[n]);
        if (!sides.some((l) => l?.splitBrain || l?.netWanted === false)) continue;
        const [a, b] = r.nodes;
        const victim = sim.deviceOpen(r, a) && !sim.deviceOpen(r, b) ? b : sim.deviceOpen(r, b) ? a : b;
        const survivor = victim === a ? b : a;
        // What an operator does: the victim drops its link, gives up Primary and its changes.
        const diverged = r.local[victim]?.splitBrain === true || r.local[survivor]?.splitBrain === true;
        sim.disconnect(r.name, victim);
        if (diverged) sim.demote(r.name, victim);
        sim.connect(r.name, victim, diverged);
        sim.connect(r.name, survivor, false);
      }
      sim.changed();
    },
  };
  return faults;
}
