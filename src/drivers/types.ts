/**
 * Driver contracts. A driver turns commands on one node into the normalized model
 * (src/model.ts). Drivers depend only on a CommandRunner and their own pure parsers, which
 * live beside them (one folder per driver) and are registered explicitly in registry.ts.
 */

import type { CommandRunner } from "../command-runner";
import type { DrbdResourceConfig } from "../config/schema";
import type {
  Domain,
  DrbdResourceState,
  HaConfig,
  HaManagedGuest,
  HaView,
  StartupConfig,
  XenInfo,
} from "../model";
import type { GuestRef } from "./guest-match";

/** Forwarded as is to the runner (RunOptions): undefined means the runner's default there too. */
export interface DriverCallOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

export interface HypervisorDriver {
  readonly id: "xm" | "xl";
  listDomains(runner: CommandRunner, options?: DriverCallOptions): Promise<Domain[]>;
  info(runner: CommandRunner, options?: DriverCallOptions): Promise<XenInfo>;
}

export interface DrbdDriverContext {
  /** Declared resources (names and DRBD 8 minors). */
  resources: readonly DrbdResourceConfig[];
}

export interface DrbdDriver {
  readonly id: 8 | 9;
  status(
    runner: CommandRunner,
    context: DrbdDriverContext,
    options?: DriverCallOptions,
  ): Promise<DrbdResourceState[]>;
}

/**
 * A stack whose fencer records every fence, whoever ran it, in a history its view carries
 * (HaView.fenceHistory). A success recorded there after a fence is evidence that the fence took effect,
 * whatever method ran it, and a node the stack calls offline with such a success is fenced.
 */
export interface HaFenceHistory {
  /** How a plan names this evidence, e.g. "Pacemaker's fencer records the fence". */
  readonly evidence: string;
}

/**
 * A stack that logs its takeovers and fences to a file on every node (heartbeat's ha-log), which the
 * monitor reads (src/events/heartbeat.ts) because the stack's status commands do not tell them.
 */
export interface HaLogReader {
  /** The log's last lines on this node; null when the node has no such file. */
  tail(runner: CommandRunner, options?: DriverCallOptions): Promise<string[] | null>;
  /** Whether the stack gives a returning node its resources back (auto_failback); null when unknown. */
  autoFailback(runner: CommandRunner, options?: DriverCallOptions): Promise<boolean | null>;
}

export interface HaDriver {
  readonly id: "heartbeat" | "pacemaker";
  /** The cluster manager's name for humans: "heartbeat", "Pacemaker". */
  readonly label: string;
  view(runner: CommandRunner, options?: DriverCallOptions): Promise<HaView>;
  /** Present when the stack records fences in its view (Pacemaker); absent when it keeps no history (heartbeat). */
  readonly fenceHistory?: HaFenceHistory;
  /** Present when the stack keeps a log of takeovers and fences to read (heartbeat). */
  readonly log?: HaLogReader;
}

/** The inventory's guests, which configuration files name in their own ways. */
export interface GuestsContext {
  guests: readonly GuestRef[];
}

/** What xenops was asked to do with a guest the cluster manager manages. */
export type HaAction = "migrate" | "create" | "evacuate";

/** The cluster manager's configuration: which guests it starts and moves (haresources, the CIB). */
export interface HaConfigDriver {
  readonly id: "heartbeat" | "pacemaker";
  read(runner: CommandRunner, context: GuestsContext, options?: DriverCallOptions): Promise<HaConfig>;
  /**
   * The manager's own way to do `action` (to `node`; for evacuate, off it), with the exact commands:
   * what a refusal tells the operator. `holder`: the node the guest runs on now, or null.
   */
  way(entry: HaManagedGuest, action: HaAction, node: string, holder: string | null): string;
}

/** What starts guests at boot (xendomains). */
export interface StartupDriver {
  read(runner: CommandRunner, context: GuestsContext, options?: DriverCallOptions): Promise<StartupConfig>;
}

/** The drivers of one cluster, chosen by its toolstack (registry.ts driversFor). */
export interface ClusterDrivers {
  hypervisor: HypervisorDriver;
  drbd: DrbdDriver;
  ha: HaDriver | null;
  /** The manager's guest configuration (haresources, the CIB): read where the HA view is read. */
  haConfig?: HaConfigDriver | null;
  /** xendomains' boot-time start (/etc/xen/auto, XENDOMAINS_RESTORE): small files, read on every node. */
  startup?: StartupDriver | null;
}

/** A parser kind exposed by `xenops parse KIND`. */
export interface ParserEntry {
  kind: string;
  description: string;
  parse(text: string): unknown;
}

// --- Mutations: argv builders only. They never run anything; the executor runs their argv
// through a CommandRunner (quoted, never shell-pasted). Every value that lands in argv is checked to be
// one plain word (no leading '-', no whitespace or control characters), so a name can never become an
// option of the program it is passed to.

/** Argv of the hypervisor's mutations. */
export interface HypervisorCommands {
  readonly id: "xm" | "xl";
  /** Live migration of `domain` to `host` (the target as the nodes resolve it: its node name). */
  migrateLive(domain: string, host: string): string[];
  /** Starts a domain from its config file. */
  create(configFile: string): string[];
  /** Clean shutdown (returns at once; the domain goes away when the guest OS has stopped). */
  shutdown(domain: string): string[];
  /** Pulls the plug of a domain. */
  destroy(domain: string): string[];
}

/** The DRBD kernel module's version, from the first line of /proc/drbd. */
export interface DrbdVersion {
  major: number;
  minor: number;
  patch: number | null;
  /** As printed, e.g. `8.3.13`. */
  text: string;
}

/** Argv of DRBD role and connection changes (drbdadm). Never with --force. */
export interface DrbdCommands {
  readonly id: 8 | 9;
  /** Reads the module version (`cat /proc/drbd`); throws when it is not there or unreadable. */
  version(runner: CommandRunner, options?: DriverCallOptions): Promise<DrbdVersion>;
  primary(resource: string): string[];
  secondary(resource: string): string[];
  connect(resource: string): string[];
  disconnect(resource: string): string[];
  /** Connect, discarding this side's changes on split brain: syntax by version (8.0-8.3 vs 8.4+). */
  connectDiscardMyData(resource: string, version: DrbdVersion): string[];
  /**
   * Turns allow-two-primaries on or off at run time (`drbdadm net-options`, DRBD 8.4 and 9). Null on
   * 8.0-8.3, which cannot change it without a config change: there it must be in the resource's config.
   */
  allowTwoPrimaries(resource: string, enabled: boolean, version: DrbdVersion): string[] | null;
}
