/**
 * The risky operations end to end: `/xen ...` through the command core, the planning job, the approval
 * card, clicks through the action handler, the execution job on a worker, SSH to the simulated
 * cluster, and the card with the verified result. Approvals: self-approval refused, unauthorised
 * approver refused, fifty concurrent clicks → one execution, expired refused, state changed refused.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { APPROVE_ACTION_ID, DENY_ACTION_ID } from "../../src/approval/card";
import { approvalKeys } from "../../src/approval/engine";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { ActionRequest, OutboundMessage } from "../../src/chat/types";
import { readRuntimeEnv } from "../../src/config/env";
import type { InventoryConfig } from "../../src/config/schema";
import { type Lab, startLab } from "../../src/lab/lab";
import { createRedisConnection } from "../../src/queue/redis";
import { createDeps, type Deps } from "../../src/runtime/deps";
import { runConsole } from "../../src/runtime/modes";
import { referenceLab, type SimClusterSpecInput } from "../../src/sim";
import { renderPlainText } from "../../src/slack/render/text";
import { RecordingNotifier } from "../approval/helpers";
import { FAST, withoutHaGuests } from "../operations/harness";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
const ROOT = join(import.meta.dirname, "..", "..");

/** The reference lab as shipped: heartbeat's haresources manages internet. */
const managedSpec = (overrides: Partial<SimClusterSpecInput> = {}): SimClusterSpecInput =>
  referenceLab({
    timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 30_000 },
    ha: { deadtimeMs: 200, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
    ...overrides,
  });
/** The operations' mechanics are tested on a guest no cluster manager owns (see test/operations/ha-manager.test.ts). */
const fastSpec = (overrides: Partial<SimClusterSpecInput> = {}): SimClusterSpecInput =>
  withoutHaGuests(managedSpec(overrides));

interface Stack {
  lab: Lab;
  deps: Deps;
  notifier: RecordingNotifier;
  enqueued: { name: string; jobId: string }[];
  command(user: string, text: string): Promise<string>;
  click(user: string, label: "Approve" | "Deny", approvalId?: string): Promise<string | null>;
  /** Waits for a posted message whose plain text matches. */
  waitForMessage(match: RegExp, timeoutMs?: number): Promise<{ ts: string; text: string }>;
  /** The approval card's id (from its buttons), once posted. */
  approvalId(timeoutMs?: number): Promise<string>;
  /** Current plain text of a message. */
  text(ts: string): string;
  waitForText(ts: string, match: RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

async function start(
  spec: SimClusterSpecInput = fastSpec(),
  edit?: (inv: InventoryConfig) => InventoryConfig,
): Promise<Stack> {
  const lab = await startLab({ redisUrl: testRedisUrl(), logger, spec, commandTimeoutMs: 3_000 });
  const inventory = edit ? edit(lab.inventory) : lab.inventory;
  const notifier = new RecordingNotifier();
  const enqueued: Stack["enqueued"] = [];
  const deps = await createDeps({
    inventory,
    logger,
    redisUrl: lab.redisUrl,
    queuePrefix: uniquePrefix("e2e-ops"),
    secretEnv: {},
    notifier,
    groups: new StaticGroupDirectory(),
    operations: { ...FAST, recoveryIntervalMs: 60_000 },
    onEnqueued: (job) => enqueued.push({ name: job.name, jobId: job.jobId }),
  });
  const workers = deps.startWorkers();
  await workers.ready();
  let seq = 0;
  const text = (ts: string) => {
    const m: OutboundMessage | undefined = notifier.current(ts);
    return m ? renderPlainText(m) : "";
  };
  const s: Stack = {
    lab,
    deps,
    notifier,
    enqueued,
    async command(user, t) {
      seq += 1;
      const reply = await deps.core.command({
        source: "console",
        deliveryId: `e2e-${seq}-${Math.random().toString(36).slice(2)}`,
        teamId: null,
        channelId: "C0LAB",
        userId: user,
        text: t,
      });
      return reply.text;
    },
    async click(user, label, approvalId) {
      const id = approvalId ?? (await s.approvalId());
      const post = notifier.posts.find((p) =>
        JSON.stringify(p.message.blocks ?? []).includes(`"value":"${id}"`),
      );
      seq += 1;
      const request: ActionRequest = {
        source: "console",
        deliveryId: `click-${seq}`,
        channelId: "C0LAB",
        userId: user,
        messageTs: post?.ref.ts ?? "0",
        actionId: label === "Approve" ? APPROVE_ACTION_ID : DENY_ACTION_ID,
        value: id,
      };
      const reply = await deps.core.action(request);
      return reply?.text ?? null;
    },
    async waitForMessage(match, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const p of notifier.posts) {
          const t = text(p.ref.ts);
          if (match.test(t)) return { ts: p.ref.ts, text: t };
        }
        if (Date.now() > deadline)
          throw new Error(
            `no message matching ${match}; posted:\n${notifier.posts.map((p) => text(p.ref.ts).split("\n")[0]).join("\n")}`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async approvalId(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (const p of [...notifier.posts].reverse()) {
          const m = /"action_id":"xenops:approval:approve","value":"([A-Za-z0-9_-]+)"/.exec(
            JSON.stringify(p.message.blocks ?? []),
          );
          if (m?.[1]) return m[1];
        }
        if (Date.now() > deadline) throw new Error("no approval card was posted");
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    text,
    async waitForText(ts, match, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const t = text(ts);
        if (match.test(t)) return t;
        if (Date.now() > deadline) throw new Error(`message ${ts} never matched ${match}; it shows:\n${t}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await deps.close();
      await lab.close();
    },
  };
  return s;
}

const cardTs = (s: Stack, id: string) =>
  s.notifier.posts.find((p) => JSON.stringify(p.message.blocks ?? []).includes(`"value":"${id}"`))?.ref.ts ??
  "";

describe("migrate through Slack-like approvals", () => {
  it("Done when: requested, self-approval refused, approved by someone else, moved and verified on the card", async () => {
    stack = await start();
    const s = stack;
    const watch = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
    expect(await s.command("UOPER1", "migrate internet ics1")).toMatch(
      /Queued as job \d+: planning Live-migrate internet to ics1/,
    );
    const id = await s.approvalId();
    const ts = cardTs(s, id);
    expect(s.text(ts)).toContain("$ xm migrate --live internet ics1");
    // The requester cannot approve their own request: the two-person rule is said first.
    expect(await s.click("UOPER1", "Approve")).toMatch(
      /^Not recorded: You requested this action, so you cannot approve it: the two-person rule/,
    );
    const approved = await s.click("UAPPROVER1", "Approve");
    expect(approved).toBeNull();
    const done = await s.waitForText(ts, /Done: Live-migrate internet from ics2 to ics1/);
    expect(done).toContain("Result: internet runs on ics1 (verified)");
    expect(done).toContain("internet runs on ics1 only (checked on every node)");
    expect(done).toContain("internet: ics2 Secondary/UpToDate, ics1 Primary/UpToDate, Connected");
    expect(watch.count).toBe(1);
    expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics1"]);
  });

  it("two-person rule: an approver who requested cannot approve; unauthorised users cannot either", async () => {
    stack = await start();
    const s = stack;
    await s.command("UAPPROVER1", "migrate internet ics1");
    const id = await s.approvalId();
    expect(await s.click("UAPPROVER1", "Approve")).toBe(
      "Not recorded: You requested this action, so you cannot approve it: the two-person rule needs someone else.",
    );
    expect(await s.click("UVIEWER1", "Approve")).toMatch(/needs the approver role/);
    expect(await s.click("UOPER2", "Approve")).toMatch(/needs the approver role/);
    expect(await s.click("UNOBODY1", "Approve")).toMatch(/needs the approver role/);
    const rec = await s.deps.approvals.get(id);
    expect(rec?.status).toBe("pending");
    expect(s.enqueued.filter((j) => j.name === "operation-execute")).toEqual([]);
    // Deny ends it: no execution, buttons gone.
    expect(await s.click("UAPPROVER2", "Deny")).toBeNull();
    await s.deps.approvals.settled();
    expect(s.text(cardTs(s, id))).toMatch(/Denied by @UAPPROVER2/);
    expect(s.text(cardTs(s, id))).not.toContain("[Approve]");
  });

  it("fifty concurrent clicks give one decision and one execution", async () => {
    const approvers = Array.from({ length: 50 }, (_, i) => `UAPP${String(i).padStart(2, "0")}`);
    stack = await start(fastSpec(), (inv) => ({
      ...inv,
      roles: { ...inv.roles, approver: { users: approvers, groups: [] } },
    }));
    const s = stack;
    const watch = s.lab.sim.faults.watchCommands({ argv: ["xm", "migrate"] });
    await s.command("UOPER1", "migrate internet ics1");
    const id = await s.approvalId();
    const replies = await Promise.all(approvers.map((u) => s.click(u, "Approve", id)));
    expect(replies.filter((r) => r === null)).toHaveLength(1);
    expect(
      replies.filter((r) => r?.startsWith("Not recorded: This request was already approved")),
    ).toHaveLength(49);
    await s.waitForText(cardTs(s, id), /Done: Live-migrate internet/);
    expect(s.enqueued.filter((j) => j.name === "operation-execute")).toHaveLength(1);
    expect(watch.count).toBe(1);
  });

  it("an expired request cannot be approved", async () => {
    stack = await start();
    const s = stack;
    await s.command("UOPER1", "migrate internet ics1");
    const id = await s.approvalId();
    const redis = createRedisConnection(s.lab.redisUrl, { role: "client", logger });
    try {
      // Ten minutes pass (the expiry is a field of the record, checked inside the decision script).
      await redis.hset(
        approvalKeys(s.deps.jobs.prefix).approval(id),
        "expiresAtMs",
        String(Date.now() - 1000),
      );
    } finally {
      redis.disconnect();
    }
    expect(await s.click("UAPPROVER1", "Approve")).toMatch(
      /^Not recorded: This request expired at .*; nothing will run/,
    );
    await s.deps.approvals.settled();
    expect(s.text(cardTs(s, id))).toMatch(/Expired/);
    expect(s.enqueued.filter((j) => j.name === "operation-execute")).toEqual([]);
  });

  it("state changed after approval: refused, nothing runs, and it asks again (here: refused with the new reason)", async () => {
    stack = await start();
    const s = stack;
    const watch = s.lab.sim.faults.watchCommands({ argv: (a) => a[0] === "drbdadm" && a[1] !== "status" });
    await s.command("UOPER1", "migrate internet ics1");
    const id = await s.approvalId();
    s.lab.sim.faults.startResync("internet", "ics2", 400 * 1024);
    expect(await s.click("UAPPROVER1", "Approve")).toBeNull();
    const card = await s.waitForText(cardTs(s, id), /Not run: Live-migrate internet/);
    expect(card).toContain("The cluster changed since this was approved: nothing ran");
    expect(card).toContain("A fresh plan on the current state is being requested below.");
    // The fresh plan runs the preflight on the new state: the resync refuses it, with its reason.
    const refusal = await s.waitForMessage(/Refused: Live-migrate internet to ics1/);
    expect(refusal.text).toMatch(/drbd internet: internet on ics2 is SyncSource .*a resync is running/);
    expect(watch.count).toBe(0);
    expect(s.lab.sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
  });

  it("/xen approve ID works like the button; --dry-run asks nobody", async () => {
    stack = await start();
    const s = stack;
    expect(await s.command("UOPER1", "migrate internet to ics1 --dry-run")).toMatch(
      /dry run of Live-migrate internet to ics1/,
    );
    const dry = await s.waitForMessage(/Dry run: Live-migrate internet from ics2 to ics1/);
    expect(dry.text).toContain("nothing ran and no approval was requested");
    expect(dry.text).not.toContain("[Approve]");
    await s.command("UOPER1", "migrate internet ics1");
    const id = await s.approvalId();
    expect(await s.command("UOPER1", `approve ${id}`)).toMatch(/needs the \*approver\* role/);
    expect(await s.command("UAPPROVER2", `approve ${id}`)).toMatch(/Checking your approval of request/);
    await s.waitForText(cardTs(s, id), /Done: Live-migrate internet/);
    const eph = s.notifier.ephemerals.map((e) => `${e.user}: ${e.message.text}`);
    expect(eph.some((e) => /^UAPPROVER2: Approved: Live-migrate internet/.test(e))).toBe(true);
  });
});

describe("bad input", () => {
  it("unknown names list the valid ones; hostile strings never reach a job, let alone a shell", async () => {
    stack = await start();
    const s = stack;
    expect(await s.command("UOPER1", "migrate intranet ics1")).toMatch(
      /unknown guest "intranet" in lab; guests: internet/,
    );
    expect(await s.command("UOPER1", "migrate internet ics9")).toMatch(
      /unknown node "ics9" in lab; nodes: ics1, ics2/,
    );
    expect(await s.command("UOPER1", "fence ics3")).toMatch(/unknown node "ics3" in lab; nodes: ics1, ics2/);
    for (const hostile of [
      "internet;reboot",
      "$(reboot)",
      "`id`",
      "../../etc/passwd",
      "internet|sh",
      "-rf",
    ]) {
      expect(await s.command("UOPER1", `migrate ${hostile} ics1`)).toMatch(/is not a valid guest name/);
      expect(await s.command("UOPER1", `create internet on ${hostile}`)).toMatch(/is not a valid node name/);
      expect(await s.command("UOPER1", `evacuate ${hostile}`)).toMatch(/is not a valid node name/);
    }
    expect(await s.command("UAPPROVER1", "approve not-an-id!")).toMatch(/is not a request id/);
    expect(await s.command("UVIEWER1", "migrate internet ics1")).toMatch(/needs the \*operator\* role/);
    expect(await s.command("UOPER1", "fence ics1 --force")).toMatch(/unknown option "--force"/);
    expect(s.enqueued).toEqual([]);
  });
});

describe("fence", () => {
  it("needs two different approvers besides the requester, and fences once", async () => {
    stack = await start();
    const s = stack;
    const watch = s.lab.sim.faults.watchCommands({ argv: ["stonith", "-t", "apcsmart", "-T"] });
    await s.command("UOPER1", "fence ics1");
    const id = await s.approvalId();
    const ts = cardTs(s, id);
    expect(s.text(ts)).toContain(
      "$ stonith -t apcsmart -T reset ttydev=/dev/ttyS0 'hostlist=ics1 ics2' ics1",
    );
    expect(s.text(ts)).toContain("needs 2 approvals from the approver role");
    expect(await s.click("UAPPROVER1", "Approve")).toBe(
      "Your approval is recorded; 1 more approval is needed from someone else.",
    );
    expect(await s.click("UAPPROVER1", "Approve")).toMatch(
      /already approved this request; it needs a different approver/,
    );
    expect(s.enqueued.filter((j) => j.name === "operation-execute")).toEqual([]);
    expect(await s.click("UAPPROVER2", "Approve")).toBeNull();
    const done = await s.waitForText(ts, /Done: Fence ics1/);
    expect(done).toContain("SSH to ics1 fails");
    expect(done).toContain("heartbeat on ics2 sees ics1 offline");
    expect(watch.count).toBe(1);
    expect(await s.click("UADMIN1", "Approve", id)).toMatch(/already approved/);
    expect(watch.count).toBe(1);
  });
});

describe("the console example", () => {
  it("examples/migrate.txt runs in the lab console: heartbeat's refusal, then the override and the verified result", async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger,
      spec: managedSpec(),
      commandTimeoutMs: 3_000,
    });
    let out = "";
    try {
      const code = await runConsole(
        {
          inventory: lab.inventory,
          env: readRuntimeEnv({ XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-ops-console") }),
          secretEnv: {},
          logger,
          redisUrl: lab.redisUrl,
          ops: null,
        },
        {
          script: join(ROOT, "examples", "migrate.txt"),
          write: (t) => {
            out += t;
          },
          settleTimeoutMs: 30_000,
        },
      );
      expect(code).toBe(0);
    } finally {
      await lab.close();
    }
    const script = readFileSync(join(ROOT, "examples", "migrate.txt"), "utf8");
    expect(script).toContain("UAPPROVER1: click Approve");
    // heartbeat manages internet: refused with heartbeat's way; then --override-ha, said on the card.
    expect(out).toMatch(/⛔ Refused: Live-migrate internet to ics1/);
    expect(out).toContain("on ics1 run `/usr/share/heartbeat/hb_takeover foreign`");
    expect(out).toContain(
      "Approval needed: Live-migrate internet from ics2 to ics1, bypassing the HA manager (--override-ha)",
    );
    expect(out).toContain("✓ ha manager: OVERRIDE (--override-ha): heartbeat manages internet");
    expect(out).toContain("Not recorded: Approving this needs the approver role");
    expect(out).toMatch(/✅ Done: Live-migrate internet from ics2 to ics1/);
    expect(out).toContain("Result: internet runs on ics1 (verified)");
    expect(out).toContain(
      "You requested this action, so you cannot approve it: the two-person rule needs someone else.",
    );
    expect(out).toMatch(/✅ Done: Live-migrate internet from ics1 to ics2/);
  });
});
