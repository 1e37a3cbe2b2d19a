/**
 * Long-running modes shared by the CLI (`xenops bot|worker|console`) and the lab: Slack front end
 * and/or workers, or the console. Each returns a handle that closes everything it started.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { StaticGroupDirectory } from "../chat/authz";
import type { GroupDirectory } from "../chat/types";
import type { RuntimeEnv } from "../config/env";
import type { InventoryConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import { XenopsError } from "../errors";
import type { Logger } from "../log";
import { Metrics } from "../observability/metrics";
import type { OpsServer } from "../observability/ops-server";
import type { SshPoolOptions } from "../ssh/pool";
import { createConsoleFrontEnd } from "./console";
import { createDeps, type Deps } from "./deps";
import { type OpsOptions, startOps } from "./ops";
import { openSlackFrontEnd } from "./slack";

/**
 * How long a stopping process waits, after closing everything, for Slack messages still queued in the
 * sender (the front end's stop already gave them up to 5 s): short, so that the whole stop fits in the
 * 10 s that Docker and most supervisors allow before SIGKILL.
 */
const SHUTDOWN_DRAIN_MS = 2_000;

export interface RuntimeBase {
  inventory: InventoryConfig;
  env: RuntimeEnv;
  secretEnv: SecretEnv;
  logger: Logger;
  redisUrl: string;
  sshOptions?: SshPoolOptions;
  /** The operations server: null off, undefined from XENOPS_OPS_PORT (off when unset). */
  ops?: OpsOptions | null;
  /** Told the ops server's URL once it listens (the lab prints it). */
  onOpsListening?: (url: string) => void;
  /** App Home tab timing (tests shorten it): at most one publish per user per `minIntervalMs`. */
  home?: { minIntervalMs?: number; refreshMs?: number };
}

export interface Running {
  deps: Deps;
  /** The operations server, when one was started. */
  ops: OpsServer | null;
  close(): Promise<void>;
}

/** DRBD watch settings from the environment (unset: the job's defaults). */
function watchSettingsFromEnv(env: RuntimeEnv): { stallMs?: number; timeoutMs?: number } {
  return {
    ...(env.XENOPS_WATCH_STALL_SECONDS ? { stallMs: env.XENOPS_WATCH_STALL_SECONDS * 1000 } : {}),
    ...(env.XENOPS_WATCH_TIMEOUT_MINUTES ? { timeoutMs: env.XENOPS_WATCH_TIMEOUT_MINUTES * 60_000 } : {}),
  };
}

/** Slack bot (Socket Mode when SLACK_APP_TOKEN is set, else HTTP) and/or workers. */
export async function startSlackRuntime(
  base: RuntimeBase,
  parts: { bot: boolean; worker: boolean; clusters?: readonly string[] },
): Promise<Running> {
  const { env, logger } = base;
  const slack = await openSlackFrontEnd(base, { bot: parts.bot });
  const role = parts.bot && parts.worker ? "bot+worker" : parts.bot ? "bot" : "worker";
  const metrics = new Metrics({ labels: { role } });
  metrics.observeSender(() => slack.sender.stats());
  const deps = await createDeps({
    inventory: base.inventory,
    logger,
    redisUrl: base.redisUrl,
    queuePrefix: env.XENOPS_QUEUE_PREFIX,
    secretEnv: base.secretEnv,
    notifier: slack.notifier,
    groups: slack.groups,
    ssh: parts.worker,
    ...(base.sshOptions ? { sshOptions: base.sshOptions } : {}),
    metrics,
    auditFile: env.XENOPS_AUDIT_FILE,
    watch: watchSettingsFromEnv(env),
    allowVolatileRedis: env.XENOPS_ALLOW_VOLATILE_REDIS,
    // Cluster events (monitor, events2, webhook) run with the workers.
    events: true,
  });
  slack.bind(deps);
  const workers = parts.worker ? deps.startWorkers(parts.clusters) : null;
  await workers?.ready();
  await slack.start();
  const ops = await startOps(base, deps, { ...slack.checks(), workers: parts.worker });
  logger.info({ bot: parts.bot, worker: parts.worker }, "xenops started");
  return {
    deps,
    ops,
    async close() {
      await ops?.close();
      await slack.stop();
      await deps.close();
      // What the jobs posted while stopping goes out, but a paced backlog (hundreds of cards after a
      // burst of commands) or an unreachable Slack must not keep a stopping process alive.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        slack.drain().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), SHUTDOWN_DRAIN_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!drained) logger.warn({ waitedMs: SHUTDOWN_DRAIN_MS }, "stopped with Slack messages not yet sent");
    },
  };
}

export interface ConsoleRuntimeOptions {
  /** Script file, `-` for stdin, or undefined for the interactive console. */
  script?: string;
  write: (text: string) => void;
  /** The Slack user the interactive console speaks as when a line has no `USER:` prefix. */
  defaultUser?: string;
  groups?: GroupDirectory;
  settleTimeoutMs?: number;
  /**
   * Console-only `!` directives other than the built-in `!sleep` (the lab passes `!sim ...`, which drives
   * the simulator). Returns the text to print.
   */
  directive?: (text: string) => Promise<string>;
}

/** Runs the console (scripted or interactive) with an in-process worker. Resolves to the exit status. */
export async function runConsole(base: RuntimeBase, options: ConsoleRuntimeOptions): Promise<number> {
  const channel = base.inventory.clusters[0]?.channels[0];
  if (!channel) throw new XenopsError("config_invalid", "no cluster channel configured");
  const front = createConsoleFrontEnd(options.write);
  const deps = await createDeps({
    inventory: base.inventory,
    logger: base.logger,
    redisUrl: base.redisUrl,
    queuePrefix: `${base.env.XENOPS_QUEUE_PREFIX}-console-${randomUUID().slice(0, 8)}`,
    secretEnv: base.secretEnv,
    notifier: front.notifier,
    groups: options.groups ?? new StaticGroupDirectory(),
    onEnqueued: (job) => front.onEnqueued(job),
    ...(base.sshOptions ? { sshOptions: base.sshOptions } : {}),
    metrics: new Metrics({ labels: { role: "console" } }),
    auditFile: base.env.XENOPS_AUDIT_FILE,
    watch: watchSettingsFromEnv(base.env),
    allowVolatileRedis: base.env.XENOPS_ALLOW_VOLATILE_REDIS,
    // Cluster events; the console's queue prefix is thrown away, so are its monitor schedulers.
    events: { removeSchedulersOnStop: true },
  });
  front.bind(deps, channel, options.directive);
  if (options.script !== undefined && options.script !== "-" && !existsSync(options.script)) {
    await deps.close();
    throw new XenopsError("invalid_argument", `script file not found: ${options.script}`);
  }
  const workers = deps.startWorkers();
  let ops: OpsServer | null = null;
  try {
    await workers.ready();
    ops = await startOps(base, deps, { workers: true });
    return await front.run(options);
  } finally {
    await ops?.close();
    await deps.close();
  }
}
