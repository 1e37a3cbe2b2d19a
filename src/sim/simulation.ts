/**
 * The simulation: owns SimState, moves it through time and applies operations (toolstack commands,
 * fencing, faults). Renderers read it; commands.ts and faults.ts change it only through the methods
 * here, so every rule (who may become Primary, what a reboot does to DRBD...) lives in one place.
 *
 * Time: now() is the injected clock plus whatever tick() added. Continuous quantities (CPU time,
 * DRBD counters, resync progress, out-of-sync data) advance in closed form between discrete events
 * (migration end, boot, resync done, HA deadtime), which are applied in time order, so one tick of an
 * hour and 3600 ticks of a second end in the same discrete state.
 *
 * Public operations sync() first, change state through the `*At` internals (which work at the
 * time being processed and never re-enter sync), then notify listeners once.
 */
import { type Clock, ManualClock, Rng } from "./clock";
import { childPid, haLog, haresourcesLine, stonithDeviceId } from "./ha-log";
import {
  type DrbdDiskState,
  type DrbdLocal,
  type DrbdRoleState,
  type FenceRecord,
  freeMemoryMiB,
  SimClusterSpec,
  type SimClusterSpecInput,
  type SimDomain,
  type SimDrbdResource,
  type SimFailback,
  type SimGuest,
  type SimHaGroup,
  type SimMigration,
  type SimNode,
  type SimState,
  type SimStonith,
  toolstackFor,
} from "./model";
import { initialStartup } from "./startup";
import { type FenceExecution, readTruth, type SimTruth } from "./truth";

export type Listener = () => void;

export type DrbdFailureCode =
  | "SS_TwoPrimaries"
  | "SS_NoUpToDateDisk"
  | "SS_DeviceInUse"
  | "HaveNetConfig"
  | "DiscardNotAllowed"
  | "NotConfigured";

/** DRBD state-change results, named after DRBD's own codes (drbd.h enum set_st_err / ret_codes). */
export type DrbdChangeResult = { ok: true; changed: boolean } | { ok: false; code: DrbdFailureCode };

export type Drbd8Connection = "StandAlone" | "WFConnection" | "Connected" | "SyncSource" | "SyncTarget";
export type Drbd9Connection = "StandAlone" | "Connecting" | "Connected";
export type Drbd9Replication = "Off" | "Established" | "SyncSource" | "SyncTarget";

/** One node's view of one DRBD resource, as its kernel module would report it. */
export interface DrbdView {
  resource: SimDrbdResource;
  node: string;
  peer: string;
  /** Index of this node / the peer in resource.nodes: DRBD 9 node-ids. */
  nodeId: number;
  peerNodeId: number;
  local: DrbdLocal;
  role: DrbdRoleState;
  peerRole: DrbdRoleState | "Unknown";
  disk: DrbdDiskState;
  peerDisk: DrbdDiskState;
  connection8: Drbd8Connection;
  connection9: Drbd9Connection;
  replication9: Drbd9Replication;
  oosKiB: number;
  resync: { source: boolean; totalKiB: number; leftKiB: number; rateKiBps: number; elapsedMs: number } | null;
  /** A domain on this node uses the device. */
  open: boolean;
}

export type GuestStartFailure =
  | { code: "unknown_guest" }
  | { code: "already_running"; domId: number }
  | { code: "drbd_not_primary"; resource: string; device: string; vbd: number }
  | { code: "no_memory"; needMiB: number; freeMiB: number };

export type MigrateFailure =
  | { code: "unknown_domain" }
  | { code: "dom0" }
  | { code: "unknown_host" }
  | { code: "same_host" }
  | { code: "host_down" }
  | { code: "no_memory"; needMiB: number; freeMiB: number }
  | { code: "target_drbd"; resource: string }
  | { code: "busy" };

export interface FenceOutcome {
  ok: boolean;
  /** Why it failed: the device did not answer, or the target is not known to it. */
  reason?: "unreachable" | "unknown_target";
}

/** Default start instant of a lab: an ordinary Monday morning in each flavour's era. */
const DEFAULT_START = { reference: "2009-01-12T10:00:00Z", modern: "2024-03-04T10:00:00Z" } as const;

const RUNNING_IDLE = {
  running: false,
  blocked: true,
  paused: false,
  shutdown: false,
  crashed: false,
  dying: false,
  shutdownReason: null,
} as const;

export interface SimulationOptions {
  /** Defaults to a ManualClock at the spec's startTime: nothing moves unless ticked. */
  clock?: Clock;
}

export class Simulation {
  readonly state: SimState;
  /** Lookups by name: every command of a 100-node cluster's snapshot asks for nodes and guests. */
  private nodeIndex: NameIndex<SimNode> | null = null;
  private guestIndex: NameIndex<SimGuest> | null = null;
  readonly rng: Rng;
  readonly clock: Clock;
  private skew = 0;
  /** Simulated time the state has been brought up to. */
  private processed: number;
  private readonly listeners = new Set<Listener>();
  /** Every fence device action, in order (ground truth for tests and `!sim truth`; never read by commands). */
  readonly fenceLog: FenceExecution[] = [];
  private timer: NodeJS.Timeout | null = null;
  private notifying = false;
  private notifyAgain = false;

  constructor(specInput: SimClusterSpecInput, options: SimulationOptions = {}) {
    const spec = SimClusterSpec.parse(specInput);
    const startTime = Date.parse(spec.startTime ?? DEFAULT_START[spec.flavour]);
    this.clock = options.clock ?? new ManualClock(startTime);
    this.rng = new Rng(spec.seed);
    const t0 = this.clock.now();
    this.processed = t0;
    const toolstack = toolstackFor(spec.flavour);
    const rng = this.rng.fork("build");

    const nodes: SimNode[] = spec.nodes.map((n, index) => {
      const node: SimNode = {
        name: n.name,
        index,
        up: true,
        reachability: "ok",
        sshDelayMs: 0,
        memoryMiB: n.memoryMiB,
        dom0MemMiB: n.dom0MemoryMiB,
        cpus: n.cpus,
        cpuMhz: n.cpuMhz,
        replicationAddress: n.replicationAddress ?? `192.0.2.${index + 1}`,
        bmcAddress: n.bmcAddress ?? `198.51.100.${index + 1}`,
        outlet: n.outlet ?? String(index + 1),
        domains: [],
        nextDomId: 1,
        downSince: null,
        bootAt: null,
        bootId: "",
        boots: 0,
        haRunning: true,
        holdsLocal: true,
        pid: rng.int(1800, 9000),
      };
      node.bootId = this.newBootId(node);
      node.domains.push(dom0(node, rng.int(2000, 90000) + rng.int(0, 9) / 10));
      // A node that has been up for a while has used some domain IDs already.
      node.nextDomId = rng.int(1, 12);
      return node;
    });
    const byName = new Map(nodes.map((n) => [n.name, n]));

    const runningOn = new Map<string, string>();
    for (const g of spec.guests) {
      const on = g.runningOn === undefined ? g.home : g.runningOn;
      if (on) runningOn.set(g.name, on);
    }
    const guests: SimGuest[] = spec.guests.map((g) => ({
      name: g.name,
      memMiB: g.memoryMiB,
      vcpus: g.vcpus,
      drbd: [...g.drbd],
      home: g.home ?? runningOn.get(g.name) ?? null,
      configFile:
        g.configFile ?? (toolstack.hypervisor === "xm" ? `/etc/xen/${g.name}` : `/etc/xen/${g.name}.cfg`),
    }));

    const drbd: SimDrbdResource[] = spec.drbd.map((r) => {
      const users = guests.filter((g) => g.drbd.includes(r.name));
      const primaries = new Set(
        r.primaryOn ?? users.flatMap((g) => [runningOn.get(g.name)].filter((x) => x !== undefined)),
      );
      const local: Record<string, DrbdLocal> = {};
      for (const n of r.nodes) {
        const primary = primaries.has(n);
        local[n] = {
          role: primary ? "Primary" : "Secondary",
          disk: "UpToDate",
          netWanted: true,
          discardMyData: false,
          splitBrain: false,
          oosKiB: 0,
          counters: {
            ns: primary ? rng.int(100000, 9000000) : 0,
            nr: primary ? 0 : rng.int(100000, 9000000),
            dw: rng.int(100000, 9000000),
            dr: rng.int(100000, 9000000),
            al: rng.int(10, 900),
            bm: rng.int(0, 40),
          },
          changedAt: t0,
        };
      }
      return {
        name: r.name,
        minor: r.minor,
        device: `/dev/drbd${r.minor}`,
        backingDisk: r.backingDisk ?? `/dev/vg0/${r.name}`,
        sizeKiB: r.sizeMiB * 1024,
        allowTwoPrimaries: r.allowTwoPrimaries,
        protocol: "C",
        port: r.port ?? 7788 + r.minor,
        nodes: [r.nodes[0], r.nodes[1]],
        syncRateKiBps: r.syncRateKiBps,
        writeRateKiBps: r.writeRateKiBps,
        local,
        connected: true,
        resync: null,
      };
    });

    const managed = new Set(spec.guests.filter((g) => g.haManaged !== false).map((g) => g.name));
    const groups: SimHaGroup[] = guests.flatMap((g) =>
      g.home && managed.has(g.name)
        ? [
            {
              id: g.name,
              guest: g.name,
              drbd: [...g.drbd],
              home: g.home,
              owner: runningOn.get(g.name) ?? g.home,
            },
          ]
        : [],
    );

    this.state = {
      name: spec.name,
      flavour: spec.flavour,
      toolstack,
      startTime: t0,
      nodes,
      guests,
      drbd,
      ha: {
        stack: toolstack.ha,
        deadtimeMs: spec.ha.deadtimeMs ?? (toolstack.ha === "heartbeat" ? 30000 : 5000),
        autoTakeover: spec.ha.autoTakeover,
        autoFailback: spec.ha.autoFailback,
        takeoverMs: spec.ha.takeoverMs,
        groups,
        takeovers: [],
        fenceHistory: [],
        lastChange: t0 - rng.int(3600, 86400) * 1000,
      },
      fence: spec.fence
        ? {
            type: spec.fence.type,
            reachable: spec.fence.reachable,
            login: spec.fence.login,
            password: spec.fence.password,
            ttydev: spec.fence.ttydev,
            address: spec.fence.address,
          }
        : null,
      timing: { ...spec.timing },
      migrations: [],
      shutdowns: [],
      drbdProcDetails: spec.drbdProcDetails,
      startup: initialStartup(spec, guests, new Set(groups.map((g) => g.guest))),
    };

    for (const [guest, on] of runningOn) {
      const node = byName.get(on);
      const g = this.guest(guest);
      if (!node || !g) continue;
      const dom = this.newDomain(node, g, rng);
      dom.cpuTimeSec = rng.int(500, 200000) + rng.int(0, 9) / 10;
    }
  }

  // ---------------------------------------------------------------- time

  now(): number {
    return this.clock.now() + this.skew;
  }

  /** Moves simulated time forward by ms (on top of the clock) and applies what happened meanwhile. */
  tick(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot tick by ${ms} ms`);
    this.skew += ms;
    this.sync();
  }

  /** Catches the state up with now(), applying due events in time order; readers call it first. */
  sync(): void {
    const target = Math.max(this.now(), this.processed);
    let stuckAt: number | null = null;
    for (;;) {
      const next = this.nextEventAt();
      if (next === null || next > target || next === stuckAt) break;
      this.advanceContinuous(next);
      // Listeners hear every instant separately, so an event stream sees each step of a long tick.
      if (this.applyDueEvents()) this.changed();
      else stuckAt = next; // nothing applicable at this instant: do not spin on it
    }
    this.advanceContinuous(target);
  }

  /** The simulated instant the state describes (during a notification: the event's own time). */
  get time(): number {
    return this.processed;
  }

  /** Drives time from the real clock: keeps timed transitions and event streams moving. */
  startRealTime(intervalMs = 200): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sync(), intervalMs);
    this.timer.unref();
  }

  stopRealTime(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Resolves once predicate() holds (checked now and after every change); rejects on abort. */
  waitFor(predicate: () => boolean, signal?: AbortSignal): Promise<void> {
    this.sync();
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        off();
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason ?? new Error("aborted"));
      };
      const off = this.onChange(() => {
        if (!predicate()) return;
        cleanup();
        resolve();
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Tells listeners (event streams, waiters) that discrete state changed. */
  changed(): void {
    if (this.notifying) {
      this.notifyAgain = true;
      return;
    }
    this.notifying = true;
    try {
      do {
        this.notifyAgain = false;
        for (const l of [...this.listeners]) l();
      } while (this.notifyAgain);
    } finally {
      this.notifying = false;
    }
  }

  private nextEventAt(): number | null {
    const s = this.state;
    const t = this.processed;
    let next = Number.POSITIVE_INFINITY;
    const consider = (at: number): void => {
      next = Math.min(next, Math.max(t, at));
    };
    for (const m of s.migrations) {
      if (m.failAt !== undefined) consider(m.failAt);
      if (m.handoverAt > 0) consider(m.handoverAt);
      consider(m.startedAt + m.durationMs);
    }
    for (const sd of s.shutdowns) consider(sd.endsAt);
    for (const n of s.nodes) {
      if (n.bootAt !== null) consider(n.bootAt);
      if (this.deathPending(n)) consider((n.downSince ?? t) + s.ha.deadtimeMs);
    }
    for (const tk of s.ha.takeovers) consider(tk.endsAt);
    for (const st of s.ha.stonith ?? []) consider(st.nextAt);
    for (const fb of s.ha.failbacks ?? []) consider(fb.endsAt ?? fb.startAt);
    for (const r of s.drbd) {
      if (r.resync && r.connected)
        consider(r.resync.startedAt + Math.ceil((r.resync.totalKiB / r.syncRateKiBps) * 1000));
    }
    return Number.isFinite(next) ? next : null;
  }

  /** A down node the survivors' HA stack has not declared dead yet (it does after deadtime). */
  private deathPending(n: SimNode): boolean {
    return (
      !n.up &&
      n.downSince !== null &&
      n.deadDeclared !== true &&
      this.state.nodes.some((o) => o !== n && o.up && o.haRunning)
    );
  }

  private advanceContinuous(until: number): void {
    if (until <= this.processed) return;
    const sec = (until - this.processed) / 1000;
    for (const node of this.state.nodes) {
      if (!node.up) continue;
      for (const d of node.domains) {
        if (d.flags.paused || d.flags.shutdown) continue;
        d.cpuTimeSec += d.load * d.vcpus * sec;
      }
    }
    for (const r of this.state.drbd) this.advanceDrbd(r, this.processed, until);
    this.processed = until;
  }

  private advanceDrbd(r: SimDrbdResource, from: number, to: number): void {
    const sec = (to - from) / 1000;
    for (const n of r.nodes) {
      const me = r.local[n];
      if (!me || !this.node(n)?.up) continue;
      if (me.role !== "Primary" || r.writeRateKiBps <= 0 || !this.deviceOpen(r, n)) continue;
      const w = r.writeRateKiBps * sec;
      me.counters.dw += w;
      me.counters.dr += w / 4;
      me.counters.al += w / 4096;
      const peer = r.local[this.peerOf(r, n)];
      if (r.connected && peer) {
        me.counters.ns += w;
        peer.counters.nr += w;
        peer.counters.dw += w;
      } else {
        // Disconnected writes are remembered in the bitmap: the peer must get them by resync.
        me.oosKiB = Math.min(r.sizeKiB, me.oosKiB + w);
        me.counters.bm += w / 4096;
      }
    }
    if (r.resync && r.connected) {
      const before = resyncLeft(r, from);
      const after = resyncLeft(r, to);
      const moved = before - after;
      const src = r.local[r.resync.source];
      const dst = r.local[r.resync.target];
      if (src && dst) {
        src.counters.dr += moved;
        src.counters.ns += moved;
        dst.counters.nr += moved;
        dst.counters.dw += moved;
        r.resync.leftKiB = after;
        src.oosKiB = after;
        dst.oosKiB = after;
      }
    }
  }

  /** Applies every discrete event due at `processed`; true when something changed. */
  private applyDueEvents(): boolean {
    const t = this.processed;
    const s = this.state;
    let any = false;

    for (const m of [...s.migrations]) {
      if (m.failAt !== undefined && m.failAt <= t) {
        this.abortMigration(m);
        any = true;
        continue;
      }
      if (m.handoverAt > 0 && m.handoverAt <= t) {
        m.handoverAt = 0;
        const src = this.findGuestDomain(m.from, m.guest);
        if (s.toolstack.hypervisor === "xl" && src) {
          // xl renames the sender once the receiver has the whole image, and it is suspended.
          src.name = `${m.guest}--migratedaway`;
          src.flags = {
            ...src.flags,
            running: false,
            blocked: false,
            shutdown: true,
            shutdownReason: "suspend",
          };
        }
        any = true;
      }
      if (m.startedAt + m.durationMs <= t) {
        this.finishMigration(m);
        any = true;
      }
    }

    for (const sd of [...s.shutdowns]) {
      if (sd.endsAt > t) continue;
      s.shutdowns = s.shutdowns.filter((x) => x !== sd);
      const node = this.node(sd.node);
      if (node) node.domains = node.domains.filter((d) => d.id !== sd.domId);
      this.touchHa();
      any = true;
    }

    for (const r of s.drbd) {
      if (r.resync && r.connected && resyncLeft(r, t) <= 0) {
        this.finishResync(r);
        any = true;
      }
    }

    for (const node of s.nodes) {
      if (node.bootAt !== null && node.bootAt <= t) {
        this.boot(node);
        any = true;
      }
    }

    for (const tk of [...s.ha.takeovers]) {
      if (tk.endsAt > t) continue;
      s.ha.takeovers = s.ha.takeovers.filter((x) => x !== tk);
      this.completeTakeover(tk.survivor, tk.groups, tk.deadNode);
      any = true;
    }

    for (const node of s.nodes) {
      if (!this.deathPending(node) || (node.downSince ?? t) + s.ha.deadtimeMs > t) continue;
      this.declareDeadAt(node);
      any = true;
    }
    for (const st of [...(s.ha.stonith ?? [])]) {
      if (st.nextAt > t) continue;
      this.stonithAttemptAt(st);
      any = true;
    }
    for (const fb of [...(s.ha.failbacks ?? [])]) {
      if ((fb.endsAt ?? fb.startAt) > t) continue;
      if (fb.endsAt === null) this.startFailbackAt(fb);
      else this.finishFailbackAt(fb);
      any = true;
    }
    return any;
  }

  // ---------------------------------------------------------------- lookups

  node(name: string): SimNode | undefined {
    this.nodeIndex = indexed(this.state.nodes, this.nodeIndex);
    return this.nodeIndex.byName.get(name);
  }

  guest(name: string): SimGuest | undefined {
    this.guestIndex = indexed(this.state.guests, this.guestIndex);
    return this.guestIndex.byName.get(name);
  }

  resource(name: string): SimDrbdResource | undefined {
    return this.state.drbd.find((r) => r.name === name);
  }

  /** Resources this node takes part in, by minor. */
  resourcesOn(node: string): SimDrbdResource[] {
    return this.state.drbd.filter((r) => r.nodes.includes(node)).sort((a, b) => a.minor - b.minor);
  }

  peerOf(r: SimDrbdResource, node: string): string {
    return r.nodes[0] === node ? r.nodes[1] : r.nodes[0];
  }

  /** Domain of a guest on a node under any of its names (plain, migrating-, --incoming, --migratedaway). */
  findGuestDomain(node: string, guest: string): SimDomain | undefined {
    return this.node(node)?.domains.find((d) => d.guest === guest);
  }

  /** Looks a domain up the way xm/xl do: by name or by numeric ID. */
  findDomain(node: string, nameOrId: string): SimDomain | undefined {
    const n = this.node(node);
    if (!n) return undefined;
    const byName = n.domains.find((d) => d.name === nameOrId);
    if (byName) return byName;
    return /^\d+$/.test(nameOrId) ? n.domains.find((d) => d.id === Number(nameOrId)) : undefined;
  }

  /** Nodes a guest has a domain on right now (both ends during a migration). */
  guestLocations(guest: string): string[] {
    return this.state.nodes
      .filter((n) => n.up && n.domains.some((d) => d.guest === guest))
      .map((n) => n.name);
  }

  deviceOpen(r: SimDrbdResource, node: string): boolean {
    const n = this.node(node);
    if (!n?.up) return false;
    return n.domains.some((d) => d.guest !== null && this.guest(d.guest)?.drbd.includes(r.name) === true);
  }

  drbdView(r: SimDrbdResource, node: string): DrbdView {
    const peer = this.peerOf(r, node);
    const local = r.local[node] as DrbdLocal;
    const peerLocal = r.local[peer] as DrbdLocal;
    const nodeId = r.nodes.indexOf(node);
    let connection8: Drbd8Connection = "Connected";
    let connection9: Drbd9Connection = "Connected";
    let replication9: Drbd9Replication = "Established";
    if (!local.netWanted) {
      connection8 = "StandAlone";
      connection9 = "StandAlone";
      replication9 = "Off";
    } else if (!r.connected) {
      connection8 = "WFConnection";
      connection9 = "Connecting";
      replication9 = "Off";
    } else if (r.resync) {
      const src = r.resync.source === node;
      connection8 = src ? "SyncSource" : "SyncTarget";
      replication9 = src ? "SyncSource" : "SyncTarget";
    }
    return {
      resource: r,
      node,
      peer,
      nodeId,
      peerNodeId: 1 - nodeId,
      local,
      role: local.role,
      peerRole: r.connected ? peerLocal.role : "Unknown",
      disk: local.disk,
      peerDisk: r.connected ? peerLocal.disk : "DUnknown",
      connection8,
      connection9,
      replication9,
      oosKiB: Math.floor(local.oosKiB),
      resync:
        r.resync && r.connected
          ? {
              source: r.resync.source === node,
              totalKiB: r.resync.totalKiB,
              leftKiB: r.resync.leftKiB,
              rateKiBps: r.syncRateKiBps,
              elapsedMs: this.processed - r.resync.startedAt,
            }
          : null,
      open: this.deviceOpen(r, node),
    };
  }

  /** The ground truth (truth.ts): every domain, DRBD role and fence, reachable from xenops or not. */
  truth(): SimTruth {
    this.sync();
    return readTruth(this);
  }

  // ---------------------------------------------------------------- domains

  /** The kernel's boot id for this power-on: a version-4 UUID, reproducible per seed, node and boot. */
  private newBootId(node: SimNode): string {
    const r = this.rng.fork(`boot-id:${node.name}:${node.boots}`);
    let id = "";
    do {
      const h = r.hex(32);
      const variant = "89ab"[r.int(0, 3)] as string;
      id = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    } while (id === node.bootId);
    return id;
  }

  private newDomain(node: SimNode, g: SimGuest, rng?: Rng): SimDomain {
    const r = rng ?? this.rng.fork(`dom:${node.name}:${node.nextDomId}`);
    const dom: SimDomain = {
      name: g.name,
      guest: g.name,
      id: node.nextDomId++,
      memMiB: g.memMiB,
      vcpus: g.vcpus,
      // An idle guest spends most of its time blocked (waiting for events).
      flags: { ...RUNNING_IDLE },
      cpuTimeSec: 0,
      load: Math.round((0.01 + r.next() * 0.12) * 1000) / 1000,
    };
    node.domains.push(dom);
    return dom;
  }

  /** Starts a guest from its config (xm/xl create). */
  createGuest(
    nodeName: string,
    guestName: string,
  ): { ok: true; domain: SimDomain } | { ok: false; failure: GuestStartFailure } {
    this.sync();
    const result = this.createGuestAt(nodeName, guestName);
    if (result.ok) this.changed();
    return result;
  }

  private createGuestAt(
    nodeName: string,
    guestName: string,
  ): { ok: true; domain: SimDomain } | { ok: false; failure: GuestStartFailure } {
    const node = this.node(nodeName);
    const g = this.guest(guestName);
    if (!node || !g) return { ok: false, failure: { code: "unknown_guest" } };
    const existing = node.domains.find((d) => d.name === g.name);
    if (existing) return { ok: false, failure: { code: "already_running", domId: existing.id } };
    for (const [i, rname] of g.drbd.entries()) {
      const r = this.resource(rname);
      // A Secondary DRBD device refuses to be opened for writing: the vbd backend cannot attach it.
      if (r?.local[node.name]?.role !== "Primary") {
        const device = r?.device ?? "/dev/drbd0";
        return {
          ok: false,
          failure: { code: "drbd_not_primary", resource: rname, device, vbd: 51712 + 16 * i },
        };
      }
    }
    const free = freeMemoryMiB(node);
    if (free < g.memMiB)
      return { ok: false, failure: { code: "no_memory", needMiB: g.memMiB, freeMiB: free } };
    const domain = this.newDomain(node, g);
    this.touchHa();
    return { ok: true, domain };
  }

  /** Clean shutdown: the domain disappears once the guest OS has shut down. */
  shutdownDomain(nodeName: string, dom: SimDomain): void {
    this.sync();
    if (this.state.shutdowns.some((s) => s.node === nodeName && s.domId === dom.id)) return;
    this.state.shutdowns.push({
      node: nodeName,
      domId: dom.id,
      endsAt: this.processed + this.state.timing.shutdownMs,
    });
    this.changed();
  }

  destroyDomain(nodeName: string, dom: SimDomain): void {
    this.sync();
    this.destroyDomainAt(nodeName, dom);
    this.changed();
  }

  private destroyDomainAt(nodeName: string, dom: SimDomain): void {
    const node = this.node(nodeName);
    if (!node) return;
    node.domains = node.domains.filter((d) => d !== dom);
    this.state.shutdowns = this.state.shutdowns.filter((s) => !(s.node === nodeName && s.domId === dom.id));
    this.state.migrations = this.state.migrations.filter(
      (m) => !(m.from === nodeName && m.guest === dom.guest),
    );
    this.touchHa();
  }

  /**
   * `xm mem-set` / `xl mem-set`: the running domain of `guest` balloons to `mib` (what `xm list` shows
   * and live migration needs from then on). Growing takes the node's free memory. Returns the node.
   */
  setDomainMemory(guest: string, mib: number): string {
    this.sync();
    if (!Number.isInteger(mib) || mib <= 0)
      throw new Error(`memory must be a positive whole MiB, got ${mib}`);
    const node = this.state.nodes.find((n) => n.up && n.domains.some((d) => d.guest === guest));
    const dom = node?.domains.find((d) => d.guest === guest);
    if (!node || !dom) throw new Error(`${guest} does not run on any node`);
    if (this.state.migrations.some((m) => m.guest === guest))
      throw new Error(`${guest} is migrating; set its memory afterwards`);
    const free = freeMemoryMiB(node);
    if (mib - dom.memMiB > free)
      throw new Error(`${node.name} has ${free} MiB free: ${guest} cannot grow to ${mib} MiB`);
    dom.memMiB = mib;
    this.changed();
    return node.name;
  }

  /** Starts a (live) migration; the caller waits until migrationOf() is gone. */
  startMigration(
    fromName: string,
    nameOrId: string,
    toHost: string,
    live: boolean,
  ): { ok: true; migration: SimMigration } | { ok: false; failure: MigrateFailure } {
    this.sync();
    const result = this.startMigrationAt(fromName, nameOrId, toHost, live);
    if (result.ok) this.changed();
    return result;
  }

  private startMigrationAt(
    fromName: string,
    nameOrId: string,
    toHost: string,
    live: boolean,
  ): { ok: true; migration: SimMigration } | { ok: false; failure: MigrateFailure } {
    const dom = this.findDomain(fromName, nameOrId);
    if (!dom) return { ok: false, failure: { code: "unknown_domain" } };
    if (dom.id === 0 || dom.guest === null) return { ok: false, failure: { code: "dom0" } };
    if (this.state.migrations.some((m) => m.guest === dom.guest))
      return { ok: false, failure: { code: "busy" } };
    const to = this.resolveHost(toHost);
    if (!to) return { ok: false, failure: { code: "unknown_host" } };
    if (to.name === fromName) return { ok: false, failure: { code: "same_host" } };
    if (!to.up) return { ok: false, failure: { code: "host_down" } };
    const g = this.guest(dom.guest);
    if (!g) return { ok: false, failure: { code: "unknown_domain" } };
    const free = freeMemoryMiB(to);
    if (free < dom.memMiB)
      return { ok: false, failure: { code: "no_memory", needMiB: dom.memMiB, freeMiB: free } };
    for (const rname of g.drbd) {
      const r = this.resource(rname);
      if (r?.local[to.name]?.role !== "Primary")
        return { ok: false, failure: { code: "target_drbd", resource: rname } };
    }
    const now = this.processed;
    // Live migration pre-copies while the guest runs, so it moves a little more data than a cold one.
    const durationMs = Math.round(
      (dom.memMiB / 1024) * this.state.timing.migrationMsPerGiB * (live ? 1.1 : 1),
    );
    const migration: SimMigration = {
      guest: g.name,
      from: fromName,
      to: to.name,
      startedAt: now,
      durationMs,
      live,
      handoverAt: now + Math.round(durationMs * 0.9),
    };
    const faults = this.state.migrationFaults ?? [];
    const fault = faults.find((f) => f.guest === null || f.guest === g.name);
    if (fault) {
      this.state.migrationFaults = faults.filter((f) => f !== fault);
      if (fault.arrived) migration.reportsFailure = true;
      else migration.failAt = now + Math.round(durationMs * Math.min(0.85, Math.max(0, fault.fraction)));
    }
    const xm = this.state.toolstack.hypervisor === "xm";
    // xend renames the sender so a migration to localhost cannot clash (XendCheckpoint.save).
    if (xm) dom.name = `migrating-${g.name}`;
    if (!live) dom.flags = { ...dom.flags, running: false, blocked: false, paused: true };
    const incoming = this.newDomain(to, g);
    // xend restores under the plain name; xl creates `NAME--incoming` and renames it at the end.
    incoming.name = xm ? g.name : `${g.name}--incoming`;
    incoming.flags = { ...incoming.flags, running: false, blocked: false, paused: true };
    this.state.migrations.push(migration);
    return { ok: true, migration };
  }

  /** Fault: the migration breaks off; the sender keeps (resumes) the guest, the receiver drops its copy. */
  private abortMigration(m: SimMigration): void {
    this.state.migrations = this.state.migrations.filter((x) => x !== m);
    m.failed = true;
    const src = this.findGuestDomain(m.from, m.guest);
    if (src) {
      src.name = m.guest;
      src.flags = { ...RUNNING_IDLE };
    }
    const to = this.node(m.to);
    if (to) to.domains = to.domains.filter((d) => d.guest !== m.guest);
    this.touchHa();
  }

  migrationOf(guest: string): SimMigration | undefined {
    return this.state.migrations.find((m) => m.guest === guest);
  }

  private finishMigration(m: SimMigration): void {
    this.state.migrations = this.state.migrations.filter((x) => x !== m);
    const from = this.node(m.from);
    const to = this.node(m.to);
    const src = from?.domains.find((d) => d.guest === m.guest);
    const dst = to?.domains.find((d) => d.guest === m.guest);
    if (from && src) from.domains = from.domains.filter((d) => d !== src);
    if (to?.up && dst) {
      dst.name = m.guest;
      dst.flags = { ...RUNNING_IDLE };
      dst.cpuTimeSec = src?.cpuTimeSec ?? dst.cpuTimeSec;
      dst.load = src?.load ?? dst.load;
    }
    this.touchHa();
  }

  /** Resolves a host argument the way the relocation client would: node name or replication address. */
  resolveHost(host: string): SimNode | undefined {
    return this.state.nodes.find((n) => n.name === host || n.replicationAddress === host);
  }

  // ---------------------------------------------------------------- DRBD

  promote(rname: string, node: string): DrbdChangeResult {
    this.sync();
    const result = this.promoteAt(rname, node);
    if (result.ok && result.changed) this.changed();
    return result;
  }

  private promoteAt(rname: string, node: string): DrbdChangeResult {
    const r = this.resource(rname);
    const me = r?.local[node];
    if (!r || !me) return { ok: false, code: "NotConfigured" };
    if (me.role === "Primary") return { ok: true, changed: false };
    const peer = r.local[this.peerOf(r, node)];
    if (r.connected && peer?.role === "Primary" && !r.allowTwoPrimaries)
      return { ok: false, code: "SS_TwoPrimaries" };
    const peerUpToDate = r.connected && peer?.disk === "UpToDate";
    if (me.disk !== "UpToDate" && !peerUpToDate) return { ok: false, code: "SS_NoUpToDateDisk" };
    me.role = "Primary";
    me.changedAt = this.processed;
    return { ok: true, changed: true };
  }

  /**
   * `primary --force` (9) / `-- --overwrite-data-of-peer primary` (8): become Primary even without
   * an UpToDate disk; this side's data wins and is copied over the peer's.
   */
  forcePrimary(rname: string, node: string): DrbdChangeResult {
    this.sync();
    const r = this.resource(rname);
    const me = r?.local[node];
    if (!r || !me) return { ok: false, code: "NotConfigured" };
    if (me.role === "Primary") return { ok: true, changed: false };
    const peerName = this.peerOf(r, node);
    const peer = r.local[peerName];
    if (r.connected && peer?.role === "Primary" && !r.allowTwoPrimaries)
      return { ok: false, code: "SS_TwoPrimaries" };
    me.role = "Primary";
    me.changedAt = this.processed;
    if (me.disk !== "UpToDate") {
      me.disk = "UpToDate";
      if (r.connected) this.startResyncAt(r, node, peerName, r.sizeKiB);
    }
    this.changed();
    return { ok: true, changed: true };
  }

  demote(rname: string, node: string): DrbdChangeResult {
    this.sync();
    const result = this.demoteAt(rname, node);
    if (result.ok && result.changed) this.changed();
    return result;
  }

  private demoteAt(rname: string, node: string): DrbdChangeResult {
    const r = this.resource(rname);
    const me = r?.local[node];
    if (!r || !me) return { ok: false, code: "NotConfigured" };
    if (me.role === "Secondary") return { ok: true, changed: false };
    if (this.deviceOpen(r, node)) return { ok: false, code: "SS_DeviceInUse" };
    me.role = "Secondary";
    me.changedAt = this.processed;
    return { ok: true, changed: true };
  }

  /**
   * `drbdadm net-options --allow-two-primaries=yes|no` (DRBD 8.4+/9). The simulator keeps one flag per
   * resource (both sides are changed together in practice). Turning it off while both sides are
   * Primary fails like the kernel's state check.
   */
  setAllowTwoPrimaries(rname: string, node: string, allow: boolean): DrbdChangeResult {
    this.sync();
    const r = this.resource(rname);
    if (!r?.local[node]) return { ok: false, code: "NotConfigured" };
    if (r.allowTwoPrimaries === allow) return { ok: true, changed: false };
    if (!allow && r.connected && r.nodes.every((n) => r.local[n]?.role === "Primary"))
      return { ok: false, code: "SS_TwoPrimaries" };
    r.allowTwoPrimaries = allow;
    this.changed();
    return { ok: true, changed: true };
  }

  disconnect(rname: string, node: string): DrbdChangeResult {
    this.sync();
    const r = this.resource(rname);
    const me = r?.local[node];
    if (!r || !me) return { ok: false, code: "NotConfigured" };
    if (!me.netWanted) return { ok: true, changed: false };
    me.netWanted = false;
    me.discardMyData = false;
    me.changedAt = this.processed;
    this.reconcile(r);
    this.changed();
    return { ok: true, changed: true };
  }

  /**
   * `connect`: on DRBD 8 an existing net config is an error (HaveNetConfig); on 9 it is a no-op.
   * With discardMyData this side gives up its changes if the handshake finds a split brain.
   */
  connect(rname: string, node: string, discardMyData: boolean): DrbdChangeResult {
    this.sync();
    const r = this.resource(rname);
    const me = r?.local[node];
    if (!r || !me) return { ok: false, code: "NotConfigured" };
    if (discardMyData && me.role === "Primary") return { ok: false, code: "DiscardNotAllowed" };
    if (me.netWanted) {
      return this.state.toolstack.drbd === 8
        ? { ok: false, code: "HaveNetConfig" }
        : { ok: true, changed: false };
    }
    me.netWanted = true;
    me.discardMyData = discardMyData;
    me.changedAt = this.processed;
    this.reconcile(r);
    this.changed();
    return { ok: true, changed: true };
  }

  /** Brings the link in line with both sides: drops it, or runs the connect handshake. */
  private reconcile(r: SimDrbdResource): void {
    const [a, b] = r.nodes;
    const A = r.local[a] as DrbdLocal;
    const B = r.local[b] as DrbdLocal;
    // A partitioned node's replication link is cut too: each side sees its peer gone.
    const cut = this.partitionBetween(a, b) !== null;
    const upA = (this.node(a)?.up ?? false) && !cut;
    const upB = (this.node(b)?.up ?? false) && !cut;
    if (r.connected) {
      if (upA && upB && A.netWanted && B.netWanted) return;
      r.connected = false;
      this.interruptResync(r);
      A.changedAt = B.changedAt = this.processed;
      return;
    }
    if (upA && upB && A.netWanted && B.netWanted) this.handshake(r, a, b, A, B);
  }

  private handshake(r: SimDrbdResource, a: string, b: string, A: DrbdLocal, B: DrbdLocal): void {
    A.changedAt = B.changedAt = this.processed;
    const drop = (): void => {
      // after-sb-*pri disconnect / incompatible roles: both sides end StandAlone.
      A.netWanted = B.netWanted = false;
      A.discardMyData = B.discardMyData = false;
    };
    if (A.role === "Primary" && B.role === "Primary" && !r.allowTwoPrimaries) {
      drop();
      return;
    }
    const diverged = A.splitBrain || B.splitBrain || (A.oosKiB > 0 && B.oosKiB > 0);
    if (diverged) {
      const victims = [A.discardMyData ? a : null, B.discardMyData ? b : null].filter((x) => x !== null);
      const victim = victims[0];
      if (victims.length !== 1 || victim === undefined) {
        A.splitBrain = B.splitBrain = true;
        drop();
        return;
      }
      const survivor = victim === a ? b : a;
      const total = Math.max(4, Math.ceil(A.oosKiB + B.oosKiB));
      A.splitBrain = B.splitBrain = false;
      A.discardMyData = B.discardMyData = false;
      r.connected = true;
      this.startResyncAt(r, survivor, victim, total);
      return;
    }
    A.discardMyData = B.discardMyData = false;
    r.connected = true;
    const source = A.oosKiB > 0 ? a : B.oosKiB > 0 ? b : null;
    if (source) {
      this.startResyncAt(r, source, source === a ? b : a, Math.ceil(A.oosKiB + B.oosKiB));
      return;
    }
    // Nothing to copy: a side that booted without its peer (Consistent) learns it is current.
    for (const side of [A, B])
      if (side.disk === "Consistent" || side.disk === "Outdated") side.disk = "UpToDate";
    if (A.disk === "Inconsistent" && B.disk === "UpToDate") this.startResyncAt(r, b, a, r.sizeKiB);
    else if (B.disk === "Inconsistent" && A.disk === "UpToDate") this.startResyncAt(r, a, b, r.sizeKiB);
  }

  private startResyncAt(r: SimDrbdResource, source: string, target: string, totalKiB: number): void {
    const src = r.local[source] as DrbdLocal;
    const dst = r.local[target] as DrbdLocal;
    r.resync = { source, target, totalKiB, leftKiB: totalKiB, startedAt: this.processed };
    src.disk = "UpToDate";
    dst.disk = "Inconsistent";
    src.oosKiB = totalKiB;
    dst.oosKiB = totalKiB;
    src.changedAt = dst.changedAt = this.processed;
  }

  /** Starts a resync of `kib` from source to its peer (like `drbdadm invalidate-remote`). */
  startResync(rname: string, source: string, kib: number): void {
    this.sync();
    const r = this.resource(rname);
    if (!r?.nodes.includes(source)) throw new Error(`no DRBD resource ${rname} on ${source}`);
    const total = Math.min(r.sizeKiB, Math.max(4, Math.ceil(kib)));
    if (r.connected) this.startResyncAt(r, source, this.peerOf(r, source), total);
    else {
      // Not connected: the bitmap remembers it; the resync runs when the link comes up.
      (r.local[source] as DrbdLocal).oosKiB = total;
      (r.local[this.peerOf(r, source)] as DrbdLocal).disk = "Inconsistent";
    }
    this.changed();
  }

  private interruptResync(r: SimDrbdResource): void {
    if (!r.resync) return;
    const src = r.local[r.resync.source];
    const dst = r.local[r.resync.target];
    if (src) src.oosKiB = r.resync.leftKiB;
    // The target stays Inconsistent and resumes from the source's bitmap on reconnect.
    if (dst) dst.oosKiB = 0;
    r.resync = null;
  }

  private finishResync(r: SimDrbdResource): void {
    for (const n of r.nodes) {
      const l = r.local[n] as DrbdLocal;
      l.disk = "UpToDate";
      l.oosKiB = 0;
      l.changedAt = this.processed;
    }
    r.resync = null;
  }

  /** Fault: data diverged, both sides StandAlone; by default the Secondary was promoted too. */
  splitBrain(rname: string, options: { oosKiB?: number; bothPrimary?: boolean } = {}): void {
    this.sync();
    const r = this.resource(rname);
    if (!r) throw new Error(`unknown DRBD resource ${rname}`);
    const oos = options.oosKiB ?? 4096;
    r.connected = false;
    r.resync = null;
    r.nodes.forEach((n, i) => {
      const l = r.local[n] as DrbdLocal;
      l.netWanted = false;
      l.discardMyData = false;
      l.splitBrain = true;
      l.oosKiB = i === 0 ? oos : Math.max(4, Math.round(oos * 0.75));
      l.disk = "UpToDate";
      if (options.bothPrimary ?? true) l.role = "Primary";
      l.changedAt = this.processed;
    });
    this.changed();
  }

  // ---------------------------------------------------------------- nodes, fencing, HA

  /** When the link between two nodes was cut by a partition of either, or null. */
  partitionBetween(a: string, b: string): number | null {
    const pa = this.node(a)?.partitionedAt ?? null;
    const pb = this.node(b)?.partitionedAt ?? null;
    if (pa === null && pb === null) return null;
    return Math.min(pa ?? Infinity, pb ?? Infinity);
  }

  /**
   * Fault: NODE is cut off from xenops and from its peers (on: true) or joins again (false). It keeps
   * running its guests, DRBD stays Primary there and disconnects on both sides; the peers' HA stack
   * declares it dead after deadtime. SSH refuses connections while it lasts.
   */
  partition(name: string, on: boolean): void {
    this.sync();
    const node = this.node(name);
    if (!node) throw new Error(`unknown node ${name}`);
    if (on) {
      node.partitionedAt ??= this.processed;
      node.reachability = "unreachable";
    } else {
      node.partitionedAt = null;
      node.reachability = "ok";
    }
    for (const r of this.resourcesOn(name)) this.reconcile(r);
    this.touchHa();
    this.changed();
  }

  /** Power loss or crash: guests die, DRBD and HA stop there; peers notice after deadtime. */
  nodeDown(name: string, bootAfterMs: number | null = null): void {
    this.sync();
    this.nodeDownAt(name, bootAfterMs);
    this.changed();
  }

  private nodeDownAt(name: string, bootAfterMs: number | null): void {
    const node = this.node(name);
    if (!node) throw new Error(`unknown node ${name}`);
    if (node.up) {
      node.up = false;
      node.downSince = this.processed;
      node.domains = [];
      node.haRunning = false;
      this.state.migrations = this.state.migrations.filter((m) => {
        if (m.from !== name && m.to !== name) return true;
        // A migration dies with either end; a surviving sender keeps running the guest.
        const other = this.node(m.from === name ? m.to : m.from);
        const d = other?.domains.find((x) => x.guest === m.guest);
        if (other && d) {
          if (m.to === name) {
            d.name = m.guest;
            d.flags = { ...RUNNING_IDLE };
          } else other.domains = other.domains.filter((x) => x !== d);
        }
        return false;
      });
      this.state.shutdowns = this.state.shutdowns.filter((s) => s.node !== name);
      this.state.ha.stonith = (this.state.ha.stonith ?? []).filter((st) => st.survivor !== name);
      this.state.ha.failbacks = (this.state.ha.failbacks ?? []).filter(
        (f) => f.holder !== name && f.home !== name,
      );
      for (const r of this.resourcesOn(name)) this.reconcile(r);
      this.touchHa();
    }
    node.bootAt = bootAfterMs === null ? null : this.processed + bootAfterMs;
  }

  /** Power on: the node boots after afterMs; DRBD comes up Secondary and reconnects. */
  nodeUp(name: string, afterMs = 0): void {
    this.sync();
    const node = this.node(name);
    if (!node) throw new Error(`unknown node ${name}`);
    if (node.up) return;
    node.bootAt = this.processed + afterMs;
    this.sync();
  }

  private boot(node: SimNode): void {
    node.bootAt = null;
    if (node.up) return;
    node.up = true;
    node.downSince = null;
    node.boots += 1;
    node.bootId = this.newBootId(node);
    node.domains = [dom0(node, this.rng.fork(`boot:${node.name}:${this.processed}`).int(5, 40) + 0.5)];
    node.nextDomId = 1;
    node.haRunning = true;
    for (const r of this.resourcesOn(node.name)) {
      const l = r.local[node.name] as DrbdLocal;
      l.role = "Secondary";
      // Attached without a peer: consistent data, but whether it is the newest is unknown.
      if (l.disk !== "Inconsistent") l.disk = "Consistent";
      l.netWanted = true;
      l.discardMyData = false;
      l.oosKiB = 0;
      l.changedAt = this.processed;
      this.reconcile(r);
    }
    const heldElsewhere = this.state.ha.groups.filter((g) => g.home === node.name && g.owner !== node.name);
    node.holdsLocal = heldElsewhere.length === 0;
    node.deadDeclared = false;
    const ha = this.state.ha;
    ha.stonith = (ha.stonith ?? []).filter((st) => st.deadNode !== node.name);
    if (ha.stack === "heartbeat") this.logBootAt(node);
    if (ha.autoFailback && heldElsewhere.length > 0) {
      if (ha.stack === "heartbeat") this.scheduleFailbackAt(node, heldElsewhere);
      else {
        for (const g of heldElsewhere) this.moveGroup(g, node.name);
        node.holdsLocal = true;
      }
    }
    this.touchHa();
  }

  groupsOwnedBy(node: string): SimHaGroup[] {
    return this.state.ha.groups.filter((g) => g.owner === node);
  }

  takeoverPendingFor(deadNode: string): boolean {
    return this.state.ha.takeovers.some((t) => t.deadNode === deadNode);
  }

  takeoverInProgress(survivor: string): boolean {
    return (
      this.state.ha.takeovers.some((t) => t.survivor === survivor) ||
      (this.state.ha.failbacks ?? []).some(
        (f) => f.endsAt !== null && (f.holder === survivor || f.home === survivor),
      )
    );
  }

  /**
   * Fault/action: the first other node running the HA stack takes over deadNode's groups: drbddisk
   * promotes the resources, the Xen script starts the guests. False when no node can.
   */
  heartbeatTakeover(deadNode: string): boolean {
    this.sync();
    const ok = this.beginTakeoverAt(deadNode);
    if (ok) this.sync();
    this.changed();
    return ok;
  }

  private beginTakeoverAt(deadNode: string): boolean {
    const survivor = this.state.nodes.find((n) => n.name !== deadNode && n.up && n.haRunning);
    if (!survivor) return false;
    const groups = this.groupsOwnedBy(deadNode);
    for (const g of groups) g.owner = survivor.name;
    const dead = this.node(deadNode);
    if (dead) dead.holdsLocal = false;
    if (this.state.ha.stack === "heartbeat") {
      // takeover_from_node(), then the status rc script runs mach_down for the dead node's groups.
      const t = this.processed;
      haLog(survivor, t, "heartbeat", "info", `Resources being acquired from ${deadNode}.`);
      haLog(survivor, t, "harc", "info", "Running /etc/ha.d/rc.d/status status", childPid(survivor));
      const pid = childPid(survivor);
      for (const g of groups) {
        const line = haresourcesLine(g);
        haLog(survivor, t, "mach_down", "info", `Taking over resource group ${line.split(" ")[1]}`, pid);
        haLog(
          survivor,
          t,
          "ResourceManager",
          "info",
          `Acquiring resource group: ${line}`,
          childPid(survivor),
        );
      }
    }
    this.state.ha.takeovers.push({
      survivor: survivor.name,
      deadNode,
      groups: groups.map((g) => g.id),
      endsAt: this.processed + this.state.ha.takeoverMs,
    });
    this.touchHa();
    return true;
  }

  private completeTakeover(survivor: string, groupIds: string[], deadNode: string): void {
    const node = this.node(survivor);
    const log = this.state.ha.stack === "heartbeat" && node?.up === true ? node : null;
    const t = this.processed;
    for (const id of groupIds) {
      const g = this.state.ha.groups.find((x) => x.id === id);
      if (!g || g.owner !== survivor) continue;
      const pid = log ? childPid(log) : 0;
      if (log) {
        for (const r of g.drbd)
          haLog(log, t, "ResourceManager", "info", `Running /etc/ha.d/resource.d/drbddisk ${r} start`, pid);
        haLog(
          log,
          t,
          "ResourceManager",
          "info",
          `Running /etc/ha.d/resource.d/xendomains ${g.guest} start`,
          pid,
        );
      }
      if (!this.startGroupOn(g, survivor) && log)
        haLog(log, t, "ResourceManager", "ERROR", "Return code 1 from /etc/ha.d/resource.d/xendomains", pid);
    }
    if (log) {
      const pid = childPid(log);
      haLog(
        log,
        t,
        "mach_down",
        "info",
        "/usr/share/heartbeat/mach_down: nice_failback: foreign resources acquired",
        pid,
      );
      haLog(log, t, "mach_down", "info", `mach_down takeover complete for node ${deadNode}.`, pid);
      haLog(log, t, "heartbeat", "info", "mach_down takeover complete.");
    }
    this.touchHa();
  }

  /**
   * Deadtime is over: heartbeat on the survivors logs the death. With automatic takeover, a dead node
   * that held groups is reset through the STONITH device first (hb_rsc_recover_dead_resources); only a
   * reset reported successful lets the takeover start. Without a STONITH device heartbeat warns and
   * takes over anyway, as the real one does.
   */
  private declareDeadAt(dead: SimNode): void {
    dead.deadDeclared = true;
    const ha = this.state.ha;
    const t = this.processed;
    const survivors = this.state.nodes.filter((n) => n !== dead && n.up && n.haRunning);
    if (ha.stack === "heartbeat")
      for (const s of survivors) {
        haLog(s, t, "heartbeat", "WARN", `node ${dead.name}: is dead`);
        for (const link of ["eth1", "/dev/ttyS1"])
          haLog(s, t, "heartbeat", "info", `Link ${dead.name}:${link} dead.`);
      }
    this.touchHa();
    const survivor = survivors[0];
    if (!survivor || !ha.autoTakeover || this.takeoverPendingFor(dead.name)) return;
    if (this.groupsOwnedBy(dead.name).length === 0) {
      if (ha.stack === "heartbeat")
        haLog(survivor, t, "heartbeat", "info", `Dead node ${dead.name} gave up resources.`);
      return;
    }
    if (ha.stack !== "heartbeat") {
      this.beginTakeoverAt(dead.name);
      return;
    }
    if (!this.state.fence) {
      haLog(survivor, t, "heartbeat", "WARN", "No STONITH device configured.");
      haLog(survivor, t, "heartbeat", "WARN", "Shared disks are not protected.");
      this.beginTakeoverAt(dead.name);
      return;
    }
    ha.stonith = [
      ...(ha.stonith ?? []),
      { survivor: survivor.name, deadNode: dead.name, nextAt: t, attempts: 0 },
    ];
  }

  /** One Initiate_Reset of heartbeat: success lets the takeover go on; a failure is retried in 5 s. */
  private stonithAttemptAt(st: SimStonith): void {
    const ha = this.state.ha;
    const survivor = this.node(st.survivor);
    const dead = this.node(st.deadNode);
    const drop = (): void => {
      ha.stonith = (ha.stonith ?? []).filter((x) => x !== st);
    };
    if (!survivor?.up || !survivor.haRunning || !dead || (dead.up && dead.haRunning)) {
      drop();
      return;
    }
    const t = this.processed;
    const device = stonithDeviceId(this.state.fence?.type ?? "");
    const pid = childPid(survivor);
    st.attempts += 1;
    haLog(survivor, t, "heartbeat", "info", `Resetting node ${dead.name} with [${device}]`, pid);
    const outcome: FenceOutcome = this.state.fence
      ? this.fenceAt(dead.name, "reset", { client: "heartbeat", origin: survivor.name })
      : { ok: false, reason: "unreachable" };
    if (outcome.ok) {
      haLog(survivor, t, "heartbeat", "info", `node ${dead.name} now reset.`, pid);
      drop();
      this.beginTakeoverAt(dead.name);
      return;
    }
    if (outcome.reason === "unknown_target")
      haLog(survivor, t, "heartbeat", "ERROR", `Device ${device} cannot reset host ${dead.name}.`, pid);
    else haLog(survivor, t, "heartbeat", "ERROR", `Host ${dead.name} not reset!`, pid);
    haLog(survivor, t, "heartbeat", "ERROR", `STONITH of ${dead.name} failed.  Retrying...`);
    st.nextAt = t + 5000;
  }

  /** heartbeat starting on a booting node, and its peers hearing it. */
  private logBootAt(node: SimNode): void {
    const t = this.processed;
    haLog(node, t, "heartbeat", "info", "Configuration validated. Starting heartbeat 2.1.3");
    haLog(node, t, "heartbeat", "info", "Local status now set to: 'up'");
    for (const peer of this.state.nodes) {
      if (peer === node || !peer.up || !peer.haRunning) continue;
      haLog(peer, t, "heartbeat", "info", `Heartbeat restart on node ${node.name}`);
      haLog(peer, t, "heartbeat", "info", `Link ${node.name}:eth1 up.`);
      haLog(peer, t, "heartbeat", "info", `Status update for node ${node.name}: status active`);
      haLog(node, t, "heartbeat", "info", `Status update for node ${peer.name}: status active`);
    }
    haLog(node, t, "heartbeat", "info", "Local status now set to: 'active'");
  }

  /** auto_failback: the holders give a returning node its groups back once heartbeat there is up. */
  private scheduleFailbackAt(node: SimNode, groups: SimHaGroup[]): void {
    const byHolder = new Map<string, SimHaGroup[]>();
    for (const g of groups) {
      const holder = g.owner ? this.node(g.owner) : undefined;
      if (!holder?.up || !holder.haRunning || !g.owner) {
        // Nobody holds it: heartbeat on the home node just starts its own group.
        g.owner = node.name;
        this.startGroupOn(g, node.name);
        continue;
      }
      byHolder.set(g.owner, [...(byHolder.get(g.owner) ?? []), g]);
    }
    node.holdsLocal = byHolder.size === 0;
    for (const [holder, gs] of byHolder)
      this.state.ha.failbacks = [
        ...(this.state.ha.failbacks ?? []),
        {
          holder,
          home: node.name,
          groups: gs.map((g) => g.id),
          startAt: this.processed + this.state.ha.takeoverMs,
          endsAt: null,
        },
      ];
  }

  /**
   * The holder goes standby for the foreign groups (PerformAutoFailback). Its xendomains script
   * live-migrates each guest home (the home's drbddisk is promoted first, dual-primary); a guest that
   * cannot be migrated is stopped and started at home instead.
   */
  private startFailbackAt(fb: SimFailback): void {
    const holder = this.node(fb.holder);
    const home = this.node(fb.home);
    if (!holder?.up || !holder.haRunning || !home?.up || !home.haRunning) {
      this.state.ha.failbacks = (this.state.ha.failbacks ?? []).filter((x) => x !== fb);
      return;
    }
    const t = this.processed;
    haLog(holder, t, "heartbeat", "info", `${holder.name} wants to go standby [foreign]`);
    haLog(home, t, "heartbeat", "info", `${holder.name} wants to go standby [foreign]`);
    haLog(holder, t, "heartbeat", "info", `standby: ${home.name} can take our foreign resources`);
    const pid = childPid(holder);
    haLog(holder, t, "heartbeat", "info", "give up foreign HA resources (standby).", pid);
    let endsAt = t;
    for (const id of fb.groups) {
      const g = this.state.ha.groups.find((x) => x.id === id);
      if (!g || g.owner !== holder.name) continue;
      const rm = childPid(holder);
      haLog(holder, t, "ResourceManager", "info", `Releasing resource group: ${haresourcesLine(g)}`, rm);
      haLog(
        holder,
        t,
        "ResourceManager",
        "info",
        `Running /etc/ha.d/resource.d/xendomains ${g.guest} stop`,
        rm,
      );
      const dom = this.findGuestDomain(holder.name, g.guest);
      if (!dom) {
        g.owner = home.name;
        this.startGroupOn(g, home.name);
        continue;
      }
      const promoted = g.drbd.every((r) => this.promoteAt(r, home.name).ok);
      const m = promoted ? this.startMigrationAt(holder.name, dom.name, home.name, true) : null;
      if (m?.ok) endsAt = Math.max(endsAt, m.migration.startedAt + m.migration.durationMs);
      else this.moveGroup(g, home.name);
    }
    fb.endsAt = endsAt;
    this.touchHa();
  }

  private finishFailbackAt(fb: SimFailback): void {
    this.state.ha.failbacks = (this.state.ha.failbacks ?? []).filter((x) => x !== fb);
    const holder = this.node(fb.holder);
    const home = this.node(fb.home);
    if (!holder?.up || !home?.up) return;
    const t = this.processed;
    for (const id of fb.groups) {
      const g = this.state.ha.groups.find((x) => x.id === id);
      if (!g || g.owner === home.name) continue;
      const there = this.findGuestDomain(home.name, g.guest);
      if (there && !this.migrationOf(g.guest) && !this.findGuestDomain(holder.name, g.guest)) {
        for (const r of g.drbd) this.demoteAt(r, holder.name);
        g.owner = home.name;
      } else
        haLog(
          holder,
          t,
          "ResourceManager",
          "ERROR",
          "Return code 1 from /etc/ha.d/resource.d/xendomains",
          childPid(holder),
        );
    }
    home.holdsLocal = this.state.ha.groups.every((g) => g.home !== home.name || g.owner === home.name);
    haLog(holder, t, "heartbeat", "info", "foreign HA resource release completed (standby).");
    haLog(holder, t, "heartbeat", "info", "Local standby process completed [foreign].");
    haLog(home, t, "heartbeat", "info", `standby: acquire [foreign] resources from ${holder.name}`);
    haLog(home, t, "heartbeat", "info", "local HA resource acquisition completed (standby).");
    haLog(home, t, "heartbeat", "info", "Standby resource acquisition done [foreign].");
    haLog(home, t, "heartbeat", "info", "Initial resource acquisition complete (auto_failback)");
    haLog(holder, t, "heartbeat", "info", "Other node completed standby takeover of foreign resources.");
    this.touchHa();
  }

  /** `!sim autoTakeover|autoFailback on|off`: heartbeat's behaviour from now on. */
  setHaPolicy(policy: { autoTakeover?: boolean; autoFailback?: boolean }): void {
    this.sync();
    if (policy.autoTakeover !== undefined) this.state.ha.autoTakeover = policy.autoTakeover;
    if (policy.autoFailback !== undefined) this.state.ha.autoFailback = policy.autoFailback;
    this.touchHa();
    this.changed();
  }

  /** What haresources' scripts do on start: drbddisk promotes, then the Xen script creates the guest. */
  private startGroupOn(g: SimHaGroup, node: string): boolean {
    if (this.findGuestDomain(node, g.guest)) return true;
    for (const rname of g.drbd) if (!this.promoteAt(rname, node).ok) return false;
    return this.createGuestAt(node, g.guest).ok;
  }

  private moveGroup(g: SimHaGroup, to: string): void {
    const from = g.owner;
    if (from && from !== to) {
      const d = this.findGuestDomain(from, g.guest);
      if (d) this.destroyDomainAt(from, d);
      for (const rname of g.drbd) this.demoteAt(rname, from);
    }
    g.owner = to;
    this.startGroupOn(g, to);
  }

  private touchHa(): void {
    this.state.ha.lastChange = this.processed;
  }

  /** Membership as `observer` sees `target`: alive until deadtime after it went silent. */
  memberStatus(observer: string, target: string): { alive: boolean; fencedSinceDown: boolean } {
    const t = this.node(target);
    if (!t) return { alive: false, fencedSinceDown: false };
    // A partition: the two hear nothing from each other since it began, whether the target runs or not.
    const cut = observer === target ? null : this.partitionBetween(observer, target);
    if (t.up && t.haRunning && cut === null) return { alive: true, fencedSinceDown: false };
    if (observer === target) return { alive: false, fencedSinceDown: false };
    const since = Math.min(t.downSince ?? cut ?? this.processed, cut ?? Infinity);
    const fenced = this.state.ha.fenceHistory.some(
      (f) => f.target === target && f.status === "success" && (f.completedAt ?? 0) >= since,
    );
    const alive = this.processed - since < this.state.ha.deadtimeMs && !fenced;
    return { alive, fencedSinceDown: fenced };
  }

  /**
   * A power action through the fence device. reset: down now, back after rebootMs; off: down and
   * stays down; on: boots after rebootMs. The device must answer and know the target. viaFencer:
   * requested through Pacemaker's fencer (stonith_admin), which records it and tells the members.
   */
  fence(
    target: string,
    action: "reset" | "off" | "on",
    who: { client: string; origin: string; viaFencer?: boolean },
  ): FenceOutcome {
    this.sync();
    const outcome = this.fenceAt(target, action, who);
    this.sync();
    this.changed();
    return outcome;
  }

  private fenceAt(
    target: string,
    action: "reset" | "off" | "on",
    who: { client: string; origin: string; viaFencer?: boolean },
  ): FenceOutcome {
    const node = this.node(target);
    // Ground truth (truth.ts): every power action the device is asked for, whatever came of it.
    const log = (ok: boolean, effective: boolean): void => {
      this.fenceLog.push({
        target,
        action,
        origin: who.origin,
        client: who.client,
        at: this.processed,
        ok,
        effective,
      });
    };
    // Only Pacemaker's fencer keeps a history (and tells the members); a fence device driven
    // directly (stonith, a fence agent by hand) leaves no trace in the HA stack.
    const record = (status: FenceRecord["status"], reason: string | null): void => {
      if (!who.viaFencer) return;
      this.state.ha.fenceHistory.push({
        target,
        action: action === "reset" ? "reboot" : action,
        status,
        delegate: who.origin,
        client: who.client,
        origin: who.origin,
        completedAt: this.processed,
        exitReason: reason,
      });
    };
    if (!this.state.fence?.reachable) {
      if (node) record("failed", "Fence agent did not complete");
      log(false, false);
      return { ok: false, reason: "unreachable" };
    }
    if (!node) return { ok: false, reason: "unknown_target" };
    if (this.state.fence.ineffective?.includes(target)) {
      // The device switched an outlet that does not feed this node: it reports success, nothing happens.
      record("success", null);
      log(true, false);
      return { ok: true };
    }
    log(true, true);
    const reboot = this.state.timing.rebootMs;
    if (action === "on") {
      if (!node.up && node.bootAt === null) node.bootAt = this.processed + reboot;
    } else if (node.up) this.nodeDownAt(target, action === "reset" ? reboot : null);
    else node.bootAt = action === "reset" ? this.processed + reboot : null;
    record("success", null);
    this.touchHa();
    return { ok: true };
  }
}

function dom0(node: SimNode, cpuTimeSec: number): SimDomain {
  return {
    name: "Domain-0",
    guest: null,
    id: 0,
    memMiB: node.dom0MemMiB,
    vcpus: node.cpus,
    flags: {
      running: true,
      blocked: false,
      paused: false,
      shutdown: false,
      crashed: false,
      dying: false,
      shutdownReason: null,
    },
    cpuTimeSec,
    load: 0.02,
  };
}

function resyncLeft(r: SimDrbdResource, at: number): number {
  if (!r.resync) return 0;
  const done = (r.syncRateKiBps * Math.max(0, at - r.resync.startedAt)) / 1000;
  return Math.max(0, r.resync.totalKiB - done);
}

interface NameIndex<T extends { name: string }> {
  list: readonly T[];
  length: number;
  byName: Map<string, T>;
}

/**
 * The index of `list` by name, rebuilt when the list is another array or has changed length (lab
 * directives and tests add guests). The first of equal names wins, as Array.find would have it.
 */
function indexed<T extends { name: string }>(list: readonly T[], index: NameIndex<T> | null): NameIndex<T> {
  if (index && index.list === list && index.length === list.length) return index;
  const byName = new Map<string, T>();
  for (const item of list) if (!byName.has(item.name)) byName.set(item.name, item);
  return { list, length: list.length, byName };
}
