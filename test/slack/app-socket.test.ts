import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSlackApp, type SlackApp } from "../../src/slack/app";
import { FakeSlack } from "../support/fake-slack";
import { APP_TOKEN, BOT_TOKEN, captureLogger, stubCore } from "./helpers";

describe("Slack app in Socket Mode (through Bolt and the fake Slack)", () => {
  let slack: FakeSlack;
  let app: SlackApp | null = null;
  let log: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    log = captureLogger();
  });

  afterEach(async () => {
    await app?.stop();
    app = null;
    await slack.close();
  });

  async function startApp(core: ReturnType<typeof stubCore>, extra: { ackDeadlineMs?: number } = {}) {
    app = createSlackApp({
      mode: "socket",
      botToken: BOT_TOKEN,
      appToken: APP_TOKEN,
      slackApiUrl: slack.apiUrl,
      core,
      logger: log.logger,
      ...extra,
    });
    await app.start();
    await slack.waitForSocketConnection();
    return app;
  }

  it("connects with the app token and verifies the bot token at start", async () => {
    await startApp(stubCore());
    const open = slack.callsTo("apps.connections.open");
    expect(open).toHaveLength(1);
    expect(open[0]?.token).toBe(APP_TOKEN);
    expect(slack.callsTo("auth.test")[0]?.token).toBe(BOT_TOKEN);
  });

  it("acks a slash command with the core's reply as an ephemeral response", async () => {
    const core = stubCore({
      command: async (r) => ({
        text: `status of ${r.text}`,
        blocks: [{ type: "section", text: { type: "mrkdwn", text: "*lab*" } }],
      }),
    });
    await startApp(core);
    const ack = await slack.sendSlashCommand({
      text: "  status lab  ",
      trigger_id: "111.222.abc",
      user_id: "U0BOB",
    });

    expect(ack.payload).toMatchObject({ response_type: "ephemeral", text: "status of status lab" });
    expect(ack.payload.blocks).toEqual([{ type: "section", text: { type: "mrkdwn", text: "*lab*" } }]);
    expect(core.commands).toEqual([
      {
        source: "slack",
        deliveryId: "111.222.abc",
        teamId: "T0FAKE",
        channelId: "C0OPS",
        userId: "U0BOB",
        text: "status lab",
      },
    ]);
  });

  it("ignores other slash commands and honours a configured command name", async () => {
    const core = stubCore();
    app = createSlackApp({
      mode: "socket",
      botToken: BOT_TOKEN,
      appToken: APP_TOKEN,
      slackApiUrl: slack.apiUrl,
      command: "/xen-lab",
      core,
      logger: log.logger,
    });
    await app.start();
    await slack.waitForSocketConnection();
    const ack = await slack.sendSlashCommand({ command: "/xen-lab", text: "help" });
    expect(ack.payload).toMatchObject({ text: "ok: help" });
    await expect(
      slack.sendEnvelope("slash_commands", { command: "/other", text: "x" }, { timeoutMs: 800 }),
    ).rejects.toThrow(/not acked/);
    expect(core.commands.map((c) => c.text)).toEqual(["help"]);
  });

  it("acks with a holding text when the core is slow, then sends its reply as an ephemeral message", async () => {
    // The core answers only once the holding ack has been seen: slow by construction, not by a sleep.
    let answer!: (reply: { text: string }) => void;
    const core = stubCore({
      command: () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    });
    await startApp(core, { ackDeadlineMs: 100 });
    const ack = await slack.sendSlashCommand({ user_id: "U0SLOW" });
    expect(String(ack.payload.text)).toMatch(/Working on it/);
    answer({ text: "late answer" });
    const eph = await slack.waitForCall((c) => c.method === "chat.postEphemeral");
    expect(eph.args).toMatchObject({ channel: "C0OPS", user: "U0SLOW", text: "late answer" });
  });

  it("answers a failing core with a generic text and logs the failure", async () => {
    const core = stubCore({
      command: async () => {
        throw new Error("boom in core");
      },
    });
    await startApp(core);
    const ack = await slack.sendSlashCommand();
    expect(ack.payload).toMatchObject({ response_type: "ephemeral" });
    expect(String(ack.payload.text)).toMatch(/failed inside xenops/);
    expect(String(ack.payload.text)).not.toContain("boom");
    expect(log.entries().some((e) => e.msg === "command failed")).toBe(true);
  });

  it("acks a block action at once and posts the core's reply ephemerally", async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const core = stubCore({
      action: async () => {
        await gate; // the ack must not wait for the core
        return { text: "approved by you" };
      },
    });
    await startApp(core);
    const ack = await slack.sendBlockAction({
      actionId: "xenops:approve",
      value: "job-42",
      userId: "U0CAROL",
      messageTs: "1700000000.000777",
      triggerId: "999.888.xyz",
    });
    expect(ack.payload).toEqual({});
    expect(core.actions).toEqual([
      {
        source: "slack",
        deliveryId: "999.888.xyz",
        channelId: "C0OPS",
        userId: "U0CAROL",
        messageTs: "1700000000.000777",
        actionId: "xenops:approve",
        value: "job-42",
        actionTs: "1700000001.000000",
      },
    ]);
    release();
    const eph = await slack.waitForCall((c) => c.method === "chat.postEphemeral");
    expect(eph.args).toMatchObject({ channel: "C0OPS", user: "U0CAROL", text: "approved by you" });
    expect(eph.token).toBe(BOT_TOKEN);
  });

  it("does not dispatch actions outside the xenops: namespace and posts nothing for a null reply", async () => {
    const core = stubCore({ action: async () => null });
    await startApp(core);
    await slack.sendBlockAction({ actionId: "xenops:refresh" });
    await expect(
      slack.sendEnvelope("interactive", { ...blockActionsForeign() }, { timeoutMs: 800 }),
    ).rejects.toThrow(/not acked/);
    expect(core.actions.map((a) => a.actionId)).toEqual(["xenops:refresh"]);
    await app?.sender.drain();
    expect(slack.callsTo("chat.postEphemeral")).toHaveLength(0);
  });

  it("never logs the tokens", async () => {
    await startApp(stubCore());
    await slack.sendSlashCommand({ text: "status" });
    const all = log.lines.join("\n");
    expect(log.lines.length).toBeGreaterThan(0);
    expect(all).not.toContain(BOT_TOKEN);
    expect(all).not.toContain(APP_TOKEN);
    expect(all).not.toContain("legacy-verification-token");
  });

  it("fails start() on an invalid bot token", async () => {
    app = createSlackApp({
      mode: "socket",
      botToken: "xoxb-wrong",
      appToken: APP_TOKEN,
      slackApiUrl: slack.apiUrl,
      core: stubCore(),
      logger: log.logger,
    });
    await expect(app.start()).rejects.toThrow(/invalid_auth/);
    app = null;
  });
});

function blockActionsForeign(): Record<string, unknown> {
  return {
    type: "block_actions",
    user: { id: "U0ALICE", username: "alice" },
    api_app_id: "AFAKE",
    token: "legacy-verification-token",
    container: { type: "message", message_ts: "1.2", channel_id: "C0OPS" },
    trigger_id: "t-foreign",
    team: { id: "T0FAKE", domain: "fake" },
    channel: { id: "C0OPS", name: "ops" },
    message: { type: "message", ts: "1.2" },
    response_url: "https://hooks.slack.test/x",
    actions: [{ type: "button", action_id: "other:thing", block_id: "b", value: "v", action_ts: "1" }],
  };
}
