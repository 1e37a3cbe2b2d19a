/**
 * DRBD 9 state → the normalized DrbdResourceState (one entry per resource).
 *
 * A DRBD 9 resource has volumes (devices) and one connection per peer, each with one peer device
 * per volume; the normalized model has one disk state per resource and one peer per connection:
 * - diskState: the worst local disk state over the volumes (see DISK_STATE_ORDER), so a degraded
 *   second volume is not hidden behind a healthy volume 0; minor: the lowest volume's minor.
 * - A resource without any volume is reported `unconfigured` with diskState Diskless.
 * - Per connection: node is the connection name (the peer's host name); diskState and
 *   replicationState come from the worst peer device (worst peer disk, then a peer device that is
 *   not simply Established, then the lowest volume); outOfSyncKiB is the sum over the volumes (null
 *   unless every volume reports it); sync is the progress of the least advanced resyncing volume.
 * - replicationState and sync are null unless the connection is Connected.
 * - Roles other than Primary/Secondary become Unknown.
 */
import type { DrbdPeer, DrbdResourceState, DrbdRole } from "../../model";
import { type Drbd9Connection, type Drbd9PeerDevice, type Drbd9Resource, RESYNC_STATES } from "./model";

/** Disk states from worst to best. States not listed (future or garbled) rank below all of them. */
export const DISK_STATE_ORDER = [
  "Failed",
  "Diskless",
  "Detaching",
  "Attaching",
  "Negotiating",
  "Inconsistent",
  "Outdated",
  "DUnknown",
  "Consistent",
  "UpToDate",
] as const;

export function diskRank(state: string | null): number {
  return state === null ? -1 : (DISK_STATE_ORDER as readonly string[]).indexOf(state);
}

function role(value: string | null): DrbdRole {
  return value === "Primary" || value === "Secondary" ? value : "Unknown";
}

export function toDrbdResourceStates(resources: readonly Drbd9Resource[]): DrbdResourceState[] {
  return resources.map(toDrbdResourceState);
}

export function toDrbdResourceState(r: Drbd9Resource): DrbdResourceState {
  const devices = [...r.devices].sort((a, b) => a.volume - b.volume);
  const worst = [...devices].sort(
    (a, b) => diskRank(a.diskState) - diskRank(b.diskState) || a.volume - b.volume,
  )[0];
  return {
    name: r.name,
    minor: devices[0]?.minor ?? null,
    role: role(r.role),
    diskState: worst ? (worst.diskState ?? "DUnknown") : "Diskless",
    unconfigured: devices.length === 0,
    peers: r.connections.map(toPeer),
  };
}

function toPeer(c: Drbd9Connection): DrbdPeer {
  const connected = c.connectionState === "Connected";
  const peers = [...c.peerDevices].sort((a, b) => a.volume - b.volume);
  const settled = (p: Drbd9PeerDevice) => (p.replicationState === "Established" ? 1 : 0);
  const rep = [...peers].sort(
    (a, b) =>
      diskRank(a.peerDiskState) - diskRank(b.peerDiskState) || settled(a) - settled(b) || a.volume - b.volume,
  )[0];
  const oos = peers.map((p) => p.outOfSyncKiB);
  const syncing = peers
    .filter(
      (p) => (p.replicationState !== null && RESYNC_STATES.has(p.replicationState)) || p.donePercent !== null,
    )
    .sort(
      (a, b) => (a.donePercent ?? Number.POSITIVE_INFINITY) - (b.donePercent ?? Number.POSITIVE_INFINITY),
    );
  const progress = connected ? syncing[0] : undefined;
  return {
    node: c.name,
    connectionState: c.connectionState ?? "Unknown",
    replicationState: connected ? (rep?.replicationState ?? null) : null,
    role: role(c.peerRole),
    diskState: rep?.peerDiskState ?? "DUnknown",
    outOfSyncKiB:
      oos.length > 0 && oos.every((v) => v !== null) ? oos.reduce<number>((s, v) => s + (v ?? 0), 0) : null,
    sync: progress
      ? { percent: progress.donePercent, etaSec: progress.etaSec, speedKiBps: progress.speedKiBps }
      : null,
  };
}
