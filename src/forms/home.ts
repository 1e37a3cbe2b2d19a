/**
 * The bot's App Home tab: each cluster's state (nodes, guests, DRBD, open incidents with the same
 * buttons as their messages, running jobs) from stored state only: the events monitor's facts, the
 * incident records and the job list, all in Redis. Opening the tab never reaches a node over SSH.
 * Published when a user opens the tab and again when something was posted, at most once per user
 * every `minIntervalMs` (Slack rate-limits views.publish per user).
 */

import type { JobSummary } from "../chat/job-admin";
import type { ButtonElement } from "../chat/types";
import type { ClusterConfig, InventoryConfig } from "../config/schema";
import type { Facts } from "../events/facts";
import type { IncidentRecord } from "../events/incidents";
import { actionButtons } from "../events/render";
import type { Logger } from "../log";

type Json = Record<string, unknown>;

export interface HomeSource {
  inventory: InventoryConfig;
  loadFacts(cluster: string): Promise<Facts | null>;
  activeIncidents(cluster: string): Promise<IncidentRecord[]>;
  /** Running and queued jobs of these clusters. */
  jobs(clusters: readonly string[]): Promise<JobSummary[]>;
}

/** Where a Home button's click belongs: the incident's channel and message (its thread). */
export const HOME_INCIDENT_BLOCK = "xenops-home-inc";

export function homeBlockId(channel: string, ts: string | null, i: number): string {
  return `${HOME_INCIDENT_BLOCK}:${channel}:${ts ?? "-"}:${i}`;
}

/** The channel and message a Home button's block id names; null for other blocks. */
export function parseHomeBlockId(blockId: string): { channel: string; ts: string | null } | null {
  const m = /^xenops-home-inc:([CGD][A-Z0-9]{2,}):(\d+\.\d+|-):\d+$/.exec(blockId);
  if (!m) return null;
  return { channel: m[1] as string, ts: m[2] === "-" ? null : (m[2] as string) };
}

const ICON = { critical: "🔴", warning: "🟠", info: "🔵" } as const;
const mrkdwn = (text: string): Json => ({ type: "mrkdwn", text: text.slice(0, 2_900) });
const section = (text: string): Json => ({ type: "section", text: mrkdwn(text) });
const code = (lines: string[]): string => `\`\`\`\n${lines.join("\n").slice(0, 2_800)}\n\`\`\``;

function nodeLines(cluster: ClusterConfig, facts: Facts | null): string[] {
  return cluster.nodes.map((n) => {
    const f = facts?.nodes[n.name];
    if (!f) return `${n.name}: unknown (not seen yet)`;
    const reach = f.reachable ? "reachable" : `NOT answering${f.error ? ` (${f.error.slice(0, 60)})` : ""}`;
    const ha = f.ha ? `, HA ${f.ha.status} (${f.ha.stack} on ${f.ha.observer})` : "";
    const guests =
      f.guests === null
        ? "guests unknown"
        : f.guests.length
          ? `runs ${f.guests.join(", ")}`
          : "runs no guest";
    const mig = f.migrating.length ? `, migrating ${f.migrating.join(", ")}` : "";
    return `${n.name}: ${reach}${ha}; ${guests}${mig}`;
  });
}

function drbdLines(cluster: ClusterConfig, facts: Facts | null): string[] {
  const out: string[] = [];
  for (const r of cluster.drbd) {
    for (const n of r.nodes ?? cluster.nodes.map((x) => x.name)) {
      const side = facts?.nodes[n]?.drbd?.[r.name];
      if (!side) {
        out.push(`${r.name} on ${n}: unknown`);
        continue;
      }
      const sync = side.syncPercent !== null ? ` sync ${side.syncPercent}%` : "";
      const oos = side.oosKiB ? ` oos ${side.oosKiB} KiB` : "";
      out.push(
        `${r.name} on ${n}: ${side.conn} ${side.role}/${side.peerRole} ${side.disk}/${side.peerDisk}${sync}${oos}`,
      );
    }
  }
  return out;
}

/** The Home view of these clusters. */
export async function buildHomeView(source: HomeSource, clusters?: readonly ClusterConfig[]): Promise<Json> {
  const list = clusters ?? source.inventory.clusters;
  const blocks: Json[] = [
    { type: "header", text: { type: "plain_text", text: "xenops: cluster state" } },
    {
      type: "context",
      elements: [
        mrkdwn("From the monitor's last look (no node is asked when this opens). `/xen` opens the form."),
      ],
    },
  ];
  const jobs = await source.jobs(list.map((c) => c.name)).catch(() => null);
  for (const cluster of list) {
    const [facts, incidents] = await Promise.all([
      source.loadFacts(cluster.name).catch(() => null),
      source.activeIncidents(cluster.name).catch(() => null),
    ]);
    blocks.push({ type: "divider" });
    blocks.push(section(`*${cluster.name}*${facts ? ` (seen ${facts.at})` : " (not seen yet)"}`));
    blocks.push(section(`*Nodes*\n${code(nodeLines(cluster, facts))}`));
    const drbd = drbdLines(cluster, facts);
    if (drbd.length) blocks.push(section(`*DRBD*\n${code(drbd)}`));
    const open = (incidents ?? []).filter((i) => i.status === "open");
    if (incidents === null) blocks.push(section("*Incidents*: could not be read."));
    else if (open.length === 0) blocks.push(section("*Incidents*: none open."));
    else {
      blocks.push(section(`*Incidents* (${open.length} open)`));
      open.slice(0, 10).forEach((inc, i) => {
        blocks.push(section(`${ICON[inc.severity]} ${inc.current.title}`));
        const actions = inc.current.actions ?? [];
        if (actions.length > 0) {
          const elements: ButtonElement[] = actionButtons(inc.id, cluster.name, actions);
          blocks.push({
            type: "actions",
            block_id: homeBlockId(inc.channel, inc.threadTs ?? inc.ts, i),
            elements,
          });
        }
      });
    }
    const mine = jobs?.filter(
      (j) => j.cluster === cluster.name && (j.state === "running" || j.state === "queued"),
    );
    if (!mine) blocks.push(section("*Jobs*: could not be read."));
    else if (mine.length === 0) blocks.push(section("*Jobs*: none running."));
    else
      blocks.push(
        section(
          `*Jobs*\n${mine
            .slice(0, 15)
            .map(
              (j) => `job ${j.number ?? "?"} ${j.state}: ${j.title}${j.progress ? ` (${j.progress})` : ""}`,
            )
            .join("\n")}`,
        ),
      );
  }
  // Slack allows 100 blocks in a view.
  return { type: "home", blocks: blocks.slice(0, 100) };
}

const NO_ROLE_VIEW: Json = {
  type: "home",
  blocks: [section("xenops shows cluster state to its viewers only; ask an admin for the viewer role.")],
};

const NO_ROLE_JSON = JSON.stringify(NO_ROLE_VIEW);

export interface HomeTabOptions {
  source: HomeSource;
  publish(userId: string, view: Json): Promise<void>;
  /** Whether the user may see cluster state (the viewer role, by Slack user ID and groups). */
  mayView(userId: string): Promise<boolean>;
  logger: Logger;
  /** At most one publish per user this often (default 5 s). */
  minIntervalMs?: number;
  /**
   * How often the stored state is compared with what each viewer was shown (default 5 s). The monitor,
   * the incidents and the jobs may live in other processes: their changes are seen in Redis.
   */
  refreshMs?: number;
  /** Users who opened the tab this long ago are still refreshed (default 1 h). */
  viewerTtlMs?: number;
  now?: () => number;
}

/** Publishes the Home tab: when opened, and again when the stored state it shows changed. */
export class HomeTab {
  private readonly viewers = new Map<string, number>();
  private readonly lastPublish = new Map<string, number>();
  /** What each viewer was last shown (JSON), so an unchanged state is not published again. */
  private readonly shown = new Map<string, string>();
  /** Whether each viewer had the viewer role at the last publish. */
  private readonly allowed = new Map<string, boolean>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly log: Logger;
  private ticker: NodeJS.Timeout | null = null;
  private ticking = false;
  private tickRun: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: HomeTabOptions) {
    this.log = opts.logger.child({ component: "home" });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    if (this.ticker || this.stopped) return;
    this.ticker = setInterval(() => void this.tick(), this.opts.refreshMs ?? 5_000);
    this.ticker.unref();
  }

  /** A user opened the Home tab: publish (at once unless published very recently). */
  opened(userId: string): void {
    this.viewers.set(userId, this.now());
    this.shown.delete(userId);
    this.schedule(userId);
  }

  /** Something changed in this process (a message posted or edited): refresh now, debounced. */
  poke(): Promise<void> {
    return this.tick();
  }

  /** Resolves once no publish is pending or running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.ticking || this.timers.size > 0 || this.running.size > 0) {
      await Promise.all([...this.running.values(), this.tickRun]);
      if (this.timers.size > 0) await new Promise((r) => setTimeout(r, 10));
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private tick(): Promise<void> {
    if (this.ticking || this.stopped || this.viewers.size === 0) return this.tickRun;
    this.ticking = true;
    this.tickRun = this.compare();
    return this.tickRun;
  }

  /** Compares the stored state with what each viewer was shown; publishes where it differs. */
  private async compare(): Promise<void> {
    try {
      const ttl = this.opts.viewerTtlMs ?? 3_600_000;
      for (const [user, at] of this.viewers) if (this.now() - at > ttl) this.viewers.delete(user);
      const json = JSON.stringify(await buildHomeView(this.opts.source));
      for (const user of this.viewers.keys()) {
        const expected = this.allowed.get(user) === false ? NO_ROLE_JSON : json;
        if (this.shown.get(user) !== expected) this.schedule(user);
      }
    } catch (err) {
      this.log.warn({ err }, "home tab refresh failed");
    } finally {
      this.ticking = false;
    }
  }

  private schedule(userId: string): void {
    if (this.stopped || this.timers.has(userId)) return;
    const min = this.opts.minIntervalMs ?? 5_000;
    const wait = Math.max(0, (this.lastPublish.get(userId) ?? Number.NEGATIVE_INFINITY) + min - this.now());
    const timer = setTimeout(() => {
      this.timers.delete(userId);
      this.publishNow(userId);
    }, wait);
    timer.unref();
    this.timers.set(userId, timer);
  }

  private publishNow(userId: string): void {
    if (this.running.has(userId)) {
      // One publish per user at a time; what changed meanwhile is picked up by the next one.
      this.schedule(userId);
      return;
    }
    const work = this.opts
      .mayView(userId)
      .then((ok) => {
        this.allowed.set(userId, ok);
        return ok ? buildHomeView(this.opts.source) : NO_ROLE_VIEW;
      })
      .then(async (view) => {
        const json = JSON.stringify(view);
        if (this.shown.get(userId) === json) return;
        this.lastPublish.set(userId, this.now());
        await this.opts.publish(userId, view);
        this.shown.set(userId, json);
      })
      .catch((err: unknown) => this.log.warn({ err, user: userId }, "home tab publish failed"))
      .finally(() => this.running.delete(userId));
    this.running.set(userId, work);
  }
}
