/**
 * Shared by the end-to-end tests and the benchmarks (so: no vitest imports here). Builds the runtime
 * environment for the lab against the fake Slack, wires the HTTP-mode stack the way startSlackRuntime
 * does (startSlackRuntime does not expose the bound HTTP port), signs slash-command requests, and
 * reads status cards out of what the fake Slack recorded.
 */
import { stringify } from "node:querystring";
import { StaticGroupDirectory } from "../src/chat/authz";
import type { Block } from "../src/chat/types";
import { type RuntimeEnv, readRuntimeEnv } from "../src/config/env";
import type { InventoryConfig } from "../src/config/schema";
import type { Logger } from "../src/log";
import type { Workers } from "../src/queue/worker";
import { createDeps, type Deps } from "../src/runtime/deps";
import { createSlackApp, redisReplayStore, type SlackApp } from "../src/slack/app";
import { createSlackNotifier } from "../src/slack/sender";
import {
  type FakeSlack,
  type RecordedCall,
  type SlashCommandPayload,
  signSlackRequest,
  slashCommandPayload,
} from "./fake-slack";

export const BOT_TOKEN = "xoxb-e2e-bot-token-1234567890";
export const APP_TOKEN = "xapp-1-e2e-app-token-0987654321";
export const SIGNING_SECRET = "e2e5e2e5b10e8888abcd99yyyzzz85a5";

export interface LabEnvOptions {
  slackApiUrl: string;
  queuePrefix: string;
  /** Socket Mode (app token) or HTTP (signing secret); default socket. */
  mode?: "socket" | "http";
  /** Where the audit log goes (the default, ./xenops-audit.jsonl, would land in the checkout). */
  auditFile: string;
}

/** The environment variables of a deployment against the fake Slack. */
export function labEnvVars(opts: LabEnvOptions): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    ...((opts.mode ?? "socket") === "socket"
      ? { SLACK_APP_TOKEN: APP_TOKEN }
      : { SLACK_SIGNING_SECRET: SIGNING_SECRET, PORT: "0" }),
    SLACK_API_URL: opts.slackApiUrl,
    XENOPS_QUEUE_PREFIX: opts.queuePrefix,
    XENOPS_AUDIT_FILE: opts.auditFile,
    LOG_LEVEL: "warn",
  };
}

/** The RuntimeEnv a deployment would read, pointing at the fake Slack. */
export function labEnv(opts: LabEnvOptions): RuntimeEnv {
  return readRuntimeEnv(labEnvVars(opts));
}

/** A copy of the inventory whose (only) cluster answers in these channels. */
export function withChannels(inventory: InventoryConfig, channels: string[]): InventoryConfig {
  return { ...inventory, clusters: inventory.clusters.map((c) => ({ ...c, channels })) };
}

export interface HttpStack {
  app: SlackApp;
  deps: Deps;
  workers: Workers | null;
  /** `http://127.0.0.1:PORT/slack/events` */
  url: string;
  close(): Promise<void>;
}

/** Spacing of edits to one message, as startSlackRuntime configures its sender. */
const SLACK_EDIT_INTERVAL_MS = 3_000;

/**
 * The HTTP-mode bot (and optionally the workers) wired like startSlackRuntime, but listening on
 * 127.0.0.1 and a free port whose number we can read back. Left out: the ops server, the cluster event
 * sources (monitor, events2; startSlackRuntime starts them with the workers) and Slack user groups.
 */
export async function startHttpStack(opts: {
  inventory: InventoryConfig;
  redisUrl: string;
  queuePrefix: string;
  /** The fake Slack's Web API base URL. */
  slackApiUrl: string;
  auditFile: string;
  logger: Logger;
  worker: boolean;
}): Promise<HttpStack> {
  let deps: Deps | undefined;
  const app = createSlackApp({
    mode: "http",
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    port: 0,
    host: "127.0.0.1",
    slackApiUrl: opts.slackApiUrl,
    core: {
      command: (r) => (deps as Deps).core.command(r),
      action: (r) => (deps as Deps).core.action(r),
    },
    replayStore: redisReplayStore(() => (deps as Deps).redis, opts.queuePrefix),
    logger: opts.logger,
    senderLimits: { updateIntervalMs: SLACK_EDIT_INTERVAL_MS },
  });
  deps = await createDeps({
    inventory: opts.inventory,
    logger: opts.logger,
    redisUrl: opts.redisUrl,
    queuePrefix: opts.queuePrefix,
    secretEnv: {},
    notifier: createSlackNotifier(app.sender),
    groups: new StaticGroupDirectory(),
    ssh: opts.worker,
    auditFile: opts.auditFile,
  });
  const started = deps;
  const workers = opts.worker ? started.startWorkers() : null;
  try {
    await workers?.ready();
    await app.start();
  } catch (err) {
    await started.close();
    throw err;
  }
  return {
    app,
    deps: started,
    workers,
    url: `http://127.0.0.1:${app.httpPort()}/slack/events`,
    async close() {
      await app.stop();
      await started.close();
    },
  };
}

/** A form-encoded slash command body as Slack sends it. */
export function commandBody(overrides: Partial<SlashCommandPayload>): string {
  return stringify({ ...slashCommandPayload(overrides) });
}

/** POSTs a body with Slack's signature headers (correct ones unless overridden). */
export async function postSigned(
  url: string,
  body: string,
  opts: { timestampSec?: number; signature?: string } = {},
): Promise<{ status: number; text: string }> {
  const ts = opts.timestampSec ?? Math.floor(Date.now() / 1000);
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(ts),
      "x-slack-signature": opts.signature ?? signSlackRequest(SIGNING_SECRET, body, ts),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

// ---- reading cards ----

/** Every `text` string in a Block Kit structure, in document order. */
export function blockTexts(blocks: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "text" && typeof x === "string") out.push(x);
        else walk(x);
      }
    }
  };
  walk(blocks);
  return out;
}

/**
 * The node sections of a status card: node name → its mrkdwn (every section after a divider that
 * starts with `*name*`, up to the next divider).
 */
export function nodeSections(blocks: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(blocks)) return out;
  let current: string | null = null;
  for (const b of blocks as Block[]) {
    if (b.type === "divider") {
      current = null;
      continue;
    }
    if (b.type !== "section" || !b.text) continue;
    const head = /^\*([^*]+)\*/.exec(b.text.text);
    if (current === null && head?.[1]) current = head[1];
    if (current !== null) out.set(current, `${out.get(current) ?? ""}${b.text.text}\n`);
  }
  return out;
}

export interface CardDelivery {
  /** The job's message, posted into the channel first (the "queued" card or a placeholder). */
  placeholder: RecordedCall;
  /** The chat.update of that message that carries the status card. */
  card: RecordedCall;
  /** `${channel}/${ts}` of the message in the fake's `messages`. */
  key: string;
}

/** What the fake Slack holds before a command is sent: take it first, then send, then awaitCard. */
export interface CardMark {
  at: number;
  known: ReadonlySet<string>;
}

export function cardMark(slack: FakeSlack): CardMark {
  return { at: Date.now(), known: new Set(slack.messages.keys()) };
}

/** Whether blocks are a status card (src/slack/render/status.ts): its context line counts reachable nodes. */
export function isStatusCard(blocks: unknown): boolean {
  return blockTexts(blocks).some((t) => /\b\d+\/\d+ nodes reachable\b/.test(t));
}

/** Top-level messages posted into `channel` after the mark (job messages, not thread replies). */
export function postsSince(slack: FakeSlack, channel: string, mark: CardMark): RecordedCall[] {
  return slack
    .callsTo("chat.postMessage")
    .filter((c) => c.at >= mark.at && c.args.channel === channel && !c.args.thread_ts);
}

/**
 * Waits for the first top-level message a job posts into `channel` after the mark, then for the
 * chat.update that turns that message into the status card.
 */
export async function awaitCard(
  slack: FakeSlack,
  channel: string,
  mark: CardMark,
  timeoutMs = 15_000,
): Promise<CardDelivery> {
  const placeholder = await slack.waitForCall(
    (c) =>
      c.method === "chat.postMessage" && c.at >= mark.at && c.args.channel === channel && !c.args.thread_ts,
    timeoutMs,
  );
  // The fake numbers messages in order: the placeholder's message is the first one new since the mark.
  const key = [...slack.messages.keys()].find((k) => k.startsWith(`${channel}/`) && !mark.known.has(k));
  if (!key) throw new Error(`no new message in ${channel} after the placeholder`);
  const ts = key.slice(channel.length + 1);
  const card = await slack.waitForCall(
    (c) =>
      c.method === "chat.update" &&
      c.args.channel === channel &&
      c.args.ts === ts &&
      isStatusCard(c.args.blocks),
    timeoutMs,
  );
  return { placeholder, card, key };
}
