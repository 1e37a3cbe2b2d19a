/**
 * Alertmanager as an event source: `POST /xenops/alertmanager` on the event webhook's server, with
 * Alertmanager's webhook JSON (version 4: `status`, `alerts[]` with `status` firing|resolved,
 * `labels`, `annotations`, `fingerprint`, `startsAt`, `endsAt`) and a bearer token or basic
 * authentication from the inventory (`webhook.alertmanager`).
 *
 * Each alert maps by its labels to the incident xenops itself would open: `cluster` (required, a
 * cluster of the inventory), `node` or `instance` (a node's name or host, port dropped), `resource`
 * (a DRBD resource or guest). So an alert about a node that xenops already sees dead goes into that
 * incident's thread; one it does not see opens its own, with the same coalescing, storm limits and
 * paging. Alertmanager repeats notifications: an alert is told once per firing (its fingerprint and
 * `startsAt`) and once when it resolves. A resolved alert resolves an incident only when alerts alone
 * opened it (nothing xenops observes holds it open) and none of them still fires; otherwise its
 * resolution is said in the thread.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Redis } from "ioredis";
import { z } from "zod";
import { compareText } from "../compare-text";
import type { AlertmanagerConfig, ClusterConfig, InventoryConfig } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import { errorMessage } from "../errors";
import type { IncidentManager } from "../events/incidents";
import type { EventPipeline } from "../events/pipeline";
import type { EventStore } from "../events/store";
import { type ClusterEvent, fingerprint, type Severity } from "../events/types";
import type { Logger } from "../log";

export const ALERTMANAGER_PATH = "/xenops/alertmanager";

const Labels = z.record(z.string().max(200), z.string().max(2_000));
export const AlertmanagerAlert = z.object({
  status: z.enum(["firing", "resolved"]),
  labels: Labels,
  annotations: Labels.default({}),
  startsAt: z.string().max(64),
  endsAt: z.string().max(64).optional(),
  generatorURL: z.string().max(2_000).optional(),
  fingerprint: z.string().regex(/^[0-9a-zA-Z]{1,64}$/),
});
export type AlertmanagerAlert = z.infer<typeof AlertmanagerAlert>;

export const AlertmanagerBody = z.object({
  version: z.literal("4"),
  status: z.enum(["firing", "resolved"]),
  receiver: z.string().max(200).optional(),
  groupKey: z.string().max(2_000).optional(),
  externalURL: z.string().max(2_000).optional(),
  alerts: z.array(AlertmanagerAlert).max(200),
});
export type AlertmanagerBody = z.infer<typeof AlertmanagerBody>;

export type AlertmanagerCredentials =
  | { bearerToken: string }
  | { basic: { username: string; password: string } };

export async function resolveAlertmanagerCredentials(
  config: AlertmanagerConfig,
  env: SecretEnv,
): Promise<AlertmanagerCredentials> {
  if ("bearerToken" in config)
    return {
      bearerToken: (await resolveSecret(config.bearerToken, env, "alertmanager bearer token")).trim(),
    };
  return {
    basic: {
      username: config.basic.username,
      password: (await resolveSecret(config.basic.password, env, "alertmanager password")).trim(),
    },
  };
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the Authorization header carries the configured credentials. */
export function alertmanagerAuthorized(header: string | undefined, creds: AlertmanagerCredentials): boolean {
  if (!header) return false;
  if ("bearerToken" in creds) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    return m?.[1] !== undefined && same(m[1], creds.bearerToken);
  }
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!m?.[1]) return false;
  return same(
    Buffer.from(m[1], "base64").toString("utf8"),
    `${creds.basic.username}:${creds.basic.password}`,
  );
}

function severityOf(labels: Record<string, string>): Severity {
  const s = (labels.severity ?? "").toLowerCase();
  if (["critical", "page", "p1", "emergency", "fatal"].includes(s)) return "critical";
  if (["warning", "error", "major", "p2", "p3"].includes(s)) return "warning";
  return "info";
}

/** The node an alert names: `node`, else `instance` (a node's name or host, port and domain dropped). */
function nodeOf(cluster: ClusterConfig, labels: Record<string, string>): string | null {
  for (const raw of [labels.node, labels.instance]) {
    if (!raw) continue;
    const host = raw.replace(/^\[?([^\]]*?)\]?(:\d+)?$/, "$1");
    const found =
      cluster.nodes.find((n) => n.name === host || n.host === host) ??
      cluster.nodes.find((n) => n.name === host.split(".")[0]);
    if (found) return found.name;
  }
  return null;
}

/** The event an alert means, or why it is ignored. */
export function alertEvent(
  inventory: InventoryConfig,
  alert: AlertmanagerAlert,
  at: string,
): { event: ClusterEvent } | { ignored: string } {
  const cluster = inventory.clusters.find((c) => c.name === alert.labels.cluster);
  if (!cluster)
    return { ignored: `no cluster label naming a cluster here (${alert.labels.cluster ?? "none"})` };
  const node = nodeOf(cluster, alert.labels);
  const resource = alert.labels.resource ?? alert.labels.guest ?? null;
  const drbd = resource ? cluster.drbd.find((r) => r.name === resource) : undefined;
  const guest = resource ? cluster.guests.find((g) => g.name === resource) : undefined;
  if (resource && !drbd && !guest) return { ignored: `unknown resource ${resource} in ${cluster.name}` };
  const name = alert.labels.alertname ?? "alert";
  const about = alert.annotations.summary ?? alert.annotations.description ?? "";
  const where = [drbd ? `DRBD ${resource}` : guest ? `guest ${resource}` : null, node]
    .filter(Boolean)
    .join(" on ");
  return {
    event: {
      cluster: cluster.name,
      kind: "alert",
      // The family and subject xenops uses for the same thing, so both land in one incident.
      family: drbd ? "link" : guest ? "guest" : "node",
      severity: severityOf(alert.labels),
      subject: drbd || guest ? (resource as string) : null,
      node: drbd || guest ? null : node,
      relatedNode: node,
      title: `Alertmanager: ${name}${where ? ` (${where})` : ""}${about ? `: ${about}` : ""}`,
      ...(alert.annotations.description && alert.annotations.summary
        ? { detail: alert.annotations.description.slice(0, 1_000) }
        : {}),
      evidence: [
        `alert ${name} ${alert.status} since ${alert.startsAt}`,
        ...Object.entries(alert.labels)
          .sort(([a], [b]) => compareText(a, b))
          .map(([k, v]) => `${k}=${v}`),
        ...(alert.generatorURL ? [`source: ${alert.generatorURL}`] : []),
      ].slice(0, 30),
      source: "webhook",
      at,
    },
  };
}

export interface AlertmanagerDeps {
  inventory: InventoryConfig;
  credentials: AlertmanagerCredentials;
  pipeline: EventPipeline;
  incidents: IncidentManager;
  store: EventStore;
  redis: Redis;
  /** Key prefix (the queue prefix). */
  prefix: string;
  logger: Logger;
  now?: () => number;
}

/** What the webhook server lends the route: its body reader (size limit) and its refusal. */
export interface RouteTools {
  readBody(req: IncomingMessage): Promise<string | null>;
  refuse(req: IncomingMessage, res: ServerResponse, status: number, text: string): void;
  answer(res: ServerResponse, status: number, text: string): void;
}

export type AlertmanagerRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  tools: RouteTools,
) => Promise<void>;

const SEEN_TTL_S = 14 * 24 * 3600;

export class AlertmanagerSource {
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly d: AlertmanagerDeps) {
    this.log = d.logger.child({ component: "alertmanager" });
    this.now = d.now ?? Date.now;
  }

  private key(...parts: string[]): string {
    return [`${this.d.prefix}:xenops:am`, ...parts].join(":");
  }

  /** The HTTP route: authentication first, then the body (with the server's size limit). */
  route(): AlertmanagerRoute {
    return async (req, res, tools) => {
      const auth = req.headers.authorization;
      if (!alertmanagerAuthorized(Array.isArray(auth) ? auth[0] : auth, this.d.credentials)) {
        this.log.warn({ remote: req.socket.remoteAddress }, "alertmanager request refused: bad credentials");
        return tools.refuse(req, res, 401, "bad credentials");
      }
      const raw = await tools.readBody(req);
      if (raw === null) return tools.refuse(req, res, 413, "body too large");
      let body: AlertmanagerBody;
      try {
        body = AlertmanagerBody.parse(JSON.parse(raw));
      } catch (err) {
        return tools.answer(res, 400, `invalid body: ${errorMessage(err).slice(0, 300)}`);
      }
      const outcome = await this.receive(body);
      tools.answer(res, 200, `told ${outcome.told}, ignored ${outcome.ignored.length}`);
    };
  }

  /** Tells the incidents what changed in these alerts. */
  async receive(body: AlertmanagerBody): Promise<{ told: number; ignored: string[] }> {
    const at = new Date(this.now()).toISOString();
    const ignored: string[] = [];
    let told = 0;
    for (const alert of body.alerts) {
      const mapped = alertEvent(this.d.inventory, alert, at);
      if ("ignored" in mapped) {
        ignored.push(`${alert.fingerprint}: ${mapped.ignored}`);
        continue;
      }
      const state = `${alert.status}|${alert.startsAt}`;
      // Alertmanager repeats itself (repeat_interval, group changes): each change is told once.
      const previous = await this.d.redis.set(
        this.key("seen", alert.fingerprint),
        state,
        "EX",
        SEEN_TTL_S,
        "GET",
      );
      if (previous === state) continue;
      try {
        if (alert.status === "firing") await this.firing(mapped.event, alert);
        else if (previous !== null) await this.resolved(mapped.event, alert);
        told += 1;
      } catch (err) {
        // Told again by Alertmanager's next notification.
        await this.d.redis.del(this.key("seen", alert.fingerprint));
        this.log.error({ err: errorMessage(err), alert: alert.fingerprint }, "alert could not be processed");
      }
    }
    if (ignored.length > 0) this.log.warn({ ignored }, "alertmanager alerts ignored");
    return { told, ignored };
  }

  private async firing(event: ClusterEvent, alert: AlertmanagerAlert): Promise<void> {
    const key = fingerprint(event);
    await this.d.redis.sadd(this.key("firing", key), alert.fingerprint);
    await this.d.redis.expire(this.key("firing", key), SEEN_TTL_S);
    await this.d.pipeline.report(event, undefined, event.cluster);
    this.log.info({ cluster: event.cluster, key, alert: alert.fingerprint }, "alert firing");
  }

  private async resolved(event: ClusterEvent, alert: AlertmanagerAlert): Promise<void> {
    const key = fingerprint(event);
    await this.d.redis.srem(this.key("firing", key), alert.fingerprint);
    const still = await this.d.redis.scard(this.key("firing", key));
    const title = event.title.replace(/^Alertmanager: /, "");
    await this.d.store.withClusterLock(event.cluster, async () => {
      const rec = await this.d.incidents.byKey(key);
      if (rec?.status !== "open") return;
      if (!rec.condition && still === 0)
        await this.d.incidents.apply({
          op: "resolve",
          key,
          title: `Alertmanager: ${title} resolved`,
          evidence: [`alert ${alert.labels.alertname ?? "alert"} resolved at ${alert.endsAt ?? "?"}`],
        });
      else
        await this.d.incidents.happen({
          ...event,
          severity: "info",
          title: `Alertmanager says resolved: ${title}`,
          evidence: [`alert ${alert.labels.alertname ?? "alert"} resolved at ${alert.endsAt ?? "?"}`],
        });
    });
    this.log.info({ cluster: event.cluster, key, alert: alert.fingerprint }, "alert resolved");
  }
}
