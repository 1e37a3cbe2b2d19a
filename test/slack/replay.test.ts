/**
 * The HTTP receiver's replay guard against real Redis and Bolt's real HTTPReceiver, with correctly
 * signed requests: the exact signature form, the shared and persistent replay cache, body limits, and
 * what a replayed approval click finds.
 */
import { connect } from "node:net";
import { stringify } from "node:querystring";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ApprovalEngine, approvalActionHandler } from "../../src/approval/engine";
import { policyFor } from "../../src/approval/policy";
import type { CommandCore } from "../../src/chat/types";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { createSlackApp, MAX_SLACK_BODY_BYTES, redisReplayStore, type SlackApp } from "../../src/slack/app";
import { makeEngine, migratePlan, TestClock } from "../approval/helpers";
import { blockActionsPayload, FakeSlack, signSlackRequest, slashCommandPayload } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { BOT_TOKEN, captureLogger, SIGNING_SECRET, stubCore } from "./helpers";

const nowSec = () => Math.floor(Date.now() / 1000);

async function until(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

let slack: FakeSlack;
let redis: Redis;
const apps: SlackApp[] = [];
const engines: ApprovalEngine[] = [];

beforeAll(async () => {
  slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
  redis = createRedisConnection(testRedisUrl(), { role: "client" });
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.stop()));
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  await slack.close();
  await closeConnection(redis);
});

/** A bot instance on the given replay prefix (two instances on one prefix: replicas, or a restart). */
async function startApp(
  prefix: string,
  core: CommandCore = stubCore(),
  log = captureLogger(),
): Promise<{ app: SlackApp; url: string }> {
  const app = createSlackApp({
    mode: "http",
    botToken: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    port: 0,
    host: "127.0.0.1",
    slackApiUrl: slack.apiUrl,
    core,
    logger: log.logger,
    replayStore: redisReplayStore(redis, prefix),
  });
  await app.start();
  apps.push(app);
  return { app, url: `http://127.0.0.1:${app.httpPort()}/slack/events` };
}

async function post(
  url: string,
  body: string,
  opts: { ts?: number; signature?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
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
  return { status: res.status, text: await res.text() };
}

const command = (text: string, trigger: string) =>
  stringify({ ...slashCommandPayload({ text, trigger_id: trigger }) });

describe("signature form", () => {
  it("refuses a captured request replayed with =1, =2 appended to its signature (401), before the core", async () => {
    const core = stubCore();
    const { url } = await startApp(uniquePrefix("replay-suffix"), core);
    const body = command("fence ics2", "suffix-trigger");
    const ts = nowSec();
    const signature = signSlackRequest(SIGNING_SECRET, body, ts);
    expect((await post(url, body, { ts, signature })).status).toBe(200);
    for (const suffix of ["=1", "=2", "=", "=abc"])
      expect((await post(url, body, { ts, signature: `${signature}${suffix}` })).status).toBe(401);
    expect(
      (await post(url, body, { ts, signature: signature.toUpperCase().replace("V0=", "v0=") })).status,
    ).toBe(401);
    expect(core.commands).toHaveLength(1);
  });

  it("refuses the suffixed form even for a request never seen before (it is not Slack's form)", async () => {
    const core = stubCore();
    const { url } = await startApp(uniquePrefix("replay-suffix-new"), core);
    const body = command("status", "suffix-new");
    const ts = nowSec();
    expect(
      (await post(url, body, { ts, signature: `${signSlackRequest(SIGNING_SECRET, body, ts)}=1` })).status,
    ).toBe(401);
    expect(core.commands).toHaveLength(0);
  });
});

describe("the replay cache lives in Redis", () => {
  it("refuses a replay after a restart (a new app instance on the same Redis)", async () => {
    const prefix = uniquePrefix("replay-restart");
    const first = stubCore();
    const before = await startApp(prefix, first);
    const body = command("migrate internet ics1", "restart-trigger");
    const ts = nowSec();
    expect((await post(before.url, body, { ts })).status).toBe(200);
    await before.app.stop();
    apps.splice(apps.indexOf(before.app), 1);

    const second = stubCore();
    const log = captureLogger();
    const after = await startApp(prefix, second, log);
    expect((await post(after.url, body, { ts })).status).toBe(401);
    expect(second.commands).toHaveLength(0);
    expect(log.entries().some((e) => e.msg === "slack request replayed: duplicate signature")).toBe(true);
    // A different request still goes through.
    expect((await post(after.url, command("status", "restart-other"))).status).toBe(200);
    expect(second.commands).toHaveLength(1);
  });

  it("is shared by two replicas: a request accepted by one is refused by the other", async () => {
    const prefix = uniquePrefix("replay-replicas");
    const coreA = stubCore();
    const coreB = stubCore();
    const a = await startApp(prefix, coreA);
    const b = await startApp(prefix, coreB);
    const body = command("fence ics2", "replica-trigger");
    const ts = nowSec();
    expect((await post(a.url, body, { ts })).status).toBe(200);
    expect((await post(b.url, body, { ts })).status).toBe(401);
    expect(coreA.commands).toHaveLength(1);
    expect(coreB.commands).toHaveLength(0);
  });

  it("keys the cache by the signature and expires it after the skew window and a margin", async () => {
    const prefix = uniquePrefix("replay-key");
    const { url } = await startApp(prefix);
    const body = command("status", "key-trigger");
    const ts = nowSec();
    const signature = signSlackRequest(SIGNING_SECRET, body, ts);
    expect((await post(url, body, { ts, signature })).status).toBe(200);
    const ttl = await redis.pttl(`${prefix}:slack:replay:${signature.slice(3)}`);
    expect(ttl).toBeGreaterThan(10 * 60_000);
    expect(ttl).toBeLessThanOrEqual(11 * 60_000);
  });

  it("answers 503 when the cache cannot be asked, and dispatches nothing", async () => {
    const core = stubCore();
    const app = createSlackApp({
      mode: "http",
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      port: 0,
      host: "127.0.0.1",
      slackApiUrl: slack.apiUrl,
      core,
      logger: captureLogger().logger,
      replayStore: {
        claim: async () => {
          throw new Error("redis down");
        },
      },
    });
    await app.start();
    apps.push(app);
    const res = await post(`http://127.0.0.1:${app.httpPort()}/slack/events`, command("status", "down"));
    expect(res.status).toBe(503);
    expect(core.commands).toHaveLength(0);
  });

  it("refuses to start in HTTP mode without a replay store", () => {
    expect(() =>
      createSlackApp({
        mode: "http",
        botToken: BOT_TOKEN,
        signingSecret: SIGNING_SECRET,
        core: stubCore(),
        logger: captureLogger().logger,
      }),
    ).toThrow(/replay store/);
  });
});

/** Sends raw HTTP and resolves with what came back, without necessarily sending the whole body. */
function rawRequest(port: number, head: string, body: Buffer): Promise<{ response: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let response = "";
    socket.on("connect", () => {
      socket.write(head);
      if (body.length > 0) socket.write(body);
    });
    socket.on("data", (d) => {
      response += d.toString("latin1");
    });
    socket.on("error", () => resolve({ response }));
    socket.on("close", () => resolve({ response }));
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error("no answer"));
    });
  });
}

describe("body size", () => {
  it("answers 413 to a declared 300 KiB body before reading it (only the headers are sent)", async () => {
    const core = stubCore();
    const { app } = await startApp(uniquePrefix("body-declared"), core);
    const body = "x".repeat(300 * 1024);
    const ts = nowSec();
    const head = [
      "POST /slack/events HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Type: application/x-www-form-urlencoded",
      `Content-Length: ${body.length}`,
      `X-Slack-Request-Timestamp: ${ts}`,
      `X-Slack-Signature: ${signSlackRequest(SIGNING_SECRET, body, ts)}`,
      "",
      "",
    ].join("\r\n");
    // Not a byte of the body is sent: the answer cannot depend on reading it.
    const { response } = await rawRequest(app.httpPort() ?? 0, head, Buffer.alloc(0));
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(core.commands).toHaveLength(0);
  });

  it("answers 413 (not a reset) to a client that sends 300 KiB", async () => {
    const { url } = await startApp(uniquePrefix("body-sent"));
    const body = `text=${"x".repeat(300 * 1024)}`;
    const res = await post(url, body);
    expect(res.status).toBe(413);
    expect(MAX_SLACK_BODY_BYTES).toBe(256 * 1024);
  });

  it("answers 413 to a chunked body once it passes 256 KiB", async () => {
    const core = stubCore();
    const { app } = await startApp(uniquePrefix("body-chunked"), core);
    const ts = nowSec();
    const chunk = Buffer.alloc(64 * 1024, "x");
    const chunks = Array.from({ length: 5 }, () =>
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]),
    );
    const head = [
      "POST /slack/events HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Type: application/x-www-form-urlencoded",
      "Transfer-Encoding: chunked",
      `X-Slack-Request-Timestamp: ${ts}`,
      `X-Slack-Signature: v0=${"0".repeat(64)}`,
      "",
      "",
    ].join("\r\n");
    // No terminating chunk: the server must answer without waiting for the end of the body.
    const { response } = await rawRequest(app.httpPort() ?? 0, head, Buffer.concat(chunks));
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(core.commands).toHaveLength(0);
  });

  it("checks the headers before the body: a malformed signature is 401 without reading it", async () => {
    const { app } = await startApp(uniquePrefix("body-headers"));
    const head = [
      "POST /slack/events HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Length: 1000000",
      `X-Slack-Request-Timestamp: ${nowSec()}`,
      `X-Slack-Signature: v0=${"0".repeat(64)}=1`,
      "",
      "",
    ].join("\r\n");
    const { response } = await rawRequest(app.httpPort() ?? 0, head, Buffer.alloc(0));
    expect(response).toMatch(/^HTTP\/1\.1 401 /);
  });
});

describe("replayed approval clicks", () => {
  it("a click on a decided or expired approval is refused, and nothing more is queued", async () => {
    const clock = new TestClock(Date.now());
    const h = makeEngine({ now: clock.now }, (e) => engines.push(e));
    const handler = approvalActionHandler(h.engine);
    const answers: (string | null)[] = [];
    const core = stubCore({
      action: async (r) => {
        const answer = await handler.handle(r);
        answers.push(answer?.text ?? null);
        return answer;
      },
    });
    const { url } = await startApp(uniquePrefix("replay-approval"), core);
    const request = (u = "UOPER1") =>
      h.engine.request(migratePlan(), {
        requestedBy: u,
        channel: "C0OPS",
        policy: policyFor("migrate", { approvals: undefined }),
      });
    const click = (approvalId: string, triggerId: string) =>
      stringify({
        payload: JSON.stringify(
          blockActionsPayload({
            actionId: "xenops:approval:approve",
            value: approvalId,
            userId: "UAPPROVER1",
            triggerId,
          }),
        ),
      });

    const decided = await request();
    const body = click(decided.id, "click-decided");
    const ts = nowSec();
    expect((await post(url, body, { ts })).status).toBe(200);
    await until(() => answers.length === 1);
    await h.engine.settled();
    expect((await h.engine.get(decided.id))?.status).toBe("approved");
    expect(h.enqueued).toHaveLength(1);
    // The same request again: the guard refuses it.
    expect((await post(url, body, { ts })).status).toBe(401);
    // The same click signed anew (as a Slack retry would be): the engine refuses, nothing more is queued.
    expect((await post(url, body, { ts: ts + 1 })).status).toBe(200);
    await until(() => answers.length === 2);
    expect(answers[1]).toMatch(/already approved/);

    const expired = await request();
    clock.advance(10 * 60_000 + 1);
    expect((await post(url, click(expired.id, "click-expired"))).status).toBe(200);
    await until(() => answers.length === 3);
    expect(answers[2]).toMatch(/expired/);
    await h.engine.settled();
    expect((await h.engine.get(expired.id))?.status).toBe("expired");
    expect(h.enqueued).toHaveLength(1);
  });
});
