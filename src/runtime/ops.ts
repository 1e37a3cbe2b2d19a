/**
 * The operations server (src/observability/ops-server.ts) of a running process: /metrics from the deps'
 * Metrics, /healthz checking Redis, its persistence, the Slack connection (bot processes) and the workers
 * (worker processes), and the bull-board dashboard of the deps' queues behind Basic auth when credentials
 * are configured.
 */
import type { RuntimeEnv } from "../config/env";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import { type CheckResult, type OpsServer, redisPing, startOpsServer } from "../observability/ops-server";
import type { WebClient } from "../slack/client";
import type { Deps } from "./deps";

export interface OpsOptions {
  /** 0: any free port. */
  port: number;
  host?: string;
  dashboard?: { username: string; password: string };
}

/** The health checks that depend on what the process runs. */
export interface OpsChecks {
  slack?: () => boolean;
  slackDelivery?: () => CheckResult;
  workers: boolean;
}

/** From XENOPS_OPS_PORT / _HOST and XENOPS_DASHBOARD_USER / _PASSWORD; null when no port is set. */
export function opsOptionsFromEnv(env: RuntimeEnv): OpsOptions | null {
  if (env.XENOPS_OPS_PORT === undefined) return null;
  return {
    port: env.XENOPS_OPS_PORT,
    ...(env.XENOPS_OPS_HOST ? { host: env.XENOPS_OPS_HOST } : {}),
    ...(env.XENOPS_DASHBOARD_USER && env.XENOPS_DASHBOARD_PASSWORD
      ? { dashboard: { username: env.XENOPS_DASHBOARD_USER, password: env.XENOPS_DASHBOARD_PASSWORD } }
      : {}),
  };
}

/**
 * Whether Slack answers: `auth.test` at start and then every `intervalMs`; healthy while the last answer
 * was a success and is recent (three intervals).
 */
export class SlackConnectionCheck {
  private lastOkAt = 0;
  private lastError: string | null = "not checked yet";
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly client: Pick<WebClient, "auth">,
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
  ) {}

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  ok(): boolean {
    if (this.lastError !== null) throw new Error(this.lastError);
    return Date.now() - this.lastOkAt < 3 * this.intervalMs;
  }

  private async check(): Promise<void> {
    try {
      await this.client.auth.test();
      this.lastOkAt = Date.now();
      this.lastError = null;
    } catch (err) {
      this.lastError = `auth.test failed: ${errorMessage(err)}`;
      this.logger.warn({ err }, "slack health check failed");
    }
  }
}

export async function startOpsFor(deps: Deps, options: OpsOptions, checks: OpsChecks): Promise<OpsServer> {
  return startOpsServer({
    port: options.port,
    ...(options.host ? { host: options.host } : {}),
    metrics: deps.metrics,
    health: {
      redis: redisPing(deps.redis),
      persistence: () => deps.durability.health(),
      ...(checks.slack ? { slack: checks.slack } : {}),
      ...(checks.slackDelivery ? { slackDelivery: checks.slackDelivery } : {}),
      ...(checks.workers ? { workers: () => deps.workerHealth() } : {}),
    },
    ...(options.dashboard
      ? {
          dashboard: {
            queues: deps.jobs.clusters.map((c) => deps.jobs.queue(c)),
            username: options.dashboard.username,
            password: options.dashboard.password,
          },
        }
      : {}),
    logger: deps.logger.child({ component: "ops" }),
  });
}

/**
 * The ops server a mode starts: `ops` null is off, undefined reads XENOPS_OPS_PORT (off when unset). Tells
 * `onOpsListening` its URL (the lab prints it).
 */
export async function startOps(
  base: { env: RuntimeEnv; logger: Logger; ops?: OpsOptions | null; onOpsListening?: (url: string) => void },
  deps: Deps,
  checks: OpsChecks,
): Promise<OpsServer | null> {
  const options = base.ops === undefined ? opsOptionsFromEnv(base.env) : base.ops;
  if (!options) return null;
  const server = await startOpsFor(deps, options, checks);
  base.logger.info({ url: server.url, dashboard: options.dashboard !== undefined }, "ops server started");
  base.onOpsListening?.(server.url);
  return server;
}
