/**
 * On-call paging: the incident listener that pages a cluster's paging service (PagerDuty, Opsgenie)
 * for critical incidents, the Acknowledge / Snooze buttons, and the re-notification and escalation
 * timers of incidents nobody acknowledged.
 *
 * - One page per incident lifecycle (dedup key from the incident and when it opened): follow-ups,
 *   repeats and flaps never page again; incidents that went into another's thread page under theirs.
 *   News of data loss or two writers (the incident's `repaged` kinds) pages once more under a key of
 *   its own, unless someone acknowledged it.
 * - Delivery goes through an outbox in Redis: per dedup key the state wanted (triggered,
 *   acknowledged, resolved) and the state delivered, and a due-set that `tick()` drains with backoff.
 *   Nothing is lost in a restart, and a resolve never overtakes its trigger. A page that cannot be
 *   delivered is said in the incident's thread and counted (`xenops_pages_total`).
 * - Re-notification (`oncall.renotifyAfter`) and escalation (`oncall.escalation`) are timers in the
 *   same due-set, so they survive restarts too; acknowledging cancels them, a snooze holds them and
 *   pages again when it ends.
 */

import type { AuditEntryInput } from "../audit/schema";
import type { Authorizer } from "../chat/authz";
import type { ActionHandler } from "../chat/router";
import type { Notifier } from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import { errorMessage } from "../errors";
import type { IncidentRecord } from "../events/incidents";
import { parseDuration } from "../events/maintenance";
import { renderFollowUp, renderIncident } from "../events/render";
import type { EventStore } from "../events/store";
import type { Logger } from "../log";
import { type Inline, oncallParts, user as userPart } from "../message/document";
import { userMention } from "../message/text";
import { type DigestOpen, type DigestPage, nextDigestAt, renderDigest } from "./digest";
import type { IncidentListener } from "./listener";
import type { PagerRegistry } from "./registry";
import { ONCALL_ACTION_PREFIX, type OncallMark, pageable } from "./render";
import { type PageAction, PageError, type PageRequest } from "./types";

export interface OncallOptions {
  inventory: InventoryConfig;
  store: EventStore;
  /** Key prefix (the queue prefix), as the event store's. */
  prefix: string;
  notifier: Notifier;
  pagers: PagerRegistry;
  logger: Logger;
  authorizer: Pick<Authorizer, "has">;
  now?: () => number;
  /** Counts each request to a paging service (metrics). */
  onPage?: (service: string, action: PageAction, result: "ok" | "retry" | "failed") => void;
  audit?: (entry: AuditEntryInput) => void;
  /** Delivery retries: first delay, cap, attempts in all (default 5 s, 5 min, 8). */
  retry?: { baseMs?: number; maxMs?: number; attempts?: number };
  /** Drain the due-set right after queueing (workers); tests call `tick()` themselves. */
  autoTick?: boolean;
}

/** Delivery states, in the order they happen. */
const RANK = { none: 0, triggered: 1, acknowledged: 2, resolved: 3 } as const;
type Delivery = keyof typeof RANK;

/** What is remembered per page (the root incident: the one whose thread it is). */
interface PageState {
  root: string;
  cluster: string;
  /** The root incident's `openedAt`: a new lifecycle of the same fingerprint pages anew. */
  openedAt: string;
  /** Open critical incidents holding the page open. */
  members: string[];
  /** When on-call was paged (timers count from here; a snooze ending restarts it). */
  pagedAtMs: number;
  /** Dedup keys paged for it (the first, then data-loss news, then snooze ends). */
  keys: string[];
  /** Kinds of data-loss news already paged. */
  repaged: string[];
  ack: { by: string; at: string } | null;
  snooze: { by: string; untilMs: number; count: number } | null;
  /** Snoozes in all (the digest). */
  snoozes?: number;
  renotified: boolean;
  /** Escalation steps done. */
  escalated: number;
  resolvedAtMs: number | null;
}

/** Claims due members: each gets a lease (score moved to now + lease) so one process handles it. */
const CLAIM = `
local items = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
for _, m in ipairs(items) do redis.call("ZADD", KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), m) end
return items
`;
/** Removes a delivery from the due-set unless what is wanted changed meanwhile. */
const DONE = `
if redis.call("HGET", KEYS[2], "desired") == ARGV[2] then return redis.call("ZREM", KEYS[1], ARGV[1]) end
return 0
`;

const LEASE_MS = 60_000;
const STATE_TTL_S = 8 * 24 * 3600;

function parseMs(text: string | undefined): number | null {
  return text ? parseDuration(text) : null;
}

function minutes(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const m = Math.round(ms / 60_000);
  return m >= 60 && m % 60 === 0 ? `${m / 60} h` : `${m} min`;
}

export function slackLink(channel: string, ts: string): string {
  return `https://slack.com/archives/${channel}/p${ts.replace(".", "")}`;
}

export class OncallService implements IncidentListener {
  private readonly now: () => number;
  private readonly log: Logger;
  private ticking: Promise<number> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: OncallOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: "oncall" });
  }

  private get redis() {
    return this.o.store.redis;
  }

  private key(...parts: string[]): string {
    return [`${this.o.prefix}:xenops:oncall`, ...parts].join(":");
  }

  private get due(): string {
    return this.key("due");
  }

  private async readIncident(id: string): Promise<IncidentRecord | null> {
    const raw = await this.redis.get(this.o.store.keys.incident(id));
    return raw ? (JSON.parse(raw) as IncidentRecord) : null;
  }

  private async writeIncident(rec: IncidentRecord): Promise<void> {
    await this.redis.set(this.o.store.keys.incident(rec.id), JSON.stringify(rec), "KEEPTTL");
  }

  async state(root: string): Promise<PageState | null> {
    const raw = await this.redis.get(this.key("page", root));
    return raw ? (JSON.parse(raw) as PageState) : null;
  }

  private async saveState(st: PageState): Promise<void> {
    await this.redis.set(this.key("page", st.root), JSON.stringify(st), "EX", STATE_TTL_S);
  }

  // ---- the listener ----

  async saved(rec: IncidentRecord): Promise<void> {
    try {
      await this.reconcile(rec);
    } catch (err) {
      this.log.error(
        { err: errorMessage(err), incident: rec.id },
        "on-call paging could not follow an incident",
      );
    }
  }

  private async reconcile(rec: IncidentRecord): Promise<void> {
    const root = rec.attachedTo ?? rec.id;
    const rootRec = root === rec.id ? rec : await this.readIncident(root);
    const openedAt = rootRec?.openedAt ?? rec.openedAt;
    let st = await this.state(root);
    const critical = rec.status === "open" && rec.severity === "critical" && !rec.silenced;
    if (critical) {
      if (!st || st.openedAt !== openedAt) {
        if (!pageable(this.o.inventory, rec.cluster)) return;
        // An earlier lifecycle of the same fingerprint that never resolved here (a happening that went
        // stale): its pages are closed before the new one opens.
        if (st && st.resolvedAtMs === null) for (const k of st.keys) await this.desire(k, "resolved", null);
        st = {
          root,
          cluster: rec.cluster,
          openedAt,
          members: [rec.id],
          pagedAtMs: this.now(),
          keys: [],
          // Opened at data loss already: that is the page itself.
          repaged: [...(rec.repaged ?? [])],
          ack: null,
          snooze: null,
          renotified: false,
          escalated: 0,
          resolvedAtMs: null,
        };
        await this.trigger(st, rootRec ?? rec, rec, `xenops-${root}-${Date.parse(openedAt).toString(36)}`);
        await this.schedule(st);
        // For the daily digest: what paged, by when it first did.
        const pages = this.key("pages", rec.cluster);
        await this.redis.zadd(pages, this.now(), root);
        await this.redis.zremrangebyscore(pages, "-inf", this.now() - 8 * 24 * 3600_000);
        this.log.info({ cluster: rec.cluster, incident: root }, "on-call paged");
      } else {
        if (!st.members.includes(rec.id)) st.members.push(rec.id);
        if (st.resolvedAtMs !== null) {
          // A flap of a resolved incident: said in its thread, not a new page.
          st.resolvedAtMs = null;
          this.log.info({ cluster: rec.cluster, incident: root }, "paged incident flapped: not paged again");
        } else {
          const fresh = (rec.repaged ?? []).filter((k) => !st?.repaged.includes(k));
          for (const kind of fresh) {
            st.repaged.push(kind);
            if (!st.ack)
              await this.trigger(st, rootRec ?? rec, rec, `${st.keys[0] ?? `xenops-${root}`}-${kind}`, {
                summary: `${rec.cluster}: ${rec.escalation?.reason ?? rec.current.title}`,
              });
          }
        }
      }
      await this.saveState(st);
      return;
    }
    if (st?.members.includes(rec.id) && (rec.status === "resolved" || rec.silenced)) {
      st.members = st.members.filter((m) => m !== rec.id);
      if (st.members.length === 0 && st.resolvedAtMs === null) {
        st.resolvedAtMs = this.now();
        for (const k of st.keys) await this.desire(k, "resolved", null);
        await this.redis.zrem(this.due, this.timerMember(st));
        this.log.info({ cluster: rec.cluster, incident: root }, "paged incident resolved");
      }
      await this.saveState(st);
    }
  }

  private pageRequest(
    root: IncidentRecord,
    rec: IncidentRecord,
    dedupKey: string,
    summary?: string,
  ): PageRequest {
    const e = rec.current;
    const node = e.node ?? e.relatedNode ?? null;
    return {
      action: "trigger",
      dedupKey,
      summary: summary ?? `${rec.cluster}: ${rec.peakTitle ?? e.title}`,
      source: node ?? rec.cluster,
      severity: "critical",
      cluster: rec.cluster,
      node,
      resource: e.subject,
      link: root.ts ? { href: slackLink(root.channel, root.ts), text: "The incident in Slack" } : null,
      details: {
        incident: root.id,
        kind: e.kind,
        opened: root.openedAt,
        ...(e.evidence.length > 0 ? { evidence: e.evidence.slice(0, 10).join("\n") } : {}),
      },
    };
  }

  /** Queues a trigger under a new dedup key of the page. */
  private async trigger(
    st: PageState,
    root: IncidentRecord,
    rec: IncidentRecord,
    dedupKey: string,
    opts: { summary?: string } = {},
  ): Promise<void> {
    if (st.keys.includes(dedupKey)) return;
    st.keys.push(dedupKey);
    if (!this.o.pagers.configured(st.cluster)) return;
    const out = this.key("out", dedupKey);
    await this.redis
      .multi()
      .hset(out, {
        cluster: st.cluster,
        root: st.root,
        request: JSON.stringify(this.pageRequest(root, rec, dedupKey, opts.summary)),
        desired: "triggered",
      })
      .hsetnx(out, "delivered", "none")
      .hsetnx(out, "attempt", "0")
      .expire(out, STATE_TTL_S)
      .zadd(this.due, this.now(), `d|${dedupKey}`)
      .exec();
    this.kick();
  }

  /** Raises what is wanted of a page (never lowers it: a resolved page stays resolved). */
  private async desire(
    dedupKey: string,
    want: "acknowledged" | "resolved",
    by: string | null,
  ): Promise<void> {
    const out = this.key("out", dedupKey);
    const current = (await this.redis.hget(out, "desired")) as Delivery | null;
    if (!current || RANK[current] >= RANK[want]) return;
    await this.redis
      .multi()
      .hset(out, { desired: want, ...(by ? { by } : {}) })
      .zadd(this.due, this.now(), `d|${dedupKey}`)
      .exec();
    this.kick();
  }

  // ---- timers ----

  private timerMember(st: Pick<PageState, "cluster" | "root">): string {
    return `t|${st.cluster}|${st.root}`;
  }

  /** When the page's next timer is due (snooze end, re-notification, escalation step), or null. */
  private nextDue(st: PageState): number | null {
    if (st.ack || st.resolvedAtMs !== null) return null;
    if (st.snooze) return st.snooze.untilMs;
    const oncall = this.o.inventory.oncall;
    const renotify = parseMs(oncall.renotifyAfter);
    const times: number[] = [];
    if (renotify !== null && !st.renotified) times.push(st.pagedAtMs + renotify);
    const step = (oncall.escalation ?? [])[st.escalated];
    const after = parseMs(step?.after);
    if (after !== null) times.push(st.pagedAtMs + after);
    return times.length > 0 ? Math.min(...times) : null;
  }

  private async schedule(st: PageState): Promise<void> {
    const at = this.nextDue(st);
    if (at === null) await this.redis.zrem(this.due, this.timerMember(st));
    else await this.redis.zadd(this.due, at, this.timerMember(st));
  }

  private async runTimer(cluster: string, root: string): Promise<void> {
    await this.o.store.withClusterLock(cluster, async () => {
      const st = await this.state(root);
      const rec = await this.readIncident(root);
      if (!st || !rec || rec.status !== "open") {
        await this.redis.zrem(this.due, this.timerMember({ cluster, root }));
        return;
      }
      const now = this.now();
      const oncall = this.o.inventory.oncall;
      const title = rec.peakTitle ?? rec.current.title;
      if (st.snooze && !st.ack) {
        if (now < st.snooze.untilMs) return this.schedule(st);
        // The snooze is over and nobody acknowledged: page again, and the timers start over.
        st.snooze = null;
        st.pagedAtMs = now;
        st.renotified = false;
        st.escalated = 0;
        await this.trigger(st, rec, rec, `${st.keys[0] ?? `xenops-${root}`}-s${st.keys.length}`, {
          summary: `${rec.cluster}: still not acknowledged after a snooze: ${title}`,
        });
        await this.say(rec, "⏰", `Snooze ended and nobody acknowledged: ${title}`, oncallParts(oncall));
        if (rec.oncall) {
          const { snoozedBy: _b, snoozedUntil: _u, ...rest } = rec.oncall;
          rec.oncall = rest;
          await this.writeIncident(rec);
          await this.refresh(rec);
        }
      }
      const renotify = parseMs(oncall.renotifyAfter);
      if (!st.ack && renotify !== null && !st.renotified && now >= st.pagedAtMs + renotify) {
        st.renotified = true;
        await this.say(
          rec,
          "🔔",
          `Not acknowledged after ${minutes(renotify)}: ${title}`,
          oncallParts(oncall),
        );
      }
      for (;;) {
        const step = (oncall.escalation ?? [])[st.escalated];
        const after = parseMs(step?.after);
        if (!step || after === null || st.ack || now < st.pagedAtMs + after) break;
        st.escalated += 1;
        await this.say(
          rec,
          "📣",
          `Escalated (step ${st.escalated}): nobody acknowledged in ${minutes(after)}: ${title}`,
          oncallParts(step),
        );
        this.log.warn({ cluster, incident: root, step: st.escalated }, "unacknowledged incident escalated");
      }
      await this.saveState(st);
      await this.schedule(st);
    });
  }

  private async say(rec: IncidentRecord, icon: string, title: string, mention: Inline[] = []): Promise<void> {
    if (!rec.threadTs) return;
    await this.o.notifier.post(
      rec.channel,
      renderFollowUp({ icon, title, ...(mention.length > 0 ? { mention } : {}) }, rec.threadTs),
    );
  }

  private async refresh(rec: IncidentRecord): Promise<void> {
    if (rec.ts)
      await this.o.notifier.update(
        { channel: rec.channel, ts: rec.ts },
        renderIncident(rec, this.o.inventory),
      );
  }

  // ---- delivery ----

  private backoff(attempt: number): number {
    const base = this.o.retry?.baseMs ?? 5_000;
    const max = this.o.retry?.maxMs ?? 300_000;
    return Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  }

  private async deliver(dedupKey: string): Promise<void> {
    const out = this.key("out", dedupKey);
    const member = `d|${dedupKey}`;
    const maxAttempts = this.o.retry?.attempts ?? 8;
    for (;;) {
      const h = await this.redis.hgetall(out);
      const desired = h.desired as Delivery | undefined;
      const delivered = (h.delivered ?? "none") as Delivery;
      if (!desired || !h.cluster || !h.request) {
        await this.redis.zrem(this.due, member);
        return;
      }
      // Nothing (more) to send; a page never delivered needs no resolve.
      if (RANK[delivered] >= RANK[desired] || (delivered === "none" && desired === "resolved")) {
        await this.redis.eval(DONE, 2, this.due, out, member, desired);
        return;
      }
      const action: PageAction =
        delivered === "none" ? "trigger" : desired === "acknowledged" ? "acknowledge" : "resolve";
      const request = { ...(JSON.parse(h.request) as PageRequest), action, by: h.by ?? null };
      let service: string = this.o.pagers.serviceOf(h.cluster) ?? "unknown";
      try {
        const pager = await this.o.pagers.for(h.cluster);
        if (!pager) {
          await this.redis.zrem(this.due, member);
          return;
        }
        service = pager.service;
        await pager.send(request);
        this.o.onPage?.(service, action, "ok");
        this.log.info({ cluster: h.cluster, service, action, dedupKey }, "page delivered");
        await this.redis.hset(out, { delivered: stateAfter(action), attempt: "0" });
      } catch (err) {
        const attempt = Number(h.attempt ?? "0") + 1;
        const retryable = err instanceof PageError ? err.retryable : false;
        const rec = await this.readIncident(h.root ?? "");
        if (retryable && attempt < maxAttempts) {
          this.o.onPage?.(service, action, "retry");
          this.log.warn(
            { err: errorMessage(err), service, action, dedupKey, attempt },
            "page not delivered: retrying",
          );
          await this.redis.hset(out, { attempt: String(attempt) });
          await this.redis.zadd(this.due, this.now() + this.backoff(attempt), member);
          if (attempt === 1 && action === "trigger" && rec)
            await this.say(
              rec,
              "⚠️",
              `${label(service)} did not take the page yet (${errorMessage(err)}); retrying`,
            );
          return;
        }
        this.o.onPage?.(service, action, "failed");
        this.log.error(
          { err: errorMessage(err), service, action, dedupKey, attempt },
          "page could not be delivered",
        );
        if (rec)
          await this.say(
            rec,
            "🚨",
            `Could not ${action} the page at ${label(service)} after ${attempt} attempt${attempt === 1 ? "" : "s"}: ${errorMessage(err)}. ${action === "trigger" ? "On-call was NOT paged there: call them." : "Do it in the service by hand."}`,
            action === "trigger" ? oncallParts(this.o.inventory.oncall) : [],
          );
        // Given up: what the service shows is no longer known; move on (a later resolve is still sent).
        await this.redis.hset(out, { delivered: stateAfter(action), attempt: "0" });
      }
    }
  }

  /** Drains what is due: deliveries and timers. Returns how many items it handled. */
  tick(): Promise<number> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      let handled = 0;
      do {
        this.again = false;
        const items = (await this.redis.eval(
          CLAIM,
          1,
          this.due,
          String(this.now()),
          String(LEASE_MS),
          "50",
        )) as string[] | null;
        for (const m of items ?? []) {
          handled += 1;
          try {
            if (m.startsWith("d|")) await this.deliver(m.slice(2));
            else if (m.startsWith("g|")) await this.runDigest(m.slice(2));
            else if (m.startsWith("t|")) {
              const [, cluster, root] = m.split("|");
              if (cluster && root) await this.runTimer(cluster, root);
            }
          } catch (err) {
            this.log.error(
              { err: errorMessage(err), item: m },
              "on-call item failed; retried after its lease",
            );
          }
        }
        // What these items queued (a delivery after a timer) may be due already.
        if ((items?.length ?? 0) > 0) this.again = true;
      } while (this.again);
      return handled;
    })().finally(() => {
      this.ticking = null;
    });
    return this.ticking;
  }

  private kick(): void {
    if (this.o.autoTick) setImmediate(() => void this.tick().catch(() => {}));
  }

  // ---- daily digest ----

  /** Schedules each cluster's next digest unless one is scheduled already (`oncall.digestAt`). */
  async scheduleDigests(): Promise<void> {
    const at = this.o.inventory.oncall.digestAt;
    if (!at) return;
    for (const c of this.o.inventory.clusters)
      await this.redis.zadd(this.due, "NX", nextDigestAt(this.now(), at), `g|${c.name}`);
  }

  private async runDigest(cluster: string): Promise<void> {
    const at = this.o.inventory.oncall.digestAt;
    const config = this.o.inventory.clusters.find((c) => c.name === cluster);
    const channel = config?.channels[0];
    if (!at || !channel) {
      await this.redis.zrem(this.due, `g|${cluster}`);
      return;
    }
    const now = this.now();
    const since = now - 24 * 3600_000;
    const pages: DigestPage[] = [];
    const roots = await this.redis.zrangebyscore(this.key("pages", cluster), since, now, "WITHSCORES");
    for (let i = 0; i + 1 < roots.length; i += 2) {
      const root = roots[i] as string;
      const [st, rec] = await Promise.all([this.state(root), this.readIncident(root)]);
      if (!st) continue;
      pages.push({
        title: rec ? (rec.peakTitle ?? rec.current.title) : root,
        pagedAt: new Date(Number(roots[i + 1])).toISOString(),
        ack: st.ack,
        snoozes: st.snoozes ?? 0,
        renotified: st.renotified,
        escalated: st.escalated,
        resolvedAt: st.resolvedAtMs === null ? null : new Date(st.resolvedAtMs).toISOString(),
      });
    }
    const open: DigestOpen[] = [];
    for (const id of (await this.redis.smembers(this.o.store.keys.active(cluster))).sort()) {
      const rec = await this.readIncident(id);
      if (rec?.status !== "open" || rec.silenced) continue;
      open.push({
        title: rec.current.title,
        severity: rec.severity,
        openedAt: rec.openedAt,
        ackedBy: rec.oncall?.ackedBy ?? null,
      });
    }
    await this.o.notifier.post(channel, renderDigest(cluster, new Date(since).toISOString(), pages, open));
    this.log.info({ cluster, pages: pages.length, open: open.length }, "on-call digest posted");
    await this.redis.zadd(this.due, nextDigestAt(now, at), `g|${cluster}`);
  }

  /** Drains the due-set every `intervalMs` in this (worker) process. */
  start(intervalMs = 5_000): void {
    if (this.timer) return;
    void this.scheduleDigests().catch((err: unknown) =>
      this.log.warn({ err: errorMessage(err) }, "on-call digests could not be scheduled"),
    );
    this.timer = setInterval(() => void this.tick().catch(() => {}), intervalMs);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking?.catch(() => {});
  }

  // ---- acknowledge / snooze ----

  /** Acknowledges (snoozeMs null) or snoozes an incident's page; the text for the clicker. */
  async acknowledge(
    incidentId: string,
    cluster: string,
    user: string,
    snoozeMs: number | null,
  ): Promise<string> {
    return this.o.store.withClusterLock(cluster, async () => {
      const rec = await this.readIncident(incidentId);
      if (!rec || rec.cluster !== cluster) return "That incident is gone; nothing was done.";
      if (rec.status !== "open") return "That incident is already resolved; nothing to acknowledge.";
      if (rec.oncall?.ackedBy)
        return `${userMention(rec.oncall.ackedBy)} already acknowledged it ${rec.oncall.ackedAt ? `at ${rec.oncall.ackedAt}` : ""}.`;
      const now = this.now();
      const at = new Date(now).toISOString();
      const mark: OncallMark =
        snoozeMs === null
          ? { ackedBy: user, ackedAt: at }
          : { snoozedBy: user, snoozedUntil: new Date(now + snoozeMs).toISOString() };
      rec.oncall = { ...(snoozeMs === null ? {} : rec.oncall), ...mark };
      await this.writeIncident(rec);
      const st = await this.state(rec.id);
      if (st && st.resolvedAtMs === null) {
        if (snoozeMs === null) st.ack = { by: user, at };
        else {
          st.snooze = { by: user, untilMs: now + snoozeMs, count: (st.snooze?.count ?? 0) + 1 };
          st.snoozes = (st.snoozes ?? 0) + 1;
        }
        // The service stops its own escalation either way; a snooze that ends pages anew.
        for (const k of st.keys) await this.desire(k, "acknowledged", user);
        await this.saveState(st);
        await this.schedule(st);
      }
      await this.refresh(rec);
      // The clicker's own mention (names in titles are escaped).
      await this.say(
        rec,
        snoozeMs === null ? "✋" : "💤",
        snoozeMs === null
          ? "acknowledged: on-call is not paged again for this incident"
          : `snoozed it for ${minutes(snoozeMs)}: on-call is paged again then if nobody acknowledged it`,
        [userPart(user)],
      );
      this.o.audit?.({
        kind: "action",
        actor: user,
        cluster,
        command: snoozeMs === null ? "acknowledge incident" : `snooze incident ${minutes(snoozeMs)}`,
        parameters: {
          incident: rec.id,
          title: rec.peakTitle ?? rec.current.title,
          ...(mark.snoozedUntil ? { until: mark.snoozedUntil } : {}),
        },
        outcome: "ok",
      });
      this.log.info(
        { cluster, incident: rec.id, user, snoozeMs },
        snoozeMs === null ? "incident acknowledged" : "incident snoozed",
      );
      return snoozeMs === null
        ? "Acknowledged: nobody else is paged for this incident."
        : `Snoozed for ${minutes(snoozeMs)}.`;
    });
  }

  /** The Acknowledge / Snooze buttons. Anyone with a role here may acknowledge. */
  actionHandler(): ActionHandler {
    return {
      prefix: ONCALL_ACTION_PREFIX,
      handle: async (request) => {
        let value: { i: string; c: string; a: string; h?: number };
        try {
          const v = JSON.parse(request.value) as Record<string, unknown>;
          if (
            v.v !== 1 ||
            typeof v.i !== "string" ||
            !/^[A-Za-z0-9_-]{8,32}$/.test(v.i) ||
            typeof v.c !== "string" ||
            (v.a !== "ack" && !(v.a === "snooze" && (v.h === 1 || v.h === 4)))
          )
            throw new Error("invalid");
          value = v as typeof value;
        } catch {
          return { text: "That button's data is not valid; nothing was done." };
        }
        if (!this.o.inventory.clusters.some((c) => c.name === value.c))
          return { text: `Unknown cluster "${value.c}"; nothing was done.` };
        if (!(await this.o.authorizer.has(request.userId, "viewer")))
          return { text: "Acknowledging incidents needs the *viewer* role, which you do not have." };
        const text = await this.acknowledge(
          value.i,
          value.c,
          request.userId,
          value.a === "snooze" ? (value.h ?? 1) * 3600_000 : null,
        );
        return { text };
      },
    };
  }
}

function stateAfter(action: PageAction): Delivery {
  return action === "trigger" ? "triggered" : action === "acknowledge" ? "acknowledged" : "resolved";
}

function label(service: string): string {
  return service === "pagerduty" ? "PagerDuty" : service === "opsgenie" ? "Opsgenie" : "The paging service";
}
