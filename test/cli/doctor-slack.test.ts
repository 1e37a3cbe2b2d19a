/**
 * `xenops doctor slack` against the fake Slack: tokens (auth.test, apps.connections.open), scopes from
 * the x-oauth-scopes header, the bot's membership of every configured channel (conversations.info) and
 * the configured user groups (usergroups.users.list), each problem with its fix. The same check runs at
 * bot start-up and logs warnings.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { runDoctorSlack } from "../../src/cli/doctor-slack";
import { createSlackWebClient } from "../../src/slack/client";
import { logSlackSetup } from "../../src/slack/setup-check";
import { FakeSlack, type FakeSlackOptions, MANIFEST_BOT_SCOPES } from "../support/fake-slack";

const BOT = "xoxb-doctor-bot-token-123";
const APP = "xapp-1-doctor-app-token-456";
/** examples/xenops.yml: channel C0123456789, user groups S0OPERATORS (operator) and S0ONCALL01 (on-call). */
const CONFIG = new URL("../../examples/xenops.yml", import.meta.url).pathname;
const GROUPS = { S0OPERATORS: ["UOP1", "UOP2"], S0ONCALL01: ["UONCALL"] };

const fakes: FakeSlack[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

async function fake(options: FakeSlackOptions): Promise<FakeSlack> {
  const f = await FakeSlack.start({ validTokens: [BOT], usergroups: GROUPS, ...options });
  fakes.push(f);
  return f;
}

function sink(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

async function doctor(slack: FakeSlack, env: Record<string, string>) {
  const out = sink();
  const err = sink();
  const code = await runDoctorSlack(
    CONFIG,
    { SLACK_API_URL: slack.apiUrl, LOG_LEVEL: "silent", ...env },
    out.stream,
    err.stream,
  );
  return { code, out: out.text(), err: err.text() };
}

describe("xenops doctor slack", () => {
  it("passes a complete Socket Mode set-up and says what it checked", async () => {
    const slack = await fake({
      scopes: MANIFEST_BOT_SCOPES,
      channels: { C0123456789: { name: "xen-ops", member: true } },
    });
    const { code, out } = await doctor(slack, { SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: APP });
    expect(out).toContain("ok   bot token: valid: bot xenops (UBOT) in Fake (T0FAKE)");
    expect(out).toContain("ok   bot scopes:");
    expect(out).toContain("ok   app token: valid, Socket Mode can connect");
    expect(out).toContain("ok   channel C0123456789 (cluster ics): the bot is a member of #xen-ops");
    expect(out).toContain("ok   user group S0OPERATORS: readable, 2 members");
    expect(out).toContain("ok   user group S0ONCALL01: readable, 1 member");
    expect(out).toMatch(/Slack set-up OK\n$/);
    expect(code).toBe(0);
    expect(slack.callsTo("conversations.info")[0]?.args).toMatchObject({ channel: "C0123456789" });
    expect(slack.callsTo("apps.connections.open")[0]?.token).toBe(APP);
  });

  it("names each problem with its fix: not in the channel, a missing and an extra scope, a wrong group", async () => {
    const slack = await fake({
      scopes: ["commands", "chat:write", "files:write", "channels:read", "groups:read", "users:read"],
      channels: { C0123456789: { name: "xen-ops", member: false } },
    });
    const { code, out } = await doctor(slack, { SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: APP });
    expect(code).toBe(1);
    expect(out).toContain("fail bot scopes: missing usergroups:read");
    expect(out).toContain("warn bot scopes: more than xenops needs: users:read");
    expect(out).toContain("fix: least privilege: remove users:read");
    expect(out).toContain("fail channel C0123456789 (cluster ics): the bot is not a member of #xen-ops");
    expect(out).toContain("fix: type /invite @xenops in #xen-ops");
    expect(out).toContain("fail user group S0OPERATORS: usergroups.users.list failed: missing_scope");
    expect(out).toContain("fix: add usergroups:read to the Bot Token Scopes");
    expect(out).toMatch(/\d+ problems in the Slack set-up\n$/);
  });

  it("a private channel the bot was not invited to, an unknown group", async () => {
    const slack = await fake({
      channels: { C0123456789: { name: "secret-ops", private: true, member: false } },
      usergroups: { S0OPERATORS: ["UOP1"] },
    });
    const { code, out } = await doctor(slack, { SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: APP });
    expect(code).toBe(1);
    expect(out).toContain("fail channel C0123456789 (cluster ics): channel not found");
    expect(out).toContain("type /invite @xenops in it");
    expect(out).toContain("fail user group S0ONCALL01: usergroups.users.list failed: no_such_subteam");
    expect(out).toContain("Copy group ID");
  });

  it("stops at a bad bot token, and refuses a bot token in the app token's place", async () => {
    const slack = await fake({});
    const bad = await doctor(slack, { SLACK_BOT_TOKEN: "xoxb-revoked-000", SLACK_APP_TOKEN: APP });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("fail bot token: auth.test failed: invalid_auth");
    expect(bad.out).toContain("install the app again");
    expect(slack.callsTo("conversations.info")).toHaveLength(0);

    const swapped = await doctor(slack, {
      SLACK_BOT_TOKEN: BOT,
      SLACK_APP_TOKEN: BOT.replace("xoxb", "xapp"),
    });
    expect(swapped.out).toContain("ok   bot token");
    expect(swapped.out).toContain("ok   app token");
    const wrongKind = await doctor(slack, { SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: "xoxp-user-token" });
    expect(wrongKind.code).toBe(1);
    expect(wrongKind.out).toContain("fail app token: SLACK_APP_TOKEN is not an app-level token");
  });

  it("HTTP mode checks the signing secret's form instead of an app token", async () => {
    const slack = await fake({});
    const bad = await doctor(slack, { SLACK_BOT_TOKEN: BOT, SLACK_SIGNING_SECRET: "not-a-secret" });
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(
      "fail signing secret: SLACK_SIGNING_SECRET does not look like a Slack signing secret",
    );
    const good = await doctor(slack, {
      SLACK_BOT_TOKEN: BOT,
      SLACK_SIGNING_SECRET: "0123456789abcdef0123456789abcdef",
    });
    expect(good.out).toContain("ok   signing secret");
    expect(good.code).toBe(0);
    expect(slack.callsTo("apps.connections.open")).toHaveLength(0);
  });

  it("exit 2 when the inventory cannot be read; 1 without a bot token", async () => {
    const slack = await fake({});
    const out = sink();
    const err = sink();
    expect(await runDoctorSlack("/nonexistent.yml", { SLACK_BOT_TOKEN: BOT }, out.stream, err.stream)).toBe(
      2,
    );
    expect(err.text()).toContain("/nonexistent.yml");
    const none = await doctor(slack, {});
    expect(none.code).toBe(1);
    expect(none.err).toContain("SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE) is not set");
  });

  it("at bot start-up the same check logs each problem as a warning", async () => {
    const slack = await fake({ channels: { C0LAB: { name: "lab", member: false } } });
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          done();
        },
      }),
    );
    const client = createSlackWebClient(BOT, { logger, slackApiUrl: slack.apiUrl });
    const report = await logSlackSetup(
      {
        bot: client,
        botToken: BOT,
        mode: "socket",
        app: createSlackWebClient(APP, { logger, slackApiUrl: slack.apiUrl }),
        appToken: APP,
        channels: [{ cluster: "lab", channel: "C0LAB" }],
        groups: [],
      },
      logger,
    );
    expect(report?.ok).toBe(false);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: "slack set-up problem",
        subject: "channel C0LAB (cluster lab)",
        fix: "type /invite @xenops in #lab",
        severity: "fail",
      }),
    );
  });
});
