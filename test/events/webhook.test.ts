/** The node-side hook endpoint: HMAC authentication (bad signature, stale, replay) and what hooks mean. */
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { signWebhook, startWebhookServer, WEBHOOK_PATH, type WebhookServer } from "../../src/events/webhook";
import { silentLogger } from "../../src/log";
import { referenceLab } from "../../src/sim";
import { type Harness, harness, parents, replies } from "./helpers";

const SECRET = "s3cret-for-tests-only-0123456789";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ x: Harness; server: WebhookServer; pokes: string[] }> {
  const x = harness(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
  cleanups.push(() => x.close());
  const pokes: string[] = [];
  const server = await startEndpoint(x, pokes, () => x.sim.now());
  return { x, server, pokes };
}

/** The endpoint on harness `x`, noting pokes in `pokes`; timestamps checked against `now` (or wall clock). */
async function startEndpoint(x: Harness, pokes: string[], now?: () => number): Promise<WebhookServer> {
  const server = await startWebhookServer({
    inventory: x.inventory,
    secret: SECRET,
    host: "127.0.0.1",
    port: 0,
    maxSkewSeconds: 300,
    redis: x.store.redis,
    keys: x.store.keys,
    pipeline: x.pipeline,
    logger: silentLogger(),
    poke: async (c) => {
      pokes.push(c);
    },
    ...(now ? { now } : {}),
  });
  cleanups.push(() => server.close());
  return server;
}

async function send(
  server: WebhookServer,
  body: string,
  opts: { ts: number; signature?: string; secret?: string },
): Promise<{ status: number; text: string }> {
  const res = await fetch(server.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-xenops-timestamp": String(opts.ts),
      "x-xenops-signature": opts.signature ?? signWebhook(opts.secret ?? SECRET, opts.ts, body),
    },
    body,
  });
  return { status: res.status, text: (await res.text()).trim() };
}

/**
 * Resolves once `accepted` requests have been through the pipeline: the endpoint answers 202 first,
 * then processes the report and pokes the monitor (the poke is the sign it is done).
 */
async function settle(x: Harness, pokes: string[], accepted: number, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (pokes.length < accepted) {
    if (Date.now() > deadline)
      throw new Error(`${accepted - pokes.length} of ${accepted} accepted webhook requests never processed`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await x.pipeline.flush("lab");
}

/** The body of a DRBD handler's report from ics1 about internet (`extra` adds or replaces fields). */
const drbdReport = (event: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cluster: "lab", node: "ics1", source: "drbd", event, resource: "internet", ...extra });

/** The environment of the contrib scripts on ics1, posting to `url` with the key file in `dir`. */
const hookEnv = (url: string, dir: string) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  XENOPS_HOOK_CONF: "/nonexistent",
  XENOPS_URL: url,
  XENOPS_CLUSTER: "lab",
  XENOPS_NODE: "ics1",
  XENOPS_SECRET_FILE: join(dir, "secret"),
});

describe("webhook authentication", () => {
  it("accepts a signed, fresh request once: a replay is refused", async () => {
    const { x, server } = await setup();
    await x.poll();
    const ts = Math.floor(x.sim.now() / 1000);
    const body = drbdReport("fence-peer", { peer: "ics2" });
    expect(await send(server, body, { ts })).toEqual({ status: 202, text: "accepted" });
    expect(await send(server, body, { ts })).toEqual({ status: 409, text: "replayed request" });
  });

  it("refuses a bad signature, a wrong secret, a missing one, and a stale or future timestamp", async () => {
    const { x, server } = await setup();
    const ts = Math.floor(x.sim.now() / 1000);
    const body = drbdReport("split-brain");
    expect((await send(server, body, { ts, signature: `sha256=${"0".repeat(64)}` })).status).toBe(401);
    expect((await send(server, body, { ts, secret: "not-the-secret" })).text).toBe("bad signature");
    // Signed over another body.
    expect((await send(server, body, { ts, signature: signWebhook(SECRET, ts, `${body} `) })).status).toBe(
      401,
    );
    const missing = await fetch(server.url, { method: "POST", body });
    expect(missing.status).toBe(401);
    const stale = await send(server, body, { ts: ts - 301 });
    expect(stale.status).toBe(401);
    expect(stale.text).toMatch(/^stale request/);
    expect((await send(server, body, { ts: ts + 400 })).status).toBe(401);
    expect(x.notifier.posts).toHaveLength(0);
  });

  it("refuses unknown clusters and nodes, bad bodies and other paths", async () => {
    const { x, server } = await setup();
    const ts = Math.floor(x.sim.now() / 1000);
    const unknown = drbdReport("split-brain", { node: "ics9" });
    expect((await send(server, unknown, { ts })).status).toBe(422);
    const bad = JSON.stringify({
      cluster: "lab",
      node: "ics1",
      source: "drbd",
      event: "split-brain; rm -rf /",
    });
    expect((await send(server, bad, { ts })).status).toBe(400);
    const other = await fetch(server.url.replace(WEBHOOK_PATH, "/other"), { method: "POST", body: "{}" });
    expect(other.status).toBe(404);
  });
});

describe("what hooks mean", () => {
  it("a split-brain handler call opens the split-brain incident at once and asks for a poll", async () => {
    const { x, server, pokes } = await setup();
    await x.poll();
    x.sim.splitBrain("internet", { bothPrimary: false, oosKiB: 0 });
    // Before any poll sees it: the handler's word is enough to post.
    const ts = Math.floor(x.sim.now() / 1000);
    const body = drbdReport("split-brain", {
      peer: "ics2",
      details: { DRBD_RESOURCE: "internet", DRBD_PEER: "ics2" },
    });
    expect((await send(server, body, { ts })).status).toBe(202);
    await settle(x, pokes, 1);
    expect(pokes).toEqual(["lab"]);
    expect(parents(x.notifier)).toHaveLength(1);
    expect(JSON.stringify(x.notifier.posts[0]?.message)).toContain(
      "DRBD on ics1 detected a split brain of internet",
    );
    // The poll then sees both sides StandAlone: with the handler's report that is a split brain, in the same incident.
    const r = await x.poll();
    expect(r.opened.map((c) => c.kind)).toEqual(["split_brain"]);
    expect(parents(x.notifier)).toHaveLength(1);
    const card = JSON.stringify(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""));
    expect(card).toContain("Keep ics1");
    expect(card).toContain("split-brain handler fired on ics1");
  });

  it("a Pacemaker fencing alert marks the node fenced (verified by the fencer)", async () => {
    const { x, server, pokes } = await setup();
    await x.poll();
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    const ts = Math.floor(x.sim.now() / 1000);
    const body = JSON.stringify({
      cluster: "lab",
      node: "ics1",
      source: "ha",
      event: "fencing",
      peer: "ics2",
      details: {
        CRM_alert_kind: "fencing",
        CRM_alert_node: "ics2",
        CRM_alert_rc: "0",
        CRM_alert_desc: "Operation off of ics2 by ics1: OK",
      },
    });
    expect((await send(server, body, { ts })).status).toBe(202);
    await settle(x, pokes, 1);
    const parent = parents(x.notifier)[0];
    const thread = replies(x.notifier, parent?.ref.ts ?? "").map((p) => JSON.stringify(p.message));
    expect(thread.some((t) => t.includes("ics2 was fenced (reported by the fencer on ics1)"))).toBe(true);
    expect(thread.some((t) => t.includes("Start its guests on ics1"))).toBe(true);
  });
});

const run = promisify(execFile);
const tools = Promise.all(
  ["openssl", "curl"].map((t) =>
    run("sh", ["-c", `command -v ${t}`]).then(
      () => true,
      () => false,
    ),
  ),
).then((x) => x.every(Boolean));

describe("the node-side scripts (contrib/)", () => {
  it("the DRBD handler and the HA alert agent post signed events the endpoint accepts", async (ctx) => {
    if (!(await tools)) return ctx.skip();
    const { x, server } = await setup();
    await x.poll();
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    const dir = await mkdtemp(join(tmpdir(), "xenops-hook-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "secret"), `${SECRET}\n`, { mode: 0o600 });
    // The scripts sign with the wall clock; the endpoint here checks against the simulated one.
    await server.close();
    const livePokes: string[] = [];
    const live = await startEndpoint(x, livePokes);
    const env = { ...hookEnv(live.url, dir), XENOPS_STATE_DIR: dir };
    const handler = resolve("contrib/drbd/xenops-drbd-handler.sh");
    const fence = await run("sh", [handler, "fence-peer", "7"], {
      env: { ...env, DRBD_RESOURCE: "internet", DRBD_PEER: "ics2", DRBD_MINOR: "0" },
    }).then(
      () => 0,
      (e: { code?: number }) => e.code ?? -1,
    );
    // The real handler's status passes through unchanged.
    expect(fence).toBe(7);
    const alert = resolve("contrib/ha/xenops-alert.sh");
    await run("sh", [alert], {
      env: {
        ...env,
        CRM_alert_kind: "fencing",
        CRM_alert_node: "ics2",
        CRM_alert_rc: "0",
        CRM_alert_desc: "Operation off of ics2 by ics1 for crmd: OK",
        CRM_alert_task: "off",
      },
    });
    await settle(x, livePokes, 2); // the handler's report and the alert agent's
    const parent = parents(x.notifier)[0];
    const thread = replies(x.notifier, parent?.ref.ts ?? "").map((p) => JSON.stringify(p.message));
    expect(
      thread.some((t) => t.includes("DRBD on ics1 asked to fence its peer ics2 for internet (fence-peer)")),
    ).toBe(true);
    expect(thread.some((t) => t.includes("ics2 was fenced (reported by the fencer on ics1)"))).toBe(true);
    expect(thread.some((t) => t.includes("DRBD_MINOR=0"))).toBe(true);
  });

  it("installed as the README says (the shared part beside the scripts), a hook signs and posts; without it, it passes the status through", async (ctx) => {
    if (!(await tools)) return ctx.skip();
    const dir = await mkdtemp(join(tmpdir(), "xenops-hook-installed-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "secret"), `${SECRET}\n`, { mode: 0o600 });
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString("utf8");
      });
      req.on("end", () => {
        received.push({ headers: req.headers, body });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const env = hookEnv(`http://127.0.0.1:${address.port}${WEBHOOK_PATH}`, dir);
    const exitOf = (p: Promise<unknown>) =>
      p.then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );

    // Alone, without the shared part: nothing is posted and DRBD gets the real handler's status.
    const alone = join(dir, "alone");
    await run("mkdir", [alone]);
    await copyFile(resolve("contrib/drbd/xenops-drbd-handler.sh"), join(alone, "xenops-drbd-handler.sh"));
    const lonely = await exitOf(
      run("sh", [join(alone, "xenops-drbd-handler.sh"), "split-brain", "5"], {
        env: { ...env, DRBD_RESOURCE: "internet", DRBD_PEER: "ics2" },
      }),
    );
    expect(lonely).toBe(5);
    expect(received).toHaveLength(0);

    // Installed: both scripts and the shared part in one directory.
    const lib = join(dir, "lib");
    await run("mkdir", [lib]);
    for (const file of ["drbd/xenops-drbd-handler.sh", "ha/xenops-alert.sh", "lib/xenops-hook.sh"]) {
      await copyFile(resolve("contrib", file), join(lib, file.split("/")[1] ?? file));
    }
    const status = await exitOf(
      run("sh", [join(lib, "xenops-drbd-handler.sh"), "split-brain", "0"], {
        env: { ...env, DRBD_RESOURCE: "internet", DRBD_PEERS: "ics2 ics3" },
      }),
    );
    expect(status).toBe(0);
    await run("sh", [join(lib, "xenops-alert.sh")], {
      env: {
        ...env,
        XENOPS_STATE_DIR: dir,
        CRM_alert_kind: "node",
        CRM_alert_node: "ics2",
        CRM_alert_desc: "lost",
      },
    });
    expect(received.map((r) => JSON.parse(r.body).event)).toEqual(["split-brain", "split-brain", "node"]);
    expect(received.map((r) => JSON.parse(r.body).peer)).toEqual(["ics2", "ics3", "ics2"]);
    for (const r of received) {
      expect(r.headers["x-xenops-node"]).toBe("ics1");
      expect(r.headers["x-xenops-cluster"]).toBe("lab");
      expect(r.headers["x-xenops-signature"]).toBe(
        signWebhook(SECRET, String(r.headers["x-xenops-timestamp"]), r.body),
      );
    }
  });
});
