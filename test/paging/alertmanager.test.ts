/**
 * Alertmanager's webhook (format version 4) on the event webhook's server: authentication, body
 * limits, and alerts mapped by their labels into the incidents xenops opens itself, with paging.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startWebhookServer, type WebhookServer } from "../../src/events/webhook";
import { silentLogger } from "../../src/log";
import { AlertmanagerSource, alertEvent, alertmanagerAuthorized } from "../../src/paging/alertmanager";
import { referenceLab } from "../../src/sim";
import { parents, replies } from "../events/helpers";
import { FakePager } from "../support/fake-pager";
import { type PagingHarness, pagingHarness } from "./helpers";

let fake: FakePager;
const open: { x: PagingHarness; server: WebhookServer }[] = [];
beforeEach(async () => {
  fake = await new FakePager().start();
});
afterEach(async () => {
  for (const { x, server } of open.splice(0)) {
    await server.close();
    await x.close();
  }
  await fake.close();
});

const TOKEN = "s3cret-token";

async function setup(
  credentials: ConstructorParameters<typeof AlertmanagerSource>[0]["credentials"] = { bearerToken: TOKEN },
) {
  const x = pagingHarness(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }), { fake });
  const source = new AlertmanagerSource({
    inventory: x.inventory,
    credentials,
    pipeline: x.pipeline,
    incidents: x.incidents,
    store: x.store,
    redis: x.store.redis,
    prefix: x.prefix,
    logger: silentLogger(),
    now: () => x.sim.now(),
  });
  const server = await startWebhookServer({
    inventory: x.inventory,
    secret: "node-hook-secret",
    host: "127.0.0.1",
    port: 0,
    maxSkewSeconds: 300,
    redis: x.store.redis,
    keys: x.store.keys,
    pipeline: x.pipeline,
    logger: silentLogger(),
    now: () => x.sim.now(),
    alertmanager: source.route(),
  });
  open.push({ x, server });
  const url = server.url.replace("/xenops/event", "/xenops/alertmanager");
  const post = (body: unknown, auth: string | null = `Bearer ${TOKEN}`) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return { x, post };
}

function alert(over: Record<string, unknown> = {}, labels: Record<string, string> = {}) {
  return {
    status: "firing",
    labels: { alertname: "NodeDown", cluster: "lab", instance: "ics2:9100", severity: "critical", ...labels },
    annotations: { summary: "node_exporter on ics2 is down" },
    startsAt: "2026-12-04T10:00:00Z",
    endsAt: "0001-01-01T00:00:00Z",
    generatorURL: "http://prometheus:9090/graph?g0.expr=up",
    fingerprint: "a1b2c3d4e5f60718",
    ...over,
  };
}

function body(alerts: unknown[], status = "firing") {
  return { version: "4", status, receiver: "xenops", groupKey: '{}:{alertname="NodeDown"}', alerts };
}

describe("POST /xenops/alertmanager", () => {
  it("refuses wrong or missing credentials, oversized and malformed bodies", async () => {
    const { post } = await setup();
    expect((await post(body([alert()]), null)).status).toBe(401);
    expect((await post(body([alert()]), "Bearer wrong")).status).toBe(401);
    expect(
      (await post(body([alert()]), `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}`)).status,
    ).toBe(401);
    expect((await post("x".repeat(20_000))).status).toBe(413);
    expect((await post({ ...body([alert()]), version: "3" })).status).toBe(400);
    expect((await post({ ...body([alert({ status: "pending" })]) })).status).toBe(400);
  });

  it("basic authentication, when configured", () => {
    const creds = { basic: { username: "am", password: "pw" } };
    expect(alertmanagerAuthorized(`Basic ${Buffer.from("am:pw").toString("base64")}`, creds)).toBe(true);
    expect(alertmanagerAuthorized(`Basic ${Buffer.from("am:no").toString("base64")}`, creds)).toBe(false);
    expect(alertmanagerAuthorized("Bearer pw", creds)).toBe(false);
  });

  it("a firing alert opens an incident and pages; repeats are told once; resolved closes both", async () => {
    const { x, post } = await setup();
    await x.poll();
    const res = await post(body([alert()]));
    expect(res.status).toBe(200);
    expect(parents(x.notifier)).toHaveLength(1);
    const parent = parents(x.notifier)[0];
    if (!parent) throw new Error("no incident");
    expect(parent.message.text).toContain("Alertmanager: NodeDown (ics2): node_exporter on ics2 is down");
    const rec = await x.incidents.byKey("lab|-|ics2|node");
    expect(rec?.severity).toBe("critical");
    await x.oncall.tick();
    expect(fake.accepted().map((r) => r.action)).toEqual(["trigger"]);
    // Alertmanager's repeat_interval sends the same again: nothing new.
    const posts = x.notifier.posts.length;
    await post(body([alert()]));
    expect(x.notifier.posts.length).toBe(posts);

    await post(body([alert({ status: "resolved", endsAt: "2026-12-04T10:05:00Z" })], "resolved"));
    expect((await x.incidents.get(rec?.id ?? ""))?.status).toBe("resolved");
    await x.oncall.tick();
    expect(fake.accepted().map((r) => r.action)).toEqual(["trigger", "resolve"]);
  });

  it("lands in the incident xenops opened itself for the same node; its resolution does not close it", async () => {
    const { x, post } = await setup();
    await x.poll();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    await x.poll();
    expect(parents(x.notifier)).toHaveLength(1);
    const parent = parents(x.notifier)[0];
    if (!parent) throw new Error("no incident");
    await post(body([alert({}, { instance: "ics2.example.org:9100" })]));
    expect(parents(x.notifier)).toHaveLength(1);
    expect(
      replies(x.notifier, parent.ref.ts).some((r) =>
        r.message.text.includes("Alertmanager: NodeDown (ics2)"),
      ),
    ).toBe(true);
    await post(body([alert({ status: "resolved" }, { instance: "ics2.example.org:9100" })], "resolved"));
    const rec = await x.incidents.byKey("lab|-|ics2|node");
    expect(rec?.status).toBe("open");
    expect(
      replies(x.notifier, parent.ref.ts).some((r) => r.message.text.includes("Alertmanager says resolved")),
    ).toBe(true);
    await x.oncall.tick();
    expect(fake.accepted().map((r) => r.action)).toEqual(["trigger"]);
  });

  it("maps labels: DRBD resources to their link incident, guests to theirs, unknown clusters ignored", async () => {
    const { x } = await setup();
    const at = new Date(0).toISOString();
    const drbd = alertEvent(
      x.inventory,
      alert({}, { resource: "internet", instance: "ics1:9100" }) as never,
      at,
    );
    expect("event" in drbd && drbd.event).toMatchObject({ family: "link", subject: "internet", node: null });
    const none = alertEvent(x.inventory, alert({}, { cluster: "elsewhere" }) as never, at);
    expect(none).toMatchObject({ ignored: expect.stringContaining("no cluster") });
    const bad = alertEvent(x.inventory, alert({}, { resource: "nosuch" }) as never, at);
    expect(bad).toMatchObject({ ignored: expect.stringContaining("unknown resource") });
    const warn = alertEvent(x.inventory, alert({}, { severity: "warning" }) as never, at);
    expect("event" in warn && warn.event.severity).toBe("warning");
  });
});
