import { compareText } from "../../compare-text";
/**
 * DRBD 9 state as the three drbd-utils outputs show it (`drbdsetup status` text, `drbdsetup status
 * --json`, `drbdsetup events2`), before normalization. One shape for all three so that one
 * normalizer serves them. `null` means "the output did not say"; sizes are KiB (drbdsetup prints
 * sectors / 2), rates KiB/s.
 */

export type ExtraValue = string | number | boolean | null;

export interface Drbd9Resource {
  name: string;
  /** This node's node-id (`--verbose` text, JSON). */
  nodeId: number | null;
  /** Primary | Secondary | Unknown as printed. */
  role: string | null;
  /** `no`, or the comma list of reasons (`user,no-data,fencing,quorum`). */
  suspended: string | null;
  forceIoFailures: boolean | null;
  writeOrdering: string | null;
  /** events2 only. */
  mayPromote: boolean | null;
  promotionScore: number | null;
  devices: Drbd9Device[];
  connections: Drbd9Connection[];
  /** Keys this parser does not model, kept as printed. */
  extra: Record<string, ExtraValue>;
}

export interface Drbd9Device {
  volume: number;
  minor: number | null;
  diskState: string | null;
  /** Intentionally diskless (DRBD client). */
  client: boolean | null;
  quorum: boolean | null;
  open: boolean | null;
  /** `none` when no backing device is attached. */
  backingDev: string | null;
  sizeKiB: number | null;
  readKiB: number | null;
  writtenKiB: number | null;
  alWrites: number | null;
  bmWrites: number | null;
  upperPending: number | null;
  lowerPending: number | null;
  alSuspended: boolean | null;
  /** `no`, `upper`, `lower` or `upper,lower`. */
  blocked: string | null;
  extra: Record<string, ExtraValue>;
}

export interface Drbd9Path {
  /** `ipv4:10.0.0.1:7789` as events2 prints it. */
  local: string | null;
  peer: string | null;
  established: boolean | null;
}

export interface Drbd9Connection {
  /** conn-name: the peer's host name unless configured otherwise. */
  name: string | null;
  peerNodeId: number | null;
  connectionState: string | null;
  peerRole: string | null;
  congested: boolean | null;
  tls: boolean | null;
  /** Application / resync data in flight, as printed (drbdsetup does not scale these). */
  apInFlight: number | null;
  rsInFlight: number | null;
  paths: Drbd9Path[];
  peerDevices: Drbd9PeerDevice[];
  extra: Record<string, ExtraValue>;
}

export interface Drbd9PeerDevice {
  volume: number;
  replicationState: string | null;
  peerDiskState: string | null;
  peerClient: boolean | null;
  resyncSuspended: string | null;
  outOfSyncKiB: number | null;
  /** JSON only: share of the device in sync with this peer. */
  percentInSync: number | null;
  /** Resync (or online-verify) progress in percent (`done:`, JSON `percent-resync-done`). */
  donePercent: number | null;
  etaSec: number | null;
  /** Recent resync rate (`dbdt1`, JSON `db1/dt1 [MiB/s]`), converted to KiB/s. */
  speedKiBps: number | null;
  receivedKiB: number | null;
  sentKiB: number | null;
  pending: number | null;
  unacked: number | null;
  extra: Record<string, ExtraValue>;
}

export function newResource(name: string): Drbd9Resource {
  return {
    name,
    nodeId: null,
    role: null,
    suspended: null,
    forceIoFailures: null,
    writeOrdering: null,
    mayPromote: null,
    promotionScore: null,
    devices: [],
    connections: [],
    extra: {},
  };
}

export function newDevice(volume: number): Drbd9Device {
  return {
    volume,
    minor: null,
    diskState: null,
    client: null,
    quorum: null,
    open: null,
    backingDev: null,
    sizeKiB: null,
    readKiB: null,
    writtenKiB: null,
    alWrites: null,
    bmWrites: null,
    upperPending: null,
    lowerPending: null,
    alSuspended: null,
    blocked: null,
    extra: {},
  };
}

export function newConnection(name: string | null, peerNodeId: number | null): Drbd9Connection {
  return {
    name,
    peerNodeId,
    connectionState: null,
    peerRole: null,
    congested: null,
    tls: null,
    apInFlight: null,
    rsInFlight: null,
    paths: [],
    peerDevices: [],
    extra: {},
  };
}

export function newPeerDevice(volume: number): Drbd9PeerDevice {
  return {
    volume,
    replicationState: null,
    peerDiskState: null,
    peerClient: null,
    resyncSuspended: null,
    outOfSyncKiB: null,
    percentInSync: null,
    donePercent: null,
    etaSec: null,
    speedKiBps: null,
    receivedKiB: null,
    sentKiB: null,
    pending: null,
    unacked: null,
    extra: {},
  };
}

/** Replication states in which a resync (or online verify) runs or is about to run. */
export const RESYNC_STATES: ReadonlySet<string> = new Set([
  "StartingSyncS",
  "StartingSyncT",
  "WFBitMapS",
  "WFBitMapT",
  "WFSyncUUID",
  "SyncSource",
  "SyncTarget",
  "PausedSyncS",
  "PausedSyncT",
  "VerifyS",
  "VerifyT",
]);

/** Canonical order: by volume, by peer node id then name, so outputs compare stably. */
export function sortResource(r: Drbd9Resource): Drbd9Resource {
  r.devices.sort((a, b) => a.volume - b.volume);
  r.connections.sort(
    (a, b) =>
      (a.peerNodeId ?? Number.MAX_SAFE_INTEGER) - (b.peerNodeId ?? Number.MAX_SAFE_INTEGER) ||
      compareText(a.name ?? "", b.name ?? ""),
  );
  for (const c of r.connections) c.peerDevices.sort((a, b) => a.volume - b.volume);
  return r;
}
