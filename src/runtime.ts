/**
 * Long-running modes shared by the CLI (`xenops bot|worker|console`) and the lab: Slack front end
 * and/or workers, or the console. Each returns a handle that closes everything it started.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { Authorizer, StaticGroupDirectory } from "./chat/authz";
import type { CommandCore, GroupDirectory } from "./chat/types";
import type { RuntimeEnv } from "./config/env";
import type { InventoryConfig } from "./config/schema";
import type { SecretEnv } from "./config/secrets";
import { ConsoleNotifier } from "./console/notifier";
import { ConsoleSession } from "./console/session";
import { createDeps, type Deps } from "./deps";
import { XenopsError } from "./errors";
import { createFormCore, type FormCore } from "./forms/core";
import { HomeTab } from "./forms/home";
import type { Logger } from "./log";
import { Metrics } from "./observability/metrics";
import type { CheckResult, OpsServer } from "./observability/ops-server";
import {
  type OpsOptions,
  opsOptionsFromEnv,
  SlackConnectionCheck,
  startOpsFor,
  watchSettingsFromEnv,
} from "./observability/start-ops";
import { createSlackWebClient } from "./slack/client";
import { createSlackGroupDirectory } from "./slack/groups";
import { createSlackNotifier, SlackSender } from "./slack/sender";
import { logSlackSetup } from "./slack/setup-check";
import type { SshPoolOptions } from "./ssh/pool";

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

/** Slack allows about one edit per message every 3 s: the sender spaces edits of one message that far. */
const SLACK_EDIT_INTERVAL_MS = 3_000;

async function startOps(
  base: RuntimeBase,
  deps: Deps,
  checks: { slack?: () => boolean; slackDelivery?: () => CheckResult; workers: boolean },
): Promise<OpsServer | null> {
  const options = base.ops === undefined ? opsOptionsFromEnv(base.env) : base.ops;
  if (!options) return null;
  const server = await startOpsFor(deps, options, checks);
  base.logger.info({ url: server.url, dashboard: options.dashboard !== undefined }, "ops server started");
  base.onOpsListening?.(server.url);
  return server;
}

function configuredGroups(inventory: InventoryConfig): string[] {
  const { roles, oncall } = inventory;
  return [...new Set([...Object.values(roles).flatMap((r) => r.groups), ...oncall.groups])];
}

/** The `/xen` modal's core on the deps: stored facts, the command core, the plan jobs' outcomes. */
export function formCoreOf(deps: Deps): FormCore {
  return createFormCore({
    inventory: deps.inventory,
    core: deps.core,
    loadFacts: async (cluster) => (await deps.events.store.load(cluster)).facts,
    waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
    incidents: deps.events.actionHandler,
    approvalTyped: async (id) => {
      const record = await deps.approvals.get(id);
      return { found: record !== null, typed: record?.policy.typedConfirmation ?? null };
    },
    logger: deps.logger,
  });
}

/** The App Home tab on the deps' stored state, published with the bot's client. */
export function homeTabOf(
  deps: Deps,
  groups: GroupDirectory,
  publish: (userId: string, view: Record<string, unknown>) => Promise<void>,
  options: { minIntervalMs?: number; refreshMs?: number } = {},
): HomeTab {
  const authorizer = new Authorizer(deps.inventory.roles, groups);
  return new HomeTab({
    source: {
      inventory: deps.inventory,
      loadFacts: async (cluster) => (await deps.events.store.load(cluster)).facts,
      activeIncidents: (cluster) => deps.events.incidents.active(cluster),
      jobs: (clusters) => deps.jobAdmin.list(clusters, { recent: 0 }),
    },
    publish,
    mayView: (userId) => authorizer.has(userId, "viewer"),
    logger: deps.logger,
    ...options,
  });
}

/** Slack bot (Socket Mode when SLACK_APP_TOKEN is set, else HTTP) and/or workers. */
export async function startSlackRuntime(
  base: RuntimeBase,
  parts: { bot: boolean; worker: boolean; clusters?: readonly string[] },
): Promise<Running> {
  const { env, logger } = base;
  if (!env.SLACK_BOT_TOKEN) throw new XenopsError("config_invalid", "SLACK_BOT_TOKEN is not set");
  const secrets = [env.SLACK_BOT_TOKEN, env.SLACK_APP_TOKEN, env.SLACK_SIGNING_SECRET].filter(
    (s): s is string => !!s,
  );
  const clientOptions = { logger, secrets, ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}) };
  const client = createSlackWebClient(env.SLACK_BOT_TOKEN, clientOptions);
  const groupDirectory = createSlackGroupDirectory(client, logger.child({ component: "groups" }), {
    groups: configuredGroups(base.inventory),
    ttlMs: 5 * 60_000,
  });

  // The Slack app needs the core and the core's deps need the app's sender: bind the core late.
  let deps: Deps | undefined;
  const lateCore: CommandCore = {
    command: (r) => (deps as Deps).core.command(r),
    action: (r) => (deps as Deps).core.action(r),
  };
  let forms: FormCore | undefined;
  const lateForms: FormCore = {
    open: (...a) => (forms as FormCore).open(...a),
    change: (...a) => (forms as FormCore).change(...a),
    preflight: (...a) => (forms as FormCore).preflight(...a),
    submit: (...a) => (forms as FormCore).submit(...a),
  };
  let home: HomeTab | undefined;
  // Bolt (and its HTTP stack) is loaded by bot processes only.
  const slackApp = parts.bot ? await import("./slack/app") : null;
  const app = slackApp
    ? slackApp.createSlackApp({
        mode: env.SLACK_APP_TOKEN ? "socket" : "http",
        botToken: env.SLACK_BOT_TOKEN,
        ...(env.SLACK_APP_TOKEN ? { appToken: env.SLACK_APP_TOKEN } : {}),
        ...(env.SLACK_SIGNING_SECRET ? { signingSecret: env.SLACK_SIGNING_SECRET } : {}),
        ...(env.PORT !== undefined ? { port: env.PORT } : {}),
        ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}),
        core: lateCore,
        forms: lateForms,
        home: { opened: (userId) => home?.opened(userId) },
        // Seen request signatures live in Redis (the deps' client, bound late like the core).
        replayStore: slackApp.redisReplayStore(() => (deps as Deps).redis, env.XENOPS_QUEUE_PREFIX),
        logger: logger.child({ component: "slack" }),
        senderLimits: { updateIntervalMs: SLACK_EDIT_INTERVAL_MS },
      })
    : null;
  const sender =
    app?.sender ??
    new SlackSender(client, logger.child({ component: "sender" }), {
      limits: { updateIntervalMs: SLACK_EDIT_INTERVAL_MS },
    });
  const role = parts.bot && parts.worker ? "bot+worker" : parts.bot ? "bot" : "worker";
  const metrics = new Metrics({ labels: { role } });
  metrics.observeSender(() => sender.stats());
  // A refused or lost card is told to the admins directly (they can fix a channel or a renderer).
  sender.escalateTo(base.inventory.roles.admin.users);
  deps = await createDeps({
    inventory: base.inventory,
    logger,
    redisUrl: base.redisUrl,
    queuePrefix: env.XENOPS_QUEUE_PREFIX,
    secretEnv: base.secretEnv,
    notifier: createSlackNotifier(sender),
    groups: groupDirectory,
    ssh: parts.worker,
    ...(base.sshOptions ? { sshOptions: base.sshOptions } : {}),
    metrics,
    auditFile: env.XENOPS_AUDIT_FILE,
    watch: watchSettingsFromEnv(env),
    allowVolatileRedis: env.XENOPS_ALLOW_VOLATILE_REDIS,
    // Cluster events (monitor, events2, webhook) run with the workers.
    events: true,
  });
  const workers = parts.worker ? deps.startWorkers(parts.clusters) : null;
  await workers?.ready();
  forms = formCoreOf(deps);
  if (app) {
    home = homeTabOf(
      deps,
      groupDirectory,
      async (userId, view) => {
        await client.views.publish({ user_id: userId, view: view as never });
      },
      base.home,
    );
    home.start();
  }
  await app?.start();
  if (parts.bot) {
    // The doctor's Slack checks (`xenops doctor slack`), logged as warnings; never blocks the start.
    void logSlackSetup(
      {
        bot: client,
        botToken: env.SLACK_BOT_TOKEN,
        mode: env.SLACK_APP_TOKEN ? "socket" : "http",
        ...(env.SLACK_APP_TOKEN
          ? { app: createSlackWebClient(env.SLACK_APP_TOKEN, clientOptions), appToken: env.SLACK_APP_TOKEN }
          : {}),
        ...(env.SLACK_SIGNING_SECRET ? { signingSecret: env.SLACK_SIGNING_SECRET } : {}),
        channels: base.inventory.clusters.flatMap((c) =>
          c.channels.map((channel) => ({ cluster: c.name, channel })),
        ),
        groups: configuredGroups(base.inventory),
      },
      logger.child({ component: "slack-setup" }),
    );
  }
  const slackCheck = parts.bot
    ? new SlackConnectionCheck(client, logger.child({ component: "health" }))
    : null;
  slackCheck?.start();
  const ops = await startOps(base, deps, {
    ...(slackCheck ? { slack: () => slackCheck.ok() } : {}),
    slackDelivery: () => sender.deliveryHealth(),
    workers: parts.worker,
  });
  logger.info({ bot: parts.bot, worker: parts.worker }, "xenops started");
  const started = deps;
  return {
    deps: started,
    ops,
    async close() {
      await ops?.close();
      slackCheck?.stop();
      home?.stop();
      await app?.stop();
      groupDirectory.stop();
      await started.close();
      await sender.drain?.();
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
  const notifier = new ConsoleNotifier(options.write);
  let session: ConsoleSession | undefined;
  const deps = await createDeps({
    inventory: base.inventory,
    logger: base.logger,
    redisUrl: base.redisUrl,
    queuePrefix: `${base.env.XENOPS_QUEUE_PREFIX}-console-${randomUUID().slice(0, 8)}`,
    secretEnv: base.secretEnv,
    notifier,
    groups: options.groups ?? new StaticGroupDirectory(),
    onEnqueued: (job) => session?.trackJob(job.jobId),
    ...(base.sshOptions ? { sshOptions: base.sshOptions } : {}),
    metrics: new Metrics({ labels: { role: "console" } }),
    auditFile: base.env.XENOPS_AUDIT_FILE,
    watch: watchSettingsFromEnv(base.env),
    allowVolatileRedis: base.env.XENOPS_ALLOW_VOLATILE_REDIS,
    // Cluster events; the console's queue prefix is thrown away, so are its monitor schedulers.
    events: { removeSchedulersOnStop: true },
  });
  session = new ConsoleSession({
    core: deps.core,
    notifier,
    channel,
    write: options.write,
    waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
    sessionId: randomUUID().slice(0, 8),
    ...(options.directive ? { directive: options.directive } : {}),
    forms: formCoreOf(deps),
  });
  if (options.script !== undefined && options.script !== "-" && !existsSync(options.script)) {
    await deps.close();
    throw new XenopsError("invalid_argument", `script file not found: ${options.script}`);
  }
  const workers = deps.startWorkers();
  let ops: OpsServer | null = null;
  try {
    await workers.ready();
    ops = await startOps(base, deps, { workers: true });
    const input =
      options.script === undefined || options.script === "-"
        ? process.stdin
        : createReadStream(options.script, "utf8");
    const interactive = options.script === undefined && process.stdin.isTTY === true;
    const rl = createInterface({
      input,
      terminal: interactive,
      ...(interactive ? { output: process.stdout } : {}),
    });
    if (interactive) {
      options.write(
        `xenops console: type "<SLACK_USER_ID>: /xen status" (or just "/xen status" as ${options.defaultUser ?? "nobody"}); "click <button>" presses a button; "form action=migrate ..." and "submit" fill the /xen form; Ctrl-D quits.\n`,
      );
      rl.setPrompt("xenops> ");
      rl.prompt();
    }
    for await (const line of rl) {
      await session.line(line, options.defaultUser);
      if (interactive) rl.prompt();
    }
    const { problems } = await session.settle(options.settleTimeoutMs);
    for (const p of problems) {
      options.write(
        p.state === "failed"
          ? `job ${p.jobId} failed: ${p.failedReason}\n`
          : `job ${p.jobId} did not finish in time\n`,
      );
    }
    if (problems.length > 0) return 1;
    return session.errors > 0 ? 2 : 0;
  } finally {
    await ops?.close();
    await deps.close();
  }
}
