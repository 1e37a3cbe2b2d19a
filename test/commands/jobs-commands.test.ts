/** The `drbd watch`, `jobs`, `cancel` and `history` verbs through the command core (no Redis, no SSH). */
import { describe, expect, it } from "vitest";
import { commands } from "../../commands";
import type { AuditRecord } from "../../src/audit/schema";
import { StaticGroupDirectory } from "../../src/chat/authz";
import type { EnqueuedJob, JobEnqueuer } from "../../src/chat/enqueuer";
import type { CancelActor, JobAdmin, JobSummary } from "../../src/chat/job-admin";
import { type CommandEvent, createCommandCore } from "../../src/chat/router";
import type { CommandRequest, Reply } from "../../src/chat/types";
import { renderConsole } from "../../src/console/render";
import { silentLogger } from "../../src/log";
import { renderPlain } from "../../src/message/plain";
import { labInventory } from "../jobs/helpers";
import { expectNoSlackMarkup } from "../support/markup";

/** The reply as the console prints it and as plain text, both free of Slack markup. */
function texts(reply: Reply): { console: string; plain: string } {
  expect(reply.document).toBeDefined();
  expect(reply.blocks).toBeUndefined();
  const doc = reply.document!;
  const out = { console: renderConsole(doc), plain: renderPlain(doc) };
  expectNoSlackMarkup(out.console);
  expectNoSlackMarkup(out.plain);
  return out;
}

function inventory() {
  const inv = labInventory();
  // A second cluster in the same channel, to check cluster selection.
  const other = structuredClone(inv.clusters[0]!);
  other.name = "prod";
  other.drbd = [{ name: "db", minor: 0, device: "/dev/drbd0", allowTwoPrimaries: false }];
  return { ...inv, clusters: [...inv.clusters, other] };
}

function setup(admin?: Partial<JobAdmin>) {
  const queued: { cluster: string; name: string; payload: unknown }[] = [];
  const events: CommandEvent[] = [];
  const cancels: { ref: string; actor: CancelActor }[] = [];
  const jobs: JobEnqueuer = {
    async enqueue(cluster, name, payload): Promise<EnqueuedJob> {
      queued.push({ cluster, name, payload });
      return { jobId: `${name}-x`, number: queued.length, duplicate: false };
    },
  };
  const jobAdmin: JobAdmin = {
    list: async () => [],
    cancel: async (ref, actor) => {
      cancels.push({ ref, actor });
      return { text: `cancel ${ref}` };
    },
    history: async () => null,
    ...admin,
  };
  const core = createCommandCore({
    inventory: inventory(),
    commands,
    jobs,
    groups: new StaticGroupDirectory(),
    logger: silentLogger(),
    jobAdmin,
    onCommand: (e) => events.push(e),
  });
  const run = (text: string, userId = "UOPER1") => {
    const request: CommandRequest = {
      source: "console",
      deliveryId: `d-${text}`,
      teamId: null,
      channelId: "C0LAB",
      userId,
      text,
    };
    return core.command(request);
  };
  return { run, queued, events, cancels };
}

describe("/xen drbd watch", () => {
  it("queues a watch with the resource and the cluster named before or after it", async () => {
    const { run, queued, events } = setup();
    expect((await run("drbd watch internet lab")).text).toMatch(
      /^Queued as job 1: watching DRBD internet in lab\. One message in this channel follows the resync until UpToDate\/UpToDate; `\/xen cancel 1` stops it\.$/,
    );
    await run("drbd watch prod db");
    expect(queued).toEqual([
      {
        cluster: "lab",
        name: "drbd-watch",
        payload: {
          cluster: "lab",
          resource: "internet",
          channel: "C0LAB",
          requestedBy: "UOPER1",
          deliveryId: "d-drbd watch internet lab",
          requestText: "drbd watch internet lab",
        },
      },
      expect.objectContaining({ cluster: "prod", payload: expect.objectContaining({ resource: "db" }) }),
    ]);
    expect(events[0]).toMatchObject({
      verb: "drbd",
      outcome: "ok",
      parameters: { sub: "watch", cluster: "lab", resource: "internet" },
    });
  });

  it("says what to fix: subcommand, resource, cluster", async () => {
    const { run, queued, events } = setup();
    expect((await run("drbd")).text).toMatch(
      /say what to do: watch\nUsage: `\/xen drbd watch RESOURCE \[cluster\]`/,
    );
    expect((await run("drbd resync internet")).text).toMatch(/unknown drbd subcommand "resync"/);
    expect((await run("drbd watch internet")).text).toMatch(
      /several clusters answer here; name one first: lab, prod/,
    );
    expect((await run("drbd watch nope lab")).text).toMatch(
      /unknown DRBD resource "nope" in lab; resources: internet/,
    );
    expect((await run("drbd watch a b c")).text).toMatch(/too many arguments/);
    expect(queued).toHaveLength(0);
    expect(events.map((e) => e.outcome)).toEqual(["usage", "usage", "usage", "usage", "usage"]);
  });

  it("is refused without a role, and the refusal is reported for the audit log", async () => {
    const { run, events } = setup();
    expect((await run("drbd watch internet lab", "UNOBODY")).text).toMatch(/needs the \*viewer\* role/);
    expect(events).toEqual([
      expect.objectContaining({
        verb: "drbd",
        outcome: "refused",
        error: { code: "forbidden", message: "needs the viewer role" },
      }),
    ]);
  });
});

describe("/xen jobs", () => {
  const now = Date.now();
  const listed: JobSummary[] = [
    {
      jobId: "drbd-watch-1",
      number: 12,
      cluster: "lab",
      name: "drbd-watch",
      title: "DRBD watch: internet in lab",
      state: "running",
      requestedBy: "UOPER1",
      createdAt: now - 70_000,
      startedAt: now - 65_000,
      finishedAt: null,
      progress: "SyncTarget · 40.0%",
      detail: null,
    },
    {
      jobId: "status-2",
      number: 13,
      cluster: "lab",
      name: "status",
      title: "Status of lab",
      state: "queued",
      requestedBy: "UOPER2",
      createdAt: now - 5_000,
      startedAt: null,
      finishedAt: null,
      progress: null,
      detail: null,
    },
    {
      jobId: "status-1",
      number: 11,
      cluster: "lab",
      name: "status",
      title: "Status of lab",
      state: "failed",
      requestedBy: "system",
      createdAt: now - 200_000,
      startedAt: now - 190_000,
      finishedAt: now - 180_000,
      progress: null,
      detail: "cancelled: by UADMIN1",
    },
  ];

  it("lists running, queued and recent jobs of the clusters here", async () => {
    const asked: (readonly string[])[] = [];
    const { run } = setup({
      list: async (clusters) => {
        asked.push(clusters);
        return listed;
      },
    });
    const text = (await run("jobs")).text;
    expect(asked).toEqual([["lab", "prod"]]);
    expect(text).toMatch(/\*Jobs in lab, prod\*/);
    expect(text).toMatch(
      /• \*12\* DRBD watch: internet in lab · running 1m0[45]s · SyncTarget · 40\.0% · <@UOPER1>/,
    );
    expect(text).toMatch(
      /:hourglass_flowing_sand: \*Queued\*\n• \*13\* Status of lab · waiting 5\.\ds · <@UOPER2>/,
    );
    expect(text).toMatch(
      /• \*11\* Status of lab · :x: failed 3m0\ds ago \(10s\): cancelled: by UADMIN1 · system/,
    );
    expect(text).toMatch(/Stop one with `\/xen cancel NUMBER`/);
    const shown = texts(await run("jobs"));
    expect(shown.console).toMatch(/^Jobs in lab, prod\n:gear: Running\n/);
    expect(shown.console).toMatch(
      /• 12 DRBD watch: internet in lab · running 1m0[45]s · SyncTarget · 40\.0% · @UOPER1/,
    );
    expect(shown.console).toMatch(
      /:hourglass_flowing_sand: Queued\n• 13 Status of lab · waiting 5\.\ds · @UOPER2/,
    );
    expect(shown.plain).toMatch(
      /• 11 Status of lab · ❌ failed 3m0\ds ago \(10s\): cancelled: by UADMIN1 · system/,
    );
    await run("jobs prod");
    expect(asked.at(-1)).toEqual(["prod"]);
    expect((await run("jobs elsewhere")).text).toMatch(/"elsewhere" is not a cluster answering here/);
  });
});

describe("/xen cancel", () => {
  it("hands the job number to the job admin with who asked", async () => {
    const { run, cancels } = setup();
    expect((await run("cancel #42", "UAPPROVER1")).text).toBe("cancel 42");
    expect(cancels).toEqual([
      {
        ref: "42",
        actor: { userId: "UAPPROVER1", channelId: "C0LAB", via: "command", deliveryId: "d-cancel #42" },
      },
    ]);
    expect((await run("cancel")).text).toMatch(/name the job number/);
    expect((await run("cancel rm -rf")).text).toMatch(/too many arguments/);
    expect((await run("cancel x1")).text).toMatch(/"x1" is not a job number/);
  });
});

describe("/xen history", () => {
  const record = (seq: number, over: Partial<AuditRecord>): AuditRecord => ({
    kind: "command",
    actor: "UOPER1",
    seq,
    time: "2024-03-04T10:00:00.000Z",
    prevHash: "0".repeat(64),
    hash: "1".repeat(64),
    ...over,
  });

  it("shows the last N records of the clusters here, and says when there is no audit log", async () => {
    const records = [
      record(1, { cluster: "elsewhere", command: "/xen status elsewhere" }),
      record(2, { cluster: "lab", command: "/xen drbd watch internet", outcome: "ok", jobNumber: 4 }),
      record(3, {
        kind: "job_finished",
        cluster: "lab",
        parameters: { job: "drbd-watch" },
        outcome: "ok",
        durationMs: 72_000,
        jobNumber: 4,
      }),
      record(4, {
        kind: "refusal",
        actor: "UOPER2",
        cluster: "lab",
        command: "/xen cancel 4",
        outcome: "refused",
        error: { code: "forbidden", message: "only the requester, approvers and admins may cancel" },
      }),
    ];
    let asked = 0;
    const { run } = setup({
      history: async (n) => {
        asked = n;
        return records;
      },
    });
    const text = (await run("history 2")).text;
    expect(asked).toBe(10);
    expect(text.split("\n")).toEqual([
      "*Audit log: last 2 records* (verify with `xenops audit verify`)",
      "• #3 2024-03-04 10:00:00 UTC · <@UOPER1> · job finished: drbd-watch in 1m12s → ok · job 4",
      "• #4 2024-03-04 10:00:00 UTC · <@UOPER2> · refusal `/xen cancel 4` → refused: only the requester, approvers and admins may cancel",
    ]);
    expect(texts(await run("history 2")).console.split("\n")).toEqual([
      "Audit log: last 2 records (verify with `xenops audit verify`)",
      "• #3 2024-03-04 10:00:00 UTC · @UOPER1 · job finished: drbd-watch in 1m12s → ok · job 4",
      "• #4 2024-03-04 10:00:00 UTC · @UOPER2 · refusal `/xen cancel 4` → refused: only the requester, approvers and admins may cancel",
    ]);
    expect((await run("history 1000")).text).toMatch(/last 3 records/);
    expect((await run("history zero")).text).toMatch(/"zero" is not a number of records/);
    const none = setup();
    expect((await none.run("history")).text).toMatch(/No audit log is configured/);
  });
});
