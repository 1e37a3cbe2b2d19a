/**
 * `key:value` fields shared by `drbdsetup status` text and `drbdsetup events2`: both are printed by
 * the same drbd-utils helpers (user/v9/drbdsetup.c, drbdsetup_events2.c), with the same key names.
 * Keys a parser does not model land in `extra`, so a newer drbd-utils adding keys is no error.
 */
import type { Drbd9Connection, Drbd9Device, Drbd9Path, Drbd9PeerDevice, Drbd9Resource } from "./model";

/** Reports an unreadable field; callers bind it to their kind and line. */
export type Fail = (message: string) => never;

const ANSI = new RegExp(`${String.fromCharCode(0x1b)}\\[[0-9;]*[A-Za-z]`, "g");

/** `--color=always` wraps state names in SGR sequences; they carry no information. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

export interface KeyValue {
  key: string;
  value: string;
}

/** Splits at the first colon: values keep theirs (`local:ipv4:10.0.0.1:7789`). */
export function splitField(token: string, fail: Fail): KeyValue {
  const i = token.indexOf(":");
  if (i <= 0 || !/^[A-Za-z][A-Za-z0-9_/-]*$/.test(token.slice(0, i)))
    fail(`expected key:value, got "${token}"`);
  return { key: token.slice(0, i), value: token.slice(i + 1) };
}

/** A number; `nan`/`inf` (printf of an undefined estimate) mean "not known". */
export function num(value: string, key: string, fail: Fail): number | null {
  if (/^[+-]?(nan|inf(inity)?)$/i.test(value)) return null;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(value)) fail(`${key}: "${value}" is not a number`);
  return Number(value);
}

export function int(value: string, key: string, fail: Fail): number {
  if (!/^\d+$/.test(value)) fail(`${key}: "${value}" is not a non-negative integer`);
  return Number(value);
}

/** drbd-utils prints yes/no, and `unknown` where older DRBD does not report the flag. */
export function yesNo(value: string, key: string, fail: Fail): boolean | null {
  if (value === "yes") return true;
  if (value === "no") return false;
  if (value === "unknown") return null;
  return fail(`${key}: expected yes, no or unknown, got "${value}"`);
}

function word(value: string, key: string, fail: Fail): string {
  if (value === "") fail(`${key}: empty value`);
  return value;
}

/**
 * A state name (role, disk, connection, replication): one CamelCase word. Unknown but well-formed
 * names (a newer DRBD) pass; anything else (left-over escape codes, garbage) is unreadable.
 */
function stateName(value: string, key: string, fail: Fail): string {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(value)) fail(`${key}: "${value}" is not a state name`);
  return value;
}

export function applyResourceField(r: Drbd9Resource, key: string, value: string, fail: Fail): void {
  switch (key) {
    case "node-id":
      r.nodeId = int(value, key, fail);
      break;
    case "role":
      r.role = stateName(value, key, fail);
      break;
    case "suspended":
      r.suspended = word(value, key, fail);
      break;
    case "force-io-failures":
      r.forceIoFailures = yesNo(value, key, fail);
      break;
    case "write-ordering":
      r.writeOrdering = word(value, key, fail);
      break;
    case "may_promote":
      r.mayPromote = yesNo(value, key, fail);
      break;
    case "promotion_score":
      r.promotionScore = int(value, key, fail);
      break;
    default:
      r.extra[key] = value;
  }
}

export function applyDeviceField(d: Drbd9Device, key: string, value: string, fail: Fail): void {
  switch (key) {
    case "minor":
      d.minor = int(value, key, fail);
      break;
    case "disk":
      d.diskState = stateName(value, key, fail);
      break;
    case "client":
      d.client = yesNo(value, key, fail);
      break;
    case "quorum":
      d.quorum = yesNo(value, key, fail);
      break;
    case "open":
      d.open = yesNo(value, key, fail);
      break;
    case "backing_dev":
      d.backingDev = word(value, key, fail);
      break;
    case "size":
      d.sizeKiB = num(value, key, fail);
      break;
    case "read":
      d.readKiB = num(value, key, fail);
      break;
    case "written":
      d.writtenKiB = num(value, key, fail);
      break;
    case "al-writes":
      d.alWrites = num(value, key, fail);
      break;
    case "bm-writes":
      d.bmWrites = num(value, key, fail);
      break;
    case "upper-pending":
      d.upperPending = num(value, key, fail);
      break;
    case "lower-pending":
      d.lowerPending = num(value, key, fail);
      break;
    case "al-suspended":
      d.alSuspended = yesNo(value, key, fail);
      break;
    case "blocked":
      d.blocked = word(value, key, fail);
      break;
    default:
      d.extra[key] = value;
  }
}

export function applyConnectionField(c: Drbd9Connection, key: string, value: string, fail: Fail): void {
  switch (key) {
    // `node-id` in status text, `peer-node-id` in events2.
    case "node-id":
    case "peer-node-id":
      c.peerNodeId = int(value, key, fail);
      break;
    case "connection":
      c.connectionState = stateName(value, key, fail);
      break;
    case "role":
      c.peerRole = stateName(value, key, fail);
      break;
    case "congested":
      c.congested = yesNo(value, key, fail);
      break;
    case "tls":
      c.tls = yesNo(value, key, fail);
      break;
    case "ap-in-flight":
      c.apInFlight = num(value, key, fail);
      break;
    case "rs-in-flight":
      c.rsInFlight = num(value, key, fail);
      break;
    default:
      c.extra[key] = value;
  }
}

export function applyPeerDeviceField(p: Drbd9PeerDevice, key: string, value: string, fail: Fail): void {
  switch (key) {
    case "replication":
      p.replicationState = stateName(value, key, fail);
      break;
    case "peer-disk":
      p.peerDiskState = stateName(value, key, fail);
      break;
    case "peer-client":
      p.peerClient = yesNo(value, key, fail);
      break;
    case "resync-suspended":
      p.resyncSuspended = word(value, key, fail);
      break;
    case "out-of-sync":
      p.outOfSyncKiB = num(value, key, fail);
      break;
    case "done":
      p.donePercent = num(value, key, fail);
      break;
    case "eta":
      p.etaSec = num(value, key, fail);
      break;
    case "dbdt1": {
      // MiB/s (drbdsetup: sectors/ms * 1000 / 2048).
      const mibps = num(value, key, fail);
      p.speedKiBps = mibps === null ? null : mibps * 1024;
      break;
    }
    case "received":
      p.receivedKiB = num(value, key, fail);
      break;
    case "sent":
      p.sentKiB = num(value, key, fail);
      break;
    case "pending":
      p.pending = num(value, key, fail);
      break;
    case "unacked":
      p.unacked = num(value, key, fail);
      break;
    default:
      p.extra[key] = value;
  }
}

export function applyPathField(p: Drbd9Path, key: string, value: string, fail: Fail): void {
  switch (key) {
    case "local":
      p.local = word(value, key, fail);
      break;
    case "peer":
      p.peer = word(value, key, fail);
      break;
    case "established":
      p.established = yesNo(value, key, fail);
      break;
    default:
      // Paths are not modelled beyond their addresses and state.
      break;
  }
}
