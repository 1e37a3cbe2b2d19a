/**
 * The `/xen` modal in HTTP mode, for real: correctly signed requests → the replay guard → Bolt's
 * HTTPReceiver → the form core and the command core → BullMQ on redis-server → worker → SSH → the
 * simulated reference lab, with the fake Slack Web API taking views.open / views.update and the posts.
 * Slash `/xen` alone opens the modal; a select change updates it with only valid targets; a wrong typed
 * confirmation is answered `response_action: errors` on its field; a right one files one approval, and
 * the same submission again files none; an incident's button opens the modal pre-filled, with its dry
 * run, and files its request in the incident's thread.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "node:querystring";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { FormCore } from "../../src/chat/types";
import { viewText } from "../../src/forms/text";
import { LAB_CHANNEL, type Lab, startLab } from "../../src/lab/lab";
import { deriveJobId } from "../../src/queue/names";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { formCoreOf } from "../../src/runtime/forms";
import { createSlackApp, redisReplayStore, type SlackApp } from "../../src/slack/app";
import { createSlackNotifier } from "../../src/slack/sender";
import {
  blockActionsPayload,
  FakeSlack,
  type RecordedCall,
  signSlackRequest,
  slashCommandPayload,
} from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
const BOT_TOKEN = "xoxb-forms-http-bot-token-12345";
const SIGNING_SECRET = "forms5http5b10e8888abcd99yyyzzz8";

type Json = Record<string, unknown>;

async function until<T>(
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  ms = 60_000,
) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** POSTs a form-encoded body with Slack's signature headers (this exact timestamp, when given). */
async function postSigned(url: string, body: string, timestampSec = Math.floor(Date.now() / 1000)) {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(timestampSec),
      "x-slack-signature": signSlackRequest(SIGNING_SECRET, body, timestampSec),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

const interactive = (payload: Json) => stringify({ payload: JSON.stringify(payload) });
const user = (id: string) => ({ id, username: id.toLowerCase(), name: id.toLowerCase(), team_id: "T0FAKE" });

type InputBlock = { type?: string; block_id?: string; element?: Json };

/** The view as Slack sends it back: the modal as last opened or updated, with its inputs' values. */
function viewPayload(slack: FakeSlack, viewId: string, chosen: Record<string, string | string[]> = {}): Json {
  const known = slack.views.get(viewId);
  if (!known) throw new Error(`no view ${viewId}`);
  const values: Record<string, Json> = {};
  for (const b of (known.view.blocks as InputBlock[] | undefined) ?? []) {
    if (b.type !== "input" || !b.block_id || !b.element) continue;
    const el = b.element;
    const given = chosen[b.block_id.split(".")[0] ?? ""];
    const actionId = String(el.action_id);
    const opt = (value: string) => ({ text: { type: "plain_text", text: value }, value });
    if (el.type === "checkboxes") {
      const initial = ((el.initial_options as { value: string }[] | undefined) ?? []).map((o) => o.value);
      const list = given === undefined ? initial : Array.isArray(given) ? given : [given];
      values[b.block_id] = { [actionId]: { type: "checkboxes", selected_options: list.map(opt) } };
    } else if (el.type === "plain_text_input") {
      const value = given === undefined ? ((el.initial_value as string | undefined) ?? null) : String(given);
      values[b.block_id] = { [actionId]: { type: "plain_text_input", value } };
    } else {
      const value =
        given === undefined ? (el.initial_option as { value: string } | undefined)?.value : String(given);
      values[b.block_id] = { [actionId]: { type: el.type, selected_option: value ? opt(value) : null } };
    }
  }
  return { id: viewId, hash: known.hash, ...known.view, state: { values } };
}

/** block_actions of a select in the modal (`dispatch_action`): the user chose `value` for `field`. */
function selectPayload(slack: FakeSlack, viewId: string, userId: string, field: string, value: string): Json {
  const view = viewPayload(slack, viewId, { [field]: value });
  const block = ((view.blocks as InputBlock[]) ?? []).find((b) => b.block_id?.split(".")[0] === field);
  return {
    type: "block_actions",
    user: user(userId),
    api_app_id: "AFAKE",
    token: "legacy-verification-token",
    container: { type: "view", view_id: viewId },
    trigger_id: `${Date.now()}.4242.select`,
    team: { id: "T0FAKE", domain: "fake" },
    is_enterprise_install: false,
    view,
    actions: [
      {
        type: "static_select",
        action_id: `xenops-form:${field}`,
        block_id: block?.block_id ?? field,
        selected_option: { text: { type: "plain_text", text: value }, value },
        action_ts: `${Math.floor(Date.now() / 1000)}.000100`,
      },
    ],
  };
}

function submissionPayload(
  slack: FakeSlack,
  viewId: string,
  userId: string,
  chosen: Record<string, string | string[]> = {},
): Json {
  return {
    type: "view_submission",
    team: { id: "T0FAKE", domain: "fake" },
    user: user(userId),
    api_app_id: "AFAKE",
    token: "legacy-verification-token",
    trigger_id: `${Date.now()}.4242.submit`,
    view: viewPayload(slack, viewId, chosen),
    is_enterprise_install: false,
  };
}

const viewOf = (c: RecordedCall): Json =>
  (typeof c.args.view === "string" ? JSON.parse(c.args.view) : c.args.view) as Json;

/** The options offered by a select of the view, by field. */
function optionsOf(view: Json, field: string): string[] {
  const block = ((view.blocks as InputBlock[]) ?? []).find((b) => b.block_id?.split(".")[0] === field);
  return ((block?.element?.options as { value: string }[] | undefined) ?? []).map((o) => o.value);
}

const approvalCards = (slack: FakeSlack) =>
  slack
    .callsTo("chat.postMessage")
    .filter((c) => JSON.stringify(c.args.blocks ?? []).includes("xenops:approval:approve"));

describe("the /xen modal over Slack's HTTP mode (signed requests, fake Web API, lab over SSH)", () => {
  let slack: FakeSlack;
  let lab: Lab;
  let deps: Deps;
  let app: SlackApp;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "xenops-forms-http-"));
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 1500 });
    const queuePrefix = uniquePrefix("forms-http");
    let forms: FormCore | undefined;
    app = createSlackApp({
      mode: "http",
      botToken: BOT_TOKEN,
      signingSecret: SIGNING_SECRET,
      port: 0,
      host: "127.0.0.1",
      slackApiUrl: slack.apiUrl,
      core: { command: (r) => deps.core.command(r), action: (r) => deps.core.action(r) },
      replayStore: redisReplayStore(() => deps.redis, queuePrefix),
      logger,
      forms: {
        open: (...a) => (forms as FormCore).open(...a),
        change: (...a) => (forms as FormCore).change(...a),
        preflight: (...a) => (forms as FormCore).preflight(...a),
        submit: (...a) => (forms as FormCore).submit(...a),
      },
    });
    deps = await createDeps({
      inventory: {
        ...lab.inventory,
        clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor: { intervalMs: 500 } })),
      },
      logger,
      redisUrl: lab.redisUrl,
      queuePrefix,
      secretEnv: {},
      notifier: createSlackNotifier(app.sender),
      groups: new StaticGroupDirectory(),
      auditFile: join(dir, "audit.jsonl"),
      events: { removeSchedulersOnStop: true },
    });
    forms = formCoreOf(deps);
    await deps.startWorkers().ready();
    await app.start();
    url = `http://127.0.0.1:${app.httpPort()}/slack/events`;
    // The modal is built from the events monitor's stored facts: wait for its first pass.
    await until(async () => (await deps.events.store.load("lab")).facts);
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await deps?.close();
    await lab?.close();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `/xen` with no arguments, signed: the ack is empty and the modal opens at the fake. */
  async function openForm(userId: string): Promise<string> {
    const opened = slack.callsTo("views.open").length;
    const body = stringify({
      ...slashCommandPayload({ text: "", user_id: userId, channel_id: LAB_CHANNEL }),
    });
    const res = await postSigned(url, body);
    expect(res.status).toBe(200);
    const call = await until(() => slack.callsTo("views.open")[opened]);
    expect(call.args.trigger_id).toBeTruthy();
    return [...slack.views.keys()].at(-1) as string;
  }

  /** A select change, signed; waits for the views.update it causes. */
  async function choose(viewId: string, userId: string, field: string, value: string): Promise<Json> {
    const before = slack.views.get(viewId)?.updates ?? 0;
    const res = await postSigned(url, interactive(selectPayload(slack, viewId, userId, field, value)));
    expect(res.status).toBe(200);
    await until(() => (slack.views.get(viewId)?.updates ?? 0) > before);
    return slack.views.get(viewId)?.view as Json;
  }

  it("opens the modal on a signed `/xen` with no arguments, then offers only valid targets", async () => {
    const viewId = await openForm("UOPER1");
    const opened = slack.views.get(viewId)?.view as Json;
    expect(opened.callback_id).toBe("xenops-form");
    expect(optionsOf(opened, "action")).toEqual([
      "status",
      "migrate",
      "create",
      "fence",
      "evacuate",
      "attest-off",
      "drbd-watch",
      "approve",
    ]);
    const blocks = opened.blocks as { type: string; dispatch_action?: boolean }[];
    expect(blocks.filter((b) => b.type === "input").every((b) => b.dispatch_action === true)).toBe(true);

    const migrate = await choose(viewId, "UOPER1", "action", "migrate");
    expect(optionsOf(migrate, "guest")).toEqual(["internet"]);
    const update = slack.callsTo("views.update").at(-1) as RecordedCall;
    expect(update.args.view_id).toBe(viewId);
    // internet runs on ics2 (the stored facts) and its DRBD resource is on ics1 and ics2: ics1 only.
    const guest = await choose(viewId, "UOPER1", "guest", "internet");
    expect(optionsOf(guest, "target")).toEqual(["ics1"]);
  });

  it("answers a wrong typed confirmation with errors on its field; a right one files one approval, once", async () => {
    const viewId = await openForm("UOPER1");
    await choose(viewId, "UOPER1", "action", "fence");
    await choose(viewId, "UOPER1", "node", "ics2");
    await until(() => /(✅|⛔) \*Preflight\*/.test(viewText(slack.views.get(viewId)?.view ?? {})));
    const withOverride = await choose(viewId, "UOPER1", "override_last_copy", "internet");
    expect(viewText(withOverride)).toContain("Type exactly: ics2/internet");

    const wrong = await postSigned(
      url,
      interactive(submissionPayload(slack, viewId, "UOPER1", { confirm: "ics2" })),
    );
    expect(wrong.status).toBe(200);
    expect(JSON.parse(wrong.text)).toEqual({
      response_action: "errors",
      errors: { confirm: "Type exactly: ics2/internet" },
    });
    const planJob = deriveJobId("lab", "operation-plan", viewId);
    expect((await deps.jobs.waitForJob(planJob, 100)).state).toBe("missing");

    const cards = approvalCards(slack).length;
    const ts = Math.floor(Date.now() / 1000);
    const body = interactive(submissionPayload(slack, viewId, "UOPER1", { confirm: "ics2/internet" }));
    const right = await postSigned(url, body, ts);
    expect(right.status).toBe(200);
    const ack = JSON.parse(right.text) as { response_action: string; view: Json };
    expect(ack.response_action).toBe("update");
    const done = viewText(ack.view);
    expect(done).toContain("Filed `/xen fence lab ics2 --override-last-copy internet`");
    const job = /Queued as job (\d+): planning /.exec(done)?.[1];
    expect(job).toBeDefined();
    const outcome = await deps.jobs.waitForJob(planJob, 60_000);
    expect(outcome.state).toBe("completed");
    await until(() => approvalCards(slack).length > cards);
    expect(approvalCards(slack)).toHaveLength(cards + 1);

    // The very same request again (a replay): refused by the guard, nothing dispatched.
    expect((await postSigned(url, body, ts)).status).toBe(401);
    // The same view submitted again (a double tap, Slack resending it), freshly signed: nothing new.
    const again = await postSigned(
      url,
      interactive(submissionPayload(slack, viewId, "UOPER1", { confirm: "ics2/internet" })),
    );
    expect(again.status).toBe(200);
    expect(viewText((JSON.parse(again.text) as { view: Json }).view)).toContain(
      `Already queued as job ${job}`,
    );
    expect((await deps.jobs.waitForJob(planJob, 60_000)).state).toBe("completed");
    expect(approvalCards(slack)).toHaveLength(cards + 1);
  });

  it("opens the modal pre-filled from an incident's button, with its dry run, and files it in the incident's thread", async () => {
    lab.sim.faults.splitBrain("internet");
    const incident = await until(() =>
      slack
        .callsTo("chat.postMessage")
        .find((c) => JSON.stringify(c.args.blocks ?? []).includes("Keep ics1's data")),
    );
    type Button = { action_id: string; value: string; text: { text: string } };
    const buttons = ((incident.args.blocks as { type: string; elements?: Button[] }[]) ?? []).flatMap((b) =>
      b.type === "actions" ? (b.elements ?? []) : [],
    );
    const keep = buttons.find((b) => b.text.text === "Keep ics1's data");
    if (!keep) throw new Error("no Keep ics1's data button");
    // The incident's own message (its buttons are on it; follow-ups go in its thread).
    const parent = await until(() =>
      [...slack.messages.values()].find(
        (m) =>
          m.channel === LAB_CHANNEL &&
          m.threadTs === null &&
          JSON.stringify(m.blocks).includes("Keep ics1's data"),
      ),
    );
    const messageTs = parent.ts;

    const opened = slack.callsTo("views.open").length;
    const click = await postSigned(
      url,
      interactive(
        blockActionsPayload({
          actionId: keep.action_id,
          value: keep.value,
          userId: "UAPPROVER1",
          channelId: LAB_CHANNEL,
          messageTs,
        }),
      ),
    );
    expect(click.status).toBe(200);
    const open = await until(() => slack.callsTo("views.open")[opened]);
    const prefilled = viewText(viewOf(open));
    expect(prefilled).toContain("*recover");
    expect(prefilled).toContain("DRBD resource (resource=): *internet");
    expect(prefilled).toContain("Keep the data of (target=): *ics1 | ics2");
    expect(prefilled).toContain("Typed confirmation (confirm=): Type exactly: ics2/internet");
    expect(prefilled).toContain(
      "Submitting requests, as the incident's button:* recover internet keeping ics1's data",
    );
    // Nothing was requested by the click itself.
    const cards = approvalCards(slack).length;
    const viewId = [...slack.views.keys()].at(-1) as string;
    const shown = await until(() => {
      const t = viewText(slack.views.get(viewId)?.view ?? {});
      return /✅ \*Preflight\*/.test(t) && t;
    });
    expect(shown).toMatch(
      /🧪 Dry run: Recover the split brain of internet: keep ics1's data, discard ics2's/,
    );

    const wrong = await postSigned(
      url,
      interactive(submissionPayload(slack, viewId, "UAPPROVER1", { confirm: "ics1/internet" })),
    );
    expect(JSON.parse(wrong.text)).toEqual({
      response_action: "errors",
      errors: { confirm: "Type exactly: ics2/internet" },
    });
    const right = await postSigned(
      url,
      interactive(submissionPayload(slack, viewId, "UAPPROVER1", { confirm: "ics2/internet" })),
    );
    const done = viewText((JSON.parse(right.text) as { view: Json }).view);
    expect(done).toContain("Filed (as the incident's button): recover internet keeping ics1's data");
    const card = await until(() => approvalCards(slack)[cards]);
    expect(card.args.thread_ts).toBe(messageTs);
    expect(JSON.stringify(card.args.blocks)).toContain("ics2/internet");
    const again = await postSigned(
      url,
      interactive(submissionPayload(slack, viewId, "UAPPROVER1", { confirm: "ics2/internet" })),
    );
    expect(viewText((JSON.parse(again.text) as { view: Json }).view)).toContain("Already queued");
    // The request's planning job (keyed by the incident, the action and the view): done, one card.
    const value = JSON.parse(keep.value) as { i: string; a: unknown };
    const planJob = deriveJobId(
      "lab",
      "split-brain-plan",
      `event:${value.i}:${JSON.stringify(value.a)}:form:${viewId}:request`,
    );
    expect((await deps.jobs.waitForJob(planJob, 60_000)).state).toBe("completed");
    expect(approvalCards(slack)).toHaveLength(cards + 1);
  });
});
