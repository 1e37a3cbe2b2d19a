/**
 * The event pipeline: every source (monitor snapshots, events2 updates, webhook reports, jobs) goes
 * through `observe*`/`report`, which, holding the cluster's mutex, loads the last facts and
 * conditions from Redis, applies the change, derives conditions and happenings, tells the incident
 * manager, and stores the result. Posting comes before saving: a crash in between re-derives the
 * same conditions, which the incident manager recognizes, so nothing is lost and nothing is doubled.
 */
import type { ClusterConfig, InventoryConfig } from "../config/schema";
import { XenopsError } from "../errors";
import type { Logger } from "../log";
import type { ClusterState, DrbdResourceState } from "../model";
import { conditionsOf, happenings, pruneReturned, resolutionText } from "./detect";
import { type Facts, factsFromState, nodeHealthy, withMemory, withNodeDrbd } from "./facts";
import { applyHaLogs, type HeartbeatRead } from "./heartbeat";
import type { IncidentInput, IncidentManager } from "./incidents";
import type { EventStore, StoredState } from "./store";
import { type ClusterEvent, type Condition, fingerprint, type IncidentAction } from "./types";

export interface PipelineOptions {
  store: EventStore;
  incidents: IncidentManager;
  inventory: InventoryConfig;
  logger: Logger;
  now?: () => number;
  /** Called (outside the mutex) for every condition that opened: automatic failback hooks here. */
  onOpened?: (cluster: ClusterConfig, condition: Condition) => Promise<void>;
  /** Counts every condition that opened and every happening, by kind (metrics). */
  onEvent?: (kind: string) => void;
}

/** What a monitor pass brings besides the snapshot. */
export interface ObserveOptions {
  /** heartbeat's logs tailed on the nodes (the monitor only): takeovers, STONITH, failbacks. */
  heartbeat?: HeartbeatRead;
  /**
   * The first pass after the worker started: conditions that only a start-up reports (a guest away
   * from its home) are opened too. A pass with no stored facts is always one.
   */
  baseline?: boolean;
}

/** Happenings from heartbeat's log: they tell what changed in their incident themselves. */
const SELF_TELLING = new Set(["ha_takeover", "ha_stonith_failed", "ha_failback"]);

/** What one change produced, for callers that care (tests, the bench, the console). */
export interface PipelineResult {
  opened: Condition[];
  changed: Condition[];
  resolved: Condition[];
  happened: ClusterEvent[];
}

interface DrbdBatch {
  updates: Map<string, readonly DrbdResourceState[]>;
  result: Promise<PipelineResult>;
}

function level(c: Condition): string {
  return `${c.kind}|${c.severity}|${JSON.stringify(c.actions ?? [])}`;
}

function surface(c: Condition): string {
  return `${c.title}|${c.detail ?? ""}|${c.evidence.join("\n")}`;
}

const FAMILY_ORDER: Record<string, number> = {
  node: 0,
  link: 1,
  guest: 2,
  disk: 3,
  resync: 4,
  failover: 5,
  failback: 6,
};

export class EventPipeline {
  private readonly log: Logger;
  private readonly now: () => number;
  /** Per cluster: the tail of this process's chain, so changes apply in arrival order. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Per cluster: events2 updates waiting to be applied together. */
  private readonly drbdBatches = new Map<string, DrbdBatch>();

  constructor(private readonly options: PipelineOptions) {
    this.log = options.logger.child({ component: "events" });
    this.now = options.now ?? Date.now;
  }

  cluster(name: string): ClusterConfig {
    const c = this.options.inventory.clusters.find((x) => x.name === name);
    if (!c) throw new XenopsError("unknown_cluster", `unknown cluster "${name}"`);
    return c;
  }

  /** The facts and conditions last stored for a cluster. */
  load(cluster: string): Promise<StoredState> {
    return this.options.store.load(cluster);
  }

  /** A full snapshot (the monitor), with the heartbeat logs it read. */
  observe(state: ClusterState, options: ObserveOptions = {}): Promise<PipelineResult> {
    const cluster = this.cluster(state.cluster);
    return this.run(
      cluster,
      (prev) => {
        const next = factsFromState(cluster, state, prev);
        const hb = options.heartbeat ? applyHaLogs(cluster, prev, next, options.heartbeat) : null;
        // A guest heartbeat moved is told by the takeover or failback itself.
        const moved = happenings(cluster, prev, next).filter(
          (e) => !(hb && e.kind === "failover" && e.subject !== null && hb.explained.has(e.subject)),
        );
        return { facts: rememberFencing(prev, next), events: [...moved, ...(hb?.events ?? [])] };
      },
      { baseline: options.baseline === true },
    );
  }

  /**
   * One node's DRBD state from its events2 stream. Ignored until a first snapshot exists. Updates of
   * several nodes arriving within `batchMs` are applied together: one change seen by both ends of a
   * link is one transition, not two.
   */
  observeDrbd(
    clusterName: string,
    node: string,
    resources: readonly DrbdResourceState[],
    batchMs = 30,
  ): Promise<PipelineResult> {
    const cluster = this.cluster(clusterName);
    let batch = this.drbdBatches.get(clusterName);
    if (!batch) {
      const created: DrbdBatch = { updates: new Map(), result: null as unknown as Promise<PipelineResult> };
      created.result = new Promise<void>((r) => setTimeout(r, batchMs)).then(() => {
        this.drbdBatches.delete(clusterName);
        const at = new Date(this.now()).toISOString();
        return this.run(cluster, (prev) => {
          if (!prev) return null;
          let next = prev;
          for (const [n, res] of created.updates)
            if (next.nodes[n]) next = withNodeDrbd(cluster, next, n, res, at);
          if (next === prev) return null;
          return {
            facts: next,
            events: happenings(cluster, prev, next).filter((e) => e.kind === "split_brain_auto_resolved"),
          };
        });
      });
      this.drbdBatches.set(clusterName, created);
      batch = created;
    }
    batch.updates.set(node, resources);
    return batch.result;
  }

  /**
   * A happening from outside the facts (webhook, fencing job, recovery job), optionally with a change
   * to the remembered facts (a split-brain report, a verified fence).
   */
  report(
    event: ClusterEvent | null,
    mutate?: (facts: Facts) => Facts,
    clusterName?: string,
  ): Promise<PipelineResult> {
    const name = event?.cluster ?? clusterName;
    if (!name) throw new XenopsError("invalid_argument", "report needs an event or a cluster");
    const cluster = this.cluster(name);
    const events = event ? [event] : [];
    return this.run(cluster, (prev) => {
      if (!prev) return { facts: null, events };
      const mutated = mutate ? mutate(structuredClone(prev)) : null;
      const next = mutated ? withMemory(mutated, mutated) : prev;
      return { facts: next, events };
    });
  }

  /** Marks a split-brain recovery by xenops in progress (or over, with null), so it is not reported as DRBD's. */
  markRecovering(clusterName: string, resource: string, approvalId: string | null): Promise<PipelineResult> {
    const cluster = this.cluster(clusterName);
    return this.run(cluster, (prev) => {
      if (!prev) return null;
      const next = structuredClone(prev);
      const current = next.memory.recovering[resource];
      if (approvalId)
        next.memory.recovering[resource] = { at: new Date(this.now()).toISOString(), approvalId };
      else if (current) next.memory.recovering[resource] = { ...current, done: true };
      return { facts: next, events: [] };
    });
  }

  /** Catch-up of throttled updates and ended maintenance windows, without new facts. */
  flush(clusterName: string): Promise<PipelineResult> {
    return this.run(this.cluster(clusterName), () => null);
  }

  private run(
    cluster: ClusterConfig,
    step: (prev: Facts | null) => { facts: Facts | null; events: ClusterEvent[] } | null,
    opts: { baseline?: boolean } = {},
  ): Promise<PipelineResult> {
    const previous = this.chains.get(cluster.name) ?? Promise.resolve();
    const result = previous
      .catch(() => {})
      .then(() => this.options.store.withClusterLock(cluster.name, () => this.apply(cluster, step, opts)));
    this.chains.set(cluster.name, result);
    void result
      .catch(() => {})
      .finally(() => {
        if (this.chains.get(cluster.name) === result) this.chains.delete(cluster.name);
      });
    return result.then(async (r) => {
      for (const e of [...r.opened, ...r.happened]) this.options.onEvent?.(e.kind);
      for (const c of r.opened)
        await this.options
          .onOpened?.(cluster, c)
          .catch((err: unknown) => this.log.warn({ err }, "onOpened hook failed"));
      return r;
    });
  }

  private async apply(
    cluster: ClusterConfig,
    step: (prev: Facts | null) => { facts: Facts | null; events: ClusterEvent[] } | null,
    opts: { baseline?: boolean } = {},
  ): Promise<PipelineResult> {
    const incidents = this.options.incidents;
    const stored = await this.options.store.load(cluster.name);
    const result: PipelineResult = { opened: [], changed: [], resolved: [], happened: [] };
    const outcome = step(stored.facts);
    if (!outcome) {
      await incidents.flush(cluster.name);
      return result;
    }
    const facts = outcome.facts;
    if (facts) pruneReturned(cluster, facts);
    const prevConditions = new Map(stored.conditions.map((c) => [c.key, c]));
    const baseline = opts.baseline === true || stored.facts === null;
    const nextConditions = facts
      ? conditionsOf(cluster, facts, { baseline, keep: new Set(prevConditions.keys()) })
      : stored.conditions;
    const told = new Set(outcome.events.filter((e) => SELF_TELLING.has(e.kind)).map((e) => fingerprint(e)));
    const ops: IncidentInput[] = [];
    const opens: IncidentInput[] = [];
    const changes: IncidentInput[] = [];
    const toldChanges: IncidentInput[] = [];
    const resolves: IncidentInput[] = [];
    for (const c of [...nextConditions].sort(
      (a, b) => (FAMILY_ORDER[a.family] ?? 9) - (FAMILY_ORDER[b.family] ?? 9),
    )) {
      const p = prevConditions.get(c.key);
      if (!p) {
        opens.push({ op: "open", event: c, condition: true });
        result.opened.push(c);
      } else if (level(p) !== level(c)) {
        // Told by a happening of the same incident: the message is brought up to date before it.
        if (told.has(c.key))
          toldChanges.push({ op: "change", key: c.key, event: c, significant: false, refresh: true });
        else changes.push({ op: "change", key: c.key, event: c, significant: true });
        result.changed.push(c);
      } else if (surface(p) !== surface(c)) {
        if (told.has(c.key))
          toldChanges.push({ op: "change", key: c.key, event: c, significant: false, refresh: true });
        else changes.push({ op: "change", key: c.key, event: c, significant: false });
      }
    }
    const nextKeys = new Set(nextConditions.map((c) => c.key));
    if (facts) {
      for (const p of stored.conditions) {
        if (nextKeys.has(p.key)) continue;
        const r = resolutionText(p, facts);
        resolves.push({ op: "resolve", key: p.key, title: r.title, evidence: r.evidence });
        result.resolved.push(p);
      }
    }
    ops.push(...opens, ...toldChanges);
    for (const op of ops) await incidents.apply(op);
    for (const e of outcome.events) {
      result.happened.push(e);
      await incidents.happen(e);
    }
    for (const op of changes) await incidents.apply(op);
    for (const op of resolves) await incidents.apply(op);
    await incidents.flush(cluster.name);
    if (facts) await this.options.store.save(cluster.name, { facts, conditions: nextConditions });
    if (result.opened.length + result.resolved.length + result.happened.length > 0)
      this.log.info(
        {
          cluster: cluster.name,
          opened: result.opened.map((c) => c.kind),
          resolved: result.resolved.map((c) => c.kind),
          happened: result.happened.map((e) => e.kind),
        },
        "cluster events",
      );
    return result;
  }
}

/** A fence the HA stack reports as successful, of a node that is down: remembered as verified. */
function rememberFencing(prev: Facts | null, next: Facts): Facts {
  if (!prev) return next;
  const known = new Set(prev.fences.map((f) => f.key));
  for (const f of next.fences) {
    if (known.has(f.key) || f.status !== "success") continue;
    if (!nodeHealthy(next.nodes[f.target])) next.memory.fencedAt[f.target] = f.completed ?? next.at;
  }
  return next;
}

export type { IncidentAction };
