/**
 * The normalized view of a cluster that every driver produces and every consumer (status card,
 * preflight checks, event monitor) reads. Parsers of individual formats live with their drivers and
 * are converted to these shapes there. `null` always means "not known", never "none".
 */
import { z } from "zod";

export const DomainFlags = z.object({
  running: z.boolean(),
  blocked: z.boolean(),
  paused: z.boolean(),
  shutdown: z.boolean(),
  crashed: z.boolean(),
  dying: z.boolean(),
});
export type DomainFlags = z.infer<typeof DomainFlags>;

export const MigrationMarker = z.enum(["migrating", "incoming", "migratedaway"]);
export type MigrationMarker = z.infer<typeof MigrationMarker>;

export const Domain = z.object({
  /** The name exactly as the toolstack printed it, e.g. `migrating-internet` or `(null)`. */
  name: z.string(),
  /** The guest this domain is (migration prefix/suffix removed); null for Domain-0 and `(null)`. */
  guest: z.string().nullable(),
  id: z.number().int().nullable(),
  memoryMiB: z.number().nullable(),
  vcpus: z.number().int().nullable(),
  /** Raw state column, e.g. `r-----`; null when the row has no state. */
  state: z.string().nullable(),
  flags: DomainFlags.nullable(),
  timeSec: z.number().nullable(),
  migration: MigrationMarker.nullable(),
  isDom0: z.boolean(),
});
export type Domain = z.infer<typeof Domain>;

export const XenInfo = z.object({
  host: z.string().nullable(),
  release: z.string().nullable(),
  /** e.g. `3.0.3`, `4.0.1`; null when the node did not say. */
  xenVersion: z.string().nullable(),
  xenMajor: z.number().int().nullable(),
  xenMinor: z.number().int().nullable(),
  totalMemoryMiB: z.number().nullable(),
  freeMemoryMiB: z.number().nullable(),
  nrCpus: z.number().int().nullable(),
  raw: z.record(z.string(), z.string()),
});
export type XenInfo = z.infer<typeof XenInfo>;

export const DrbdRole = z.enum(["Primary", "Secondary", "Unknown"]);
export type DrbdRole = z.infer<typeof DrbdRole>;

export const DrbdSync = z.object({
  /** Percent done, 0-100. */
  percent: z.number().nullable(),
  etaSec: z.number().nullable(),
  speedKiBps: z.number().nullable(),
});
export type DrbdSync = z.infer<typeof DrbdSync>;

export const DrbdPeer = z.object({
  /** Peer node name (DRBD 9), or null when the format does not name it (DRBD 8 /proc/drbd). */
  node: z.string().nullable(),
  /** Connection state: Connected, WFConnection, Connecting, StandAlone, Unconnected, ... */
  connectionState: z.string(),
  /** Replication state while Connected: Established, SyncSource, SyncTarget, PausedSync*, VerifyS, ...; null when not connected. */
  replicationState: z.string().nullable(),
  role: DrbdRole,
  /** Peer's disk state: UpToDate, Inconsistent, Outdated, DUnknown, Diskless, ... */
  diskState: z.string(),
  outOfSyncKiB: z.number().nullable(),
  sync: DrbdSync.nullable(),
});
export type DrbdPeer = z.infer<typeof DrbdPeer>;

export const DrbdResourceState = z.object({
  /** Resource name; for DRBD 8 it comes from the config's minor mapping, else `minorN`. */
  name: z.string(),
  minor: z.number().int().nullable(),
  role: DrbdRole,
  diskState: z.string(),
  /** True when the minor exists but is not configured (DRBD 8 `cs:Unconfigured`). */
  unconfigured: z.boolean(),
  /** Peers. StandAlone on DRBD 8 shows as one peer with connectionState StandAlone. */
  peers: z.array(DrbdPeer),
});
export type DrbdResourceState = z.infer<typeof DrbdResourceState>;

export const HaNodeStatus = z.enum(["online", "offline", "standby", "unclean", "unknown"]);
export type HaNodeStatus = z.infer<typeof HaNodeStatus>;

export const HaResource = z.object({
  id: z.string(),
  agent: z.string().nullable(),
  /** Nodes where it is active; empty when stopped. */
  runningOn: z.array(z.string()),
  role: z.string().nullable(),
  failed: z.boolean(),
});
export type HaResource = z.infer<typeof HaResource>;

export const FenceEvent = z.object({
  target: z.string(),
  action: z.string(),
  status: z.string(),
  delegate: z.string().nullable(),
  completed: z.string().nullable(),
});
export type FenceEvent = z.infer<typeof FenceEvent>;

export const HaView = z.object({
  stack: z.enum(["heartbeat", "pacemaker"]),
  /** The node this view was read on. */
  observer: z.string(),
  /** Whether the HA stack runs on the observer. */
  running: z.boolean(),
  dc: z.string().nullable(),
  nodes: z.array(z.object({ name: z.string(), status: HaNodeStatus })),
  resources: z.array(HaResource),
  /** heartbeat `cl_status rscstatus`: all | local | foreign | none | transition. */
  localResources: z.string().nullable(),
  fenceHistory: z.array(FenceEvent),
});
export type HaView = z.infer<typeof HaView>;

/** At most this many lines of a part's output are kept in its PartError (`raw`). */
export const PART_RAW_MAX_LINES = 200;

export const PartError = z.object({
  code: z.string(),
  message: z.string(),
  /**
   * The command's output as read, when it ran but could not be understood (unparseable, or failed
   * with output): at most PART_RAW_MAX_LINES lines, so a refusal can show what was actually there.
   */
  raw: z.array(z.string()).optional(),
});
export type PartError = z.infer<typeof PartError>;

/** A Pacemaker location constraint on a guest's resource (`crm_resource --move` leaves `cli-prefer-*`). */
export const HaLocationConstraint = z.object({
  id: z.string(),
  node: z.string(),
  /** As written: `INFINITY`, `-INFINITY`, `100`... */
  score: z.string(),
});
export type HaLocationConstraint = z.infer<typeof HaLocationConstraint>;

/** A guest the cluster manager starts, stops and moves (so xenops must not do it by hand). */
export const HaManagedGuest = z.object({
  guest: z.string(),
  /** The resource as the manager names it: `xendomains::internet` (haresources) or the primitive id. */
  resource: z.string(),
  /** `xendomains`, `Xen`, `ocf:heartbeat:Xen`, `ocf:heartbeat:VirtualDomain`, ... */
  agent: z.string().nullable(),
  /** heartbeat: the haresources line's node (the group's preferred node); Pacemaker: null. */
  preferredNode: z.string().nullable(),
  /** The whole haresources group (heartbeat: every resource of the line); Pacemaker: [resource]. */
  group: z.array(z.string()),
  /** Pacemaker meta attribute allow-migrate (live migration through the manager); null: heartbeat. */
  allowMigrate: z.boolean().nullable(),
  /** Pacemaker location constraints on the resource (cli-prefer-*, cli-ban-*, others). */
  constraints: z.array(HaLocationConstraint),
});
export type HaManagedGuest = z.infer<typeof HaManagedGuest>;

/** The cluster manager's configuration as far as guests go, read-only. */
export const HaConfig = z.object({
  stack: z.enum(["heartbeat", "pacemaker"]),
  /** Where it was read: `/etc/ha.d/haresources`, `cibadmin --query --scope configuration`. */
  source: z.string(),
  guests: z.array(HaManagedGuest),
});
export type HaConfig = z.infer<typeof HaConfig>;

/** What starts guests when dom0 boots: the xendomains init script. */
export const StartupConfig = z.object({
  /** The settings file read (`/etc/default/xendomains`, `/etc/sysconfig/xendomains`); null: none. */
  configFile: z.string().nullable(),
  /** XENDOMAINS_AUTO: the directory whose configs xendomains starts at boot. */
  autoDir: z.string(),
  /** Its entries (`ls -l`): name, symlink target (null for a plain file), the inventory guest. */
  auto: z.array(z.object({ name: z.string(), target: z.string().nullable(), guest: z.string().nullable() })),
  /** XENDOMAINS_RESTORE: restore the images saved at shutdown; null when not set. */
  restore: z.boolean().nullable(),
  /** XENDOMAINS_SAVE: where running guests are saved at shutdown; "" disables saving; null when not set. */
  save: z.string().nullable(),
});
export type StartupConfig = z.infer<typeof StartupConfig>;

/** One node as seen at snapshot time. Each part is null with its error when it could not be read. */
export const NodeState = z.object({
  name: z.string(),
  reachable: z.boolean(),
  error: PartError.nullable(),
  domains: z.array(Domain).nullable(),
  domainsError: PartError.nullable(),
  xenInfo: XenInfo.nullable(),
  xenInfoError: PartError.nullable(),
  drbd: z.array(DrbdResourceState).nullable(),
  drbdError: PartError.nullable(),
  ha: HaView.nullable(),
  haError: PartError.nullable(),
  /** Guests the cluster manager manages (haresources, the CIB); absent when not read. */
  haConfig: HaConfig.nullable().optional(),
  haConfigError: PartError.nullable().optional(),
  /** xendomains' boot-time start (/etc/xen/auto, XENDOMAINS_RESTORE); absent when not read. */
  startup: StartupConfig.nullable().optional(),
  startupError: PartError.nullable().optional(),
  durationMs: z.number(),
});
export type NodeState = z.infer<typeof NodeState>;

export const WarningKind = z.enum([
  "node_unreachable",
  "node_dead",
  "state_unknown",
  "disk_degraded",
  "disk_inconsistent",
  "resync_running",
  "split_brain_suspected",
  "standalone",
  "disconnected",
  "guest_on_two_nodes",
  "guest_on_secondary",
  "guest_migrating",
  "guest_autostart_two_nodes",
  "guest_autostart_ha_managed",
]);
export type WarningKind = z.infer<typeof WarningKind>;

export const Severity = z.enum(["info", "warning", "critical"]);
export type Severity = z.infer<typeof Severity>;

export const ClusterWarning = z.object({
  kind: WarningKind,
  severity: Severity,
  message: z.string(),
  node: z.string().nullable(),
  resource: z.string().nullable(),
  guest: z.string().nullable(),
  percent: z.number().nullable(),
});
export type ClusterWarning = z.infer<typeof ClusterWarning>;

export const ClusterState = z.object({
  cluster: z.string(),
  takenAt: z.string(),
  nodes: z.array(NodeState),
  warnings: z.array(ClusterWarning),
});
export type ClusterState = z.infer<typeof ClusterState>;
