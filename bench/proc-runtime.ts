/**
 * A child process of the benchmarks running one xenops part, as a deployment runs it:
 *   bot       startSlackRuntime bot only (Socket Mode)
 *   worker    startSlackRuntime worker only
 *   bot-http  the HTTP-mode bot (startSlackRuntime bot only) on the PORT of its env (a free port the
 *             parent picked)
 *   idle      nothing started: the memory of the runtime and the modules alone, for reference
 * Usage: node --import tsx bench/proc-runtime.ts CONFIG.json (forked with an IPC channel).
 * Messages in: {type:"memory"} → {type:"memory", usage}; {type:"close"} → closes and exits.
 * Message out at start: {type:"ready", url?}.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { readRuntimeEnv } from "../src/config/env";
import { InventoryConfig } from "../src/config/schema";
import { startSlackRuntime } from "../src/runtime/modes";

export interface ProcConfig {
  role: "bot" | "worker" | "bot-http" | "idle";
  inventory: unknown;
  redisUrl: string;
  env: Record<string, string>;
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file || !process.send)
    throw new Error("usage: fork bench/proc-runtime.ts CONFIG.json with an IPC channel");
  const config = JSON.parse(readFileSync(file, "utf8")) as ProcConfig;
  const inventory = InventoryConfig.parse(config.inventory);
  const env = readRuntimeEnv(config.env);
  const logger = pino({ level: env.LOG_LEVEL, name: `bench-${config.role}` }, pino.destination(2));
  let close: () => Promise<void>;
  let url: string | undefined;
  if (config.role === "idle") {
    close = async () => {};
  } else {
    const running = await startSlackRuntime(
      { inventory, env, secretEnv: {}, logger, redisUrl: config.redisUrl },
      { bot: config.role !== "worker", worker: config.role === "worker" },
    );
    if (config.role === "bot-http") url = `http://127.0.0.1:${env.PORT}/slack/events`;
    close = () => running.close();
  }
  process.on("message", (msg: { type?: string }) => {
    if (msg.type === "memory") process.send?.({ type: "memory", usage: process.memoryUsage() });
    if (msg.type === "close") {
      close().finally(() => process.exit(0));
    }
  });
  // The parent went away: do not linger.
  process.on("disconnect", () => {
    close().finally(() => process.exit(0));
  });
  process.send({ type: "ready", ...(url ? { url } : {}) });
}

main().catch((err: unknown) => {
  process.stderr.write(`proc-runtime: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
