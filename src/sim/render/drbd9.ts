/**
 * DRBD 9 status formats, as drbd-utils 9.x prints them (user/v9/drbdsetup.c, drbdsetup_events2.c,
 * user/shared/wrap_printf.c):
 *
 * `drbdsetup status` / `drbdadm status` (stdout not a tty, no --verbose/--statistics):
 *   internet role:Primary
 *     disk:UpToDate open:yes
 *     ics1 role:Secondary
 *       peer-disk:UpToDate
 *   <blank line>
 * A peer that is not Connected shows `  NAME connection:Connecting` and no peer-device line; while
 * syncing, `    replication:SyncSource peer-disk:Inconsistent done:42.17`.
 *
 * `drbdsetup status --json`: the hand-written JSON of resource_status_json & co., whitespace included
 * (note `"connection-state": "Connected", ` with its trailing space).
 *
 * `drbdsetup events2`: `exists` lines for resource, connections, devices, peer devices, then
 * `exists -`; afterwards `change` lines carrying only what changed. Paths are not reported (the
 * kernel sends no initial path state either).
 */
import type { SimNode } from "../model";
import type { DrbdView, Simulation } from "../simulation";
import { isoMicros } from "./format";

function resources(sim: Simulation, node: SimNode, filter: string): { views: DrbdView[]; missing: boolean } {
  const all = sim
    .resourcesOn(node.name)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => sim.drbdView(r, node.name));
  if (filter === "all") return { views: all, missing: false };
  const views = all.filter((v) => v.resource.name === filter);
  return { views, missing: views.length === 0 };
}

/** Sync statistics the kernel reports (sectors, ms), derived from the simulated resync. */
interface SyncStats {
  rsTotal: number;
  toGo: number;
  dtStartMs: number;
  dt0: number;
  db0: number;
  dt1: number;
  db1: number;
  wantKiBps: number;
}

function syncStats(v: DrbdView): SyncStats | null {
  const s = v.resync;
  if (!s) return null;
  const dt0 = Math.min(s.elapsedMs, 3000);
  const dt1 = Math.min(s.elapsedMs, 6000);
  return {
    rsTotal: Math.round(s.totalKiB * 2),
    toGo: Math.round(s.leftKiB * 2),
    dtStartMs: s.elapsedMs,
    dt0,
    db0: Math.round((s.rateKiBps * dt0 * 2) / 1000),
    dt1,
    db1: Math.round((s.rateKiBps * dt1 * 2) / 1000),
    wantKiBps: s.rateKiBps,
  };
}

function donePercent(s: SyncStats): string {
  return ((100 * (s.rsTotal - s.toGo)) / s.rsTotal).toFixed(2);
}

// ------------------------------------------------------------------ status text

/** Minimal wrap_printf: strips leading blanks and indents at the start of a line (80 columns). */
class Wrapper {
  private out = "";
  private col = 0;
  print(indent: number, text: string): void {
    let t = text;
    while (t.startsWith("\n")) {
      this.out += "\n";
      this.col = 0;
      t = t.slice(1);
    }
    if (t === "") return;
    if (this.col > 0 && this.col + t.length > 80) {
      this.out += "\n";
      this.col = 0;
    }
    if (this.col === 0) {
      t = t.replace(/^ +/, "");
      this.out += " ".repeat(indent);
      // wrap_printf leaves col at indent - 1 after its `while (indent--)` loop.
      this.col = -1;
    }
    this.out += t;
    this.col += t.length;
    if (t.endsWith("\n")) this.col = 0;
  }
  text(): string {
    return this.out;
  }
}

export function renderDrbdStatusText(
  sim: Simulation,
  node: SimNode,
  filter = "all",
): { stdout: string; stderr: string; exitCode: number } {
  const { views, missing } = resources(sim, node, filter);
  if (missing) return { stdout: "", stderr: `${filter}: No such resource\n`, exitCode: 10 };
  if (views.length === 0)
    return { stdout: "# No currently configured DRBD found.\n", stderr: "", exitCode: 0 };
  const w = new Wrapper();
  for (const v of views) {
    w.print(0, v.resource.name);
    w.print(4, ` role:${v.role}`);
    w.print(0, "\n");
    w.print(2, ` disk:${v.disk}`);
    w.print(2, ` open:${v.open ? "yes" : "no"}`);
    w.print(6, "\n");
    w.print(2, v.peer);
    if (v.connection9 !== "Connected") w.print(6, ` connection:${v.connection9}`);
    else w.print(6, ` role:${v.peerRole}`);
    w.print(0, "\n");
    if (v.connection9 === "Connected") {
      let indent = 4;
      if (v.replication9 !== "Established") {
        w.print(indent, ` replication:${v.replication9}`);
        indent = 8;
      }
      w.print(indent, ` peer-disk:${v.peerDisk}`);
      const s = syncStats(v);
      if (s) w.print(8, ` done:${donePercent(s)}`);
      w.print(0, "\n");
    }
    w.print(0, "\n");
  }
  return { stdout: w.text(), stderr: "", exitCode: 0 };
}

// ------------------------------------------------------------------ status --json

function pathJson(local: SimNode, peer: SimNode | undefined, port: number, established: boolean): string {
  const addr = (a: string): string =>
    `            "address": "${a}",\n            "port": ${port},\n            "family": "ipv4"\n`;
  return (
    "        {\n" +
    '          "this_host": {\n' +
    addr(local.replicationAddress) +
    "          },\n" +
    '          "remote_host": {\n' +
    addr(peer?.replicationAddress ?? "0.0.0.0") +
    "          },\n" +
    `          "established": ${established}\n` +
    "        }"
  );
}

function peerDeviceJson(v: DrbdView): string {
  const c = v.local.counters;
  const s = syncStats(v);
  const size = v.resource.sizeKiB * 2;
  const oos = v.oosKiB * 2;
  let out =
    "        {\n" +
    '          "volume": 0,\n' +
    `          "replication-state": "${v.replication9}",\n` +
    `          "peer-disk-state": "${v.peerDisk}",\n` +
    '          "peer-client": false,\n' +
    '          "resync-suspended": "no",\n' +
    `          "received": ${Math.floor(c.nr)},\n` +
    `          "sent": ${Math.floor(c.ns)},\n` +
    `          "out-of-sync": ${v.oosKiB},\n` +
    '          "pending": 0,\n' +
    '          "unacked": 0,\n' +
    `          "has-sync-details": ${s !== null},\n` +
    '          "has-online-verify-details": false,\n' +
    `          "percent-in-sync": ${(100 * (1 - oos / size)).toFixed(2)}${s ? "," : ""}\n`;
  if (s) {
    const db1 = s.db1;
    const dt1 = s.dt1 || 1;
    out +=
      `          "rs-total": ${s.rsTotal},\n` +
      `          "rs-dt-start-ms": ${s.dtStartMs},\n` +
      '          "rs-paused-ms": 0,\n' +
      `          "rs-dt0-ms": ${s.dt0},\n` +
      `          "rs-db0-sectors": ${s.db0},\n` +
      `          "rs-dt1-ms": ${s.dt1},\n` +
      `          "rs-db1-sectors": ${s.db1},\n` +
      '          "rs-failed": 0,\n' +
      '          "rs-same-csum": 0,\n' +
      `          "want": ${(s.wantKiBps / 1024).toFixed(2)},\n` +
      `          "db0/dt0 [MiB/s]": ${((s.db0 / (s.dt0 || 1)) * (1000 / 2048)).toFixed(2)},\n` +
      `          "db1/dt1 [MiB/s]": ${((db1 / dt1) * (1000 / 2048)).toFixed(2)},\n` +
      `          "estimated-seconds-to-finish": ${(db1 <= 0 ? 987654321 : (dt1 * 1e-3 * s.toGo) / db1).toFixed(0)},\n` +
      `          "db/dt [MiB/s]": ${(((s.rsTotal - s.toGo) / (s.dtStartMs || 1)) * (1000 / 2048)).toFixed(2)},\n` +
      `          "percent-resync-done": ${donePercent(s)}\n`;
  }
  return `${out}        }`;
}

export function renderDrbdStatusJson(
  sim: Simulation,
  node: SimNode,
  filter = "all",
): { stdout: string; stderr: string; exitCode: number } {
  const { views, missing } = resources(sim, node, filter);
  let out = "[\n";
  views.forEach((v, i) => {
    if (i > 0) out += ",\n";
    const c = v.local.counters;
    out +=
      "{\n" +
      `  "name": "${v.resource.name}",\n` +
      `  "node-id": ${v.nodeId},\n` +
      `  "role": "${v.role}",\n` +
      '  "suspended": false,\n' +
      '  "suspended-user": false,\n' +
      '  "suspended-no-data": false,\n' +
      '  "suspended-fencing": false,\n' +
      '  "suspended-quorum": false,\n' +
      '  "force-io-failures": false,\n' +
      '  "write-ordering": "flush",\n' +
      '  "devices": [\n';
    out +=
      "    {\n" +
      '      "volume": 0,\n' +
      `      "minor": ${v.resource.minor},\n` +
      `      "disk-state": "${v.disk}",\n` +
      '      "client": false,\n' +
      `      "open": ${v.open},\n` +
      '      "quorum": true,\n' +
      `      "size": ${v.resource.sizeKiB},\n` +
      `      "read": ${Math.floor(c.dr)},\n` +
      `      "written": ${Math.floor(c.dw)},\n` +
      `      "al-writes": ${Math.floor(c.al)},\n` +
      `      "bm-writes": ${Math.floor(c.bm)},\n` +
      '      "upper-pending": 0,\n' +
      '      "lower-pending": 0\n' +
      "    }";
    out += ' ],\n  "connections": [\n';
    out +=
      "    {\n" +
      `      "peer-node-id": ${v.peerNodeId},\n` +
      `      "name": "${v.peer}",\n` +
      `      "connection-state": "${v.connection9}", \n` +
      '      "congested": false,\n' +
      `      "peer-role": "${v.peerRole}",\n` +
      '      "tls": false,\n' +
      '      "ap-in-flight": 0,\n' +
      `      "rs-in-flight": ${v.resync ? 2048 : 0},\n` +
      '      "paths": [\n' +
      pathJson(node, sim.node(v.peer), v.resource.port, v.connection9 === "Connected") +
      " ],\n" +
      '      "peer_devices": [\n' +
      peerDeviceJson(v) +
      " ]\n    }";
    out += " ]\n}\n";
  });
  out += "]\n\n";
  if (missing) return { stdout: out, stderr: `${filter}: No such resource\n`, exitCode: 10 };
  return { stdout: out, stderr: "", exitCode: 0 };
}

// ------------------------------------------------------------------ events2

interface E2Resource {
  name: string;
  role: string;
  suspended: string;
  failIo: string;
  mayPromote: boolean;
  promotionScore: number;
}
interface E2Connection {
  peerNodeId: number;
  connName: string;
  connection: string;
  role: string;
}
interface E2Device {
  minor: number;
  backingDev: string;
  disk: string;
  client: string;
  open: string;
  quorum: string;
  stats: { size: number; read: number; written: number; alWrites: number; bmWrites: number };
}
interface E2PeerDevice {
  peerNodeId: number;
  connName: string;
  replication: string;
  peerDisk: string;
  peerClient: string;
  resyncSuspended: string;
  stats: { received: number; sent: number; oos: number; sync: SyncStats | null };
}

/** One resource as drbdsetup events2 tracks it. */
export interface E2Snapshot {
  resource: E2Resource;
  connection: E2Connection;
  device: E2Device;
  peerDevice: E2PeerDevice;
}

/** drbdsetup's compute_promotion_info for one volume and one peer. */
function promotion(v: DrbdView): { mayPromote: boolean; score: number } {
  const upToDate = (v.disk === "UpToDate" ? 1 : 0) + (v.peerDisk === "UpToDate" ? 1 : 0);
  if (upToDate === 0) return { mayPromote: false, score: 0 };
  const hasDisk = v.disk === "UpToDate" || v.disk === "Consistent" || v.disk === "Inconsistent";
  const stable = v.disk === "UpToDate" || v.peerDisk === "UpToDate";
  const primary = v.role === "Primary" || v.peerRole === "Primary";
  return {
    mayPromote: !primary && stable,
    score:
      (hasDisk ? 1 : 0) * 10000 + Math.min(v.disk === "UpToDate" ? 1 : 0, 99) * 100 + Math.min(upToDate, 99),
  };
}

export function events2Snapshot(sim: Simulation, node: SimNode, filter = "all"): Map<string, E2Snapshot> {
  const map = new Map<string, E2Snapshot>();
  for (const v of resources(sim, node, filter).views) {
    const p = promotion(v);
    const c = v.local.counters;
    map.set(v.resource.name, {
      resource: {
        name: v.resource.name,
        role: v.role,
        suspended: "no",
        failIo: "no",
        mayPromote: p.mayPromote,
        promotionScore: p.score,
      },
      connection: { peerNodeId: v.peerNodeId, connName: v.peer, connection: v.connection9, role: v.peerRole },
      device: {
        minor: v.resource.minor,
        backingDev: v.resource.backingDisk,
        disk: v.disk,
        client: "no",
        open: v.open ? "yes" : "no",
        quorum: "yes",
        stats: {
          size: v.resource.sizeKiB,
          read: Math.floor(c.dr),
          written: Math.floor(c.dw),
          alWrites: Math.floor(c.al),
          bmWrites: Math.floor(c.bm),
        },
      },
      peerDevice: {
        peerNodeId: v.peerNodeId,
        connName: v.peer,
        replication: v.replication9,
        peerDisk: v.peerDisk,
        peerClient: "no",
        resyncSuspended: "no",
        stats: { received: Math.floor(c.nr), sent: Math.floor(c.ns), oos: v.oosKiB, sync: syncStats(v) },
      },
    });
  }
  return map;
}

export interface Events2Options {
  statistics: boolean;
  timestamps: boolean;
}

/**
 * Lines for the transition old -> next of every resource, in drbdsetup's print_changes order
 * (resource, connections, devices, peer devices). `old` null means the initial `exists` dump.
 */
export function events2Lines(
  old: Map<string, E2Snapshot> | null,
  next: Map<string, E2Snapshot>,
  opts: Events2Options,
  at: number,
): string[] {
  const prefix = opts.timestamps ? `${isoMicros(at)} ` : "";
  const action = (existed: boolean): string => (old === null ? "exists" : existed ? "change" : "create");
  const lines: string[] = [];
  for (const [name, n] of next) {
    const o = old?.get(name) ?? null;

    // resource
    const roleChanged = !o || o.resource.role !== n.resource.role;
    const infoChanged = !o || o.resource.suspended !== n.resource.suspended;
    const failChanged = !o || o.resource.failIo !== n.resource.failIo;
    const promoChanged =
      !o ||
      o.resource.mayPromote !== n.resource.mayPromote ||
      o.resource.promotionScore !== n.resource.promotionScore;
    const resStats = opts.statistics && !o;
    if (roleChanged || infoChanged || failChanged || promoChanged || resStats) {
      let l = `${prefix}${action(o !== null)} resource name:${name}`;
      if (roleChanged) l += ` role:${n.resource.role}`;
      if (infoChanged) l += ` suspended:${n.resource.suspended}`;
      if (failChanged) l += ` force-io-failures:${n.resource.failIo}`;
      if (resStats) l += " write-ordering:flush";
      if (promoChanged)
        l += ` may_promote:${n.resource.mayPromote ? "yes" : "no"} promotion_score:${n.resource.promotionScore}`;
      lines.push(l);
    }

    // connection
    const oc = o?.connection;
    const nc = n.connection;
    const stateChanged = !oc || oc.connection !== nc.connection;
    const croleChanged = !oc || oc.role !== nc.role;
    if (stateChanged || croleChanged) {
      let l = `${prefix}${action(!!oc)} connection name:${name} peer-node-id:${nc.peerNodeId} conn-name:${nc.connName}`;
      if (stateChanged) l += ` connection:${nc.connection}`;
      if (croleChanged) l += ` role:${nc.role}`;
      if (opts.statistics)
        l += `${oc ? "" : " congested:no"} ap-in-flight:0 rs-in-flight:${n.peerDevice.stats.sync ? 2048 : 0}`;
      lines.push(l);
    }

    // device
    const od = o?.device;
    const nd = n.device;
    if (!od || od.disk !== nd.disk || od.quorum !== nd.quorum || od.open !== nd.open) {
      let l = `${prefix}${action(!!od)} device name:${name} volume:0 minor:${nd.minor}`;
      l += ` backing_dev:${nd.backingDev} disk:${nd.disk} client:${nd.client} open:${nd.open} quorum:${nd.quorum}`;
      if (opts.statistics) {
        const s = nd.stats;
        l += ` size:${s.size} read:${s.read} written:${s.written} al-writes:${s.alWrites} bm-writes:${s.bmWrites} upper-pending:0 lower-pending:0`;
        if (!od) l += " al-suspended:no blocked:no";
      }
      lines.push(l);
    }

    // peer device
    const op = o?.peerDevice;
    const np = n.peerDevice;
    const replChanged = !op || op.replication !== np.replication;
    const diskChanged = !op || op.peerDisk !== np.peerDisk || op.peerClient !== np.peerClient;
    const suspChanged = !op || op.resyncSuspended !== np.resyncSuspended;
    if (replChanged || diskChanged || suspChanged) {
      let l = `${prefix}${action(!!op)} peer-device name:${name} peer-node-id:${np.peerNodeId} conn-name:${np.connName} volume:0`;
      if (replChanged) l += ` replication:${np.replication}`;
      if (diskChanged) l += ` peer-disk:${np.peerDisk} peer-client:${np.peerClient}`;
      if (suspChanged) l += ` resync-suspended:${np.resyncSuspended}`;
      const sync = np.stats.sync;
      if (sync) l += ` done:${donePercent(sync)}`;
      if (opts.statistics) {
        l += ` received:${np.stats.received} sent:${np.stats.sent} out-of-sync:${np.stats.oos} pending:0 unacked:0`;
        if (sync) {
          const dt1 = sync.dt1 || 1;
          const eta = sync.db1 > 0 ? ((dt1 * 1e-3 * sync.toGo) / sync.db1).toFixed(0) : "nan";
          l += ` dbdt1:${((sync.db1 / dt1) * (1000 / 2048)).toFixed(2)} eta:${eta}`;
        }
      }
      lines.push(l);
    }
  }
  if (old === null) lines.push(`${prefix}exists -`);
  return lines;
}
