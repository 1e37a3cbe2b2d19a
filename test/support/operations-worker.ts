/**
 * A worker PROCESS for the crash tests (test/e2e/operations-crash.test.ts): createDeps + startWorkers
 * against a lab inventory, its notifier printing every message as one JSON line on stdout. The test
 * SIGKILLs it in the middle of an operation and starts another one to see what recovery makes of it.
 *
 * Environment: XENOPS_TEST_WORKER = JSON { inventoryFile, redisUrl, prefix, operations }.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { MessageRef, Notifier, OutboundMessage } from "../../src/chat/types";
import { InventoryConfig } from "../../src/config/schema";
import type { OperationSettings } from "../../src/operations/context";
import { createDeps } from "../../src/runtime/deps";
import { renderPlainText } from "../../src/slack/render/text";

interface WorkerConfig {
  inventoryFile: string;
  redisUrl: string;
  prefix: string;
  operations: Partial<OperationSettings>;
}

const config = JSON.parse(process.env.XENOPS_TEST_WORKER ?? "{}") as WorkerConfig;
const emit = (line: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ pid: process.pid, ...line })}\n`);

let seq = 0;
const notifier: Notifier = {
  async post(channel: string, message: OutboundMessage): Promise<MessageRef> {
    seq += 1;
    const ts = `${process.pid}.${String(seq).padStart(6, "0")}`;
    emit({ kind: "post", channel, ts, text: renderPlainText(message), blocks: message.blocks ?? [] });
    return { channel, ts };
  },
  async update(ref: MessageRef, message: OutboundMessage): Promise<void> {
    emit({ kind: "update", channel: ref.channel, ts: ref.ts, text: renderPlainText(message) });
  },
  async postEphemeral(channel: string, user: string, message: OutboundMessage): Promise<void> {
    emit({ kind: "ephemeral", channel, user, text: renderPlainText(message) });
  },
};

async function main(): Promise<void> {
  const inventory = InventoryConfig.parse(JSON.parse(readFileSync(config.inventoryFile, "utf8")));
  const deps = await createDeps({
    inventory,
    logger: pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" }),
    redisUrl: config.redisUrl,
    queuePrefix: config.prefix,
    secretEnv: process.env,
    notifier,
    groups: new StaticGroupDirectory(),
    operations: config.operations,
  });
  const workers = deps.startWorkers();
  await workers.ready();
  emit({ kind: "ready" });
  process.once("SIGTERM", () => {
    void deps.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`operations-worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
