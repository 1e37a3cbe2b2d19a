/**
 * Cluster events: what the monitor (polling), the DRBD 9 events2 streams (push), the node-side hooks
 * (webhook) and other jobs (fencing) report, and how they group into incidents.
 *
 * Two kinds of input become incidents:
 * - Conditions: problems that hold while the cluster is in some state (a node dead, a link down, a
 *   split brain, a resync running). They are recomputed from the facts after every change; a new one
 *   opens an incident, a changed one updates it, one that is gone resolves it.
 * - Happenings: things that happened once (a guest moved, a fence ran, DRBD discarded data on its own,
 *   a handler fired). They open an incident or follow up in the thread of the open one with the same
 *   fingerprint.
 *
 * Fingerprint: cluster, subject (resource or guest), node and family. One incident per fingerprint;
 * repeats and flaps are coalesced into it.
 */
import type { Severity } from "../model";

export type { Severity };

/** The incident families: one open incident per (cluster, subject, node, family). */
export type EventFamily =
  /** A node: unreachable, dead per HA, HA stopped; back; fencing. */
  | "node"
  /** A DRBD resource's replication link: disconnected, StandAlone, split brain. */
  | "link"
  /** A DRBD resource on one node: disk degraded, Inconsistent, not configured. */
  | "disk"
  /** A DRBD resync. */
  | "resync"
  /** A guest: running on two nodes, or away from its home node (reported at start-up). */
  | "guest"
  /** A guest or HA resource moved to another node. */
  | "failover"
  /** Node back with its resources UpToDate: failback possible. */
  | "failback"
  /** A configuration check of the doctor that passed fails now. */
  | "config";

export type EventKind =
  | "node_unreachable"
  | "node_dead"
  | "node_ha_stopped"
  | "node_back"
  | "failover"
  | "drbd_disconnected"
  | "drbd_standalone"
  | "split_brain"
  | "split_brain_auto_resolved"
  | "split_brain_resolved"
  | "resync_started"
  | "resync_finished"
  | "disk_degraded"
  | "disk_inconsistent"
  | "guest_on_two_nodes"
  | "fence_succeeded"
  | "fence_failed"
  | "failback_ready"
  | "drbd_handler"
  | "ha_alert"
  /** heartbeat took a dead node's groups over (its log says so). */
  | "ha_takeover"
  /** heartbeat's STONITH of a dead node failed: it will not take over. */
  | "ha_stonith_failed"
  /** heartbeat's auto_failback gave a returning node its groups back. */
  | "ha_failback"
  /** A guest runs away from its home node. */
  | "guest_away"
  /** The daily doctor run: a check that passed fails now. */
  | "config_check_failed"
  /** An Alertmanager alert (src/paging/alertmanager.ts). */
  | "alert";

export type EventSource = "poll" | "events2" | "webhook" | "job";

/** Buttons an incident offers. Every one of them leads to a plan and an approval card. */
export type IncidentAction =
  | { kind: "fence"; node: string }
  | { kind: "start_guests"; node: string; survivor: string; guests: string[] }
  | { kind: "keep_data"; resource: string; survivor: string; victim: string }
  | { kind: "failback"; node: string; guests: string[] };

/** Per-node detail of a split brain, for the recovery card. */
export interface SplitBrainSide {
  node: string;
  role: string;
  disk: string;
  connection: string;
  outOfSyncKiB: number | null;
  /** Guests using the resource that run there (writers). */
  runs: string[];
  /** When this side was first seen disconnected (ISO), if known. */
  disconnectedSince: string | null;
}

/** One thing to tell the channel: a condition (open, changed, cleared) or a happening. */
export interface ClusterEvent {
  cluster: string;
  kind: EventKind;
  family: EventFamily;
  severity: Severity;
  /** Resource or guest the event is about, if any. */
  subject: string | null;
  /** The node the event is about (its cause), if any: maintenance of that node silences it. */
  node: string | null;
  /** One line: "ics2 is dead according to heartbeat on ics1". */
  title: string;
  /** More text (mrkdwn-safe plain text; escaped when rendered). */
  detail?: string;
  /** Raw evidence as it was read: status lines, handler arguments. */
  evidence: string[];
  source: EventSource;
  /** ISO time it was observed. */
  at: string;
  /** Buttons to offer on the incident. */
  actions?: IncidentAction[];
  /** A node incident this event belongs in (a DRBD link down because its peer died). */
  relatedNode?: string | null;
  /**
   * Say it only in the thread of the incident it relates to, never as a message of its own (a guest
   * moved between healthy nodes: a planned migration has its own card).
   */
  onlyInThread?: boolean;
  /** Split-brain recovery card content. */
  splitBrain?: SplitBrainSide[];
  /**
   * It raises its incident to data loss or two writers (a takeover without a fence, a split brain
   * resolved without xenops): on-call is paged again even if the incident paged before.
   */
  repage?: boolean;
}

export function fingerprint(e: Pick<ClusterEvent, "cluster" | "subject" | "node" | "family">): string {
  return [e.cluster, e.subject ?? "-", e.node ?? "-", e.family].join("|");
}

/** A condition: holds while the facts say so. `key` is its fingerprint. */
export interface Condition extends ClusterEvent {
  key: string;
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function worse(a: Severity, b: Severity): Severity {
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}
