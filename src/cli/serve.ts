/** `xenops bot`, `xenops worker`, `xenops console`: the long-running modes against a real inventory. */
import type { Command } from "commander";
import { readRuntimeEnv, secretEnv } from "../config/env";
import { loadInventoryOrThrow } from "../config/load";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { startEmbeddedRedis } from "../queue/embedded-redis";
import { type RuntimeBase, runConsole, startSlackRuntime } from "../runtime/modes";
import { DEFAULT_CONFIG_FILE } from "./config-check";

async function base(
  configFile: string | undefined,
  needRedis: boolean,
): Promise<{ base: RuntimeBase; stop: () => Promise<void> }> {
  const env = readRuntimeEnv();
  const logger = createLogger({ level: env.LOG_LEVEL });
  const inventory = await loadInventoryOrThrow(configFile ?? env.XENOPS_CONFIG ?? DEFAULT_CONFIG_FILE);
  let redisUrl = env.REDIS_URL;
  let stop = async () => {};
  if (!redisUrl) {
    if (needRedis) throw new Error("REDIS_URL is not set (bot and worker processes share one Redis)");
    const redis = await startEmbeddedRedis({ logger });
    redisUrl = redis.url;
    stop = () => redis.stop();
  }
  return { base: { inventory, env, secretEnv: secretEnv(), logger, redisUrl }, stop };
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
}

async function guard(fn: () => Promise<number | undefined>): Promise<void> {
  try {
    process.exitCode = (await fn()) ?? 0;
  } catch (err) {
    process.stderr.write(`xenops: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}

/**
 * A service mode (bot, worker): once its bounded close is done, the process exits. What is left then
 * (a job past its grace, which the next worker recovers; Slack messages the drain gave up on, which
 * the log names) must not keep a stopping service alive with its retry timers.
 */
async function service(fn: () => Promise<number | undefined>): Promise<void> {
  await guard(fn);
  process.exit();
}

export function registerServeCommands(program: Command): void {
  program
    .command("bot")
    .description("run the Slack bot (Socket Mode with SLACK_APP_TOKEN, else HTTP with SLACK_SIGNING_SECRET)")
    .option("-c, --config <file>", "inventory file")
    .option("--with-worker", "also run a worker in this process")
    .action((opts: { config?: string; withWorker?: boolean }) =>
      service(async () => {
        const { base: b, stop } = await base(opts.config, true);
        const running = await startSlackRuntime(b, { bot: true, worker: opts.withWorker === true });
        await untilSignal();
        await running.close();
        await stop();
        return 0;
      }),
    );
  program
    .command("worker")
    .description("run job workers (SSH to the nodes); one process may serve only some clusters")
    .option("-c, --config <file>", "inventory file")
    .option("--cluster <name...>", "serve only these clusters")
    .action((opts: { config?: string; cluster?: string[] }) =>
      service(async () => {
        const { base: b, stop } = await base(opts.config, true);
        const running = await startSlackRuntime(b, {
          bot: false,
          worker: true,
          ...(opts.cluster ? { clusters: opts.cluster } : {}),
        });
        await untilSignal();
        await running.close();
        await stop();
        return 0;
      }),
    );
  program
    .command("console")
    .description("the bot without Slack: lines of '<SLACK_USER_ID>: /xen ...' or 'click <button>'")
    .option("-c, --config <file>", "inventory file")
    .option("--script <file>", "run lines from a file ('-' for stdin) and exit when its jobs settle")
    .option("--as <user>", "Slack user ID for lines without a 'USER:' prefix")
    .action((opts: { config?: string; script?: string; as?: string }) =>
      guard(async () => {
        const { base: b, stop } = await base(opts.config, false);
        try {
          return await runConsole(b, {
            ...(opts.script !== undefined ? { script: opts.script } : {}),
            ...(opts.as ? { defaultUser: opts.as } : {}),
            write: (t) => process.stdout.write(t),
          });
        } finally {
          await stop();
        }
      }),
    );
}
