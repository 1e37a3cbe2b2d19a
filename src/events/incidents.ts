/**
 * Incidents: one Slack message per fingerprint, follow-ups in its thread, coalescing, paging, storm
 * control, maintenance silencing. Called by the pipeline while it holds the cluster's mutex, so the
 * read-modify-write of a record needs no further locking (the storm limiter, shared by clusters that
 * post into one channel, is one Lua script).
 *
 * - New incident: a parent message (severity, what, evidence, buttons). Critical ones mention the
 *   on-call once; an incident that becomes critical later pages in its thread, once.
 * - Repeats and flaps: a condition that clears and comes back within `flapWindowMs`, or a happening
 *   repeated within `coalesceWindowMs`, reopens the same incident: counters on the parent, at most
 *   one follow-up per `followUpIntervalMs` (the rest are summarized in the next one).
 * - Related events (a DRBD link down because its peer died) go into the thread of that node's
 *   incident instead of a message of their own.
 * - Storm: more than `maxNewPerWindow` new incidents, or `maxPostsPerWindow` posts in all, per channel
 *   and window: new ones are listed on one storm message, follow-ups wait and are summarized.
 * - Maintenance: events about a node in maintenance are kept but not posted; still open when the
 *   window ends, they are posted then.
 */
import { createHash } from "node:crypto";
import type { MessageRef, Notifier, OutboundMessage } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import type { Logger } from "../log";
import { oncallParts } from "../message/document";
import { oncallMentions } from "../message/text";
import type { IncidentListener } from "../paging/listener";
import type { MaintenanceStore } from "./maintenance";
import { type IncidentView, renderFollowUp, renderIncident, renderStorm, type StormView } from "./render";
import type { EventStore } from "./store";
import {
  type ClusterEvent,
  fingerprint,
  type IncidentAction,
  SEVERITY_RANK,
  type Severity,
  worse,
} from "./types";

export interface IncidentPolicy {
  flapWindowMs: number;
  coalesceWindowMs: number;
  followUpIntervalMs: number;
  parentUpdateIntervalMs: number;
  /** Events related to a node go into its incident's thread while it is open or resolved this recently. */
  attachWindowMs: number;
  stormWindowMs: number;
  maxNewPerWindow: number;
  maxPostsPerWindow: number;
  /** Resolved incidents are kept this long (threads, flap detection). */
  retentionMs: number;
}

export const DEFAULT_INCIDENT_POLICY: IncidentPolicy = {
  flapWindowMs: 15 * 60_000,
  coalesceWindowMs: 10 * 60_000,
  followUpIntervalMs: 60_000,
  parentUpdateIntervalMs: 5_000,
  attachWindowMs: 30 * 60_000,
  stormWindowMs: 60_000,
  maxNewPerWindow: 6,
  maxPostsPerWindow: 20,
  retentionMs: 7 * 24 * 3600_000,
};

export interface IncidentRecord extends IncidentView {
  key: string;
  family: ClusterEvent["family"];
  channel: string;
  /** Whether a condition keeps it open (else a happening). */
  condition: boolean;
  /** The parent message, when it has its own. */
  ts: string | null;
  /** Where its follow-ups go: its own parent, the node incident it is attached to, or the storm message. */
  threadTs: string | null;
  attachedTo: string | null;
  stormed: boolean;
  silenced: boolean;
  lastFollowUpAt: number;
  lastParentUpdateAt: number;
  dirty: boolean;
  /** Follow-ups held back by throttling: how many, and the latest. */
  pending: { count: number; latest: PendingFollowUp | null };
  /** Times (ms) of transitions, for the flap counter. */
  resolvedAtMs: number | null;
  lastAtMs: number;
  /** Kinds of data loss or two writers that already paged for this incident (each pages once). */
  repaged?: string[];
}

interface PendingFollowUp {
  icon: string;
  title: string;
  evidence: string[];
}

interface StormRecord extends StormView {
  ts: string | null;
  lastAtMs: number;
  lastUpdateAt: number;
  dirty: boolean;
}

/** Lua: sliding-window limiter. KEYS[1] zset. ARGV: now ms, window ms, limit, member. 1 if allowed (and counted). */
const LIMIT_SCRIPT = `
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[1]) - tonumber(ARGV[2]))
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[4])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`;

export interface IncidentManagerOptions {
  store: EventStore;
  maintenance: MaintenanceStore;
  notifier: Notifier;
  inventory: InventoryConfig;
  logger: Logger;
  now?: () => number;
  policy?: Partial<IncidentPolicy>;
  /** Told every saved record (src/paging/: pages, acknowledgements, escalation timers). */
  listener?: IncidentListener;
}

/** What the pipeline tells the manager. */
export type IncidentInput =
  | { op: "open"; event: ClusterEvent; condition: boolean }
  | {
      op: "change";
      key: string;
      event: ClusterEvent;
      significant: boolean;
      /** Update the message now even if not significant (a happening about to be posted explains it). */
      refresh?: boolean;
    }
  | { op: "resolve"; key: string; title: string; evidence: string[] };

export function incidentId(key: string): string {
  return createHash("sha256").update(key).digest("base64url").slice(0, 16);
}

export class IncidentManager {
  readonly policy: IncidentPolicy;
  private readonly now: () => number;
  private readonly log: Logger;
  private seq = 0;

  constructor(private readonly options: IncidentManagerOptions) {
    this.policy = { ...DEFAULT_INCIDENT_POLICY, ...options.policy };
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: "incidents" });
  }

  private get redis() {
    return this.options.store.redis;
  }

  private get keys() {
    return this.options.store.keys;
  }

  channelOf(cluster: string): string | null {
    return this.options.inventory.clusters.find((c) => c.name === cluster)?.channels[0] ?? null;
  }

  async get(id: string): Promise<IncidentRecord | null> {
    const raw = await this.redis.get(this.keys.incident(id));
    return raw ? (JSON.parse(raw) as IncidentRecord) : null;
  }

  async byKey(key: string): Promise<IncidentRecord | null> {
    return this.get(incidentId(key));
  }

  private async save(rec: IncidentRecord): Promise<void> {
    await this.redis.set(this.keys.incident(rec.id), JSON.stringify(rec), "PX", this.policy.retentionMs);
    const active =
      rec.status === "open" ||
      (rec.resolvedAtMs !== null && this.now() - rec.resolvedAtMs < this.policy.attachWindowMs);
    if (active) await this.redis.sadd(this.keys.active(rec.cluster), rec.id);
    else await this.redis.srem(this.keys.active(rec.cluster), rec.id);
    await this.options.listener?.saved(rec);
  }

  async active(cluster: string): Promise<IncidentRecord[]> {
    const ids = await this.redis.smembers(this.keys.active(cluster));
    const out: IncidentRecord[] = [];
    for (const id of ids.sort()) {
      const rec = await this.get(id);
      if (rec) out.push(rec);
      else await this.redis.srem(this.keys.active(cluster), id);
    }
    return out;
  }

  private async allow(channel: string, what: "new" | "all"): Promise<boolean> {
    const limit = what === "new" ? this.policy.maxNewPerWindow : this.policy.maxPostsPerWindow;
    this.seq += 1;
    const reply = await this.redis.eval(
      LIMIT_SCRIPT,
      1,
      this.keys.posts(channel, what),
      String(this.now()),
      String(this.policy.stormWindowMs),
      String(limit),
      `${this.now()}-${process.pid}-${this.seq}-${Math.random()}`,
    );
    return reply === 1;
  }

  private async post(channel: string, message: OutboundMessage): Promise<MessageRef | null> {
    return this.options.notifier.post(channel, message);
  }

  private async silencedUntil(e: ClusterEvent): Promise<string | null> {
    for (const node of [e.node, e.relatedNode ?? null]) {
      if (!node) continue;
      const w = await this.options.maintenance.isInMaintenance(e.cluster, node);
      if (w) return w.until;
    }
    return null;
  }

  private view(rec: IncidentRecord): IncidentView {
    return rec;
  }

  private shouldPage(rec: IncidentRecord): boolean {
    return rec.severity === "critical" && !rec.paged && oncallMentions(this.options.inventory.oncall) !== "";
  }

  /**
   * News that raises an incident to data loss or two writers pages on-call again, even when the
   * incident paged before (once per kind of such news).
   */
  private shouldRepage(rec: IncidentRecord, e: ClusterEvent): boolean {
    return (
      escalationOf(e) !== null &&
      !(rec.repaged ?? []).includes(e.kind) &&
      oncallMentions(this.options.inventory.oncall) !== ""
    );
  }

  /** Remembers that `e` paged (so the same kind of news does not page twice) and why, for the message. */
  private notePaged(rec: IncidentRecord, e: ClusterEvent): void {
    const reason = escalationOf(e);
    if (!reason || (rec.repaged ?? []).includes(e.kind)) return;
    rec.repaged = [...(rec.repaged ?? []), e.kind];
    rec.escalation = { reason, at: new Date(this.now()).toISOString() };
  }

  /**
   * The incident an event belongs in: for a resync or disk event, its resource's link incident (a
   * split brain being recovered); else the incident of the node that explains it. Only while that
   * incident is open or was resolved recently, and has a thread.
   */
  private async attachTarget(e: ClusterEvent): Promise<IncidentRecord | null> {
    const candidates: string[] = [];
    if ((e.family === "resync" || e.family === "disk") && e.subject)
      candidates.push(fingerprint({ cluster: e.cluster, subject: e.subject, node: null, family: "link" }));
    if (e.relatedNode && !(e.family === "node" && e.node === e.relatedNode))
      candidates.push(
        fingerprint({ cluster: e.cluster, subject: null, node: e.relatedNode, family: "node" }),
      );
    for (const key of candidates) {
      if (key === fingerprint(e)) continue;
      const parent = await this.byKey(key);
      if (!parent?.threadTs || parent.silenced) continue;
      if (
        parent.status === "resolved" &&
        (parent.resolvedAtMs === null || this.now() - parent.resolvedAtMs > this.policy.attachWindowMs)
      )
        continue;
      return parent;
    }
    return null;
  }

  async apply(input: IncidentInput): Promise<void> {
    switch (input.op) {
      case "open":
        return this.open(input.event, input.condition);
      case "change":
        return this.change(input.key, input.event, input.significant, input.refresh === true);
      case "resolve":
        return this.resolve(input.key, input.title, input.evidence);
    }
  }

  private async open(e: ClusterEvent, condition: boolean): Promise<void> {
    const key = fingerprint(e);
    const existing = await this.byKey(key);
    const now = this.now();
    if (existing?.status === "open") {
      if (condition) {
        if (existing.condition && existing.current.kind === e.kind) {
          // Already known (a replay after a crash between posting and saving): nothing new to say.
          existing.current = e;
          await this.save(existing);
          return;
        }
        // A happening (webhook, handler) now backed by what the facts show, or a different level.
        existing.condition = true;
        await this.save(existing);
        return this.change(key, e, true);
      }
      if (now - existing.lastAtMs < this.policy.coalesceWindowMs || existing.condition)
        return this.repeat(existing, e, false);
    } else if (
      existing?.status === "resolved" &&
      existing.resolvedAtMs !== null &&
      now - existing.resolvedAtMs < this.policy.flapWindowMs &&
      existing.current.kind === e.kind &&
      (!existing.attachedTo || (await this.get(existing.attachedTo))?.threadTs === existing.threadTs)
    ) {
      // The same thing again soon after it cleared: a flap of the same incident.
      existing.condition = condition;
      return this.repeat(existing, e, true);
    }
    const channel = this.channelOf(e.cluster);
    if (!channel) return;
    const rec: IncidentRecord = {
      id: incidentId(key),
      key,
      cluster: e.cluster,
      family: e.family,
      channel,
      condition,
      status: "open",
      severity: e.severity,
      current: e,
      peakTitle: e.title,
      openedAt: new Date(now).toISOString(),
      lastAt: new Date(now).toISOString(),
      lastAtMs: now,
      resolvedAt: null,
      resolvedAtMs: null,
      resolution: null,
      count: 1,
      flaps: 0,
      paged: false,
      ts: null,
      threadTs: null,
      attachedTo: null,
      stormed: false,
      silenced: false,
      silencedUntil: null,
      lastFollowUpAt: 0,
      lastParentUpdateAt: now,
      dirty: false,
      pending: { count: 0, latest: null },
    };
    const silencedUntil = await this.silencedUntil(e);
    if (silencedUntil) {
      rec.silenced = true;
      rec.silencedUntil = silencedUntil;
      this.log.info({ cluster: e.cluster, key, until: silencedUntil }, "event silenced by maintenance");
      await this.save(rec);
      return;
    }
    await this.publish(rec);
  }

  /** Posts a new (or formerly silenced) incident: into a node thread, as its own message, or on the storm message. */
  private async publish(rec: IncidentRecord): Promise<void> {
    const e = rec.current;
    const parent = await this.attachTarget(e);
    if (parent?.threadTs) {
      rec.attachedTo = parent.id;
      rec.threadTs = parent.threadTs;
      const page = (this.shouldPage(rec) && !parent.paged) || this.shouldRepage(parent, e);
      await this.followUp(
        rec,
        {
          icon: iconOf(e.severity),
          title: e.title,
          evidence: e.evidence,
          ...(e.detail ? { detail: e.detail } : {}),
        },
        { force: true, page, buttons: e.actions, source: e.source },
      );
      if (page) {
        rec.paged = true;
        this.notePaged(rec, e);
        this.notePaged(parent, e);
        await this.save(parent);
      }
      await this.save(rec);
      return;
    }
    if (e.onlyInThread) {
      // Nothing it belongs to: not worth a message of its own (kept, so a repeat is coalesced).
      await this.save(rec);
      return;
    }
    if (!(await this.allow(rec.channel, "new")) || !(await this.allow(rec.channel, "all"))) {
      await this.addToStorm(rec);
      await this.save(rec);
      return;
    }
    if (this.shouldPage(rec)) {
      rec.paged = true;
      // Opened at data loss already: that is the page; the same news later does not page again.
      if (escalationOf(e)) rec.repaged = [e.kind];
    }
    const ref = await this.post(rec.channel, renderIncident(this.view(rec), this.options.inventory));
    rec.ts = ref?.ts ?? null;
    rec.threadTs = rec.ts;
    rec.lastParentUpdateAt = this.now();
    if (!ref) rec.dirty = true;
    this.log.info(
      { cluster: rec.cluster, key: rec.key, kind: e.kind, severity: rec.severity, ts: rec.ts },
      "incident opened",
    );
    await this.save(rec);
  }

  private async addToStorm(rec: IncidentRecord): Promise<void> {
    const key = this.keys.storm(rec.channel);
    const now = this.now();
    const raw = await this.redis.get(key);
    let storm: StormRecord | null = raw ? (JSON.parse(raw) as StormRecord) : null;
    if (!storm || now - storm.lastAtMs > this.policy.stormWindowMs * 5) {
      storm = {
        channel: rec.channel,
        startedAt: new Date(now).toISOString(),
        total: 0,
        lines: [],
        paged: false,
        ts: null,
        lastAtMs: now,
        lastUpdateAt: 0,
        dirty: false,
      };
    }
    storm.total += 1;
    storm.lastAtMs = now;
    storm.lines.push({
      id: rec.id,
      text: `${rec.cluster}: ${rec.current.title}`,
      severity: rec.severity,
      resolved: false,
    });
    if (storm.lines.length > 200) storm.lines = storm.lines.slice(-200);
    if (this.shouldPage(rec) && !storm.paged) {
      storm.paged = true;
      rec.paged = true;
    } else if (rec.severity === "critical") rec.paged = storm.paged;
    if (!storm.ts) {
      // The storm message itself is one post, whatever the limiter says: it is what stops the flood.
      const ref = await this.post(rec.channel, renderStorm(storm, this.options.inventory));
      storm.ts = ref?.ts ?? null;
      storm.lastUpdateAt = now;
    } else storm.dirty = true;
    rec.stormed = true;
    rec.threadTs = storm.ts;
    this.log.warn({ channel: rec.channel, total: storm.total }, "event storm: incident grouped");
    await this.redis.set(key, JSON.stringify(storm), "PX", this.policy.retentionMs);
  }

  private async updateStormLine(rec: IncidentRecord): Promise<void> {
    const key = this.keys.storm(rec.channel);
    const raw = await this.redis.get(key);
    if (!raw) return;
    const storm = JSON.parse(raw) as StormRecord;
    const line = storm.lines.find((l) => l.id === rec.id);
    if (!line) return;
    line.text = `${rec.cluster}: ${rec.status === "resolved" && rec.resolution ? rec.resolution.title : rec.current.title}${rec.count > 1 ? ` (×${rec.count})` : ""}`;
    line.severity = rec.severity;
    line.resolved = rec.status === "resolved";
    storm.dirty = true;
    await this.redis.set(key, JSON.stringify(storm), "PX", this.policy.retentionMs);
  }

  private async repeat(rec: IncidentRecord, e: ClusterEvent, reopened: boolean): Promise<void> {
    const now = this.now();
    rec.count += 1;
    if (reopened) rec.flaps += 1;
    rec.status = "open";
    rec.resolvedAt = null;
    rec.resolvedAtMs = null;
    rec.resolution = null;
    const escalated = SEVERITY_RANK[e.severity] > SEVERITY_RANK[rec.severity];
    if (SEVERITY_RANK[e.severity] >= SEVERITY_RANK[rec.severity]) rec.peakTitle = e.title;
    rec.severity = worse(rec.severity, e.severity);
    rec.current = e;
    rec.lastAt = new Date(now).toISOString();
    rec.lastAtMs = now;
    rec.dirty = true;
    if (rec.silenced) {
      await this.save(rec);
      return;
    }
    if (rec.stormed) {
      await this.updateStormLine(rec);
      await this.save(rec);
      return;
    }
    const repage = this.shouldRepage(rec, e);
    const title = reopened
      ? `Again: ${e.title} (flap ${rec.flaps})`
      : rec.count > 1
        ? `Again: ${e.title} (${rec.count} times)`
        : e.title;
    await this.followUp(
      rec,
      { icon: reopened ? "🔁" : iconOf(e.severity), title, evidence: e.evidence },
      {
        force: escalated || repage,
        page: this.shouldPage(rec) || repage,
        buttons: escalated ? e.actions : undefined,
      },
    );
    if (repage) this.notePaged(rec, e);
    await this.maybeUpdateParent(rec, escalated);
    await this.save(rec);
  }

  private async change(key: string, e: ClusterEvent, significant: boolean, refresh = false): Promise<void> {
    const rec = await this.byKey(key);
    if (rec?.status !== "open") return this.open(e, true);
    const escalated = SEVERITY_RANK[e.severity] > SEVERITY_RANK[rec.severity];
    // A critical incident's headline follows what happened at once ("is taking over" → "started"):
    // throttling the message is for evidence and counts, not for the line on-call reads first.
    const newHeadline = e.severity === "critical" && e.title !== rec.current.title;
    // An incident keeps the worst severity it reached until it is resolved (a dead node that is
    // rebooting after its fence is still the same critical incident).
    if (SEVERITY_RANK[e.severity] >= SEVERITY_RANK[rec.severity]) rec.peakTitle = e.title;
    rec.severity = worse(rec.severity, e.severity);
    rec.current = e;
    rec.lastAt = new Date(this.now()).toISOString();
    rec.dirty = true;
    if (rec.silenced) {
      await this.save(rec);
      return;
    }
    if (rec.stormed) {
      await this.updateStormLine(rec);
      await this.save(rec);
      return;
    }
    const repage = significant && this.shouldRepage(rec, e);
    if (significant)
      await this.followUp(
        rec,
        {
          icon: iconOf(e.severity),
          title: e.title,
          evidence: e.evidence,
          ...(e.detail ? { detail: e.detail } : {}),
        },
        {
          force: escalated || repage || (e.actions?.length ?? 0) > 0,
          page: this.shouldPage(rec) || repage,
          buttons: e.actions,
        },
      );
    if (repage) this.notePaged(rec, e);
    await this.maybeUpdateParent(rec, significant || refresh || newHeadline);
    await this.save(rec);
  }

  private async resolve(key: string, title: string, evidence: string[]): Promise<void> {
    const rec = await this.byKey(key);
    if (rec?.status !== "open") return;
    const now = this.now();
    rec.status = "resolved";
    rec.resolvedAt = new Date(now).toISOString();
    rec.resolvedAtMs = now;
    rec.resolution = { title, evidence };
    rec.dirty = true;
    if (rec.silenced) {
      // Came and went during maintenance: nothing to say.
      await this.redis.del(this.keys.incident(rec.id));
      await this.redis.srem(this.keys.active(rec.cluster), rec.id);
      return;
    }
    if (rec.stormed) {
      await this.updateStormLine(rec);
      await this.save(rec);
      return;
    }
    // The first resolution is always said; a flapping incident's are throttled like its other news.
    await this.followUp(
      rec,
      { icon: "✅", title: `Resolved: ${title}`, evidence },
      { force: rec.flaps === 0 },
    );
    await this.maybeUpdateParent(rec, true);
    this.log.info({ cluster: rec.cluster, key }, "incident resolved");
    await this.save(rec);
  }

  /** A happening from outside the facts (webhook, fencing job) or one the diff found. */
  async happen(e: ClusterEvent): Promise<void> {
    const key = fingerprint(e);
    const rec = await this.byKey(key);
    const now = this.now();
    // Into the open incident of the same fingerprint (fencing of a dead node, a split brain DRBD resolved).
    if (
      rec &&
      !rec.silenced &&
      (rec.status === "open" ||
        (rec.resolvedAtMs !== null && now - rec.resolvedAtMs < this.policy.attachWindowMs))
    ) {
      const escalated = SEVERITY_RANK[e.severity] > SEVERITY_RANK[rec.severity] && rec.status === "open";
      if (escalated) rec.severity = e.severity;
      const repage = this.shouldRepage(rec, e);
      rec.lastAt = new Date(now).toISOString();
      rec.lastAtMs = now;
      if (rec.stormed) {
        await this.updateStormLine(rec);
        await this.save(rec);
        return;
      }
      await this.followUp(
        rec,
        {
          icon: iconOf(e.severity),
          title: e.title,
          evidence: e.evidence,
          ...(e.detail ? { detail: e.detail } : {}),
        },
        {
          force: true,
          page: (e.severity === "critical" && this.shouldPage({ ...rec, severity: "critical" })) || repage,
          buttons: e.actions,
          source: e.source,
        },
      );
      if (e.severity === "critical" && oncallMentions(this.options.inventory.oncall) !== "") rec.paged = true;
      if (repage) {
        rec.paged = true;
        this.notePaged(rec, e);
      }
      await this.maybeUpdateParent(rec, escalated || repage);
      await this.save(rec);
      return;
    }
    if (rec?.silenced && rec.status === "open") return;
    return this.open(e, false);
  }

  private async followUp(
    rec: IncidentRecord,
    f: { icon: string; title: string; evidence: string[]; detail?: string },
    opts: {
      force?: boolean;
      page?: boolean;
      buttons?: readonly IncidentAction[] | undefined;
      /** Where the news came from: a node's hooks post as often as they are called. */
      source?: ClusterEvent["source"];
    },
  ): Promise<void> {
    if (!rec.threadTs) return;
    const now = this.now();
    const due = now - rec.lastFollowUpAt >= this.policy.followUpIntervalMs;
    // Forced news skips the per-incident pace, but a webhook's still counts against the channel's limit.
    const hold = opts.force
      ? opts.source === "webhook" && !(await this.allow(rec.channel, "all"))
      : !due || !(await this.allow(rec.channel, "all"));
    if (hold) {
      rec.pending = {
        count: rec.pending.count + 1,
        latest: { icon: f.icon, title: f.title, evidence: f.evidence },
      };
      rec.dirty = true;
      return;
    }
    const held = rec.pending.count;
    rec.pending = { count: 0, latest: null };
    const mention = opts.page ? oncallParts(this.options.inventory.oncall) : [];
    if (opts.page && mention.length > 0) rec.paged = true;
    await this.post(
      rec.channel,
      renderFollowUp(
        {
          icon: f.icon,
          title:
            held > 0
              ? `${f.title} (${held} earlier update${held === 1 ? "" : "s"} summarized here)`
              : f.title,
          ...(f.detail ? { detail: f.detail } : {}),
          evidence: f.evidence,
          ...(mention.length > 0 ? { mention } : {}),
          ...(opts.buttons && opts.buttons.length > 0
            ? { buttons: { incidentId: rec.id, cluster: rec.cluster, actions: opts.buttons } }
            : {}),
        },
        rec.threadTs,
      ),
    );
    rec.lastFollowUpAt = now;
  }

  private async maybeUpdateParent(rec: IncidentRecord, important: boolean): Promise<void> {
    rec.dirty = true;
    if (!rec.ts) return;
    if (!important && this.now() - rec.lastParentUpdateAt < this.policy.parentUpdateIntervalMs) return;
    await this.options.notifier.update(
      { channel: rec.channel, ts: rec.ts },
      renderIncident(this.view(rec), this.options.inventory),
    );
    rec.lastParentUpdateAt = this.now();
    rec.dirty = false;
  }

  /**
   * Catch-up after a change: parent updates held back by throttling, summarized follow-ups,
   * incidents whose maintenance ended, the storm message, stale records.
   */
  async flush(cluster: string): Promise<void> {
    const now = this.now();
    for (const rec of await this.active(cluster)) {
      let changed = false;
      if (rec.silenced) {
        const until = await this.silencedUntil(rec.current);
        if (!until && rec.status === "open") {
          rec.silenced = false;
          rec.silencedUntil = null;
          rec.current = {
            ...rec.current,
            detail: `${rec.current.detail ? `${rec.current.detail} ` : ""}(Held back during maintenance; still present after it ended.)`,
          };
          await this.publish(rec);
          continue;
        }
        continue;
      }
      if (rec.pending.latest && now - rec.lastFollowUpAt >= this.policy.followUpIntervalMs && !rec.stormed) {
        const p = rec.pending.latest;
        rec.pending = { count: rec.pending.count - 1, latest: null };
        await this.followUp(rec, p, { force: true });
        changed = true;
      }
      if (!rec.ts && !rec.attachedTo && !rec.stormed && !rec.current.onlyInThread && rec.status === "open") {
        // The parent could not be posted: try again.
        const ref = await this.post(rec.channel, renderIncident(this.view(rec), this.options.inventory));
        if (ref) {
          rec.ts = ref.ts;
          rec.threadTs = ref.ts;
          rec.lastParentUpdateAt = now;
          rec.dirty = false;
        }
        changed = true;
      }
      if (rec.dirty && rec.ts && now - rec.lastParentUpdateAt >= this.policy.parentUpdateIntervalMs) {
        await this.options.notifier.update(
          { channel: rec.channel, ts: rec.ts },
          renderIncident(this.view(rec), this.options.inventory),
        );
        rec.lastParentUpdateAt = now;
        rec.dirty = false;
        changed = true;
      }
      const stale =
        (rec.status === "resolved" &&
          rec.resolvedAtMs !== null &&
          now - rec.resolvedAtMs >= this.policy.attachWindowMs) ||
        (!rec.condition && now - rec.lastAtMs >= this.policy.attachWindowMs);
      if (stale && !rec.condition && rec.status === "open") {
        // A happening nobody added to for a while: keep the record (threads), stop tracking it.
        await this.redis.srem(this.keys.active(rec.cluster), rec.id);
        continue;
      }
      if (changed || stale) await this.save(rec);
    }
    const channel = this.channelOf(cluster);
    if (channel) await this.flushStorm(channel);
  }

  private async flushStorm(channel: string): Promise<void> {
    const key = this.keys.storm(channel);
    const raw = await this.redis.get(key);
    if (!raw) return;
    const storm = JSON.parse(raw) as StormRecord;
    if (!storm.dirty || !storm.ts || this.now() - storm.lastUpdateAt < this.policy.parentUpdateIntervalMs)
      return;
    await this.options.notifier.update({ channel, ts: storm.ts }, renderStorm(storm, this.options.inventory));
    storm.dirty = false;
    storm.lastUpdateAt = this.now();
    await this.redis.set(key, JSON.stringify(storm), "PX", this.policy.retentionMs);
  }

  /** Adds buttons and a line to an open incident (e.g. "start its guests" once fencing is verified). */
  async offer(key: string, title: string, actions: IncidentAction[], evidence: string[] = []): Promise<void> {
    const rec = await this.byKey(key);
    if (!rec || rec.silenced) return;
    rec.current = { ...rec.current, actions };
    await this.followUp(rec, { icon: "👉", title, evidence }, { force: true, buttons: actions });
    await this.maybeUpdateParent(rec, true);
    await this.save(rec);
  }
}

/** Why news means data loss or two writers (it pages again), or null. */
export function escalationOf(e: ClusterEvent): string | null {
  switch (e.kind) {
    case "split_brain":
      return "split brain: the nodes' data diverged";
    case "split_brain_auto_resolved":
      return "a split brain was resolved without xenops: data was discarded";
    case "guest_on_two_nodes":
      return "a guest runs on two nodes: two writers";
    default:
      return e.repage ? e.title : null;
  }
}

function iconOf(s: Severity): string {
  return s === "critical" ? "🔴" : s === "warning" ? "🟠" : "🔵";
}
