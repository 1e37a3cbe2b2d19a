/**
 * `drbdadm status` / `drbdsetup status [--verbose] [--statistics]` text (DRBD 9), as printed by
 * status_cmd() in drbd-utils user/v9/drbdsetup.c:
 *
 *   internet role:Primary                       resource, column 0; wrapped parts at column 4
 *     disk:UpToDate                             device, column 2 (`volume:N` first unless the
 *     ics1 role:Secondary                         only device is volume 0); connection, column 2
 *       peer-disk:UpToDate                      peer device, column 4 (same `volume:` rule)
 *
 * wrap_printf() wraps a record at 80 columns (or the terminal width) between fields and continues it
 * at column 4 (resource), 6 (device, connection) or 8 (peer device); `--statistics` always starts its
 * fields on such a continuation line. Resources are separated by a blank line.
 *
 * Non-verbose output leaves out fields at their usual value; the omissions are resolved here:
 * - `connection:` is printed only when not Connected, so a connection without it is Connected;
 * - peer devices are listed only for Connected connections (or with --verbose/--statistics);
 * - `replication:` is printed only beyond Established: absent means Established, except that a
 *   peer device showing no `peer-disk:` (or `peer-disk:DUnknown`) is still Off (peer-disk is
 *   omitted exactly when replication is Off and the peer disk DUnknown);
 * - with --statistics, `out-of-sync:` is omitted when 0 (its sibling `received:` shows the
 *   statistics were printed).
 */
import { ParseError } from "../../errors";
import {
  applyConnectionField,
  applyDeviceField,
  applyPeerDeviceField,
  applyResourceField,
  type Fail,
  int,
  splitField,
  stripAnsi,
} from "./fields";
import {
  type Drbd9Connection,
  type Drbd9PeerDevice,
  type Drbd9Resource,
  newConnection,
  newDevice,
  newPeerDevice,
  newResource,
  sortResource,
} from "./model";

export const DRBD_STATUS_KIND = "drbd-status";

type Context =
  | { at: "start" }
  | { at: "resource"; resource: Drbd9Resource }
  | { at: "device"; resource: Drbd9Resource; apply: (key: string, value: string) => void }
  | { at: "connection"; resource: Drbd9Resource; connection: Drbd9Connection }
  | { at: "peer-device"; resource: Drbd9Resource; connection: Drbd9Connection; peer: Drbd9PeerDevice };

export function parseDrbdStatusText(text: string): Drbd9Resource[] {
  const resources: Drbd9Resource[] = [];
  let ctx: Context = { at: "start" };
  const lines = stripAnsi(text).replace(/\r\n?/g, "\n").split("\n");

  const parseLine = (raw: string, i: number): void => {
    const fail: Fail = (message) => {
      throw new ParseError(DRBD_STATUS_KIND, i + 1, message, raw);
    };
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      // drbdsetup's only comment line, printed when no resource is configured.
      if (/^# No currently configured DRBD found\.?\s*$/.test(raw)) return;
      fail("unexpected comment line");
    }
    const m = /^( *)(\S.*?)\s*$/.exec(raw);
    if (!m || m[2] === undefined || m[1] === undefined) fail("unexpected whitespace");
    const indent = m[1].length;
    const tokens = m[2].split(/\s+/);
    const fields = (from: number) => tokens.slice(from).map((t) => splitField(t, fail));

    switch (indent) {
      case 0: {
        const name = tokens[0] ?? "";
        if (name.includes(":")) fail(`expected a resource name, got "${name}"`);
        const resource = newResource(name);
        for (const f of fields(1)) applyResourceField(resource, f.key, f.value, fail);
        resources.push(resource);
        ctx = { at: "resource", resource };
        return;
      }
      case 2: {
        if (ctx.at === "start") fail("device or connection line before any resource");
        const resource = ctx.resource;
        const first = tokens[0] ?? "";
        if (first.startsWith("volume:") || first.startsWith("disk:")) {
          const fs = fields(0);
          const vol = fs[0]?.key === "volume" ? int(fs[0].value, "volume", fail) : 0;
          if (resource.devices.some((d) => d.volume === vol)) fail(`volume ${vol} listed twice`);
          const device = newDevice(vol);
          resource.devices.push(device);
          const apply = (key: string, value: string) => {
            if (key === "volume") fail("volume given twice");
            applyDeviceField(device, key, value, fail);
          };
          for (const f of fs.slice(fs[0]?.key === "volume" ? 1 : 0)) apply(f.key, f.value);
          ctx = { at: "device", resource, apply };
          return;
        }
        // A connection: its name, or only `node-id:` when the connection has no name.
        const named = !first.includes(":");
        const connection = newConnection(named ? first : null, null);
        for (const f of fields(named ? 1 : 0)) applyConnectionField(connection, f.key, f.value, fail);
        resource.connections.push(connection);
        ctx = { at: "connection", resource, connection };
        return;
      }
      case 4: {
        if (ctx.at === "resource") {
          for (const f of fields(0)) applyResourceField(ctx.resource, f.key, f.value, fail);
          return;
        }
        if (ctx.at !== "connection" && ctx.at !== "peer-device") fail("unexpected line at column 4");
        const { resource, connection } = ctx;
        const fs = fields(0);
        const vol = fs[0]?.key === "volume" ? int(fs[0].value, "volume", fail) : 0;
        if (connection.peerDevices.some((p) => p.volume === vol)) fail(`peer volume ${vol} listed twice`);
        const peer = newPeerDevice(vol);
        connection.peerDevices.push(peer);
        for (const f of fs.slice(fs[0]?.key === "volume" ? 1 : 0)) applyPeerField(peer, f.key, f.value, fail);
        ctx = { at: "peer-device", resource, connection, peer };
        return;
      }
      case 6:
        if (ctx.at === "device") {
          for (const f of fields(0)) ctx.apply(f.key, f.value);
          return;
        }
        if (ctx.at === "connection") {
          for (const f of fields(0)) applyConnectionField(ctx.connection, f.key, f.value, fail);
          return;
        }
        fail("unexpected line at column 6");
        return;
      case 8:
        if (ctx.at !== "peer-device") fail("unexpected line at column 8");
        for (const f of fields(0)) applyPeerField(ctx.peer, f.key, f.value, fail);
        return;
      default:
        fail(`unexpected indentation (${indent} spaces)`);
    }
  };
  lines.forEach((raw, i) => {
    parseLine(raw, i);
  });

  for (const r of resources) resolveOmissions(r);
  return resources.map(sortResource);
}

function applyPeerField(p: Drbd9PeerDevice, key: string, value: string, fail: Fail): void {
  if (key === "volume") fail("volume given twice");
  // The drbdsetup(8) example (and early 9.0 releases) print the peer's disk as `disk:`.
  applyPeerDeviceField(p, key === "disk" ? "peer-disk" : key, value, fail);
}

function resolveOmissions(r: Drbd9Resource): void {
  for (const c of r.connections) {
    c.connectionState ??= "Connected";
    for (const p of c.peerDevices) {
      if (p.replicationState === null && c.connectionState === "Connected") {
        p.replicationState =
          p.peerDiskState === null || p.peerDiskState === "DUnknown" ? "Off" : "Established";
      }
      p.peerDiskState ??= "DUnknown";
      if (p.outOfSyncKiB === null && p.receivedKiB !== null) p.outOfSyncKiB = 0;
    }
  }
}
