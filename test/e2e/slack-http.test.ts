/**
 * The whole pipeline in HTTP mode: signed slash-command requests → Bolt's HTTPReceiver behind the
 * replay guard → core → BullMQ → worker → SSH → simulated reference lab → card at the fake Slack.
 *
 * startSlackRuntime does not expose the port it bound (Running has no httpPort()) and listens on
 * all interfaces, so the stack is wired as it does it, through createSlackApp + createDeps, on
 * 127.0.0.1 and port 0 (see ./harness.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_CHANNEL, type Lab, startLab } from "../../src/lab/lab";
import { FakeSlack, signSlackRequest } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import {
  awaitCard,
  BOT_TOKEN,
  blockTexts,
  cardMark,
  commandBody,
  type HttpStack,
  nodeSections,
  postSigned,
  startHttpStack,
} from "./harness";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
const nowSec = () => Math.floor(Date.now() / 1000);

describe("Slack HTTP mode end to end (signed requests, replay guard, worker, SSH, simulated lab)", () => {
  let slack: FakeSlack;
  let lab: Lab;
  let stack: HttpStack;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "xenops-e2e-http-"));
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 1500 });
    stack = await startHttpStack({
      inventory: lab.inventory,
      redisUrl: lab.redisUrl,
      queuePrefix: uniquePrefix("e2e-http"),
      slackApiUrl: slack.apiUrl,
      auditFile: join(dir, "audit.jsonl"),
      logger,
      worker: true,
    });
  });

  afterAll(async () => {
    await stack?.close();
    await lab?.close();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function jobCount(): Promise<number> {
    const counts = await stack.deps.jobs.queue("lab").getJobCounts();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  const status = (trigger: string) =>
    commandBody({
      text: "status",
      user_id: "UVIEWER1",
      channel_id: LAB_CHANNEL,
      trigger_id: trigger,
      response_url: slack.responseUrl(trigger),
    });

  /** The reply the bot sent to the command's response_url (the ack itself is empty: the enqueue waits on Redis). */
  const replyTo = async (trigger: string) =>
    (await slack.waitForCall((c) => c.method === "response_url" && c.args.path === `/response/${trigger}`))
      .args as { response_type?: string; text?: string };

  it("acks a correctly signed /xen status with 200, replies with the job, then delivers the card", async () => {
    const before = await jobCount();
    const mark = cardMark(slack);
    const trigger = `http-ok-${Date.now()}`;
    // The ack is empty and immediate (its latency is measured by npm run bench, not asserted here); the
    // job's number follows through response_url.
    const res = await postSigned(stack.url, status(trigger));
    expect(res.status).toBe(200);
    expect(res.text).toBe("");
    const body = await replyTo(trigger);
    expect(body.response_type).toBe("ephemeral");
    expect(body.text).toMatch(/^Queued as job \d+: status of lab\. The card will appear in this channel\./);
    expect(await jobCount()).toBe(before + 1);

    const { card } = await awaitCard(slack, LAB_CHANNEL, mark);
    const nodes = nodeSections(card.args.blocks);
    expect([...nodes.keys()]).toEqual(["ics1", "ics2"]);
    expect(nodes.get("ics2")).toMatch(/^internet\s+\d+\s+3070\s+2\s/m);
    expect(nodes.get("ics2")).toMatch(
      /^internet\s+peer\s+Connected\s+Primary\/Secondary\s+UpToDate\/UpToDate/m,
    );
    expect(blockTexts(card.args.blocks).join("\n")).toContain("2/2 nodes reachable");
  });

  it("rejects a bad signature with 401 and queues nothing", async () => {
    const before = await jobCount();
    const body = status(`http-badsig-${Date.now()}`);
    const wrongSecret = await postSigned(stack.url, body, {
      signature: signSlackRequest("not-the-signing-secret", body, nowSec()),
    });
    expect(wrongSecret.status).toBe(401);
    const tampered = body.replace("UVIEWER1", "UADMIN1");
    const reused = await postSigned(stack.url, tampered, {
      signature: signSlackRequest("not-the-signing-secret", body, nowSec()),
    });
    expect(reused.status).toBe(401);
    expect(await jobCount()).toBe(before);
  });

  it("rejects a correctly signed request with a stale timestamp (401) and queues nothing", async () => {
    const before = await jobCount();
    const res = await postSigned(stack.url, status(`http-stale-${Date.now()}`), {
      timestampSec: nowSec() - 6 * 60,
    });
    expect(res.status).toBe(401);
    expect(await jobCount()).toBe(before);
  });

  it("rejects a replay of an accepted request (401): one job only", async () => {
    const before = await jobCount();
    const trigger = `http-replay-${Date.now()}`;
    const body = status(trigger);
    const ts = nowSec();
    const first = await postSigned(stack.url, body, { timestampSec: ts });
    expect(first.status).toBe(200);
    expect((await replyTo(trigger)).text).toMatch(/^Queued as job \d+/);
    expect(await jobCount()).toBe(before + 1);
    const replay = await postSigned(stack.url, body, { timestampSec: ts });
    expect(replay.status).toBe(401);
    expect(await jobCount()).toBe(before + 1);
  });
});
