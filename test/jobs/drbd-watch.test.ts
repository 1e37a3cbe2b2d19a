import { afterEach, describe, expect, it, vi } from "vitest";
import { createDrbdWatchProcessor, type DrbdWatchDeps, enqueueWatch } from "../../jobs/drbd-watch";
import type { EnqueuedJob, JobEnqueuer } from "../../src/chat/enqueuer";
import type { CommandRunner } from "../../src/command-runner";
import { driversFor } from "../../src/drivers/registry";
import { JobCancelled } from "../../src/job-cards/control";
import { MemoryWatchRegistry } from "../../src/job-cards/watch-registry";
import { silentLogger } from "../../src/log";
import type { DrbdWatchJob } from "../../src/queue/schema";
import { createFaults, modernLab, referenceLab, Simulation, SystemClock } from "../../src/sim";
import { inTestTime, useTestTime } from "../support/test-time";
import { fakeJob, labInventory, procDrbd, RecordingNotifier, scriptedRunner, simRunner } from "./helpers";

const sims: Simulation[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) s.stopRealTime();
  vi.useRealTimers();
});

/** A simulator on the clock of the test: wall time, or test time after useTestTime(). */
function realTimeSim(spec = referenceLab()): Simulation {
  const sim = new Simulation(spec, { clock: new SystemClock() });
  sim.startRealTime(20);
  sims.push(sim);
  return sim;
}

function payload(over: Partial<DrbdWatchJob> = {}): DrbdWatchJob {
  return {
    cluster: "lab",
    resource: "internet",
    channel: "C0LAB",
    requestedBy: "UOPER1",
    deliveryId: "d-1",
    requestText: "drbd watch internet",
    ...over,
  };
}

function setup(
  runners: (node: string) => CommandRunner,
  over: Partial<DrbdWatchDeps> = {},
  inventory = labInventory(),
) {
  const notifier = new RecordingNotifier();
  const events: string[] = [];
  // One runner per node, as the SSH pool keeps one connection per node (scripts advance per node).
  const cache = new Map<string, CommandRunner>();
  const deps: DrbdWatchDeps = {
    inventory,
    runnerFor: (_cluster, node) => {
      const known = cache.get(node);
      if (known) return known;
      const made = runners(node);
      cache.set(node, made);
      return made;
    },
    driversFor: (cluster) => driversFor(inventory.clusters.find((c) => c.name === cluster)!.toolstack),
    notifier,
    logger: silentLogger(),
    settings: { pollMs: 20, editIntervalMs: 150, stallMs: 60_000, timeoutMs: 20_000 },
    onEvent: (kind) => events.push(kind),
    ...over,
  };
  return { notifier, events, processor: createDrbdWatchProcessor(deps) };
}

/** Spacing of consecutive card edits, the final one excluded (it is always sent at once). */
function gaps(times: number[]): number[] {
  const g: number[] = [];
  for (let i = 1; i < times.length - 1; i++) g.push((times[i] as number) - (times[i - 1] as number));
  return g;
}

describe("drbd-watch on DRBD 8 (/proc/drbd)", () => {
  it("follows a resync in one message to Connected UpToDate/UpToDate, with bar, percent, speed, ETA and out-of-sync", async () => {
    const sim = realTimeSim();
    sim.state.drbd[0]!.syncRateKiBps = 40 * 1024;
    createFaults(sim).startResync("internet", "ics2", 40 * 1024);
    const { notifier, processor } = setup((node) => simRunner(sim, node));

    const result = await processor(fakeJob("drbd-watch", payload()));

    expect(result.outcome).toBe("in_sync");
    const posts = notifier.posts();
    expect(posts).toHaveLength(1);
    const ts = posts[0]!.ts;
    const edits = notifier.updatesOf(ts);
    expect(edits.length).toBeGreaterThanOrEqual(2);
    const during = edits.slice(0, -1).map((e) => e.text);
    expect(during.some((t) => /\[█+░+\]\s+\d+\.\d%/.test(t) && /MiB\/s/.test(t) && /ETA/.test(t))).toBe(true);
    expect(during.some((t) => /MiB out of sync/.test(t))).toBe(true);
    expect(during.some((t) => t.includes("ics1 Secondary · Inconsistent ⇠ ics2 Primary · UpToDate"))).toBe(
      true,
    );
    const final = notifier.latest(ts);
    expect(final).toMatch(/Done in .*Connected and UpToDate\/UpToDate, nothing out of sync/);
    expect(final).not.toContain("[Cancel]");
    expect(result.messageTs).toBe(ts);
  });

  it("keeps to the edit budget under a fast resync: many polls, few edits, spaced, final always sent", async () => {
    useTestTime();
    const sim = realTimeSim();
    sim.state.drbd[0]!.syncRateKiBps = 100 * 1024;
    createFaults(sim).startResync("internet", "ics2", 150 * 1024);
    const { notifier, processor } = setup((node) => simRunner(sim, node), {
      settings: { pollMs: 5, editIntervalMs: 300, stallMs: 60_000, timeoutMs: 20_000 },
    });

    const { value: result, tookMs } = await inTestTime(processor(fakeJob("drbd-watch", payload())));

    expect(result.outcome).toBe("in_sync");
    const ts = notifier.posts()[0]!.ts;
    const edits = notifier.updatesOf(ts);
    expect(result.polls).toBeGreaterThan(3 * edits.length);
    expect(edits.length).toBeLessThanOrEqual(Math.ceil(tookMs / 300) + 1);
    for (const gap of gaps(edits.map((e) => e.at))) expect(gap).toBeGreaterThanOrEqual(300);
    expect(notifier.latest(ts)).toContain("UpToDate/UpToDate");
    expect(result.edits).toBe(edits.length);
  });

  it("warns once on a stall, then gives up at the timeout", async () => {
    const stuck = procDrbd({
      cs: "SyncSource",
      ds: "UpToDate/Inconsistent",
      oos: 5000,
      sync: { percent: 51.2, leftK: 5000, totalK: 10240 },
    });
    const { notifier, events, processor } = setup((node) => scriptedRunner(node, [stuck]), {
      settings: { pollMs: 20, editIntervalMs: 100, stallMs: 150, timeoutMs: 500 },
    });

    const result = await processor(fakeJob("drbd-watch", payload()));

    expect(result.outcome).toBe("timeout");
    expect(events).toEqual(["drbd_watch_stall", "drbd_watch_timeout"]);
    const alerts = notifier.posts().slice(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.text).toMatch(/has not progressed for/);
    const final = notifier.latest(notifier.posts()[0]!.ts);
    expect(final).toMatch(/Gave up after/);
    expect(final).toMatch(/still not in sync/);
    expect(final).toMatch(/has not progressed/);
  });

  it("raises an alert on disconnect, notes the reconnect and still ends in sync", async () => {
    const sync = (p: number, left: number) =>
      procDrbd({
        cs: "SyncSource",
        ds: "UpToDate/Inconsistent",
        oos: left,
        sync: { percent: p, leftK: left, totalK: 10240 },
      });
    const down = procDrbd({ cs: "WFConnection", ro: "Primary/Unknown", ds: "UpToDate/DUnknown", oos: 6000 });
    const done = procDrbd({ cs: "Connected", ds: "UpToDate/UpToDate", oos: 0 });
    const script = [sync(10, 9000), down, down, down, sync(60, 4000), done];
    const { notifier, events, processor } = setup((node) => scriptedRunner(node, script), {
      settings: { pollMs: 20, editIntervalMs: 50, stallMs: 60_000, timeoutMs: 5_000 },
    });

    const result = await processor(fakeJob("drbd-watch", payload()));

    expect(result.outcome).toBe("in_sync");
    expect(events).toEqual(["drbd_watch_disconnect"]);
    const alerts = notifier.posts().slice(1);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.text).toMatch(
      /lost its connection during the resync \(ics1: WFConnection, ics2: WFConnection\)/,
    );
    const final = notifier.latest(notifier.posts()[0]!.ts);
    expect(final).toMatch(/Reconnected/);
    expect(final).toMatch(/UpToDate\/UpToDate/);
  });

  it("ends with an alert when a node goes StandAlone", async () => {
    const sync = procDrbd({
      cs: "SyncSource",
      ds: "UpToDate/Inconsistent",
      oos: 9000,
      sync: { percent: 10, leftK: 9000, totalK: 10240 },
    });
    const alone = procDrbd({ cs: "StandAlone", ro: "Primary/Unknown", ds: "UpToDate/DUnknown", oos: 9000 });
    const { notifier, events, processor } = setup((node) =>
      scriptedRunner(node, node === "ics1" ? [sync, alone] : [sync]),
    );

    const result = await processor(fakeJob("drbd-watch", payload()));

    expect(result.outcome).toBe("standalone");
    expect(events).toEqual(["drbd_watch_standalone"]);
    expect(notifier.posts()[1]!.text).toMatch(
      /StandAlone \(ics1: StandAlone\): the nodes will not reconnect by themselves/,
    );
    expect(notifier.latest(notifier.posts()[0]!.ts)).toMatch(/Failed after .*StandAlone/);
  });

  it("shows an unreachable node on the card without failing the watch", async () => {
    const done = procDrbd({ cs: "Connected", ds: "UpToDate/UpToDate", oos: 0 });
    const sync = procDrbd({
      cs: "SyncSource",
      ds: "UpToDate/Inconsistent",
      oos: 4000,
      sync: { percent: 60, leftK: 4000, totalK: 10240 },
    });
    const { notifier, processor } = setup(
      (node) => scriptedRunner(node, node === "ics1" ? [sync, null, null, done] : [sync, sync, sync, done]),
      { settings: { pollMs: 20, editIntervalMs: 20, stallMs: 60_000, timeoutMs: 5_000 } },
    );
    const result = await processor(fakeJob("drbd-watch", payload()));
    expect(result.outcome).toBe("in_sync");
    const texts = notifier.updatesOf(notifier.posts()[0]!.ts).map((u) => u.text);
    expect(texts.some((t) => /ics1: ics1: connection refused/.test(t))).toBe(true);
  });

  it("stops on cancel: the signal ends the remote commands and the card says who cancelled", async () => {
    const sim = realTimeSim();
    createFaults(sim).startResync("internet", "ics2", 1024 * 1024);
    const seen: { argv: string[]; signal?: AbortSignal }[] = [];
    const { notifier, processor } = setup((node) => simRunner(sim, node, seen));
    const ctl = new AbortController();

    const running = processor(fakeJob("drbd-watch", payload()), undefined, ctl.signal);
    // Cancel once the card is up and a remote command has run.
    await vi.waitFor(() => expect(notifier.posts().length > 0 && seen.length > 0).toBe(true), {
      timeout: 10_000,
    });
    ctl.abort("by UAPPROVER1");

    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobCancelled);
    expect((err as JobCancelled).by).toBe("UAPPROVER1");
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.signal?.aborted === true)).toBe(true);
    expect(notifier.latest(notifier.posts()[0]!.ts)).toMatch(/Cancelled by @UAPPROVER1 after/);
  });

  it("does not watch a resource twice", async () => {
    const registry = new MemoryWatchRegistry();
    await registry.claim("lab", "internet", "drbd-watch-other");
    const { notifier, processor } = setup((node) => scriptedRunner(node, []), { registry });
    const result = await processor(fakeJob("drbd-watch", payload()));
    expect(result.outcome).toBe("already_watched");
    expect(result.polls).toBe(0);
    expect(notifier.latest(notifier.posts()[0]!.ts)).toMatch(/already being watched/);
  });
});

describe("drbd-watch on DRBD 9 (status --json, woken by drbdsetup events2)", () => {
  it("sees the end of the resync from the events2 stream before the next poll", async () => {
    useTestTime();
    const sim = realTimeSim(modernLab());
    sim.state.drbd.find((r) => r.name === "web")!.syncRateKiBps = 40 * 1024;
    createFaults(sim).startResync("web", "hv1", 30 * 1024);
    const seen: { argv: string[]; signal?: AbortSignal }[] = [];
    const inventory = labInventory({ drbd: 9, nodes: ["hv1", "hv2"], resources: ["web", "db"] });
    const streams: string[][] = [];
    const { notifier, processor } = setup(
      (node) => {
        const r = simRunner(sim, node, seen);
        const stream = r.stream?.bind(r);
        return {
          ...r,
          run: r.run.bind(r),
          stream: (argv, onLine, options) => {
            streams.push([...argv]);
            return stream!(argv, onLine, options);
          },
        };
      },
      // A poll every 10 s: only the stream can end this watch quickly.
      { settings: { pollMs: 10_000, editIntervalMs: 200, stallMs: 60_000, timeoutMs: 30_000 } },
      inventory,
    );

    const { value: result, tookMs } = await inTestTime(
      processor(fakeJob("drbd-watch", payload({ resource: "web" }))),
    );

    expect(result.outcome).toBe("in_sync");
    expect(tookMs).toBeLessThan(10_000); // the first poll after the start would come at 10 s
    expect(streams).toEqual([
      ["drbdsetup", "events2", "web"],
      ["drbdsetup", "events2", "web"],
    ]);
    expect(seen.some((s) => s.argv.join(" ") === "drbdsetup status --json")).toBe(true);
    const final = notifier.latest(notifier.posts()[0]!.ts);
    expect(final).toMatch(/hv1 Primary · UpToDate ⇄ hv2/);
    expect(final).toMatch(/UpToDate\/UpToDate/);
  });
});

describe("enqueueWatch", () => {
  it("queues a watch for a resync started by another job, in the cluster's channel, as xenops", async () => {
    const queued: unknown[] = [];
    const jobs: JobEnqueuer = {
      async enqueue(cluster, name, data, options): Promise<EnqueuedJob> {
        queued.push({ cluster, name, data, options });
        return { jobId: "drbd-watch-x", number: 7, duplicate: false };
      },
    };
    const job = await enqueueWatch(jobs, labInventory(), {
      cluster: "lab",
      resource: "internet",
      reason: "resync after reconnect",
      key: "internet:1700000000",
    });
    expect(job.number).toBe(7);
    expect(queued).toEqual([
      {
        cluster: "lab",
        name: "drbd-watch",
        data: {
          cluster: "lab",
          channel: "C0LAB",
          requestedBy: "system",
          deliveryId: "watch:lab:internet:internet:1700000000",
          requestText: "drbd watch internet lab (automatic)",
          resource: "internet",
          reason: "resync after reconnect",
        },
        options: { deliveryId: "watch:lab:internet:internet:1700000000" },
      },
    ]);
    await expect(enqueueWatch(jobs, labInventory(), { cluster: "lab", resource: "nope" })).rejects.toThrow(
      /no DRBD resource "nope"/,
    );
  });
});
