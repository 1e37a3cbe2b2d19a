import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CANCEL_ACTION_ID, JobCard, renderJobCard, renderQueuedCard } from "../../src/job-cards/card";
import { MemoryCardStore } from "../../src/job-cards/card-store";
import { JobControl } from "../../src/job-cards/control";
import { fakeJob, RecordingNotifier } from "../jobs/helpers";
import { inTestTime, useTestTime } from "../support/test-time";

// The card paces its edits with timers and Date.now(): on test time, spacing is exact.
beforeEach(useTestTime);
afterEach(() => {
  vi.useRealTimers();
});
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);
/** Awaits what the card does, moving test time on while it waits for its pacing. */
const settled = async <T>(work: Promise<T>): Promise<T> => (await inTestTime(work, { stepMs: 10 })).value;

function card(notifier: RecordingNotifier, over: Partial<ConstructorParameters<typeof JobCard>[0]> = {}) {
  return new JobCard({
    notifier,
    channel: "C0LAB",
    jobId: "migrate-0123456789abcdef0123456789abcdef",
    jobNumber: 42,
    title: "Migrate web1 in lab",
    requestedBy: "UOPER1",
    minEditIntervalMs: 100,
    settleMs: 50,
    ...over,
  });
}

function buttons(message: { blocks?: { type: string }[] }): string[] {
  return (message.blocks ?? [])
    .filter(
      (b): b is { type: "actions"; elements: { action_id: string; value?: string }[] } =>
        b.type === "actions",
    )
    .flatMap((b) => b.elements.map((e) => `${e.action_id}=${e.value}`));
}

describe("JobCard", () => {
  it("posts one message and walks it through running, step k of n, output tail and done, with duration", async () => {
    const n = new RecordingNotifier();
    const c = card(n);
    c.start();
    c.step(1, 3, "Checking the target");
    await advance(80);
    c.step(2, 3, "Migrating").log("xm migrate --live web1 ics1", "Migration started");
    await advance(150);
    await settled(c.done("web1 runs on ics1"));

    expect(n.posts()).toHaveLength(1);
    const ts = n.posts()[0]!.ts;
    const texts = n.updatesOf(ts).map((u) => u.text);
    expect(n.posts()[0]!.text).toContain("Running · step 1 of 3: Checking the target");
    expect(texts.some((t) => t.includes("step 2 of 3: Migrating") && t.includes("Migration started"))).toBe(
      true,
    );
    const final = n.latest(ts);
    expect(final).toMatch(
      /Migrate web1 in lab · job 42\n:white_check_mark: Done in \d+\.\ds: web1 runs on ics1/,
    );
    expect(final).toContain("xm migrate --live web1 ics1");
    expect(final).toContain("job 42 · requested by @UOPER1 · started ");
    expect(final).not.toContain("[Cancel]");
    // Short output: no file.
    expect(n.files).toHaveLength(0);
  });

  it("sends at most one non-final edit per interval, never an identical one, and always the final state", async () => {
    const n = new RecordingNotifier();
    const c = card(n, { minEditIntervalMs: 200, settleMs: 0 });
    c.start();
    const ts = (await settled(c.ref()))!.ts;
    let i = 0;
    while (i < 140) {
      // 700 ms of steps, one every 5 ms
      c.step(++i, 1000, `item ${i}`);
      await advance(5);
    }
    await settled(c.failed("the target ran out of memory"));
    const edits = n.updatesOf(ts);
    expect(i).toBeGreaterThan(50);
    expect(edits.length).toBeLessThanOrEqual(6);
    const times = edits.map((e) => e.at);
    for (let k = 1; k < times.length - 1; k++) expect(times[k]! - times[k - 1]!).toBeGreaterThanOrEqual(200);
    expect(edits.at(-1)!.text).toMatch(/:x: Failed after .*: the target ran out of memory/);

    // Nothing changed: nothing sent.
    const quiet = card(n, { minEditIntervalMs: 20, settleMs: 0 });
    quiet.start();
    const qts = (await settled(quiet.ref()))!.ts;
    await advance(60);
    quiet.activity(null);
    await advance(60);
    expect(n.updatesOf(qts)).toHaveLength(0);
  });

  it("a quick job edits its card once: the first edit waits settleMs", async () => {
    const n = new RecordingNotifier();
    const store = new MemoryCardStore();
    await store.claimForAnnounce("job-1");
    await store.announced("job-1", { channel: "C0LAB", ts: "1699999999.000001" });
    const c = card(n, { jobId: "job-1", store, settleMs: 500 });
    c.start("collecting");
    await advance(30);
    await settled(c.done("ok"));
    expect(n.posts()).toHaveLength(0);
    expect(n.updatesOf("1699999999.000001")).toHaveLength(1);
    expect(n.latest("1699999999.000001")).toContain("Done");
  });

  it("adopts the queued card once it is posted, or posts its own after waiting for it", async () => {
    const n = new RecordingNotifier();
    const store = new MemoryCardStore();
    await store.claimForAnnounce("job-2");
    const c = card(n, { jobId: "job-2", store, adoptTimeoutMs: 2_000 });
    c.start();
    await advance(150);
    await store.announced("job-2", { channel: "C0LAB", ts: "1699999999.000002" });
    expect(await settled(c.ref())).toEqual({ channel: "C0LAB", ts: "1699999999.000002" });
    expect(n.posts()).toHaveLength(0);

    await store.claimForAnnounce("job-3");
    const late = card(n, { jobId: "job-3", store, adoptTimeoutMs: 150 });
    late.start();
    const ref = await settled(late.ref());
    expect(n.posts()).toHaveLength(1);
    expect(ref?.ts).toBe(n.posts()[0]!.ts);
    // The announcer, arriving late, is told it lost.
    expect(await store.announced("job-3", { channel: "C0LAB", ts: "1699999999.000003" })).toBe(false);
  });

  it("offers Cancel while active; after the point of no return the button goes and a late cancel is noted", async () => {
    const n = new RecordingNotifier();
    const c = card(n, { settleMs: 0, minEditIntervalMs: 10 });
    c.start();
    const ts = (await settled(c.ref()))!.ts;
    expect(buttons(n.posts()[0]!.message)).toEqual([
      `${CANCEL_ACTION_ID}=migrate-0123456789abcdef0123456789abcdef`,
    ]);
    const job = fakeJob("migrate", { channel: "C0LAB", requestedBy: "UOPER1" });
    const source = new AbortController();
    const control = new JobControl(job, source.signal, c);
    await settled(control.pointOfNoReturn("the guest is moving"));
    source.abort("by UAPPROVER1");
    await advance(40);
    const now = n.updatesOf(ts).at(-1)!;
    expect(buttons(now.message)).toEqual([]);
    expect(now.text).toContain("Past the point of no return (the guest is moving)");
    expect(now.text).toContain(
      "Cancel requested by @UAPPROVER1 after the point of no return: finishing and verifying.",
    );
    expect(control.signal.aborted).toBe(false);
    await settled(c.done("verified: web1 runs on ics1"));
    expect(n.latest(ts)).toMatch(/Done in .*verified/);
  });

  it("attaches the full output as a file when the card shows only its tail", async () => {
    const n = new RecordingNotifier();
    const c = card(n, { outputLines: 3 });
    c.start();
    for (let i = 1; i <= 10; i++) c.log(`line ${i}`);
    await settled(c.done());
    const ts = (await settled(c.ref()))!.ts;
    const final = n.latest(ts);
    expect(final).toContain("last 3 of 10 lines");
    expect(final).toContain("line 10");
    expect(final).not.toContain("line 7\n");
    expect(n.files).toEqual([
      {
        channel: "C0LAB",
        filename: "job-42.log",
        title: "Migrate web1 in lab: full output (10 lines)",
        content: `${Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join("\n")}\n`,
        threadTs: ts,
      },
    ]);
  });

  it("can end as another message (the status card) with the job's facts in a footer", async () => {
    const n = new RecordingNotifier();
    const c = card(n);
    c.start();
    await settled(
      c.done(undefined, {
        message: {
          text: "lab: 2 nodes",
          blocks: [{ type: "header", text: { type: "plain_text", text: "lab" } }],
        },
      }),
    );
    const final = n.calls.at(-1)!;
    expect(final.message.blocks?.[0]).toEqual({ type: "header", text: { type: "plain_text", text: "lab" } });
    expect(final.text).toMatch(/Migrate web1 in lab · job 42 · :white_check_mark: Done in/);
  });
});

describe("card rendering", () => {
  it("renders the queued card with a Cancel button, and a card cancelled before it started", () => {
    const queued = renderQueuedCard({
      jobId: "status-x",
      jobNumber: 3,
      title: "Status of lab",
      requestedBy: "UOPER1",
    });
    expect(queued.text).toBe("Status of lab (job 3): Queued");
    expect(buttons(queued)).toEqual([`${CANCEL_ACTION_ID}=status-x`]);
    const cancelled = renderJobCard({
      phase: "cancelled",
      title: "Status of lab",
      jobId: "status-x",
      jobNumber: 3,
      requestedBy: "system",
      cancellable: true,
      createdAt: 0,
      startedAt: null,
      endedAt: 0,
      step: null,
      activity: null,
      summary: null,
      body: [],
      notes: [],
      output: [],
      pointOfNoReturn: null,
      cancelledBy: "UADMIN1",
    });
    expect(cancelled.text).toBe("Status of lab (job 3): Cancelled by <@UADMIN1> before it started");
    expect(buttons(cancelled)).toEqual([]);
    expect(JSON.stringify(cancelled.blocks)).toContain("started by xenops");
  });

  it("escapes titles and keeps within Block Kit's 50 blocks", () => {
    const body = Array.from({ length: 80 }, (_, i) => ({ type: "divider" as const, block_id: `b${i}` }));
    const m = renderJobCard({
      ...JSON.parse(JSON.stringify(renderState())),
      title: "<!channel> & co",
      body,
      output: ["a"],
    });
    expect(m.blocks!.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(m.blocks)).toContain("&lt;!channel&gt; &amp; co");
  });
});

function renderState() {
  return {
    phase: "running",
    title: "t",
    jobId: "j",
    jobNumber: 1,
    requestedBy: "UOPER1",
    cancellable: true,
    createdAt: 0,
    startedAt: 0,
    endedAt: null,
    step: null,
    activity: null,
    summary: null,
    body: [],
    notes: [],
    output: [],
    pointOfNoReturn: null,
    cancelledBy: null,
  };
}
