import { stringify } from "node:querystring";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { createSlackApp, ReplayGuard, redisReplayStore, type SlackApp } from "../../src/slack/app";
import { blockActionsPayload, FakeSlack, signSlackRequest, slashCommandPayload } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { BOT_TOKEN, captureLogger, SIGNING_SECRET, stubCore } from "./helpers";

const nowSec = () => Math.floor(Date.now() / 1000);

describe("Slack app in HTTP mode (Bolt HTTPReceiver + replay guard)", () => {
  let slack: FakeSlack;
  let app: SlackApp;
  let url: string;
  let redis: Redis;
  const log = captureLogger();
  /** Commands whose text starts with "wait" get their answer only when the test settles it (as an enqueue would). */
  const waiting = new Map<string, { resolve: (r: { text: string }) => void; reject: (e: Error) => void }>();
  const core = stubCore({
    command: (r) =>
      r.text.startsWith("wait")
        ? new Promise((resolve, reject) => waiting.set(r.text, { resolve, reject }))
        : Promise.resolve({ text: `you said ${r.text}` }),
    action: async () => ({ text: "done" }),
  });

  beforeAll(async () => {
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    redis = createRedisConnection(testRedisUrl(), { role: "client" });
    app = createSlackApp({
      mode: "http",
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      port: 0,
      host: "127.0.0.1",
      slackApiUrl: slack.apiUrl,
      core,
      logger: log.logger,
      replayStore: redisReplayStore(redis, uniquePrefix("slack-http")),
    });
    await app.start();
    url = `http://127.0.0.1:${app.httpPort()}/slack/events`;
  });

  afterAll(async () => {
    await app.stop();
    await slack.close();
    await closeConnection(redis);
  });

  async function post(
    body: string,
    opts: { ts?: number; signature?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; text: string; headers: Headers }> {
    const ts = opts.ts ?? nowSec();
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": String(ts),
        "x-slack-signature": opts.signature ?? signSlackRequest(SIGNING_SECRET, body, ts),
        ...opts.headers,
      },
      body,
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  const commandBody = (text: string, trigger = `t-${Math.random()}`, responseUrl?: string) =>
    stringify({
      ...slashCommandPayload({
        text,
        trigger_id: trigger,
        ...(responseUrl ? { response_url: responseUrl } : {}),
      }),
    });

  it("accepts a correctly signed slash command and answers with the ephemeral reply", async () => {
    const res = await post(commandBody("status lab", "http-trigger-1"));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ response_type: "ephemeral", text: "you said status lab" });
    expect(core.commands.at(-1)).toMatchObject({
      deliveryId: "http-trigger-1",
      channelId: "C0OPS",
      text: "status lab",
    });
  });

  it("acks a command that waits on I/O at once and empty, then replies through response_url", async () => {
    const responseUrl = slack.responseUrl("wait-ok");
    const res = await post(commandBody("wait ok", "http-wait-1", responseUrl));
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    // The core had the command before the ack went out; its answer comes after.
    waiting.get("wait ok")?.resolve({ text: "Queued as job 7" });
    const reply = await slack.waitForCall(
      (c) => c.method === "response_url" && c.args.path === "/response/wait-ok",
    );
    expect(reply.args).toEqual({
      response_type: "ephemeral",
      text: "Queued as job 7",
      path: "/response/wait-ok",
    });
  });

  it("posts the reply as an ephemeral message when response_url fails", async () => {
    // Nothing listens there: the POST is refused.
    const res = await post(commandBody("wait refused", "http-wait-2", "http://127.0.0.1:1/gone"));
    expect(res.text).toBe("");
    waiting.get("wait refused")?.resolve({ text: "late answer" });
    const eph = await slack.waitForCall(
      (c) => c.method === "chat.postEphemeral" && c.args.text === "late answer",
    );
    expect(eph.args).toMatchObject({ channel: "C0OPS", user: "U0ALICE" });
    expect(log.entries().some((e) => e.msg === "command reply via response_url failed")).toBe(true);
  });

  it("replies with a generic text through response_url when the core fails after the ack", async () => {
    const responseUrl = slack.responseUrl("wait-fail");
    const res = await post(commandBody("wait fail", "http-wait-3", responseUrl));
    expect(res.text).toBe("");
    waiting.get("wait fail")?.reject(new Error("boom after the ack"));
    const reply = await slack.waitForCall(
      (c) => c.method === "response_url" && c.args.path === "/response/wait-fail",
    );
    expect(String(reply.args.text)).toMatch(/failed inside xenops/);
    expect(String(reply.args.text)).not.toContain("boom");
    expect(log.entries().some((e) => e.msg === "command failed")).toBe(true);
  });

  it("accepts a signed block action, acks empty and replies via chat.postEphemeral", async () => {
    const body = stringify({
      payload: JSON.stringify(blockActionsPayload({ actionId: "xenops:deny", triggerId: "http-act-1" })),
    });
    const res = await post(body);
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    expect(core.actions.at(-1)).toMatchObject({ actionId: "xenops:deny", deliveryId: "http-act-1" });
    const eph = await slack.waitForCall((c) => c.method === "chat.postEphemeral" && c.args.text === "done");
    expect(eph.args).toMatchObject({ channel: "C0OPS", user: "U0ALICE" });
  });

  it("rejects a bad signature with 401 and never reaches the core", async () => {
    const before = core.commands.length;
    const body = commandBody("reboot everything");
    const res = await post(body, { signature: signSlackRequest("wrong-secret", body, nowSec()) });
    expect(res.status).toBe(401);
    const tampered = await post(`${body}x`, { signature: signSlackRequest(SIGNING_SECRET, body, nowSec()) });
    expect(tampered.status).toBe(401);
    expect(core.commands.length).toBe(before);
  });

  it("rejects a stale timestamp (older than 5 minutes) even when correctly signed", async () => {
    const before = core.commands.length;
    const res = await post(commandBody("status"), { ts: nowSec() - 6 * 60 });
    expect(res.status).toBe(401);
    expect(core.commands.length).toBe(before);
  });

  it("rejects a timestamp far in the future", async () => {
    const res = await post(commandBody("status"), { ts: nowSec() + 10 * 60 });
    expect(res.status).toBe(401);
  });

  it("rejects a replay of a valid request with 401", async () => {
    const body = commandBody("migrate web1 ics2", "replayed-trigger");
    const ts = nowSec();
    const first = await post(body, { ts });
    expect(first.status).toBe(200);
    const before = core.commands.length;
    const again = await post(body, { ts });
    expect(again.status).toBe(401);
    expect(core.commands.length).toBe(before);
    expect(
      log.entries().some((e) => e.msg === "slack request replayed: duplicate signature" && e.status === 401),
    ).toBe(true);
  });

  it("acks a duplicate carrying x-slack-retry-num without dispatching it again", async () => {
    const body = commandBody("status", "retried-trigger");
    const ts = nowSec();
    expect((await post(body, { ts })).status).toBe(200);
    const before = core.commands.length;
    const retry = await post(body, {
      ts,
      headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
    });
    expect(retry.status).toBe(200);
    expect(core.commands.length).toBe(before);
  });

  it("passes a re-signed Slack retry to the core with the same deliveryId (the core dedupes)", async () => {
    const body = commandBody("status", "same-trigger");
    expect((await post(body, { ts: nowSec() - 2 })).status).toBe(200);
    const retry = await post(body, { ts: nowSec(), headers: { "x-slack-retry-num": "1" } });
    expect(retry.status).toBe(200);
    expect(core.commands.filter((c) => c.deliveryId === "same-trigger")).toHaveLength(2);
  });

  it("rejects requests without signature headers", async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: commandBody("status"),
    });
    expect(res.status).toBe(401);
  });

  it("never logs the signing secret or the bot token", () => {
    const all = log.lines.join("\n");
    expect(all).not.toContain(SIGNING_SECRET);
    expect(all).not.toContain(BOT_TOKEN);
  });
});

describe("ReplayGuard headers", () => {
  const store = { claim: async () => true };

  it("accepts only v0= and 64 lowercase hex digits, and a timestamp within 5 minutes either way", () => {
    const now = 1_000_000_000_000;
    const guard = new ReplayGuard(store, 300, () => now);
    const ts = String(now / 1000);
    const hex = "a".repeat(64);
    expect(guard.checkHeaders(`v0=${hex}`, ts)).toEqual({ hex, ts: now / 1000 });
    for (const bad of [
      `v0=${hex}=1`,
      `v0=${hex}=`,
      `v0=${"A".repeat(64)}`,
      `v1=${hex}`,
      `v0=${hex.slice(1)}`,
      ` v0=${hex}`,
    ])
      expect(guard.checkHeaders(bad, ts)).toBeNull();
    expect(guard.checkHeaders(`v0=${hex}`, String(now / 1000 - 301))).toBeNull();
    expect(guard.checkHeaders(`v0=${hex}`, String(now / 1000 + 301))).toBeNull();
    expect(guard.checkHeaders(`v0=${hex}`, "12.5")).toBeNull();
    expect(guard.checkHeaders(null, ts)).toBeNull();
  });

  it("keeps a signature longer than it can be valid: twice the window, plus a margin", () => {
    expect(new ReplayGuard(store, 300).ttlMs).toBeGreaterThan(600_000);
  });
});
