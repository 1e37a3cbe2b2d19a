import { afterEach, describe, expect, it } from "vitest";
import { createStatusProcessor } from "../../jobs/status";
import { driversFor } from "../../src/drivers/registry";
import { XenopsError } from "../../src/errors";
import { MemoryCardStore } from "../../src/job-cards/card-store";
import { JobCancelled } from "../../src/job-cards/control";
import { silentLogger } from "../../src/log";
import type { StatusJob } from "../../src/queue/schema";
import { referenceLab, Simulation, SystemClock } from "../../src/sim";
import { fakeJob, labInventory, RecordingNotifier, simRunner } from "./helpers";

const sims: Simulation[] = [];
afterEach(() => {
  for (const s of sims.splice(0)) s.stopRealTime();
});

function setup(options: { driversFail?: XenopsError } = {}) {
  const sim = new Simulation(referenceLab(), { clock: new SystemClock() });
  sims.push(sim);
  const inventory = labInventory();
  const notifier = new RecordingNotifier();
  const cards = new MemoryCardStore();
  const processor = createStatusProcessor({
    inventory,
    runnerFor: (_c, node) => simRunner(sim, node),
    driversFor: () => {
      if (options.driversFail) throw options.driversFail;
      return driversFor(inventory.clusters[0]!.toolstack);
    },
    notifier,
    logger: silentLogger(),
    cards,
  });
  const data: StatusJob = {
    cluster: "lab",
    target: null,
    channel: "C0LAB",
    requestedBy: "UVIEWER1",
    deliveryId: "d1",
    requestText: "status",
  };
  return { sim, notifier, cards, processor, data };
}

describe("status job card", () => {
  it("turns the queued card into the status card with one edit, the job's facts in a footer", async () => {
    const { notifier, cards, processor, data } = setup();
    const job = fakeJob("status", data);
    await cards.claimForAnnounce(job.id!);
    await cards.announced(job.id!, { channel: "C0LAB", ts: "1699999999.000001" });

    const result = await processor(job);

    expect(result.messageTs).toBe("1699999999.000001");
    expect(notifier.posts()).toHaveLength(0);
    const edits = notifier.updatesOf("1699999999.000001");
    expect(edits).toHaveLength(1);
    expect(edits[0]!.text).toContain("2/2 nodes reachable");
    expect(edits[0]!.text).toMatch(
      /Status of lab · job \S+ · :white_check_mark: Done in \d+\.\ds · requested by @UVIEWER1$/m,
    );
    expect(job.data).toMatchObject({ messageTs: "1699999999.000001" });
  });

  it("shows the failure on the first attempt when its code says a retry cannot help", async () => {
    const { notifier, processor, data } = setup({
      driversFail: new XenopsError("config_invalid", "toolstack of lab is not supported"),
    });
    const err = await processor(fakeJob("status", data, { attempts: 3 })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "config_invalid" });
    expect(notifier.latest(notifier.posts()[0]!.ts)).toContain("toolstack of lab is not supported");
  });

  it("leaves the card to the next attempt after a transient failure", async () => {
    const { notifier, processor, data } = setup({
      driversFail: new XenopsError("ssh_timeout", "ics1: no answer within 10 s"),
    });
    const first = await processor(fakeJob("status", data, { attempts: 3 })).catch((e: unknown) => e);
    expect(first).toMatchObject({ code: "ssh_timeout" });
    expect(notifier.calls.map((c) => c.text).join("\n")).not.toContain("no answer within 10 s");
    const last = fakeJob("status", data, { attempts: 3, attemptsMade: 2 });
    await processor(last).catch(() => {});
    expect(notifier.calls.map((c) => c.text).join("\n")).toContain("no answer within 10 s");
  });

  it("says who cancelled it", async () => {
    const { notifier, processor, data } = setup();
    const ctl = new AbortController();
    ctl.abort("by UADMIN1");
    const err = await processor(fakeJob("status", data), undefined, ctl.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobCancelled);
    expect(notifier.latest(notifier.posts()[0]!.ts)).toMatch(/Cancelled by @UADMIN1 after/);
  });
});
