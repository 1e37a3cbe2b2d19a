/**
 * `drbdsetup status --json` (DRBD 9), as printed by resource_status_json(), device_status_json(),
 * connection_status_json() and peer_device_status_json() in drbd-utils user/v9/drbdsetup.c:
 *
 *   [ { "name", "node-id", "role", "suspended", "suspended-user", ..., "write-ordering",
 *       "devices": [ { "volume", "minor", "disk-state", "client", "open", "quorum", "size", ... } ],
 *       "connections": [ { "peer-node-id", "name", "connection-state", "congested", "peer-role",
 *           "tls", "ap-in-flight", "rs-in-flight", "paths": [ ... ],
 *           "peer_devices": [ { "volume", "replication-state", "peer-disk-state", "peer-client",
 *               "resync-suspended", "received", "sent", "out-of-sync", "pending", "unacked",
 *               "has-sync-details", "has-online-verify-details", "percent-in-sync",
 *               ["rs-total", ..., "db1/dt1 [MiB/s]", "estimated-seconds-to-finish",
 *                "percent-resync-done"] } ] } ] } ]
 *
 * Sizes are KiB (sectors / 2). Fields added in later releases (client, open, quorum, tls, paths)
 * are optional; unknown fields are kept in `extra`.
 */
import { z } from "zod";
import { ParseError } from "../../errors";
import {
  type Drbd9Connection,
  type Drbd9Device,
  type Drbd9Path,
  type Drbd9PeerDevice,
  type Drbd9Resource,
  type ExtraValue,
  newConnection,
  newDevice,
  newPeerDevice,
  newResource,
  sortResource,
} from "./model";

export const DRBD_STATUS_JSON_KIND = "drbd-status-json";

/** drbdsetup's stand-in for "no estimate" in estimated-seconds-to-finish. */
const NO_ESTIMATE = 987654321;

const count = z.number().nullable().optional();
/** A state name: one CamelCase word (unknown names from a newer DRBD pass). */
const stateName = z.string().regex(/^[A-Za-z][A-Za-z0-9]*$/, "not a state name");

const AddressJson = z.looseObject({
  address: z.string().optional(),
  port: z.number().optional(),
  family: z.string().optional(),
});

const PathJson = z.looseObject({
  this_host: AddressJson.optional(),
  remote_host: AddressJson.optional(),
  established: z.boolean().optional(),
});

const PeerDeviceJson = z.looseObject({
  volume: z.number().int().nonnegative(),
  "replication-state": stateName,
  "peer-disk-state": stateName,
  "peer-client": z.boolean().optional(),
  "resync-suspended": z.string().optional(),
  received: count,
  sent: count,
  "out-of-sync": count,
  pending: count,
  unacked: count,
  "percent-in-sync": count,
  "percent-resync-done": count,
  "estimated-seconds-to-finish": count,
  "db1/dt1 [MiB/s]": count,
});

const ConnectionJson = z.looseObject({
  "peer-node-id": z.number().int(),
  name: z.string(),
  "connection-state": stateName,
  congested: z.boolean().optional(),
  "peer-role": stateName,
  tls: z.boolean().optional(),
  "ap-in-flight": count,
  "rs-in-flight": count,
  paths: z.array(PathJson).optional(),
  peer_devices: z.array(PeerDeviceJson),
});

const DeviceJson = z.looseObject({
  volume: z.number().int().nonnegative(),
  minor: z.number().int(),
  "disk-state": stateName,
  client: z.boolean().optional(),
  open: z.boolean().optional(),
  quorum: z.boolean().optional(),
  size: count,
  read: count,
  written: count,
  "al-writes": count,
  "bm-writes": count,
  "upper-pending": count,
  "lower-pending": count,
});

const ResourceJson = z.looseObject({
  name: z.string().min(1),
  "node-id": z.number().int().optional(),
  role: stateName,
  suspended: z.boolean().optional(),
  "suspended-user": z.boolean().optional(),
  "suspended-no-data": z.boolean().optional(),
  "suspended-fencing": z.boolean().optional(),
  "suspended-quorum": z.boolean().optional(),
  "force-io-failures": z.boolean().optional(),
  "write-ordering": z.string().optional(),
  devices: z.array(DeviceJson),
  connections: z.array(ConnectionJson),
});

const StatusJson = z.array(ResourceJson);

export function parseDrbdStatusJson(text: string): Drbd9Resource[] {
  // printf("%.2f") of an undefined ratio prints nan/inf, which JSON cannot carry: read as null.
  const cleaned = text.replace(/(:\s*)-?(nan|inf)\b/gi, "$1null");
  if (cleaned.trim() === "") throw new ParseError(DRBD_STATUS_JSON_KIND, 0, "empty input");
  let data: unknown;
  try {
    data = JSON.parse(cleaned);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const line = jsonErrorLine(message, cleaned);
    throw new ParseError(DRBD_STATUS_JSON_KIND, line, `invalid JSON: ${message}`, lineText(cleaned, line));
  }
  const parsed = StatusJson.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join(".") : "";
    throw new ParseError(
      DRBD_STATUS_JSON_KIND,
      0,
      `unexpected structure at ${where || "top level"}: ${issue?.message}`,
    );
  }
  return parsed.data.map((r) => sortResource(toResource(r)));
}

type ResourceJson = z.infer<typeof ResourceJson>;

const RESOURCE_KEYS = new Set(Object.keys(ResourceJson.shape));
const DEVICE_KEYS = new Set(Object.keys(DeviceJson.shape));
const CONNECTION_KEYS = new Set(Object.keys(ConnectionJson.shape));
const PEER_DEVICE_KEYS = new Set(Object.keys(PeerDeviceJson.shape));

function extras(obj: Record<string, unknown>, known: ReadonlySet<string>): Record<string, ExtraValue> {
  const out: Record<string, ExtraValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (known.has(k)) continue;
    if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
  }
  return out;
}

function toResource(j: ResourceJson): Drbd9Resource {
  const r = newResource(j.name);
  r.nodeId = j["node-id"] ?? null;
  r.role = j.role;
  if (j.suspended !== undefined) {
    // Same wording as the text output's `suspended:` (susp_str() in drbdsetup.c).
    const reasons = [
      j["suspended-user"] ? "user" : null,
      j["suspended-no-data"] ? "no-data" : null,
      j["suspended-fencing"] ? "fencing" : null,
      j["suspended-quorum"] ? "quorum" : null,
    ].filter((x): x is string => x !== null);
    r.suspended = !j.suspended ? "no" : reasons.length > 0 ? reasons.join(",") : "yes";
  }
  r.forceIoFailures = j["force-io-failures"] ?? null;
  r.writeOrdering = j["write-ordering"] ?? null;
  r.extra = extras(j, RESOURCE_KEYS);
  r.devices = j.devices.map((d): Drbd9Device => {
    const dev = newDevice(d.volume);
    dev.minor = d.minor;
    dev.diskState = d["disk-state"];
    dev.client = d.client ?? null;
    dev.open = d.open ?? null;
    dev.quorum = d.quorum ?? null;
    dev.sizeKiB = d.size ?? null;
    dev.readKiB = d.read ?? null;
    dev.writtenKiB = d.written ?? null;
    dev.alWrites = d["al-writes"] ?? null;
    dev.bmWrites = d["bm-writes"] ?? null;
    dev.upperPending = d["upper-pending"] ?? null;
    dev.lowerPending = d["lower-pending"] ?? null;
    dev.extra = extras(d, DEVICE_KEYS);
    return dev;
  });
  r.connections = j.connections.map((c): Drbd9Connection => {
    const conn = newConnection(c.name, c["peer-node-id"]);
    conn.connectionState = c["connection-state"];
    conn.peerRole = c["peer-role"];
    conn.congested = c.congested ?? null;
    conn.tls = c.tls ?? null;
    conn.apInFlight = c["ap-in-flight"] ?? null;
    conn.rsInFlight = c["rs-in-flight"] ?? null;
    conn.paths = (c.paths ?? []).map(
      (p): Drbd9Path => ({
        local: address(p.this_host),
        peer: address(p.remote_host),
        established: p.established ?? null,
      }),
    );
    conn.extra = extras(c, CONNECTION_KEYS);
    conn.peerDevices = c.peer_devices.map((p): Drbd9PeerDevice => {
      const pd = newPeerDevice(p.volume);
      pd.replicationState = p["replication-state"];
      pd.peerDiskState = p["peer-disk-state"];
      pd.peerClient = p["peer-client"] ?? null;
      pd.resyncSuspended = p["resync-suspended"] ?? null;
      pd.receivedKiB = p.received ?? null;
      pd.sentKiB = p.sent ?? null;
      pd.outOfSyncKiB = p["out-of-sync"] ?? null;
      pd.pending = p.pending ?? null;
      pd.unacked = p.unacked ?? null;
      pd.percentInSync = p["percent-in-sync"] ?? null;
      pd.donePercent = p["percent-resync-done"] ?? null;
      const eta = p["estimated-seconds-to-finish"];
      pd.etaSec = eta === undefined || eta === null || eta === NO_ESTIMATE ? null : eta;
      const mibps = p["db1/dt1 [MiB/s]"];
      pd.speedKiBps = mibps === undefined || mibps === null ? null : mibps * 1024;
      pd.extra = extras(p, PEER_DEVICE_KEYS);
      return pd;
    });
    return conn;
  });
  return r;
}

/** `ipv4:10.0.0.1:7789`, the notation events2 uses for path addresses. */
function address(a: z.infer<typeof AddressJson> | undefined): string | null {
  if (!a || a.address === undefined) return null;
  const port = a.port === undefined ? "" : `:${a.port}`;
  return `${a.family ?? "unknown"}:${a.address}${port}`;
}

function jsonErrorLine(message: string, text: string): number {
  const lineCol = /line (\d+)/.exec(message);
  if (lineCol?.[1]) return Number(lineCol[1]);
  const pos = /position (\d+)/.exec(message);
  if (pos?.[1]) return text.slice(0, Number(pos[1])).split("\n").length;
  return 0;
}

function lineText(text: string, line: number): string | undefined {
  return line > 0 ? text.split("\n")[line - 1] : undefined;
}
