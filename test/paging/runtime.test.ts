/**
 * On-call paging as the runtime wires it (createDeps, real workers): Alertmanager's webhook on the
 * event webhook's server, the page delivered by the worker's on-call loop to the fake PagerDuty and
 * counted in the metrics, and the Acknowledge button through the command core.
 */
import { afterEach, describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { silentLogger } from "../../src/log";
import { createDeps } from "../../src/runtime/deps";
import { referenceLab, Simulation } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { simInventory, simRunner } from "../events/helpers";
import { FakePager } from "../support/fake-pager";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { buttonsOf } from "./helpers";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(predicate: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("paging in the runtime", () => {
  it("an Alertmanager alert pages PagerDuty; Acknowledge from Slack acknowledges it; metrics count both", async () => {
    const fake = await new FakePager().start();
    cleanups.push(() => fake.close());
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const inventory = simInventory(
      sim,
      {
        monitor: { intervalMs: 60_000 },
        paging: { pagerduty: { routingKey: { env: "PD_KEY" }, url: fake.pagerDutyUrl } },
      },
      {
        webhook: {
          secret: { env: "WEBHOOK_SECRET" },
          host: "127.0.0.1",
          alertmanager: { bearerToken: { env: "AM_TOKEN" } },
        },
      },
    );
    const notifier = new RecordingNotifier();
    const deps = await createDeps({
      inventory,
      logger: silentLogger(),
      redisUrl: testRedisUrl(),
      queuePrefix: uniquePrefix("paging-runtime"),
      secretEnv: { PD_KEY: fake.routingKey, WEBHOOK_SECRET: "hook", AM_TOKEN: "am-token" },
      notifier,
      groups: new StaticGroupDirectory(),
      runnerFor: (_c, n) => simRunner(sim, n),
      events: { removeSchedulersOnStop: true, webhookPort: 0 },
    });
    cleanups.push(() => deps.close());
    await deps.startWorkers().ready();
    await until(
      async () =>
        (await deps.events.pipeline.load("lab")).facts !== null && deps.events.webhookUrls().length > 0,
    );
    const url = (deps.events.webhookUrls()[0] ?? "").replace("/xenops/event", "/xenops/alertmanager");
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: "Bearer am-token", "content-type": "application/json" },
      body: JSON.stringify({
        version: "4",
        status: "firing",
        alerts: [
          {
            status: "firing",
            labels: { alertname: "GuestDown", cluster: "lab", resource: "internet", severity: "page" },
            annotations: { summary: "internet does not answer HTTP" },
            startsAt: "2026-12-04T10:00:00Z",
            fingerprint: "0123456789abcdef",
          },
        ],
      }),
    });
    expect(res.status).toBe(200);
    await until(() => fake.accepted().length === 1);
    expect(fake.accepted()[0]?.action).toBe("trigger");
    const parent = notifier.posts.find((p) => p.message.text.includes("Alertmanager: GuestDown"));
    if (!parent) throw new Error("no incident");
    const ack = buttonsOf(parent.message).find((b) => b.text === "Acknowledge");
    if (!ack) throw new Error("no Acknowledge button");
    const reply = await deps.core.action({
      source: "console",
      deliveryId: "ack-1",
      channelId: "C0LAB",
      userId: "UOPER1",
      messageTs: parent.ref.ts,
      actionId: ack.action_id,
      value: ack.value,
    });
    expect(reply?.text).toMatch(/Acknowledged/);
    await until(() => fake.accepted().length === 2);
    expect(fake.accepted().map((r) => r.action)).toEqual(["trigger", "acknowledge"]);
    // The fake records a request before the client has its answer and counts it: wait for the count.
    const ackCounted = 'xenops_pages_total{service="pagerduty",action="acknowledge",result="ok"} 1';
    let metrics = "";
    await until(async () => {
      metrics = await deps.metrics.render();
      return metrics.includes(ackCounted);
    });
    expect(metrics).toContain('xenops_pages_total{service="pagerduty",action="trigger",result="ok"} 1');
    expect(metrics).toContain('xenops_pages_total{service="pagerduty",action="acknowledge",result="ok"} 1');
  });
});
