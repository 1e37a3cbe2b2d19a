/**
 * The webhook's per-node trust: a key per node, a node speaking only for itself and the DRBD resources it
 * holds, no self-reported fencing, bounded bodies, the storm limit on thread posts, and the contrib
 * scripts (one event per DRBD 9 peer, the key never on a command line) run with real sh, bash and openssl.
 */
import { execFile } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InventoryConfig } from "../../src/config/schema";
import {
  resolveWebhookSecrets,
  signWebhook,
  startWebhookServer,
  type WebhookSecrets,
  type WebhookServer,
} from "../../src/events/webhook";
import { silentLogger } from "../../src/log";
import { referenceLab } from "../../src/sim";
import { type Harness, harness, parents, replies } from "./helpers";

const KEY1 = "key-of-ics1-0123456789abcdef0123";
const KEY2 = "key-of-ics2-0123456789abcdef0123";
const SHARED = "shared-key-0123456789abcdef012345";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  return { logger, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * The reference lab plus a DRBD resource only ics2 holds (`scratch`, on a third node ics3 too) and a
 * third node, so that a node can speak about a resource that is not its own.
 */
async function setup(
  opts: { secrets?: WebhookSecrets; wallClock?: boolean; logger?: ReturnType<typeof capture>["logger"] } = {},
): Promise<{ x: Harness; server: WebhookServer }> {
  const x = harness(referenceLab(), {
    cluster: {
      drbd: [
        { name: "internet", minor: 0, allowTwoPrimaries: false },
        { name: "scratch", minor: 1, allowTwoPrimaries: false, nodes: ["ics2"] },
      ],
    },
  });
  cleanups.push(() => x.close());
  const lab = x.inventory.clusters[0];
  if (!lab) throw new Error("no cluster");
  // The webhook's view only: ics3 exists and holds scratch with ics2 (the simulator runs two nodes).
  const third = { ...(lab.nodes[1] as (typeof lab.nodes)[number]), name: "ics3" };
  const inventory: InventoryConfig = {
    ...x.inventory,
    clusters: [
      {
        ...lab,
        nodes: [...lab.nodes, third],
        drbd: lab.drbd.map((d) => ({
          ...d,
          nodes: d.name === "scratch" ? ["ics2", "ics3"] : ["ics1", "ics2"],
        })),
      },
    ],
  };
  const server = await startWebhookServer({
    inventory,
    secrets: opts.secrets ?? {
      shared: null,
      nodes: new Map([
        ["lab/ics1", KEY1],
        ["lab/ics2", KEY2],
        ["lab/ics3", "key-of-ics3-0123456789abcdef0123"],
      ]),
    },
    host: "127.0.0.1",
    port: 0,
    maxSkewSeconds: 300,
    redis: x.store.redis,
    keys: x.store.keys,
    pipeline: x.pipeline,
    logger: opts.logger ?? silentLogger(),
    ...(opts.wallClock ? {} : { now: () => x.sim.now() }),
    // Called once a request answered 202 has been through the pipeline: what settle() waits for.
    poke: async () => {
      processed += 1;
    },
  });
  cleanups.push(() => server.close());
  return { x, server };
}

/** Requests answered 202 in this test, and those of them the endpoint has finished processing. */
let accepted = 0;
let processed = 0;
beforeEach(() => {
  accepted = 0;
  processed = 0;
});

/** Resolves once the pipeline has taken the requests (the endpoint answers 202 before it processes). */
async function settle(x: Harness, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (processed < accepted) {
    if (Date.now() > deadline)
      throw new Error(`${accepted - processed} of ${accepted} accepted webhook requests never processed`);
    await new Promise((r) => setTimeout(r, 5));
  }
  await x.pipeline.flush("lab");
}

let seq = 0;
async function send(
  server: WebhookServer,
  body: Record<string, unknown>,
  opts: { ts: number; key: string; as?: { cluster: string; node: string } | null },
): Promise<{ status: number; text: string }> {
  const text = JSON.stringify(body);
  const as = opts.as === undefined ? { cluster: String(body.cluster), node: String(body.node) } : opts.as;
  const res = await fetch(server.url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-xenops-timestamp": String(opts.ts),
      "x-xenops-signature": signWebhook(opts.key, opts.ts, text),
      ...(as ? { "x-xenops-cluster": as.cluster, "x-xenops-node": as.node } : {}),
    },
    body: text,
  });
  if (res.status === 202) accepted += 1;
  return { status: res.status, text: (await res.text()).trim() };
}

const drbd = (node: string, event: string, extra: Record<string, unknown> = {}) => ({
  cluster: "lab",
  node,
  source: "drbd",
  event,
  details: { DRBD_MINOR: String(seq++) },
  ...extra,
});

describe("a key per node", () => {
  it("accepts a node's request signed with its own key, refuses another node's key or another node's name", async () => {
    const { x, server } = await setup();
    const ts = Math.floor(x.sim.now() / 1000);
    const own = drbd("ics1", "fence-peer", { resource: "internet", peer: "ics2" });
    expect(await send(server, own, { ts, key: KEY1 })).toEqual({ status: 202, text: "accepted" });
    // ics2's key cannot sign for ics1.
    const forged = drbd("ics1", "fence-peer", { resource: "internet", peer: "ics2" });
    expect(await send(server, forged, { ts, key: KEY2 })).toEqual({ status: 401, text: "bad signature" });
    // ics1's key, headers saying ics1, a body speaking for ics2.
    const other = drbd("ics2", "split-brain", { resource: "internet" });
    const r = await send(server, other, { ts, key: KEY1, as: { cluster: "lab", node: "ics1" } });
    expect(r.status).toBe(422);
    // Without naming the node there is no key to check against (no shared key configured).
    expect((await send(server, drbd("ics1", "fence-peer"), { ts, key: KEY1, as: null })).status).toBe(401);
    // A node the inventory does not know.
    const unknown = drbd("ics9", "fence-peer");
    expect((await send(server, unknown, { ts, key: KEY1 })).status).toBe(401);
    await settle(x);
    // Only the accepted report was posted.
    expect(parents(x.notifier).map((p) => JSON.stringify(p.message))).toEqual([
      expect.stringContaining("DRBD on ics1 asked to fence its peer ics2 for internet"),
    ]);
  });

  it("still accepts the shared key for nodes without their own, never for a node that has one", async () => {
    const { x, server } = await setup({ secrets: { shared: SHARED, nodes: new Map([["lab/ics1", KEY1]]) } });
    const ts = Math.floor(x.sim.now() / 1000);
    // Old scripts: no node headers, the shared key.
    const legacy = drbd("ics2", "before-resync-target", { resource: "internet" });
    expect((await send(server, legacy, { ts, key: SHARED, as: null })).status).toBe(202);
    const named = drbd("ics2", "after-resync-target", { resource: "internet" });
    expect((await send(server, named, { ts, key: SHARED })).status).toBe(202);
    // ics1 has its own key: the shared one cannot speak for it, with or without headers.
    const forged = drbd("ics1", "split-brain", { resource: "internet" });
    expect((await send(server, forged, { ts, key: SHARED, as: null })).status).toBe(401);
    expect((await send(server, drbd("ics1", "split-brain"), { ts, key: SHARED })).status).toBe(401);
  });

  it("resolves per-node keys from the inventory and warns about nodes on the shared one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "xenops-wh-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "ics1"), `${KEY1}\n`);
    const x = harness(referenceLab());
    cleanups.push(() => x.close());
    const lab = x.inventory.clusters[0];
    if (!lab) throw new Error("no cluster");
    const inventory = InventoryConfig.parse({
      ...x.inventory,
      clusters: [
        {
          ...lab,
          nodes: lab.nodes.map((n) =>
            n.name === "ics1" ? { ...n, webhookSecret: { file: join(dir, "ics1") } } : n,
          ),
        },
      ],
      webhook: { secret: { env: "XENOPS_WEBHOOK_SECRET" } },
    });
    const log = capture();
    const secrets = await resolveWebhookSecrets(inventory, { XENOPS_WEBHOOK_SECRET: SHARED }, log.logger);
    expect(secrets.shared).toBe(SHARED);
    expect(secrets.nodes.get("lab/ics1")).toBe(KEY1);
    expect(secrets.nodes.has("lab/ics2")).toBe(false);
    const warning = log.entries().find((e) => String(e.msg).startsWith("webhook: nodes without their own"));
    expect(warning?.nodes).toEqual(["lab/ics2"]);
    expect(JSON.stringify(log.entries())).not.toContain(SHARED);
    expect(JSON.stringify(log.entries())).not.toContain(KEY1);
  });

  it("config: a webhook needs a shared secret or per-node ones", () => {
    const x = harness(referenceLab());
    cleanups.push(() => x.close());
    const bad = InventoryConfig.safeParse({ ...x.inventory, webhook: { port: 8089 } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain("webhookSecret");
  });
});

describe("what a node may speak about", () => {
  it("refuses a resource the node does not hold, an unknown one, a peer that does not hold it (422)", async () => {
    const { x, server } = await setup();
    const ts = Math.floor(x.sim.now() / 1000);
    const peers = await send(server, drbd("ics1", "split-brain", { resource: "scratch" }), { ts, key: KEY1 });
    expect(peers).toEqual({ status: 422, text: "ics1 does not hold DRBD resource scratch" });
    const unknown = await send(server, drbd("ics1", "split-brain", { resource: "nosuch" }), {
      ts,
      key: KEY1,
    });
    expect(unknown).toEqual({ status: 422, text: "unknown resource nosuch" });
    const peer = await send(server, drbd("ics2", "fence-peer", { resource: "scratch", peer: "ics1" }), {
      ts,
      key: KEY2,
    });
    expect(peer).toEqual({ status: 422, text: "ics1 does not hold DRBD resource scratch" });
    const self = await send(server, drbd("ics1", "fence-peer", { resource: "internet", peer: "ics1" }), {
      ts,
      key: KEY1,
    });
    expect(self.status).toBe(422);
    // Its own resource is fine.
    expect(
      (await send(server, drbd("ics2", "split-brain", { resource: "scratch" }), { ts, key: KEY2 })).status,
    ).toBe(202);
  });

  it("refuses a node reporting that it fenced itself (422), accepts its report about a peer", async () => {
    const { x, server } = await setup();
    await x.poll();
    const ts = Math.floor(x.sim.now() / 1000);
    const fencing = (node: string, target?: string) => ({
      cluster: "lab",
      node,
      source: "ha",
      event: "fencing",
      ...(target ? { peer: target } : {}),
      details: { CRM_alert_rc: "0", CRM_alert_desc: `Operation off of ${target ?? node}: OK` },
    });
    expect(await send(server, fencing("ics2", "ics2"), { ts, key: KEY2 })).toEqual({
      status: 422,
      text: "ics2 cannot report its own fencing",
    });
    expect((await send(server, fencing("ics2"), { ts, key: KEY2 })).status).toBe(422);
    expect(parents(x.notifier)).toHaveLength(0);
    expect((await send(server, fencing("ics1", "ics2"), { ts, key: KEY1 })).status).toBe(202);
  });
});

/** POSTs 300 KiB as ics1, signed with its key, with timestamp `ts`. */
function sendLarge(server: WebhookServer, ts: number): Promise<Response> {
  const body = "x".repeat(300 * 1024);
  return fetch(server.url, {
    method: "POST",
    headers: {
      "x-xenops-timestamp": String(ts),
      "x-xenops-signature": signWebhook(KEY1, ts, body),
      "x-xenops-cluster": "lab",
      "x-xenops-node": "ics1",
    },
    body,
  });
}

describe("bounded bodies", () => {
  it("answers 413 to a declared body over 16 KiB without reading it", async () => {
    const { x, server } = await setup();
    const ts = Math.floor(x.sim.now() / 1000);
    const port = server.port;
    const head = [
      "POST /xenops/event HTTP/1.1",
      "Host: 127.0.0.1",
      "Content-Type: application/json",
      `Content-Length: ${300 * 1024}`,
      `X-Xenops-Timestamp: ${ts}`,
      "X-Xenops-Cluster: lab",
      "X-Xenops-Node: ics1",
      `X-Xenops-Signature: sha256=${"0".repeat(64)}`,
      "",
      "",
    ].join("\r\n");
    const response = await new Promise<string>((done, fail) => {
      const socket = connect(port, "127.0.0.1", () => socket.write(head));
      let text = "";
      socket.on("data", (d) => {
        text += d.toString("latin1");
      });
      socket.on("close", () => done(text));
      socket.on("error", () => done(text));
      socket.setTimeout(10_000, () => fail(new Error("no answer")));
    });
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
  });

  it("checks the timestamp before the body: a stale request is 401 however large", async () => {
    const { x, server } = await setup();
    const res = await sendLarge(server, Math.floor(x.sim.now() / 1000) - 3600);
    expect(res.status).toBe(401);
    expect((await res.text()).trim()).toMatch(/^stale request/);
  });

  it("answers 413 (not a reset) to a client that sends 300 KiB", async () => {
    const { x, server } = await setup();
    const res = await sendLarge(server, Math.floor(x.sim.now() / 1000));
    expect(res.status).toBe(413);
  });
});

describe("the storm limit", () => {
  it("holds back thread posts from a node's hooks past the channel's limit (20 a minute)", async () => {
    const { x, server } = await setup();
    await x.poll();
    const ts = Math.floor(x.sim.now() / 1000);
    for (let i = 0; i < 30; i++) {
      const r = await send(server, drbd("ics1", "fence-peer", { resource: "internet", peer: "ics2" }), {
        ts,
        key: KEY1,
      });
      expect(r.status).toBe(202);
      await x.pipeline.flush("lab");
    }
    await settle(x);
    const parent = parents(x.notifier)[0];
    expect(parent).toBeDefined();
    const thread = replies(x.notifier, parent?.ref.ts ?? "");
    expect(thread.length).toBeGreaterThan(0);
    expect(x.notifier.posts.length).toBeLessThanOrEqual(20);
    // What was held back is summarized once the incident's pace allows.
    x.tick(61_000);
    await x.pipeline.flush("lab");
    const summary = replies(x.notifier, parent?.ref.ts ?? "").at(-1);
    expect(JSON.stringify(summary?.message)).toMatch(/earlier updates? summarized here/);
  });
});

const run = promisify(execFile);
const haveTools = Promise.all(
  ["openssl", "curl", "od", "bash"].map((t) =>
    run("sh", ["-c", `command -v ${t}`]).then(
      () => true,
      () => false,
    ),
  ),
).then((x) => x.every(Boolean));

/**
 * For a contrib script run as `node`: the endpoint on the wall clock, logging to `log`; a scratch `dir`
 * holding `key` as the node's key file; the script's environment pointing at both.
 */
async function hookSetup(node: string, key: string) {
  const log = capture();
  const { server } = await setup({ wallClock: true, logger: log.logger });
  const dir = await mkdtemp(join(tmpdir(), "xenops-hook-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "key"), `${key}\n`, { mode: 0o600 });
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    XENOPS_HOOK_CONF: "/nonexistent",
    XENOPS_URL: server.url,
    XENOPS_CLUSTER: "lab",
    XENOPS_NODE: node,
    XENOPS_SECRET_FILE: join(dir, "key"),
  };
  return { log, dir, env };
}

describe("the contrib scripts", () => {
  it.for(["sh", "bash"])(
    "%s: the DRBD handler sends one event per DRBD 9 peer, signed with the node's key",
    async (shell, ctx) => {
      if (!(await haveTools)) return ctx.skip();
      const { log, dir, env } = await hookSetup("ics2", KEY2);
      // An openssl that records its command lines, then runs the real one.
      const real = (await run("sh", ["-c", "command -v openssl"])).stdout.trim();
      const bin = join(dir, "bin");
      await run("mkdir", [bin]);
      await writeFile(
        join(bin, "openssl"),
        `#!/bin/sh\nprintf '%s\\n' "$*" >> "${join(dir, "argv.log")}"\nexec "${real}" "$@"\n`,
      );
      await chmod(join(bin, "openssl"), 0o755);
      const handler = resolve("contrib/drbd/xenops-drbd-handler.sh");
      const status = await run(shell, [handler, "fence-peer", "4"], {
        env: {
          ...env,
          PATH: `${bin}:${env.PATH}`,
          DRBD_RESOURCE: "scratch",
          DRBD_PEERS: "ics3",
          DRBD_MINOR: "1",
        },
      }).then(
        () => 0,
        (e: { code?: number }) => e.code ?? -1,
      );
      expect(status).toBe(4);
      const accepted = log.entries().filter((e) => e.msg === "webhook event");
      expect(accepted.map((e) => [e.node, e.event, e.peer])).toEqual([["ics2", "fence-peer", "ics3"]]);
      const argv = await readFile(join(dir, "argv.log"), "utf8");
      expect(argv).toMatch(/dgst -sha256/);
      expect(argv).not.toContain(KEY2);
      expect(argv).not.toMatch(/-hmac|macopt|hexkey/);
    },
  );

  it.for(["sh", "bash"])(
    "%s: several DRBD 9 peers are reported one event each, all accepted",
    async (shell, ctx) => {
      if (!(await haveTools)) return ctx.skip();
      const { log, env } = await hookSetup("ics2", KEY2);
      await run(shell, [resolve("contrib/drbd/xenops-drbd-handler.sh"), "before-resync-target"], {
        env: {
          ...env,
          DRBD_RESOURCE: "internet",
          DRBD_PEERS: "ics1 ics3",
        },
      });
      const accepted = log.entries().filter((e) => e.msg === "webhook event");
      // ics3 does not hold internet: refused; ics1 does: accepted. Never one joined name "ics1ics3".
      expect(accepted.map((e) => e.peer)).toEqual(["ics1"]);
      const refused = log.entries().filter((e) => e.msg === "webhook request refused");
      expect(refused.map((e) => e.reason)).toEqual(["ics3 does not hold DRBD resource internet"]);
    },
  );

  it.for(["sh", "bash"])(
    "%s: the HA alert agent signs with the node's key and names the node",
    async (shell, ctx) => {
      if (!(await haveTools)) return ctx.skip();
      const { log, dir, env } = await hookSetup("ics1", KEY1);
      await run(shell, [resolve("contrib/ha/xenops-alert.sh")], {
        env: {
          ...env,
          XENOPS_STATE_DIR: dir,
          CRM_alert_kind: "node",
          CRM_alert_node: "ics2",
          CRM_alert_desc: "lost",
        },
      });
      const accepted = log.entries().filter((e) => e.msg === "webhook event");
      expect(accepted.map((e) => [e.node, e.event, e.peer])).toEqual([["ics1", "node", "ics2"]]);
    },
  );
});
