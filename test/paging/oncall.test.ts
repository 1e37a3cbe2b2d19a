/**
 * On-call paging through the real incident pipeline (Redis, simulator, manual clock): one page per
 * incident at the fake paging service, acknowledged from the Slack button, resolved with the
 * incident; delivery retried with backoff and across restarts; re-notification, escalation and snooze.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { referenceLab, Simulation } from "../../src/sim";
import { parents, replies } from "../events/helpers";
import { FakePager } from "../support/fake-pager";
import { buttonsOf, type PagingHarness, type PagingHarnessOptions, pagingHarness } from "./helpers";

// One paging service per test: incidents of the same simulated cluster have the same dedup keys.
let fake: FakePager;
beforeEach(async () => {
  fake = await new FakePager().start();
});

const open: PagingHarness[] = [];
function h(opts: PagingHarnessOptions = {}): PagingHarness {
  const x = pagingHarness(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }), {
    fake,
    ...opts,
  });
  open.push(x);
  return x;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
  await fake.close();
});

/** Kills ics2 and polls until heartbeat declares it dead (critical). Returns the incident's parent. */
async function killIcs2(x: PagingHarness) {
  await x.poll();
  x.sim.nodeDown("ics2");
  await x.poll();
  x.tick(31_000);
  await x.poll();
  const parent = parents(x.notifier)[0];
  if (!parent) throw new Error("no incident posted");
  return parent;
}

function mine(incident: string) {
  return fake.requests.filter((r) => r.key.startsWith(`xenops-${incident}`) && r.status === 202);
}

async function click(x: PagingHarness, ts: string, text: string, user = "UONCALL1", message?: unknown) {
  const b = buttonsOf(message ?? x.notifier.current(ts)).find((e) => e.text === text);
  if (!b) throw new Error(`no button ${text}`);
  return x.oncall.actionHandler().handle({
    source: "console",
    deliveryId: `d-${Math.random()}`,
    channelId: "C0LAB",
    userId: user,
    messageTs: ts,
    actionId: b.action_id,
    value: b.value,
  });
}

function idOf(x: PagingHarness, ts: string): string {
  const b = buttonsOf(x.notifier.current(ts)).find((e) => e.text === "Acknowledge");
  if (!b) throw new Error("no Acknowledge button");
  return (JSON.parse(b.value) as { i: string }).i;
}

describe("paging a critical incident (PagerDuty)", () => {
  it("triggers once, is acknowledged from Slack, and resolves with the incident", async () => {
    const x = h();
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    expect(buttonsOf(x.notifier.current(parent.ref.ts)).map((b) => b.text)).toEqual([
      "Fence ics2",
      "Acknowledge",
      "Snooze 1h",
      "Snooze 4h",
    ]);
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger"]);
    const trigger = mine(id)[0]?.body as {
      payload: { summary: string; severity: string; custom_details: Record<string, string> };
      links: { href: string }[];
    };
    expect(trigger.payload.summary).toContain("ics2 is dead");
    expect(trigger.payload.severity).toBe("critical");
    expect(trigger.payload.custom_details).toMatchObject({ cluster: "lab", node: "ics2" });
    expect(trigger.links[0]?.href).toBe(
      `https://slack.com/archives/C0LAB/p${parent.ref.ts.replace(".", "")}`,
    );

    // Follow-ups and polling on do not page again.
    for (let i = 0; i < 3; i++) {
      x.tick(10_000);
      await x.poll();
      await x.oncall.tick();
    }
    expect(mine(id).map((r) => r.action)).toEqual(["trigger"]);

    const stale = x.notifier.current(parent.ref.ts);
    const reply = await click(x, parent.ref.ts, "Acknowledge");
    expect(reply?.text).toMatch(/Acknowledged/);
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger", "acknowledge"]);
    const shown = JSON.stringify(x.notifier.current(parent.ref.ts));
    expect(shown).toContain("Acknowledged by <@UONCALL1>");
    expect(buttonsOf(x.notifier.current(parent.ref.ts)).map((b) => b.text)).toEqual(["Fence ics2"]);
    expect(
      replies(x.notifier, parent.ref.ts).some((r) => r.message.text.startsWith("<@UONCALL1> acknowledged")),
    ).toBe(true);
    expect(x.audits).toEqual([
      expect.objectContaining({
        kind: "action",
        actor: "UONCALL1",
        command: "acknowledge incident",
        outcome: "ok",
      }),
    ]);
    // A second click says who did it; nothing more is sent.
    expect((await click(x, parent.ref.ts, "Snooze 1h", "UOPER1", stale))?.text).toMatch(
      /already acknowledged/,
    );

    x.sim.nodeUp("ics2");
    x.tick(120_000);
    await x.poll();
    x.tick(120_000);
    await x.poll();
    expect((await x.incidents.get(id))?.status).toBe("resolved");
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger", "acknowledge", "resolve"]);
    expect(fake.alerts.get(mine(id)[0]?.key ?? "")?.status).toBe("resolved");
    expect(x.pages.filter((p) => p.result === "ok").map((p) => `${p.service} ${p.action}`)).toEqual([
      "pagerduty trigger",
      "pagerduty acknowledge",
      "pagerduty resolve",
    ]);
  });

  it("the same death again after it cleared is a new incident: paged anew under a new key", async () => {
    const x = h();
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    x.sim.nodeUp("ics2");
    for (let i = 0; i < 3; i++) {
      x.tick(60_000);
      await x.poll();
    }
    expect((await x.incidents.get(id))?.status).toBe("resolved");
    await x.oncall.tick();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    await x.poll();
    await x.oncall.tick();
    const sent = mine(id);
    expect(sent.map((r) => r.action)).toEqual(["trigger", "resolve", "trigger"]);
    expect(new Set(sent.map((r) => r.key)).size).toBe(2);
  });

  it("a flap (the same condition back within the flap window) does not page again", async () => {
    const x = h();
    await x.poll();
    const event = {
      cluster: "lab",
      kind: "guest_on_two_nodes" as const,
      family: "guest" as const,
      severity: "critical" as const,
      subject: "internet",
      node: null,
      title: "internet runs on ics1 and ics2",
      evidence: ["xm list on ics1: internet", "xm list on ics2: internet"],
      source: "poll" as const,
      at: new Date(x.sim.now()).toISOString(),
    };
    const key = "lab|internet|-|guest";
    const run = (fn: () => Promise<void>) => x.store.withClusterLock("lab", fn);
    await run(() => x.incidents.apply({ op: "open", event, condition: true }));
    const rec = await x.incidents.byKey(key);
    if (!rec) throw new Error("no incident");
    await x.oncall.tick();
    x.tick(60_000);
    await run(() =>
      x.incidents.apply({ op: "resolve", key, title: "internet runs on one node", evidence: [] }),
    );
    await x.oncall.tick();
    x.tick(60_000);
    await run(() => x.incidents.apply({ op: "open", event, condition: true }));
    expect((await x.incidents.get(rec.id))?.flaps).toBe(1);
    await x.oncall.tick();
    expect(mine(rec.id).map((r) => r.action)).toEqual(["trigger", "resolve"]);
  });

  it("news of data loss pages once more under a key of its own, unless acknowledged", async () => {
    const x = h();
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    const news = {
      cluster: "lab",
      kind: "ha_takeover" as const,
      family: "node" as const,
      severity: "critical" as const,
      subject: null,
      node: "ics2",
      title: "heartbeat started internet on ics1 after ics2 died, without a fence",
      evidence: ["heartbeat: info: Taking over resource group internet"],
      source: "poll" as const,
      at: new Date(x.sim.now()).toISOString(),
      repage: true,
    };
    await x.store.withClusterLock("lab", () => x.incidents.happen(news));
    await x.oncall.tick();
    const sent = mine(id);
    expect(sent.map((r) => r.action)).toEqual(["trigger", "trigger"]);
    expect(sent[1]?.key).toBe(`${sent[0]?.key}-ha_takeover`);
    // The same news again does not page again; after an acknowledgement, new news does not either.
    await x.store.withClusterLock("lab", () => x.incidents.happen(news));
    await click(x, parent.ref.ts, "Acknowledge");
    await x.store.withClusterLock("lab", () =>
      x.incidents.happen({ ...news, kind: "split_brain_auto_resolved", title: "DRBD discarded data" }),
    );
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger", "trigger", "acknowledge", "acknowledge"]);
  });

  it("retries with backoff, says so in the thread, and gives up loudly", async () => {
    const x = h();
    fake.failNext(2, 503);
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    expect(mine(id)).toHaveLength(0);
    expect(
      replies(x.notifier, parent.ref.ts).some((r) =>
        JSON.stringify(r.message).includes("did not take the page yet"),
      ),
    ).toBe(true);
    // Not due before its backoff.
    await x.oncall.tick();
    expect(x.pages.filter((p) => p.result === "retry")).toHaveLength(1);
    x.tick(1_000);
    await x.oncall.tick();
    x.tick(2_000);
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger"]);
    expect(x.pages.map((p) => p.result)).toEqual(["retry", "retry", "ok"]);
  });

  it("a refusal (400) is not retried: said in the thread, with on-call mentioned, and counted", async () => {
    const y = h();
    fake.failNext(1, 400);
    const p2 = await killIcs2(y);
    await y.oncall.tick();
    expect(y.pages).toEqual([{ service: "pagerduty", action: "trigger", result: "failed" }]);
    const said = replies(y.notifier, p2.ref.ts).map((r) => JSON.stringify(r.message));
    expect(
      said.some((t) => t.includes("Could not trigger the page at PagerDuty") && t.includes("<@UONCALL1>")),
    ).toBe(true);
  });

  it("a routing key that cannot be read is said in the thread, not retried forever", async () => {
    const x = h({ env: { PD_KEY: "" } });
    const parent = await killIcs2(x);
    await x.oncall.tick();
    expect(x.pages).toEqual([{ service: "pagerduty", action: "trigger", result: "failed" }]);
    expect(replies(x.notifier, parent.ref.ts).some((r) => r.message.text.includes("PD_KEY is not set"))).toBe(
      true,
    );
    expect(fake.requests).toHaveLength(0);
  });

  it("a page not yet delivered survives a restart", async () => {
    const x = h();
    fake.failNext(1, 500);
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    expect(mine(id)).toHaveLength(0);
    // The bot restarts: a new process, the same Redis.
    const y = x.restart();
    open.push(y);
    y.tick(5_000);
    await y.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger"]);
  });

  it("a resolve never overtakes its trigger: a page never delivered is not resolved", async () => {
    const z = h();
    fake.failNext(1, 500);
    const p3 = await killIcs2(z);
    const id3 = idOf(z, p3.ref.ts);
    await z.oncall.tick();
    z.sim.nodeUp("ics2");
    for (let i = 0; i < 3; i++) {
      z.tick(60_000);
      await z.poll();
    }
    expect((await z.incidents.get(id3))?.status).toBe("resolved");
    z.tick(60_000);
    await z.oncall.tick();
    expect(mine(id3)).toHaveLength(0);
  });
});

describe("Opsgenie", () => {
  it("creates the alert by alias and closes it when the incident resolves", async () => {
    const x = h({ service: "opsgenie" });
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    await click(x, parent.ref.ts, "Acknowledge");
    await x.oncall.tick();
    x.sim.nodeUp("ics2");
    for (let i = 0; i < 3; i++) {
      x.tick(60_000);
      await x.poll();
    }
    await x.oncall.tick();
    const sent = mine(id);
    expect(sent.map((r) => `${r.service} ${r.action}`)).toEqual([
      "opsgenie trigger",
      "opsgenie acknowledge",
      "opsgenie resolve",
    ]);
    expect(sent[0]?.body.priority).toBe("P1");
  });
});

describe("re-notification, escalation, snooze", () => {
  const oncall = {
    renotifyAfter: "15m",
    escalation: [
      { after: "30m", users: ["UBOSS1"] },
      { after: "1h", groups: ["SMGMT1"] },
    ],
  };

  function said(x: PagingHarness, ts: string): string[] {
    return replies(x.notifier, ts).map((r) => r.message.text);
  }

  it("mentions on-call again, then escalates step by step, while nobody acknowledges (Slack only)", async () => {
    const x = h({ service: "none", oncall });
    const parent = await killIcs2(x);
    await x.oncall.tick();
    const before = said(x, parent.ref.ts).length;
    x.tick(14 * 60_000);
    await x.oncall.tick();
    expect(said(x, parent.ref.ts)).toHaveLength(before);
    x.tick(60_000);
    await x.oncall.tick();
    expect(said(x, parent.ref.ts).at(-1)).toMatch(
      /<!subteam\^SONCALL1> <@UONCALL1> Not acknowledged after 15 min/,
    );
    // Across a restart, the next step comes on time.
    const y = x.restart();
    open.push(y);
    y.tick(15 * 60_000);
    await y.oncall.tick();
    expect(said(y, parent.ref.ts).at(-1)).toMatch(/<@UBOSS1> Escalated \(step 1\)/);
    y.tick(30 * 60_000);
    await y.oncall.tick();
    expect(said(y, parent.ref.ts).at(-1)).toMatch(/<!subteam\^SMGMT1> Escalated \(step 2\)/);
    const count = said(y, parent.ref.ts).length;
    y.tick(3 * 3600_000);
    await y.poll();
    await y.oncall.tick();
    expect(said(y, parent.ref.ts).filter((t) => /Escalated|Not acknowledged/.test(t))).toHaveLength(3);
    expect(said(y, parent.ref.ts).length).toBeGreaterThanOrEqual(count);
  });

  it("an acknowledged incident is not mentioned again nor escalated", async () => {
    const x = h({ oncall });
    const parent = await killIcs2(x);
    await x.oncall.tick();
    await click(x, parent.ref.ts, "Acknowledge");
    x.tick(2 * 3600_000);
    await x.oncall.tick();
    expect(said(x, parent.ref.ts).filter((t) => /Escalated|Not acknowledged/.test(t))).toHaveLength(0);
  });

  it("a snooze holds the timers and acknowledges the page; when it ends nobody acked: paged again", async () => {
    const x = h({ oncall });
    const parent = await killIcs2(x);
    const id = idOf(x, parent.ref.ts);
    await x.oncall.tick();
    expect((await click(x, parent.ref.ts, "Snooze 1h", "UOPER1"))?.text).toMatch(/Snoozed for 1 h/);
    await x.oncall.tick();
    expect(mine(id).map((r) => r.action)).toEqual(["trigger", "acknowledge"]);
    expect(JSON.stringify(x.notifier.current(parent.ref.ts))).toContain("Snoozed by <@UOPER1>");
    x.tick(59 * 60_000);
    await x.oncall.tick();
    expect(said(x, parent.ref.ts).filter((t) => /Escalated|Not acknowledged|snooze/i.test(t))).toHaveLength(
      1,
    );
    x.tick(60_000);
    await x.oncall.tick();
    expect(
      said(x, parent.ref.ts).some((t) => /<@UONCALL1> Snooze ended and nobody acknowledged/.test(t)),
    ).toBe(true);
    const keys = [...new Set(mine(id).map((r) => r.key))];
    expect(keys).toHaveLength(2);
    expect(mine(id).at(-1)?.action).toBe("trigger");
    expect(JSON.stringify(x.notifier.current(parent.ref.ts))).not.toContain("Snoozed by");
    // The timers start over from the end of the snooze.
    x.tick(15 * 60_000);
    await x.oncall.tick();
    expect(said(x, parent.ref.ts).at(-1)).toMatch(/Not acknowledged after 15 min/);
    // Resolving resolves both pages.
    x.sim.nodeUp("ics2");
    for (let i = 0; i < 3; i++) {
      x.tick(60_000);
      await x.poll();
    }
    await x.oncall.tick();
    for (const k of keys) expect(fake.alerts.get(k)?.status).toBe("resolved");
  });
});

describe("daily digest", () => {
  it("posts at the configured time what paged (acknowledged or not) and what is open, then daily", async () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    // Two hours after the simulated start, on a whole minute.
    const due = Math.ceil((sim.now() + 2 * 3600_000) / 60_000) * 60_000;
    const hhmm = new Date(due).toISOString().slice(11, 16);
    const x = h({ sim, oncall: { renotifyAfter: "15m", digestAt: hhmm } });
    const parent = await killIcs2(x);
    await x.oncall.tick();
    x.tick(16 * 60_000);
    await x.oncall.tick();
    await click(x, parent.ref.ts, "Snooze 1h", "UOPER1");
    x.tick(10 * 60_000);
    await click(x, parent.ref.ts, "Acknowledge", "UADMIN1");
    await x.oncall.scheduleDigests();
    await x.oncall.scheduleDigests();
    const digests = () => parents(x.notifier).filter((p) => p.message.text.startsWith("On-call digest"));
    x.tick(due - x.sim.now() - 1_000);
    await x.oncall.tick();
    expect(digests()).toHaveLength(0);
    x.tick(1_000);
    await x.oncall.tick();
    expect(digests()).toHaveLength(1);
    const text = JSON.stringify(digests()[0]?.message);
    expect(text).toContain("*1* page since");
    expect(text).toMatch(
      /ics2 is dead according to heartbeat on ics1: acknowledged by <@UADMIN1> after 2\d min, snoozed 1×, re-notified, still open/,
    );
    // The dead node, and the DRBD link that went down with it (in its thread).
    expect(text).toContain("*Open now* (2)");
    expect(text).toContain("🟠 internet lost its replication link");
    expect(text).toContain("acknowledged by <@UADMIN1>)");
    // Once a day, not on every tick.
    x.tick(60 * 60_000);
    await x.oncall.tick();
    expect(digests()).toHaveLength(1);
    x.tick(23 * 3600_000);
    await x.oncall.tick();
    expect(digests()).toHaveLength(2);
  });
});
