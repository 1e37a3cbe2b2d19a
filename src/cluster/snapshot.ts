/**
 * One cluster snapshot: every node queried in parallel, every part (domains, Xen info, DRBD, HA)
 * read independently, so one node down or hanging costs its own timeout and nothing else, and a
 * part that fails is "unknown" with its error, never "empty". A node's reads, the HA view included,
 * start together; its own reads go out as batches (SSH execs, see SnapshotOptions.batchLanes) and its
 * HA reads as others. A batch is all or nothing: an output that cannot be split back makes every part
 * it carried unknown, never partly read. On a large cluster the cluster-wide HA view and configuration
 * are read on a few nodes only (SnapshotOptions.haObservers, haConfigReaders).
 */
import { setMaxListeners } from "node:events";
import type { CommandRunner } from "../command-runner";
import type { ClusterConfig } from "../config/schema";
import type { ClusterDrivers } from "../drivers/types";
import { ExecError, errorCode, errorMessage, ParseError } from "../errors";
import type { Logger } from "../log";
import { type ClusterState, type NodeState, PART_RAW_MAX_LINES, type PartError } from "../model";
import { batchingRunner } from "./batching-runner";
import { deriveWarnings } from "./warnings";

export interface SnapshotDeps {
  runnerFor(node: string): CommandRunner;
  drivers: ClusterDrivers;
  logger: Logger;
  now?: () => Date;
}

export interface SnapshotOptions {
  signal?: AbortSignal;
  /** Per-command timeout; defaults to the cluster's commandTimeoutMs. */
  timeoutMs?: number;
  /** Only these nodes (others are left out of the state). */
  nodes?: readonly string[];
  /**
   * On clusters larger than this, the HA view (cluster-wide: Pacemaker's CIB status, heartbeat's
   * membership) is read on this many nodes only; default 4. A 100-node crm_mon is ~0.5 MB of XML,
   * and reading it on every node cost most of a large snapshot's time and memory.
   */
  haObservers?: number;
  /**
   * Of those observers, the HA configuration (Pacemaker's CIB configuration, heartbeat's haresources)
   * is read on the first this many; default 2. It is the same on every node (the CIB is replicated,
   * haresources must be identical), a 100-node CIB is ~0.5 MB, and two reads leave one to spare. If
   * neither gives it, the other observers are asked.
   */
  haConfigReaders?: number;
  /**
   * A node's own reads (domains, Xen info, DRBD, start-up files) go out as batches, each one SSH exec
   * (see batching-runner.ts), and its HA reads (view and configuration) as others, at the same time.
   * N: each spread over up to N batches at once (a shell runs a batch's commands one after the other:
   * more lanes cost less wall time on slow nodes and more execs). 0: every command its own exec.
   * Default: `defaultBatchLanes(number of nodes read)`.
   */
  batchLanes?: number;
}

/**
 * Lanes per node when the caller does not say. A node's own reads are five commands, and a batch runs
 * its commands one after the other: three lanes or more make the node's wait two slow commands rather
 * than five, at every size. A small cluster (the usual pair) keeps four lanes. On a large one three
 * lanes cost xenops about a sixth more CPU than one batch per node and cut the wait by about 40%
 * (100 nodes, 25 ms per command: about 100 against 170 ms, npm run bench).
 */
export function defaultBatchLanes(nodeCount: number): number {
  return Math.max(3, Math.min(4, Math.floor(16 / Math.max(1, nodeCount))));
}

/** PartError code of a node whose HA view was not read because other nodes' views cover it. */
export const HA_NOT_SAMPLED = "ha_not_sampled";

const TRANSPORT_CODES = new Set([
  "ssh_connect_failed",
  "ssh_timeout",
  "ssh_host_key_mismatch",
  "ssh_host_key_unknown",
  "ssh_disconnected",
]);

type Part<T> = { value: T; error: null } | { value: null; error: PartError & { transport: boolean } };

/** Characters kept of one raw output line (a binary blob can be one huge "line"). */
const RAW_LINE_MAX_CHARS = 1_000;

/**
 * The output behind a failed part, as read: the whole text a parser refused, or what a command that
 * ran and failed printed (stdout, then stderr). Undefined when nothing ran (transport failure).
 * Capped at PART_RAW_MAX_LINES lines, plus one line saying how many were left out.
 */
export function rawOutputOf(err: unknown): string[] | undefined {
  let text: string | undefined;
  if (err instanceof ParseError) text = err.raw;
  else if (err instanceof ExecError && err.exitCode !== null)
    text = [err.stdout, err.stderr].filter((t) => t !== "").join(err.stdout.endsWith("\n") ? "" : "\n");
  if (text === undefined) return undefined;
  // Control characters (a binary blob, a terminal escape) are shown as \xNN: visible, and safe in Slack.
  const lines = text.split("\n").map((l) =>
    l
      .replace(/\r$/, "")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced.
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`),
  );
  if (lines.at(-1) === "") lines.pop();
  const kept = lines
    .slice(0, PART_RAW_MAX_LINES)
    .map((l) => (l.length > RAW_LINE_MAX_CHARS ? `${l.slice(0, RAW_LINE_MAX_CHARS)}…` : l));
  if (lines.length > PART_RAW_MAX_LINES)
    kept.push(`… ${lines.length - PART_RAW_MAX_LINES} more lines not kept`);
  return kept;
}

async function part<T>(fn: () => Promise<T>): Promise<Part<T>> {
  try {
    return { value: await fn(), error: null };
  } catch (err) {
    const code = errorCode(err);
    const raw = rawOutputOf(err);
    return {
      value: null,
      error: {
        code,
        message: errorMessage(err),
        ...(raw ? { raw } : {}),
        transport: TRANSPORT_CODES.has(code),
      },
    };
  }
}

function strip(error: (PartError & { transport: boolean }) | null): PartError | null {
  if (!error) return null;
  return error.raw
    ? { code: error.code, message: error.message, raw: error.raw }
    : { code: error.code, message: error.message };
}

/** What every driver call of a snapshot gets: the caller's signal and the per-command timeout. */
function callOptions(cluster: ClusterConfig, options: SnapshotOptions) {
  return { signal: options.signal, timeoutMs: options.timeoutMs ?? cluster.commandTimeoutMs };
}

/** The configured guests, as the HA configuration and start-up drivers match them. */
function guestRefs(cluster: ClusterConfig) {
  return { guests: cluster.guests.map((g) => ({ name: g.name, configFile: g.configFile })) };
}

export async function snapshotNode(
  cluster: ClusterConfig,
  node: string,
  deps: SnapshotDeps,
  options: SnapshotOptions = {},
  haObservedOn: readonly string[] | null = null,
  haConfigReadOn: readonly string[] | null = haObservedOn,
): Promise<NodeState> {
  const started = performance.now();
  const direct = deps.runnerFor(node);
  const lanes = options.batchLanes ?? defaultBatchLanes(1);
  const runner = lanes === 0 ? direct : batchingRunner(direct, lanes);
  // The HA reads get a batch of their own: the cluster manager's tools are the ones that block when
  // the cluster is in trouble (crm_mon waits for the CIB), and a batch is all or nothing, so a hung
  // crm_mon must not take the node's domains and DRBD state down with it.
  const haRunner = lanes === 0 ? direct : batchingRunner(direct, lanes);
  const call = callOptions(cluster, options);
  const { hypervisor, drbd, ha, haConfig, startup } = deps.drivers;
  const guests = guestRefs(cluster);
  const none = Promise.resolve({ value: null, error: null } as const);
  const readHaConfig = haConfig && !haConfigReadOn;
  const [domains, xenInfo, drbdState, haView, haConf, boot] = await Promise.all([
    part(() => hypervisor.listDomains(runner, call)),
    part(() => hypervisor.info(runner, call)),
    part(() => drbd.status(runner, { resources: cluster.drbd }, call)),
    ha && !haObservedOn ? part(() => ha.view(haRunner, call)) : none,
    readHaConfig ? part(() => haConfig.read(haRunner, guests, call)) : none,
    startup ? part(() => startup.read(runner, guests, call)) : none,
  ]);
  const parts = [
    domains,
    xenInfo,
    drbdState,
    ...(ha && !haObservedOn ? [haView] : []),
    ...(readHaConfig ? [haConf] : []),
    ...(startup ? [boot] : []),
  ];
  const transportErrors = parts.map((p) => p.error).filter((e) => e?.transport);
  // Unreachable only when every part failed on the transport: a node that answered anything is up.
  const reachable = transportErrors.length < parts.length;
  const state: NodeState = {
    name: node,
    reachable,
    error: reachable ? null : strip(transportErrors[0] ?? null),
    domains: domains.value,
    domainsError: strip(domains.error),
    xenInfo: xenInfo.value,
    xenInfoError: strip(xenInfo.error),
    drbd: drbdState.value,
    drbdError: strip(drbdState.error),
    ha: haView.value,
    haError:
      ha && haObservedOn
        ? { code: HA_NOT_SAMPLED, message: `cluster-wide view read on ${haObservedOn.join(", ")}` }
        : strip(haView.error),
    ...(haConfig
      ? {
          haConfig: haConf.value,
          haConfigError: haConfigReadOn
            ? { code: HA_NOT_SAMPLED, message: `read on ${haConfigReadOn.join(", ")}` }
            : strip(haConf.error),
        }
      : {}),
    ...(startup ? { startup: boot.value, startupError: strip(boot.error) } : {}),
    durationMs: Math.round(performance.now() - started),
  };
  if (!reachable) deps.logger.warn({ node, code: state.error?.code }, "node unreachable during snapshot");
  return state;
}

export async function takeSnapshot(
  cluster: ClusterConfig,
  deps: SnapshotDeps,
  options: SnapshotOptions = {},
): Promise<ClusterState> {
  const names = options.nodes ?? cluster.nodes.map((n) => n.name);
  // Every command of the snapshot listens on the caller's signal: thousands at once on a large
  // cluster, which is expected, not a leak (Node warns from 11 on).
  if (options.signal) setMaxListeners(0, options.signal);
  const observers = options.haObservers ?? 4;
  // Large clusters: read the HA view on the first `observers` nodes only.
  const sampled = deps.drivers.ha && names.length > observers ? names.slice(0, observers) : null;
  const configReaders = sampled ? sampled.slice(0, Math.max(1, options.haConfigReaders ?? 2)) : null;
  const perNode: SnapshotOptions =
    options.batchLanes === undefined ? { ...options, batchLanes: defaultBatchLanes(names.length) } : options;
  const nodes = await Promise.all(
    names.map((name) =>
      snapshotNode(
        cluster,
        name,
        deps,
        perNode,
        sampled && !sampled.includes(name) ? sampled : null,
        configReaders && !configReaders.includes(name) ? configReaders : null,
      ),
    ),
  );
  if (sampled && deps.drivers.ha && !nodes.some((n) => n.ha !== null)) {
    // No sampled node gave a view: read it everywhere else, so the HA state is never left unknown
    // just because the sample was unlucky.
    const ha = deps.drivers.ha;
    await Promise.all(
      nodes.map(async (node, i) => {
        if (sampled.includes(node.name) || !node.reachable) return;
        const got = await part(() => ha.view(deps.runnerFor(node.name), callOptions(cluster, options)));
        nodes[i] = { ...node, ha: got.value, haError: strip(got.error) };
      }),
    );
  }
  const haConfig = deps.drivers.haConfig;
  if (sampled && configReaders && haConfig && !nodes.some((n) => n.haConfig)) {
    // Neither reader gave the configuration: ask the other observers, as before there were readers.
    await Promise.all(
      nodes.map(async (node, i) => {
        if (!sampled.includes(node.name) || configReaders.includes(node.name) || !node.reachable) return;
        const runner = deps.runnerFor(node.name);
        const got = await part(() =>
          haConfig.read(runner, guestRefs(cluster), callOptions(cluster, options)),
        );
        nodes[i] = { ...node, haConfig: got.value, haConfigError: strip(got.error) };
      }),
    );
  }
  return {
    cluster: cluster.name,
    takenAt: (deps.now?.() ?? new Date()).toISOString(),
    nodes,
    warnings: deriveWarnings(cluster, nodes),
  };
}
