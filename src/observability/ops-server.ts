/**
 * The operations HTTP server (node:http), for Prometheus, load balancers and operators:
 *
 *   GET /metrics        Prometheus text exposition of `metrics` (./metrics).
 *   GET /livez          200 {"status":"ok"} while the process answers at all (liveness: restart it when not).
 *   GET /readyz         JSON {status, checks: {redis, redis_persistence?, slack?, workers?}}; 200 when every
 *                       check passes ("ok") or only Slack fails ("degraded": a Slack outage is not ours
 *                       to fix by restarting, and the workers keep running), else 503 ("fail").
 *   GET /healthz        The same as /readyz (its older name).
 *   /admin/queues/...   bull-board dashboard of `dashboard.queues`, behind HTTP Basic authentication. Only
 *                       mounted when `dashboard` is given. Read-only by default: the dashboard can add, retry
 *                       and edit jobs, which would bypass Slack authorization and approvals.
 *
 * Wiring (for the integrator):
 *
 *   const ops = await startOpsServer({
 *     port: 9464, host: "0.0.0.0",
 *     metrics,                                               // new Metrics()
 *     health: {
 *       redis: redisPing(client),                            // client from createRedisConnection
 *       slack: () => slackConnected,                         // optional
 *       workers: () => ({ running: true, clusters: ["prod"] }), // optional
 *     },
 *     dashboard: { queues: clusters.map((c) => jobs.queue(c)), username: "ops",
 *                  password: await resolveSecret(ref, env, "dashboard password") },
 *     logger,
 *   });
 *   ...
 *   await ops.close();
 *
 * The host defaults to 127.0.0.1: exposing /metrics and /healthz beyond the host is a deliberate choice.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "./metrics";

export const DASHBOARD_PATH = "/admin/queues";

export interface HealthChecks {
  /** Resolves true when Redis answers (see redisPing). Required: nothing works without Redis. */
  redis: () => Promise<boolean>;
  /** The Slack connection is up (bot processes). */
  slack?: () => boolean;
  /**
   * Messages reach Slack (SlackSender.deliveryHealth): fails while a card was refused or lost recently.
   * Degrades /readyz, never fails it.
   */
  slackDelivery?: () => CheckResult;
  /** Workers of this process; unhealthy when they should run and do not. */
  workers?: () => { running: boolean; clusters: readonly string[] };
  /**
   * Redis keeps what is written (AOF on): the check `redis_persistence`, failing with the reason and the
   * fix when it does not (risky actions are refused then).
   */
  persistence?: () => Promise<CheckResult>;
}

export interface DashboardOptions {
  queues: readonly Queue[];
  username: string;
  /** The resolved secret (SecretRef resolved by the caller), never the reference. */
  password: string;
  /** Allow retrying, removing, adding and editing jobs from the browser (default false). */
  allowWrites?: boolean;
}

export interface OpsServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  metrics: Metrics;
  health: HealthChecks;
  dashboard?: DashboardOptions;
  logger?: Logger;
  /** A check that has not answered within this long fails (default 2000 ms). */
  healthTimeoutMs?: number;
}

export interface OpsServer {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface CheckResult {
  ok: boolean;
  error?: string;
  [detail: string]: unknown;
}

export interface HealthReport {
  /** degraded: only checks that a restart cannot fix failed (Slack unreachable); still 200. */
  status: "ok" | "degraded" | "fail";
  checks: Record<string, CheckResult>;
}

/** A `health.redis` check: PING on the given client (one from createRedisConnection). */
export function redisPing(client: Redis): () => Promise<boolean> {
  return async () => (await client.ping()) === "PONG";
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { metrics, logger } = options;
  const host = options.host ?? "127.0.0.1";
  const timeoutMs = options.healthTimeoutMs ?? 2_000;
  const dashboard = options.dashboard ? await createDashboard(options.dashboard) : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (dashboard && (path === DASHBOARD_PATH || path.startsWith(`${DASHBOARD_PATH}/`))) {
      if (!dashboard.authorized(req.headers.authorization)) {
        res.writeHead(401, {
          "WWW-Authenticate": 'Basic realm="xenops", charset="UTF-8"',
          "Content-Type": "text/plain; charset=utf-8",
        });
        res.end("authentication required\n");
        return;
      }
      // bull-board's routes are relative to where it is mounted.
      req.url = (req.url ?? "").slice(DASHBOARD_PATH.length) || "/";
      if (req.url.startsWith("?")) req.url = `/${req.url}`;
      dashboard.handler(req, res);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("method not allowed\n");
      return;
    }
    if (path === "/metrics") {
      const body = await metrics.render();
      res.writeHead(200, { "Content-Type": metrics.contentType });
      res.end(req.method === "HEAD" ? undefined : body);
      return;
    }
    if (path === "/livez") {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : `${JSON.stringify({ status: "ok" })}\n`);
      return;
    }
    if (path === "/readyz" || path === "/healthz") {
      const report = await runHealthChecks(options.health, timeoutMs);
      res.writeHead(report.status === "fail" ? 503 : 200, {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : `${JSON.stringify(report)}\n`);
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("not found\n");
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger?.error({ err, url: req.url }, "ops server request failed");
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
      res.end("internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => logger?.error({ err }, "ops server error"));
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  logger?.info({ host, port, dashboard: dashboard !== undefined }, "ops server listening");

  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (Prometheus, browsers) would hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** Checks whose failure degrades the process without making it unready. */
const DEGRADING_CHECKS: ReadonlySet<string> = new Set(["slack", "slack_delivery"]);

/** Runs every configured check concurrently; a check that throws or is late fails with the reason. */
export async function runHealthChecks(health: HealthChecks, timeoutMs: number): Promise<HealthReport> {
  const checks: Record<string, CheckResult> = {};
  const redisStart = Date.now();
  checks.redis = await withTimeout(health.redis(), timeoutMs)
    .then((ok): CheckResult => (ok ? { ok: true } : { ok: false, error: "no answer" }))
    .catch((err: unknown): CheckResult => ({ ok: false, error: errorMessage(err) }))
    .then((r) => ({ ...r, ms: Date.now() - redisStart }));
  if (health.persistence) {
    checks.redis_persistence = await withTimeout(health.persistence(), timeoutMs).catch(
      (err: unknown): CheckResult => ({
        ok: false,
        error: `cannot read Redis persistence: ${errorMessage(err)}`,
      }),
    );
  }
  if (health.slack) {
    try {
      checks.slack = health.slack() ? { ok: true } : { ok: false, error: "not connected" };
    } catch (err) {
      checks.slack = { ok: false, error: errorMessage(err) };
    }
  }
  if (health.slackDelivery) {
    try {
      checks.slack_delivery = { ...health.slackDelivery() };
    } catch (err) {
      checks.slack_delivery = { ok: false, error: errorMessage(err) };
    }
  }
  if (health.workers) {
    try {
      const { running, clusters } = health.workers();
      checks.workers = running
        ? { ok: true, clusters: [...clusters] }
        : { ok: false, error: "workers are not running", clusters: [...clusters] };
    } catch (err) {
      checks.workers = { ok: false, error: errorMessage(err) };
    }
  }
  const failed = Object.entries(checks).filter(([, c]) => !c.ok);
  const status =
    failed.length === 0 ? "ok" : failed.every(([name]) => DEGRADING_CHECKS.has(name)) ? "degraded" : "fail";
  return { status, checks };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** sha256 first so both sides have equal length: timingSafeEqual then hides where and whether they differ. */
function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** Checks an Authorization header against the configured Basic credentials, in constant time. */
export function basicAuthorized(header: string | undefined, username: string, password: string): boolean {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
  const decoded = match?.[1] ? Buffer.from(match[1], "base64").toString("utf8") : "";
  const colon = decoded.indexOf(":");
  const user = colon >= 0 ? decoded.slice(0, colon) : "";
  const pass = colon >= 0 ? decoded.slice(colon + 1) : "";
  // Both comparisons always run: no early exit that would tell a wrong username from a wrong password.
  const userOk = sameSecret(user, username);
  const passOk = sameSecret(pass, password);
  return colon >= 0 && userOk && passOk;
}

/**
 * bull-board reads its UI (templates, static files) from its package directory at run time, which the
 * bundle (scripts/build.mjs) does not have: the build copies the UI beside the bundle instead.
 */
function bundledDashboardUi(): string | undefined {
  const dir = fileURLToPath(new URL("./bull-board-ui", import.meta.url));
  return existsSync(join(dir, "dist", "index.ejs")) ? dir : undefined;
}

/**
 * A CommonJS package's exports from a dynamic import: node gives its `module.exports` as `default` (and
 * the names it detects besides), the split build (scripts/build.mjs) as `default` only.
 */
function commonJsExports<T extends object>(mod: T): T {
  const cjs = (mod as { default?: unknown }).default;
  return cjs !== null && typeof cjs === "object" ? (cjs as T) : mod;
}

async function createDashboard(
  options: DashboardOptions,
): Promise<{ handler: Handler; authorized: (header: string | undefined) => boolean }> {
  if (!options.username || !options.password)
    throw new Error("the queue dashboard needs a username and a non-empty password");
  // Loaded only when a dashboard is configured: they pull in express.
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import("@bull-board/api").then(commonJsExports),
    import("@bull-board/api/bullMQAdapter").then(commonJsExports),
    import("@bull-board/express").then(commonJsExports),
  ]);
  const serverAdapter = new ExpressAdapter();
  const uiBasePath = bundledDashboardUi();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: options.allowWrites !== true })),
    serverAdapter,
    options: { uiConfig: { boardTitle: "xenops jobs" }, ...(uiBasePath ? { uiBasePath } : {}) },
  });
  // An express application: callable as a plain node:http handler.
  const handler = serverAdapter.getRouter() as Handler;
  const { username, password } = options;
  return { handler, authorized: (header) => basicAuthorized(header, username, password) };
}
