/**
 * The Slack front end of a bot or worker process: the web client and group directory, the Bolt app (Socket
 * Mode when SLACK_APP_TOKEN is set, else HTTP; bot processes only), the rate-limited sender every card goes
 * through, the App Home tab, and the Slack health checks.
 */
import type { CommandCore } from "../chat/types";
import type { RuntimeEnv } from "../config/env";
import type { InventoryConfig } from "../config/schema";
import { XenopsError } from "../errors";
import type { FormCore } from "../forms/core";
import type { HomeTab } from "../forms/home";
import type { Logger } from "../log";
import { createSlackWebClient } from "../slack/client";
import { createSlackGroupDirectory } from "../slack/groups";
import { createSlackNotifier, SlackSender } from "../slack/sender";
import { logSlackSetup } from "../slack/setup-check";
import type { Deps } from "./deps";
import { formCoreOf, homeTabOf } from "./forms";
import { type OpsChecks, SlackConnectionCheck } from "./ops";

/** Slack allows about one edit per message every 3 s: the sender spaces edits of one message that far. */
const SLACK_EDIT_INTERVAL_MS = 3_000;

export interface SlackFrontEndBase {
  inventory: InventoryConfig;
  env: RuntimeEnv;
  logger: Logger;
  /** App Home tab timing (tests shorten it). */
  home?: { minIntervalMs?: number; refreshMs?: number };
}

export interface SlackFrontEnd {
  /** What the deps post and edit through. */
  notifier: Deps["notifier"];
  groups: ReturnType<typeof createSlackGroupDirectory>;
  sender: SlackSender;
  /** Binds the command core and the replay store to the deps, once they are built. */
  bind(deps: Deps): void;
  /** Starts the app, the Home tab and the checks (bot processes); the deps are bound and ready. */
  start(): Promise<void>;
  /** The ops server's Slack checks. */
  checks(): Pick<OpsChecks, "slack" | "slackDelivery">;
  /** Stops the checks, the Home tab, the app and the group directory. */
  stop(): Promise<void>;
  /** Sends what the sender still holds (after the deps closed). */
  drain(): Promise<void>;
}

export function configuredGroups(inventory: InventoryConfig): string[] {
  const { roles, oncall } = inventory;
  return [...new Set([...Object.values(roles).flatMap((r) => r.groups), ...oncall.groups])];
}

export async function openSlackFrontEnd(
  base: SlackFrontEndBase,
  parts: { bot: boolean },
): Promise<SlackFrontEnd> {
  const { env, logger } = base;
  if (!env.SLACK_BOT_TOKEN) throw new XenopsError("config_invalid", "SLACK_BOT_TOKEN is not set");
  const botToken = env.SLACK_BOT_TOKEN;
  const secrets = [env.SLACK_BOT_TOKEN, env.SLACK_APP_TOKEN, env.SLACK_SIGNING_SECRET].filter(
    (s): s is string => !!s,
  );
  const clientOptions = { logger, secrets, ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}) };
  const client = createSlackWebClient(botToken, clientOptions);
  const groups = createSlackGroupDirectory(client, logger.child({ component: "groups" }), {
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
  const slackApp = parts.bot ? await import("../slack/app") : null;
  const app = slackApp
    ? slackApp.createSlackApp({
        mode: env.SLACK_APP_TOKEN ? "socket" : "http",
        botToken,
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
  // A refused or lost card is told to the admins directly (they can fix a channel or a renderer).
  sender.escalateTo(base.inventory.roles.admin.users);
  const slackCheck = parts.bot
    ? new SlackConnectionCheck(client, logger.child({ component: "health" }))
    : null;

  return {
    notifier: createSlackNotifier(sender),
    groups,
    sender,
    bind(built) {
      deps = built;
    },
    async start() {
      const bound = deps as Deps;
      forms = formCoreOf(bound);
      if (app) {
        home = homeTabOf(
          bound,
          groups,
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
            botToken,
            mode: env.SLACK_APP_TOKEN ? "socket" : "http",
            ...(env.SLACK_APP_TOKEN
              ? {
                  app: createSlackWebClient(env.SLACK_APP_TOKEN, clientOptions),
                  appToken: env.SLACK_APP_TOKEN,
                }
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
      slackCheck?.start();
    },
    checks() {
      return {
        ...(slackCheck ? { slack: () => slackCheck.ok() } : {}),
        slackDelivery: () => sender.deliveryHealth(),
      };
    },
    async stop() {
      slackCheck?.stop();
      home?.stop();
      await app?.stop();
      groups.stop();
    },
    async drain() {
      await sender.drain?.();
    },
  };
}
