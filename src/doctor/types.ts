/**
 * `xenops doctor`: what was read from the nodes (facts) and what the checks concluded (results).
 * Checks are pure functions over DoctorFacts, so each can be tested with real-format text alone.
 */
import type { ClusterConfig } from "../config/schema";

export type CheckStatus = "pass" | "warn" | "fail";
export type CheckArea = "drbd" | "xen" | "startup" | "heartbeat" | "pacemaker" | "fencing" | "nodes";

export const AREAS: readonly CheckArea[] = [
  "drbd",
  "xen",
  "startup",
  "heartbeat",
  "pacemaker",
  "fencing",
  "nodes",
];

/** The lines a check read on one node, as read (or what went wrong reading them). */
export interface Evidence {
  node: string;
  lines: string[];
}

export interface CheckResult {
  /** Stable id, e.g. `drbd.after-sb`; with `subject`, the key of the result across runs. */
  id: string;
  area: CheckArea;
  /** The resource, guest or node the result is about; null for the cluster as a whole. */
  subject: string | null;
  status: CheckStatus;
  /** One line: what is wrong (or that it is right). */
  summary: string;
  evidence: Evidence[];
  /** The exact configuration line to change, and where; null when nothing is to be done. */
  fix: string | null;
}

/** One command run on one node. exitCode null: it did not run (unreachable, timeout). */
export interface Read {
  argv: string[];
  exitCode: number | null;
  stdout: string;
  stderr: string;
  error?: string;
}

export interface NodeFacts {
  node: string;
  reachable: boolean;
  /** Why it could not be read at all. */
  error?: string;
  reads: Record<string, Read>;
  /** `date +%s.%N` on the node, bracketed by xenops' own clock (ms since the epoch). */
  clock?: { sentAt: number; receivedAt: number; remoteMs: number };
}

/** The single fence-device status query the doctor makes. */
export interface FenceQuery {
  from: string;
  target: string;
  /** The command as shown (secrets redacted). */
  shown: string;
  ok: boolean | null;
  detail: string;
}

export interface DoctorFacts {
  cluster: ClusterConfig;
  nodes: NodeFacts[];
  fence: FenceQuery | null;
  readAt: number;
}

export interface DoctorReport {
  cluster: string;
  readAt: number;
  results: CheckResult[];
  counts: Record<CheckStatus, number>;
  /** The fence device query made for this report (the card says it was made). */
  fenceQuery: FenceQuery | null;
}

export type Check = (facts: DoctorFacts) => CheckResult[];

/** The keys of NodeFacts.reads. */
export const READ = {
  drbdDump: "drbdadm dump",
  procDrbd: "cat /proc/drbd",
  drbdVersion: "drbdadm -V",
  xenConfig: "xen config",
  xenInfo: "xen info",
  bridges: "bridges",
  xendomains: "xendomains settings",
  autoDir: "xendomains auto",
  haresources: "haresources",
  haCf: "ha.cf",
  authkeysMode: "authkeys mode",
  uname: "uname -n",
  crmVerify: "crm_verify -L",
  cib: "cib",
  corosync: "corosync.conf",
  fenceCommand: "fence command",
  hosts: "/etc/hosts",
  ipAddr: "ip -o addr show",
  ipLink: "ip -o link show",
  linkSpeed: "link speed",
  networkScript: "network script",
  guestConfig: (guest: string) => `guest config ${guest}`,
  guestSha: (guest: string) => `guest sha256 ${guest}`,
  backingSize: (resource: string) => `backing size ${resource}`,
} as const;
