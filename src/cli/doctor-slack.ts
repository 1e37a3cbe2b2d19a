/**
 * `xenops doctor slack [--config FILE]`: checks the Slack app set-up (tokens, scopes, channel membership,
 * user groups) with the same code the bot runs at start, and prints what to fix. Exit 0 when nothing
 * fails (warnings allowed), 1 otherwise, 2 when the environment or the inventory cannot be read.
 *
 * Registered under `doctor`: attached to an existing `doctor` command (the cluster checks) when one is
 * registered before it, else it creates one.
 */
import type { Command } from "commander";
import { readRuntimeEnv } from "../config/env";
import { loadInventoryOrThrow } from "../config/load";
import type { InventoryConfig } from "../config/schema";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { createSlackWebClient } from "../slack/client";
import { checkSlackSetup, formatFindings, type SlackSetupInput } from "../slack/setup-check";
import { DEFAULT_CONFIG_FILE } from "./config-check";

/** What the check needs from the inventory: every cluster channel, every user group it names. */
export function slackTargets(inventory: InventoryConfig): Pick<SlackSetupInput, "channels" | "groups"> {
  const channels = inventory.clusters.flatMap((c) =>
    c.channels.map((channel) => ({ cluster: c.name, channel })),
  );
  const groups = [
    ...new Set([...Object.values(inventory.roles).flatMap((r) => r.groups), ...inventory.oncall.groups]),
  ];
  return { channels, groups };
}

export async function runDoctorSlack(
  configFile: string | undefined,
  /** The environment; undefined: the process's (read by src/config/env.ts). */
  source: Readonly<Record<string, string | undefined>> | undefined,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  let env: ReturnType<typeof readRuntimeEnv>;
  let inventory: InventoryConfig;
  try {
    env = readRuntimeEnv(source);
    inventory = await loadInventoryOrThrow(configFile ?? env.XENOPS_CONFIG ?? DEFAULT_CONFIG_FILE);
  } catch (e) {
    err.write(`xenops: ${errorMessage(e)}\n`);
    return 2;
  }
  if (!env.SLACK_BOT_TOKEN) {
    err.write("xenops: SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is not set\n");
    return 1;
  }
  const logger = createLogger({ level: env.LOG_LEVEL === "info" ? "warn" : env.LOG_LEVEL });
  const secrets = [env.SLACK_BOT_TOKEN, env.SLACK_APP_TOKEN, env.SLACK_SIGNING_SECRET].filter(
    (s): s is string => !!s,
  );
  const common = { logger, secrets, ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}) };
  const report = await checkSlackSetup({
    bot: createSlackWebClient(env.SLACK_BOT_TOKEN, common),
    botToken: env.SLACK_BOT_TOKEN,
    mode: env.SLACK_APP_TOKEN ? "socket" : "http",
    ...(env.SLACK_APP_TOKEN
      ? { app: createSlackWebClient(env.SLACK_APP_TOKEN, common), appToken: env.SLACK_APP_TOKEN }
      : {}),
    ...(env.SLACK_SIGNING_SECRET ? { signingSecret: env.SLACK_SIGNING_SECRET } : {}),
    ...slackTargets(inventory),
  });
  out.write(formatFindings(report));
  return report.ok ? 0 : 1;
}

export function registerDoctorSlackCommand(program: Command): void {
  const doctor =
    program.commands.find((c) => c.name() === "doctor") ??
    program.command("doctor").description("check a deployment and say what to fix");
  doctor
    .command("slack")
    .description("check the Slack app: tokens, scopes, the bot in every configured channel, user groups")
    .option("-c, --config <file>", "inventory file (default: $XENOPS_CONFIG or ./xenops.yml)")
    .action(async (opts: { config?: string }, command: Command) => {
      // `--config` after `slack` may have been taken by the parent `doctor` command's own option.
      const parentConfig = command.parent?.opts<{ config?: string }>().config;
      const config = opts.config ?? parentConfig;
      process.exitCode = await runDoctorSlack(config, undefined, process.stdout, process.stderr);
    });
}
