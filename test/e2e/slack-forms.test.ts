/**
 * Operations from a phone and the App Home tab, for real: the fake Slack (Web API + Socket Mode) →
 * Bolt → the form core and the command core → BullMQ on redis-server → worker → SSH → the simulated
 * reference lab. `/xen` without arguments opens the modal from stored state; each select updates it;
 * a complete risky request shows its dry run; submitting files the typed command with the view id as
 * its delivery id. `app_home_opened` publishes each cluster's state from Redis, and a change of the
 * stored state publishes it again.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { viewText } from "../../src/forms/text";
import { LAB_CHANNEL, type Lab, startLab } from "../../src/lab/lab";
import { deriveJobId } from "../../src/queue/names";
import { type Running, startSlackRuntime } from "../../src/runtime/modes";
import { FakeSlack, type RecordedCall } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { BOT_TOKEN, labEnv } from "./harness";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

async function until<T>(
  fn: () => T | null | undefined | Promise<T | null | undefined>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null && v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

const viewOf = (c: RecordedCall): Record<string, unknown> =>
  (typeof c.args.view === "string" ? JSON.parse(c.args.view) : c.args.view) as Record<string, unknown>;

describe("the /xen modal and the App Home tab over Socket Mode", () => {
  let slack: FakeSlack;
  let lab: Lab;
  let running: Running;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "xenops-e2e-forms-"));
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 1500 });
    running = await startSlackRuntime(
      {
        inventory: lab.inventory,
        env: labEnv({
          slackApiUrl: slack.apiUrl,
          queuePrefix: uniquePrefix("e2e-forms"),
          auditFile: join(dir, "audit.jsonl"),
        }),
        secretEnv: {},
        logger,
        redisUrl: lab.redisUrl,
        home: { minIntervalMs: 0, refreshMs: 50 },
      },
      { bot: true, worker: true },
    );
    await slack.waitForSocketConnection();
    // The modal is built from the events monitor's stored facts: wait for its first pass.
    await until(async () => (await running.deps.events.store.load("lab")).facts);
  }, 60_000);

  afterAll(async () => {
    await running?.close();
    await lab?.close();
    await slack?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Opens the modal as `user` with `/xen` and returns the view id. */
  async function openForm(user: string): Promise<string> {
    const calls = slack.callsTo("views.open").length;
    const ack = await slack.sendSlashCommand({ text: "", user_id: user, channel_id: LAB_CHANNEL });
    expect(ack.ackedAt - ack.sentAt).toBeLessThan(3_000);
    const open = await until(() => slack.callsTo("views.open")[calls]);
    expect(open.args.trigger_id).toBeTruthy();
    const id = [...slack.views.keys()].at(-1) as string;
    return id;
  }

  /** Chooses `value` for `field` and waits for the view update that follows. */
  async function choose(viewId: string, user: string, field: string, value: string | string[]) {
    const before = slack.views.get(viewId)?.updates ?? 0;
    await slack.sendViewAction(viewId, { field, userId: user, chosen: { [field]: value } });
    await until(() => (slack.views.get(viewId)?.updates ?? 0) > before);
  }

  const text = (viewId: string) => viewText(slack.views.get(viewId)?.view ?? {});

  /** Waits until the modal shows a finished preflight (the dry run's outcome). */
  const preflightDone = (viewId: string) =>
    until(() => /(✅|⛔) \*Preflight\*/.test(text(viewId)) && text(viewId), 60_000);

  it("opens the modal from stored state within the ack, offers only valid targets, shows the dry run, files the typed command once", async () => {
    const viewId = await openForm("UOPER1");
    const first = text(viewId);
    expect(first).toContain(
      "Action (action=): status | migrate | create | fence | evacuate | attest-off | drbd-watch",
    );

    await choose(viewId, "UOPER1", "action", "migrate");
    expect(text(viewId)).toContain("Guest (guest=): internet");
    await choose(viewId, "UOPER1", "guest", "internet");
    // internet runs on ics2 and its DRBD resource is on ics1 and ics2: ics1 is the only target.
    expect(text(viewId)).toContain("Move to node (target=): ics1");
    await choose(viewId, "UOPER1", "target", "ics1");
    expect(text(viewId)).toContain("`/xen migrate lab internet to ics1`");

    // The dry run (the same path as --dry-run: its card goes to the channel too) shows in the modal:
    // heartbeat manages internet in the lab, so it is refused with the manager's own way out.
    const refused = await preflightDone(viewId);
    expect(refused).toMatch(
      /⛔ \*Preflight\* \(dry run, read-only\)\n⛔ Refused: Live-migrate internet to ics1/,
    );
    expect(refused).toContain("heartbeat manages internet");
    expect(slack.callsTo("chat.postMessage").some((c) => String(c.args.text).startsWith("Refused:"))).toBe(
      true,
    );

    await choose(viewId, "UOPER1", "options", ["override-ha"]);
    expect(text(viewId)).toContain("`/xen migrate lab internet to ics1 --override-ha`");
    const shown = await until(() => /✅ \*Preflight\*/.test(text(viewId)) && text(viewId), 60_000);
    expect(shown).toMatch(/✅ \*Preflight\* \(dry run, read-only\)\n🧪 Dry run: /);
    expect(shown).toMatch(/migrate --live internet/);
    expect(slack.callsTo("chat.postMessage").some((c) => String(c.args.text).startsWith("Dry run:"))).toBe(
      true,
    );

    const ack = await slack.sendViewSubmission(viewId, { userId: "UOPER1" });
    expect(ack.payload.response_action).toBe("update");
    const done = viewText(ack.payload.view as Record<string, unknown>);
    expect(done).toContain("Filed `/xen migrate lab internet to ics1 --override-ha`");
    const queued = /Queued as job (\d+): planning /.exec(done);
    if (!queued) throw new Error(done);
    expect(queued).not.toBeNull();

    // Same delivery id as a typed command with this view id: the planning job, then the approval request.
    const outcome = await running.deps.jobs.waitForJob(deriveJobId("lab", "operation-plan", viewId), 60_000);
    expect(outcome.state).toBe("completed");
    const result = (
      typeof (outcome as { returnValue: unknown }).returnValue === "string"
        ? JSON.parse((outcome as { returnValue: string }).returnValue)
        : (outcome as { returnValue: unknown }).returnValue
    ) as { result: string };
    expect(result.result).toBe("requested");

    // Slack resends the same view (a retry, a double tap): nothing is queued twice.
    const again = await slack.sendViewSubmission(viewId, { userId: "UOPER1" });
    expect(viewText(again.payload.view as Record<string, unknown>)).toContain(
      `Already queued as job ${queued?.[1]}`,
    );
  }, 120_000);

  it("authorizes by Slack user ID as the typed command does: a viewer's preflight and submit are refused", async () => {
    const viewId = await openForm("UVIEWER1");
    await choose(viewId, "UVIEWER1", "action", "evacuate");
    await choose(viewId, "UVIEWER1", "node", "ics1");
    const shown = await preflightDone(viewId);
    expect(shown).toContain("needs the *operator* role, which you do not have");
    const ack = await slack.sendViewSubmission(viewId, { userId: "UVIEWER1" });
    expect(viewText(ack.payload.view as Record<string, unknown>)).toContain(
      "needs the *operator* role, which you do not have",
    );
    const job = await running.deps.jobs.waitForJob(deriveJobId("lab", "operation-plan", viewId), 100);
    expect(job.state).toBe("missing");
  }, 60_000);

  it("validates a typed confirmation on submit and says what to type", async () => {
    const viewId = await openForm("UOPER1");
    await choose(viewId, "UOPER1", "action", "fence");
    await choose(viewId, "UOPER1", "node", "ics2");
    await preflightDone(viewId);
    await choose(viewId, "UOPER1", "override_last_copy", ["internet"]);
    expect(text(viewId)).toContain("Type exactly: ics2/internet");

    const wrong = await slack.sendViewSubmission(viewId, { userId: "UOPER1", chosen: { confirm: "ics2" } });
    expect(wrong.payload.response_action).toBe("errors");
    const errors = wrong.payload.errors as Record<string, string>;
    expect(errors.confirm).toBe("Type exactly: ics2/internet");
    expect(
      (await running.deps.jobs.waitForJob(deriveJobId("lab", "operation-plan", viewId), 100)).state,
    ).toBe("missing");

    const right = await slack.sendViewSubmission(viewId, {
      userId: "UOPER1",
      chosen: { confirm: "ics2/internet" },
    });
    expect(right.payload.response_action).toBe("update");
    expect(viewText(right.payload.view as Record<string, unknown>)).toContain(
      "Filed `/xen fence lab ics2 --override-last-copy internet`",
    );
    const outcome = await running.deps.jobs.waitForJob(deriveJobId("lab", "operation-plan", viewId), 60_000);
    expect(outcome.state).toBe("completed");
  }, 120_000);

  it("opens the modal pre-filled from an incident's Fence button", async () => {
    const calls = slack.callsTo("views.open").length;
    await slack.sendBlockAction({
      actionId: "xenops:event:fence:0",
      value: JSON.stringify({ v: 1, i: "abcdefgh12345678", c: "lab", a: { kind: "fence", node: "ics2" } }),
      userId: "UOPER1",
      channelId: LAB_CHANNEL,
    });
    const open = await until(() => slack.callsTo("views.open")[calls]);
    const shown = viewText(viewOf(open));
    expect(shown).toContain("Action (action=): status | migrate | create | *fence");
    expect(shown).toContain("Node to fence (node=): ics1 | *ics2");
    expect(shown).toContain("`/xen fence lab ics2`");
  }, 30_000);

  it("publishes the Home tab from stored state on app_home_opened, again when that state changes", async () => {
    await slack.sendEvent({ type: "app_home_opened", user: "UVIEWER1", channel: "D0HOME", tab: "home" });
    const home = await until(() => slack.homeTabs.get("UVIEWER1"));
    const shown = viewText(home);
    expect(shown).toContain("*lab* (seen ");
    expect(shown).toMatch(/ics1: reachable/);
    expect(shown).toMatch(/ics2: reachable.*runs internet/);
    expect(shown).toMatch(/internet on ics2: Connected Primary\/Secondary UpToDate\/UpToDate/);
    expect(shown).toContain("*Incidents*: none open.");

    // The monitor stores new facts (here: as if ics1 stopped answering): the tab follows.
    const publishes = slack.callsTo("views.publish").length;
    const stored = await running.deps.events.store.load("lab");
    const facts = stored.facts;
    if (!facts) throw new Error("no stored facts");
    const ics1 = facts.nodes.ics1;
    if (!ics1) throw new Error("no facts of ics1");
    await running.deps.events.store.save("lab", {
      ...stored,
      facts: { ...facts, nodes: { ...facts.nodes, ics1: { ...ics1, reachable: false, error: "timeout" } } },
    });
    const next = await until(() =>
      slack
        .callsTo("views.publish")
        .slice(publishes)
        .find((c) => c.args.user_id === "UVIEWER1" && viewText(viewOf(c)).includes("ics1: NOT answering")),
    );
    expect(viewText(viewOf(next))).toContain("ics1: NOT answering (timeout)");

    // Someone without a role sees no cluster state.
    await slack.sendEvent({ type: "app_home_opened", user: "UNOBODY", channel: "D0HOME2", tab: "home" });
    const refused = await until(() => slack.homeTabs.get("UNOBODY"));
    expect(viewText(refused)).toContain("ask an admin for the viewer role");
    expect(viewText(refused)).not.toContain("ics1");
  }, 60_000);
});
