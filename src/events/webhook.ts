/**
 * The HTTP endpoint for node-side hooks (contrib/drbd/xenops-drbd-handler.sh, contrib/ha/xenops-alert.sh):
 *
 *   POST /xenops/event
 *   X-Xenops-Timestamp: <unix seconds>
 *   X-Xenops-Cluster: lab
 *   X-Xenops-Node: ics1
 *   X-Xenops-Signature: sha256=<hex HMAC-SHA256(the node's secret, "<timestamp>.<body>")>
 *   {"cluster":"lab","node":"ics1","source":"drbd","event":"split-brain","resource":"internet",...}
 *
 * Each node has its own secret (`clusters[].nodes[].webhookSecret`) and may speak only for itself: the
 * body names the node of the headers, its DRBD resources are ones the inventory puts on it, its DRBD peers
 * hold them too, and it never reports its own fencing. Nodes without a secret of their own use the shared
 * `webhook.secret` (the node headers are then optional: old scripts).
 *
 * Checked in this order, the body read only after the headers pass: malformed headers, an unknown node or
 * a timestamp further than `maxSkewSeconds` from now (401); a declared or actual body over 16 KiB (413, the
 * rest is not read); a bad signature (401); the same signature twice (409, replay: each accepted signature
 * is remembered in Redis for twice the skew window, so any replay within the window in which the timestamp
 * is valid is caught); a malformed body (400); a node speaking for another node, an unknown resource, one
 * the node does not hold, a self-reported fence (422). The secret is never logged or echoed.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import { z } from "zod";
import { type ClusterConfig, type InventoryConfig, Name } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import { ALERTMANAGER_PATH, type AlertmanagerRoute } from "../paging/alertmanager";
import type { Facts } from "./facts";
import type { EventPipeline } from "./pipeline";
import type { EventKeys } from "./store";
import type { ClusterEvent } from "./types";

export const WEBHOOK_PATH = "/xenops/event";
const MAX_BODY = 16 * 1024;

const Detail = z.string().max(500);
export const WebhookBody = z
  .object({
    cluster: Name,
    node: Name,
    source: z.enum(["drbd", "ha"]),
    /** DRBD: the handler name; HA: the alert kind (node, fencing, resource) or heartbeat's start/stop. */
    event: z.string().regex(/^[a-z][a-z0-9-]{0,40}$/),
    resource: Name.optional(),
    /** DRBD: the peer (DRBD_PEER / DRBD_PEERS); HA: the node the alert is about. */
    peer: Name.optional(),
    /** Free-form fields the script saw (DRBD_* / CRM_alert_* variables), shown as evidence. */
    details: z.record(z.string().regex(/^[A-Za-z0-9_]{1,40}$/), Detail).optional(),
  })
  .strict();
export type WebhookBody = z.infer<typeof WebhookBody>;

/** The signature a client must send for `body` at `timestamp` (seconds). */
export function signWebhook(secret: string, timestamp: number | string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export type VerifyResult = { ok: true } | { ok: false; status: 401 | 409; reason: string };

const SIGNATURE = /^sha256=[0-9a-f]{64}$/;

/** The headers alone: well formed and fresh. Checked before a byte of the body is read. */
export function checkWebhookHeaders(
  headers: { timestamp: string | undefined; signature: string | undefined },
  opts: { maxSkewSeconds: number; nowMs: number },
): VerifyResult {
  const { timestamp, signature } = headers;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !signature || !SIGNATURE.test(signature))
    return { ok: false, status: 401, reason: "missing or malformed signature headers" };
  const skew = Math.abs(opts.nowMs / 1000 - Number(timestamp));
  if (skew > opts.maxSkewSeconds)
    return { ok: false, status: 401, reason: `stale request (${Math.round(skew)} s off)` };
  return { ok: true };
}

/** Checks signature and freshness; remembers the signature (replay guard) when both are fine. */
export async function verifyWebhook(
  opts: { secret: string; maxSkewSeconds: number; redis: Redis; keys: EventKeys; nowMs: number },
  headers: { timestamp: string | undefined; signature: string | undefined },
  body: string,
): Promise<VerifyResult> {
  const fresh = checkWebhookHeaders(headers, opts);
  if (!fresh.ok) return fresh;
  const timestamp = headers.timestamp as string;
  const signature = headers.signature as string;
  const expected = Buffer.from(signWebhook(opts.secret, timestamp, body));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, status: 401, reason: "bad signature" };
  const first = await opts.redis.set(
    opts.keys.nonce(signature.slice(7, 71)),
    "1",
    "EX",
    opts.maxSkewSeconds * 2,
    "NX",
  );
  if (first !== "OK") return { ok: false, status: 409, reason: "replayed request" };
  return { ok: true };
}

/** Webhook keys: one per node (`cluster/node`), and the shared one for nodes without their own. */
export interface WebhookSecrets {
  shared: string | null;
  nodes: ReadonlyMap<string, string>;
}

const nodeKey = (cluster: string, node: string) => `${cluster}/${node}`;

/** Resolves the webhook's keys; warns when nodes fall back to the shared one. */
export async function resolveWebhookSecrets(
  inventory: InventoryConfig,
  env: SecretEnv,
  logger: Logger,
): Promise<WebhookSecrets> {
  const nodes = new Map<string, string>();
  const shareOnly: string[] = [];
  for (const c of inventory.clusters)
    for (const n of c.nodes) {
      if (n.webhookSecret) {
        const what = `${c.name}/${n.name} webhookSecret`;
        nodes.set(nodeKey(c.name, n.name), (await resolveSecret(n.webhookSecret, env, what)).trim());
      } else shareOnly.push(nodeKey(c.name, n.name));
    }
  const ref = inventory.webhook?.secret;
  const shared = ref ? (await resolveSecret(ref, env, "webhook secret")).trim() : null;
  if (shared !== null && shareOnly.length > 0)
    logger.warn(
      { component: "webhook", nodes: shareOnly },
      "webhook: nodes without their own webhookSecret use the shared secret (any of them can speak for the others)",
    );
  if (shared === null && shareOnly.length > 0)
    logger.warn(
      { component: "webhook", nodes: shareOnly },
      "webhook: nodes without a webhook secret cannot report",
    );
  return { shared, nodes };
}

/** The nodes holding a DRBD resource: as declared, else every node of the cluster. */
function holders(cluster: ClusterConfig, resource: string): Set<string> | null {
  const r = cluster.drbd.find((d) => d.name === resource);
  if (!r) return null;
  return new Set(r.nodes ?? cluster.nodes.map((n) => n.name));
}

/**
 * What a node may say, per the inventory: only for itself, about DRBD resources it holds (HA hooks may
 * also name a guest whose disks it holds), with DRBD peers that hold them too, and never that it fenced
 * itself. Null when allowed, else the reason (422).
 */
export function authorizeWebhook(inventory: InventoryConfig, body: WebhookBody): string | null {
  const cluster = inventory.clusters.find((c) => c.name === body.cluster);
  const nodes = new Set(cluster?.nodes.map((n) => n.name) ?? []);
  if (!cluster || !nodes.has(body.node) || (body.peer && !nodes.has(body.peer)))
    return "unknown cluster or node";
  const n = body.node;
  if (body.resource) {
    const held = holders(cluster, body.resource);
    const guest = cluster.guests.find((g) => g.name === body.resource);
    if (held) {
      if (!held.has(n)) return `${n} does not hold DRBD resource ${body.resource}`;
      if (body.source === "drbd" && body.peer && !held.has(body.peer))
        return `${body.peer} does not hold DRBD resource ${body.resource}`;
    } else if (body.source === "ha" && guest) {
      const disks = guest.drbd.map((d) => holders(cluster, d));
      if (disks.some((h) => !h?.has(n))) return `${n} does not hold the disks of guest ${body.resource}`;
    } else return `unknown resource ${body.resource}`;
  }
  if (body.source === "drbd" && body.peer === n) return `${n} named itself as its DRBD peer`;
  // A node that says it was fenced is up and talking: such a report can only be false.
  if (body.source === "ha" && body.event === "fencing" && (body.peer ?? n) === n)
    return `${n} cannot report its own fencing`;
  return null;
}

function ev(
  body: WebhookBody,
  e: Omit<ClusterEvent, "cluster" | "source" | "at" | "evidence">,
  at: string,
): ClusterEvent {
  const details = Object.entries(body.details ?? {}).map(([k, v]) => `${k}=${v}`);
  return {
    cluster: body.cluster,
    source: "webhook",
    at,
    evidence: [
      `${body.source} hook on ${body.node}: ${body.event}${body.resource ? ` ${body.resource}` : ""}${body.peer ? ` peer ${body.peer}` : ""}`,
      ...details,
    ],
    ...e,
  };
}

/** What a hook means: an event for the pipeline, and the facts it asserts. Null: nothing to say (a poll will look). */
export function interpretWebhook(
  body: WebhookBody,
  at: string,
): { event: ClusterEvent | null; mutate?: (f: Facts) => Facts } {
  const r = body.resource ?? null;
  const n = body.node;
  if (body.source === "drbd") {
    switch (body.event) {
      case "split-brain":
        if (!r) return { event: null };
        return {
          event: ev(
            body,
            {
              kind: "split_brain",
              family: "link",
              severity: "critical",
              subject: r,
              node: null,
              relatedNode: null,
              title: `DRBD on ${n} detected a split brain of ${r} it could not resolve`,
            },
            at,
          ),
          mutate: (f) => {
            f.memory.splitBrainReports[r] = { node: n, at };
            return f;
          },
        };
      case "pri-lost-after-sb":
        if (!r) return { event: null };
        return {
          event: ev(
            body,
            {
              kind: "split_brain_auto_resolved",
              family: "link",
              severity: "critical",
              subject: r,
              node: null,
              title: `DRBD's after-sb policy DISCARDED ${n}'s data of ${r} (it was Primary: pri-lost-after-sb)`,
            },
            at,
          ),
        };
      case "fence-peer":
        return {
          event: ev(
            body,
            {
              kind: "drbd_handler",
              family: "link",
              severity: "warning",
              subject: r,
              node: null,
              relatedNode: body.peer ?? null,
              title: `DRBD on ${n} asked to fence its peer${body.peer ? ` ${body.peer}` : ""}${r ? ` for ${r}` : ""} (fence-peer)`,
            },
            at,
          ),
        };
      case "before-resync-target":
        return {
          event: ev(
            body,
            {
              kind: "resync_started",
              family: "resync",
              severity: "info",
              subject: r,
              node: null,
              relatedNode: n,
              title: `Resync of ${r ?? "a resource"} onto ${n} is starting`,
            },
            at,
          ),
        };
      case "after-resync-target":
        return {
          event: ev(
            body,
            {
              kind: "resync_finished",
              family: "resync",
              severity: "info",
              subject: r,
              node: null,
              relatedNode: n,
              title: `Resync of ${r ?? "a resource"} onto ${n} finished`,
            },
            at,
          ),
        };
      default:
        return {
          event: ev(
            body,
            {
              kind: "drbd_handler",
              family: "link",
              severity: "warning",
              subject: r,
              node: null,
              relatedNode: n,
              title: `DRBD handler ${body.event} ran on ${n}${r ? ` for ${r}` : ""}`,
            },
            at,
          ),
        };
    }
  }
  // HA: Pacemaker alerts (node, fencing, resource) or heartbeat resource-script calls (start/stop).
  const target = body.peer ?? n;
  const desc = body.details?.CRM_alert_desc ?? body.details?.desc ?? "";
  switch (body.event) {
    case "node": {
      const lost = /lost|offline|dead/i.test(desc);
      const member = /member|online|active/i.test(desc);
      if (!lost && !member) return { event: null };
      return {
        event: lost
          ? ev(
              body,
              {
                kind: "ha_alert",
                family: "node",
                severity: "warning",
                subject: null,
                node: target,
                title: `The HA stack on ${n} reports ${target} lost`,
              },
              at,
            )
          : null,
        mutate: (f) => {
          const node = f.nodes[target];
          if (node) node.ha = { status: lost ? "offline" : "online", observer: n, stack: "pacemaker" };
          return f;
        },
      };
    }
    case "fencing": {
      const rc = body.details?.CRM_alert_rc ?? body.details?.rc ?? "";
      const ok = rc === "0";
      return {
        event: ev(
          body,
          {
            kind: ok ? "fence_succeeded" : "fence_failed",
            family: "node",
            severity: ok ? "warning" : "critical",
            subject: null,
            node: target,
            title: ok
              ? `${target} was fenced (reported by the fencer on ${n})`
              : `Fencing ${target} FAILED (reported by the fencer on ${n}, rc ${rc || "?"})`,
          },
          at,
        ),
        ...(ok
          ? {
              mutate: (f: Facts) => {
                f.memory.fencedAt[target] = at;
                return f;
              },
            }
          : {}),
      };
    }
    default:
      // Resource starts and stops (Pacemaker alerts, heartbeat scripts): the monitor reads where things run now.
      return { event: null };
  }
}

export interface WebhookServerOptions {
  inventory: InventoryConfig;
  /** Per-node keys and the shared one (`resolveWebhookSecrets`). */
  secrets?: WebhookSecrets;
  /** Shorthand for `secrets: { shared: secret, nodes: {} }`. */
  secret?: string;
  host: string;
  port: number;
  maxSkewSeconds: number;
  redis: Redis;
  keys: EventKeys;
  pipeline: EventPipeline;
  logger: Logger;
  /** Ask the monitor to poll this cluster now. */
  poke?: (cluster: string) => Promise<void>;
  now?: () => number;
  /** `POST /xenops/alertmanager` on this server (src/paging/alertmanager.ts), with this body limit. */
  alertmanager?: AlertmanagerRoute;
}

export interface WebhookServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** The body up to MAX_BODY bytes; null (and reading stops) once it passes that. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.off("data", onData);
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  const log = o.logger.child({ component: "webhook" });
  const now = o.now ?? Date.now;
  const answer = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
    res.end(`${text}\n`);
  };
  const secrets: WebhookSecrets = o.secrets ?? { shared: o.secret ?? null, nodes: new Map() };
  /** Answers and closes without reading the rest of the body (refused before it, or over the limit). */
  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, text: string) => {
    req.pause();
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" });
    res.end(`${text}\n`, () => {
      setTimeout(() => req.socket.destroy(), 1_000).unref();
    });
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      if (o.alertmanager && req.method === "POST" && (req.url ?? "").split("?")[0] === ALERTMANAGER_PATH)
        return o.alertmanager(req, res, { readBody, refuse, answer });
      if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== WEBHOOK_PATH)
        return refuse(req, res, 404, "not found");
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? v[0] : v;
      };
      const refused = (status: number, reason: string) => {
        log.warn({ remote: req.socket.remoteAddress, reason }, "webhook request refused");
        refuse(req, res, status, reason);
      };
      const signed = { timestamp: header("x-xenops-timestamp"), signature: header("x-xenops-signature") };
      const fresh = checkWebhookHeaders(signed, { maxSkewSeconds: o.maxSkewSeconds, nowMs: now() });
      if (!fresh.ok) return refused(fresh.status, fresh.reason);
      // The key: the named node's own, else the shared one (nodes without their own; old scripts).
      const claimed = { cluster: header("x-xenops-cluster"), node: header("x-xenops-node") };
      let secret: string | null;
      if (claimed.cluster !== undefined || claimed.node !== undefined) {
        const cluster = o.inventory.clusters.find((c) => c.name === claimed.cluster);
        if (!cluster?.nodes.some((n) => n.name === claimed.node))
          return refused(401, "unknown cluster or node in the headers");
        secret = secrets.nodes.get(nodeKey(claimed.cluster ?? "", claimed.node ?? "")) ?? secrets.shared;
      } else secret = secrets.shared;
      if (secret === null)
        return refused(401, "no key for this node: send X-Xenops-Cluster and X-Xenops-Node");
      const declared = header("content-length");
      if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > MAX_BODY)
        return refuse(req, res, 413, "body too large");
      const body = await readBody(req);
      if (body === null) return refuse(req, res, 413, "body too large");
      const verdict = await verifyWebhook(
        { secret, maxSkewSeconds: o.maxSkewSeconds, redis: o.redis, keys: o.keys, nowMs: now() },
        signed,
        body,
      );
      if (!verdict.ok) return refused(verdict.status, verdict.reason);
      let parsed: WebhookBody;
      try {
        parsed = WebhookBody.parse(JSON.parse(body));
      } catch (err) {
        return answer(res, 400, `invalid body: ${errorMessage(err).slice(0, 300)}`);
      }
      if (claimed.node !== undefined && (parsed.cluster !== claimed.cluster || parsed.node !== claimed.node))
        return refused(422, "the body speaks for another node than the headers");
      // The shared key cannot speak for a node that has its own.
      if (claimed.node === undefined && secrets.nodes.has(nodeKey(parsed.cluster, parsed.node)))
        return refused(401, `${parsed.node} has its own key: send X-Xenops-Cluster and X-Xenops-Node`);
      const denied = authorizeWebhook(o.inventory, parsed);
      if (denied) return refused(422, denied);
      const at = new Date(now()).toISOString();
      const { event, mutate } = interpretWebhook(parsed, at);
      log.info(
        {
          cluster: parsed.cluster,
          node: parsed.node,
          source: parsed.source,
          event: parsed.event,
          resource: parsed.resource,
          peer: parsed.peer,
        },
        "webhook event",
      );
      answer(res, 202, "accepted");
      try {
        if (event || mutate) await o.pipeline.report(event, mutate, parsed.cluster);
      } catch (err) {
        log.error({ err }, "webhook event could not be processed");
      }
      await o.poke?.(parsed.cluster).catch(() => {});
    })().catch((err: unknown) => {
      log.error({ err }, "webhook handler failed");
      if (!res.headersSent) answer(res, 500, "internal error");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: o.host, port }, "webhook listening");
  return {
    port,
    url: `http://${o.host === "0.0.0.0" ? "127.0.0.1" : o.host}:${port}${WEBHOOK_PATH}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
