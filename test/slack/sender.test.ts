import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSlackWebClient } from "../../src/slack/client";
import { type SenderLimits, SlackSender } from "../../src/slack/sender";
import { FakeSlack } from "../support/fake-slack";
import { VirtualClock } from "../support/virtual-clock";
import { BOT_TOKEN, captureLogger } from "./helpers";

describe("SlackSender", () => {
  let slack: FakeSlack;
  let log: ReturnType<typeof captureLogger>;
  // The sender's time: pacing is asserted on the instants it chose, never on wall time.
  let clock: VirtualClock;
  /** Each Web API call as the sender made it, with the sender's clock at that moment. */
  let sent: { method: string; channel: unknown; text: unknown; at: number }[];

  beforeEach(async () => {
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    log = captureLogger();
    clock = new VirtualClock();
    sent = [];
  });
  afterEach(async () => {
    await slack.close();
  });

  function sender(limits: Partial<SenderLimits> = {}): SlackSender {
    const client = createSlackWebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, logger: log.logger });
    const apiCall = client.apiCall.bind(client);
    client.apiCall = (method, args) => {
      sent.push({ method, channel: args?.channel, text: args?.text, at: clock.now() });
      return apiCall(method, args);
    };
    return new SlackSender(client, log.logger, { limits: { retryBaseMs: 20, ...limits }, clock });
  }

  const timesOf = (method: string, channel?: string) =>
    sent
      .filter((c) => c.method === method && (channel === undefined || c.channel === channel))
      .map((c) => c.at);

  it("posts with the bot token and returns the message reference", async () => {
    const s = sender();
    const ref = await s.post("C1", {
      text: "hello",
      blocks: [{ type: "divider" }],
      threadTs: "1700000000.000009",
    });
    expect(ref).toEqual({ channel: "C1", ts: expect.stringMatching(/^\d+\.\d+$/) });
    const [call] = slack.callsTo("chat.postMessage");
    expect(call?.token).toBe(BOT_TOKEN);
    expect(call?.args).toMatchObject({ channel: "C1", text: "hello", thread_ts: "1700000000.000009" });
    expect(call?.args.blocks).toEqual([{ type: "divider" }]);
  });

  it("paces posts to one channel at about one per second, other channels unaffected", async () => {
    const s = sender(); // default: 1000 ms per channel
    const posts = [1, 2, 3].map((i) => s.post("CPACE", { text: `m${i}` }));
    const other = s.post("COTHER", { text: "elsewhere" });
    expect(s.queueDepth).toBe(4);
    await other;
    expect(timesOf("chat.postMessage", "COTHER")).toEqual([0]); // not behind CPACE's queue
    const refs = await Promise.all(posts);
    expect(refs.every((r) => r !== null)).toBe(true);
    const calls = slack.callsTo("chat.postMessage").filter((c) => c.args.channel === "CPACE");
    expect(calls.map((c) => c.args.text)).toEqual(["m1", "m2", "m3"]); // order kept
    expect(timesOf("chat.postMessage", "CPACE")).toEqual([0, 1_000, 2_000]);
    expect(s.queueDepth).toBe(0);
  });

  it("coalesces edits of one message: the first goes out, the newest replaces the queued ones", async () => {
    const s = sender({ updateIntervalMs: 300 });
    const ref = await s.post("C1", { text: "v0" });
    if (!ref) throw new Error("post failed");
    const edits = [1, 2, 3, 4, 5].map((i) => s.update(ref, { text: `v${i}` }));
    await Promise.all(edits); // every caller is released, including the replaced ones
    const updates = slack.callsTo("chat.update");
    expect(updates.map((c) => c.args.text)).toEqual(["v1", "v5"]);
    const [first = Number.NaN, second = Number.NaN] = timesOf("chat.update");
    expect(second - first).toBe(300);
    expect(slack.messages.get(`C1/${ref.ts}`)?.text).toBe("v5");
    expect(s.stats()).toMatchObject({ coalesced: 3, queueDepth: 0 });
  });

  it("always sends the final edit, also when it arrives while an edit is in flight", async () => {
    const s = sender({ updateIntervalMs: 200 });
    const ref = await s.post("C1", { text: "v0" });
    if (!ref) throw new Error("post failed");
    const first = s.update(ref, { text: "progress 10%" });
    await slack.waitForCall((c) => c.method === "chat.update");
    const last = s.update(ref, { text: "done", blocks: [{ type: "divider" }] });
    await Promise.all([first, last]);
    const updates = slack.callsTo("chat.update");
    expect(updates.map((c) => c.args.text)).toEqual(["progress 10%", "done"]);
    expect(updates[1]?.args.blocks).toEqual([{ type: "divider" }]);
  });

  it("honours 429 Retry-After, counts it and delivers afterwards", async () => {
    const s = sender();
    slack.rateLimit("chat.postMessage", 1, 1);
    const ref = await s.post("C429", { text: "after the limit" });
    expect(ref).not.toBeNull();
    const calls = slack.callsTo("chat.postMessage");
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(timesOf("chat.postMessage")).toEqual([0, 1_000]); // Retry-After: 1
    expect(s.rateLimitedCount).toBe(1);
    expect(log.entries().some((e) => e.msg === "slack call rate limited" && e.retryAfterMs === 1000)).toBe(
      true,
    );
  });

  it("holds back the rate-limited method for other channels too", async () => {
    const s = sender();
    slack.rateLimit("chat.postMessage", 1, 1);
    const a = s.post("CA", { text: "a" });
    // Once the sender has seen the 429 (calls already in flight cannot be held back).
    await vi.waitFor(() => expect(s.rateLimitedCount).toBe(1), { timeout: 10_000 });
    await s.post("CB", { text: "b" });
    expect(timesOf("chat.postMessage", "CB")).toEqual([1_000]); // after CA's Retry-After, not at once
    await a;
    expect(slack.callsTo("chat.postMessage").filter((c) => c.status === 200)).toHaveLength(2);
  });

  it("never re-posts a Slack error: logs it once with fixed message and fields, returns null", async () => {
    const s = sender();
    slack.failWith("chat.postMessage", "channel_not_found");
    const ref = await s.post("CGONE", { text: "lost" });
    expect(ref).toBeNull();
    await s.drain();
    // Exactly the one failed call: no retry, no error message sent anywhere.
    expect(slack.calls.map((c) => c.method)).toEqual(["chat.postMessage"]);
    const errors = log.entries().filter((e) => e.msg === "slack message not delivered");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      method: "chat.postMessage",
      channel: "CGONE",
      code: "channel_not_found",
      delivered: "nothing",
    });
    expect(log.lines.join("\n")).not.toContain(BOT_TOKEN);
    expect(s.stats().failed).toBe(1);
  });

  it("retries transient failures a bounded number of times", async () => {
    const s = sender({ maxRetries: 2 });
    slack.failHttp("chat.postEphemeral", 503, 2);
    await s.postEphemeral("C1", "U1", { text: "third time lucky" });
    expect(slack.callsTo("chat.postEphemeral").map((c) => c.status)).toEqual([503, 503, 200]);

    slack.failWith("chat.postEphemeral", "internal_error", 5);
    await s.postEphemeral("C1", "U1", { text: "gives up" });
    const giving = slack.callsTo("chat.postEphemeral").filter((c) => c.args.text === "gives up");
    expect(giving).toHaveLength(3); // first try + 2 retries
    expect(s.stats()).toMatchObject({ failed: 1, retried: 4 });
  });

  it("drops a message whose Retry-After exceeds the limit instead of waiting for hours", async () => {
    const s = sender({ maxRetryAfterMs: 5_000 });
    slack.rateLimit("chat.update", 1, 3600);
    const ref = await s.post("C1", { text: "v0" });
    if (!ref) throw new Error("post failed");
    await s.update(ref, { text: "v1" });
    expect(slack.callsTo("chat.update")).toHaveLength(1);
    expect(s.stats()).toMatchObject({ rateLimited: 1, failed: 1 });
  });

  it("throttles all calls through the global token bucket", async () => {
    const s = sender({ bucketCapacity: 2, bucketRefillPerSec: 10 });
    await Promise.all([1, 2, 3, 4].map((i) => s.postEphemeral("C1", "U1", { text: `e${i}` })));
    // Two from the burst, then one every 100 ms.
    expect(timesOf("chat.postEphemeral")).toEqual([0, 0, 100, 200]);
    expect(slack.callsTo("chat.postEphemeral")).toHaveLength(4);
  });

  it("uploads a file into a thread through the external upload flow", async () => {
    const s = sender();
    await s.upload("C1", {
      filename: "status.txt",
      title: "lab status",
      content: "node1 ok\nnode2 ok\n",
      threadTs: "1700000000.000001",
    });
    expect(slack.callsTo("files.getUploadURLExternal")[0]?.args).toMatchObject({ filename: "status.txt" });
    expect(slack.uploads).toEqual([
      {
        fileId: expect.any(String),
        filename: "status.txt",
        content: "node1 ok\nnode2 ok\n",
        token: BOT_TOKEN,
      },
    ]);
    const complete = slack.callsTo("files.completeUploadExternal")[0];
    expect(complete?.args).toMatchObject({ channel_id: "C1", thread_ts: "1700000000.000001" });
    expect(complete?.args.files).toEqual([{ id: slack.uploads[0]?.fileId, title: "lab status" }]);
  });
});
