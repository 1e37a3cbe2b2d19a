/**
 * The PagerDuty and Opsgenie clients against the local fake, which checks every request the way the
 * services document it: required fields, enums, lengths, keys; and answers failures on purpose.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OpsgeniePager } from "../../src/paging/opsgenie";
import { PagerDutyPager, pagerDutyEvent } from "../../src/paging/pagerduty";
import { PageError, type PageRequest } from "../../src/paging/types";
import { checkOpsgenieAlert, checkPagerDutyEvent, FAKE_ROUTING_KEY, FakePager } from "../support/fake-pager";

const fake = new FakePager();
beforeAll(async () => {
  await fake.start();
});
afterAll(async () => {
  await fake.close();
});

function page(over: Partial<PageRequest> = {}): PageRequest {
  return {
    action: "trigger",
    dedupKey: "xenops-abc-1",
    summary: "lab: ics2 is dead according to heartbeat on ics1",
    source: "ics2",
    severity: "critical",
    cluster: "lab",
    node: "ics2",
    resource: "internet",
    link: { href: "https://slack.com/archives/C0LAB/p1700000000000100", text: "The incident in Slack" },
    details: { incident: "abc" },
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<PageError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof PageError) return err;
    throw err;
  }
  throw new Error("expected a PageError");
}

describe("PagerDuty Events API v2", () => {
  const pd = () => new PagerDutyPager({ routingKey: fake.routingKey, url: fake.pagerDutyUrl });

  it("triggers, acknowledges and resolves one alert by dedup_key, with the documented fields", async () => {
    const key = "xenops-pd-1";
    await pd().send(page({ dedupKey: key, summary: "x".repeat(2_000) }));
    await pd().send(page({ dedupKey: key }));
    await pd().send(page({ dedupKey: key, action: "acknowledge", by: "UONCALL1" }));
    await pd().send(page({ dedupKey: key, action: "resolve" }));
    const sent = fake.accepted("pagerduty").filter((r) => r.key === key);
    expect(sent.map((r) => r.action)).toEqual(["trigger", "trigger", "acknowledge", "resolve"]);
    const trigger = sent[0]?.body as {
      payload: { summary: string; severity: string; source: string; custom_details: Record<string, string> };
      links: { href: string }[];
    };
    expect(trigger.payload.summary).toHaveLength(1024);
    expect(trigger.payload.severity).toBe("critical");
    expect(trigger.payload.source).toBe("ics2");
    expect(trigger.payload.custom_details).toMatchObject({
      cluster: "lab",
      node: "ics2",
      resource: "internet",
    });
    expect(trigger.links[0]?.href).toContain("slack.com/archives/C0LAB/");
    // Acknowledge and resolve carry only the key and the dedup key.
    expect(Object.keys(sent[2]?.body ?? {}).sort()).toEqual(["dedup_key", "event_action", "routing_key"]);
    // The second trigger was deduplicated into the same alert.
    expect(fake.alerts.get(key)).toMatchObject({ status: "resolved", count: 2 });
  });

  it("a wrong routing key is a 400 not worth retrying; a 500 or 429 is", async () => {
    const bad = new PagerDutyPager({ routingKey: "A".repeat(32), url: fake.pagerDutyUrl });
    const refused = await rejection(bad.send(page()));
    expect(refused.retryable).toBe(false);
    expect(refused.status).toBe(400);
    expect(refused.code).toBe("page_failed");
    fake.failNext(1, 500);
    expect((await rejection(pd().send(page()))).retryable).toBe(true);
    fake.failNext(1, 429);
    expect((await rejection(pd().send(page()))).retryable).toBe(true);
  });

  it("a service that does not answer in time is a retryable failure", async () => {
    const release = fake.delayNext();
    const slow = new PagerDutyPager({ routingKey: fake.routingKey, url: fake.pagerDutyUrl, timeoutMs: 200 });
    const err = await rejection(slow.send(page({ dedupKey: "slow" })));
    release();
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/cannot reach/);
  });

  it("the fake refuses what PagerDuty refuses", () => {
    const ok = pagerDutyEvent(FAKE_ROUTING_KEY, page());
    expect(checkPagerDutyEvent(ok, FAKE_ROUTING_KEY)).toBeNull();
    const payload = ok.payload as Record<string, unknown>;
    expect(
      checkPagerDutyEvent({ ...ok, payload: { ...payload, severity: "fatal" } }, FAKE_ROUTING_KEY),
    ).toMatch(/severity/);
    expect(
      checkPagerDutyEvent({ ...ok, payload: { ...payload, summary: "x".repeat(1025) } }, FAKE_ROUTING_KEY),
    ).toMatch(/1024/);
    expect(checkPagerDutyEvent({ ...ok, payload: { ...payload, source: "" } }, FAKE_ROUTING_KEY)).toMatch(
      /source/,
    );
    expect(checkPagerDutyEvent({ ...ok, event_action: "snooze" }, FAKE_ROUTING_KEY)).toMatch(/event_action/);
    expect(
      checkPagerDutyEvent({ routing_key: FAKE_ROUTING_KEY, event_action: "resolve" }, FAKE_ROUTING_KEY),
    ).toMatch(/dedup_key/);
    expect(checkPagerDutyEvent({ ...ok, dedup_key: "k".repeat(256) }, FAKE_ROUTING_KEY)).toMatch(/255/);
  });
});

describe("Opsgenie Alert API", () => {
  const og = (apiKey = fake.apiKey) => new OpsgeniePager({ apiKey, url: fake.url });

  it("creates an alert by alias (message cut to 130, P1), then acknowledges and closes it by alias", async () => {
    const key = "xenops-og-1";
    await og().send(page({ dedupKey: key, summary: `${"y".repeat(200)} end` }));
    await og().send(page({ dedupKey: key, action: "acknowledge", by: "UONCALL1" }));
    await og().send(page({ dedupKey: key, action: "resolve" }));
    const sent = fake.accepted("opsgenie").filter((r) => r.key === key);
    expect(sent.map((r) => r.action)).toEqual(["trigger", "acknowledge", "resolve"]);
    const alert = sent[0]?.body as {
      message: string;
      priority: string;
      alias: string;
      details: Record<string, string>;
    };
    expect(alert.message).toHaveLength(130);
    expect(alert.priority).toBe("P1");
    expect(alert.alias).toBe(key);
    expect(alert.details).toMatchObject({ cluster: "lab", node: "ics2", resource: "internet" });
    expect(fake.alerts.get(key)?.status).toBe("resolved");
  });

  it("a wrong GenieKey is refused (401) and not retried", async () => {
    const err = await rejection(og("wrong").send(page({ dedupKey: "og-bad" })));
    expect(err.status).toBe(401);
    expect(err.retryable).toBe(false);
  });

  it("the fake refuses what Opsgenie refuses", () => {
    expect(checkOpsgenieAlert({ message: "m" })).toBeNull();
    expect(checkOpsgenieAlert({})).toMatch(/message/);
    expect(checkOpsgenieAlert({ message: "m".repeat(131) })).toMatch(/130/);
    expect(checkOpsgenieAlert({ message: "m", priority: "P0" })).toMatch(/priority/);
    expect(checkOpsgenieAlert({ message: "m", alias: "a".repeat(513) })).toMatch(/512/);
    expect(checkOpsgenieAlert({ message: "m", details: { a: 1 } })).toMatch(/details/);
  });
});
