/**
 * The doctor job's card: the queued card becomes the doctor's card (failing checks first, evidence,
 * fix, the fence query said); long evidence goes to the thread as a file.
 */
import { describe, expect, it } from "vitest";
import { createDoctorProcessor } from "../../jobs/doctor";
import { InventoryConfig } from "../../src/config/schema";
import { renderDoctorCard, renderDoctorText } from "../../src/doctor/render";
import type { DoctorReport } from "../../src/doctor/types";
import { MemoryCardStore } from "../../src/job-cards/card-store";
import { silentLogger } from "../../src/log";
import type { DoctorJob } from "../../src/queue/schema";
import { referenceLab, Simulation } from "../../src/sim";
import { runner, simCluster } from "../doctor/helpers";
import { fakeJob, RecordingNotifier } from "./helpers";

function setup() {
  const sim = new Simulation(referenceLab());
  const inventory = InventoryConfig.parse({ clusters: [{ ...simCluster(sim), channels: ["C0LAB"] }] });
  const notifier = new RecordingNotifier();
  const cards = new MemoryCardStore();
  const processor = createDoctorProcessor({
    inventory,
    runnerFor: (_c, node) => runner(sim, node),
    notifier,
    logger: silentLogger(),
    secretEnv: {},
    cards,
  });
  const data: DoctorJob = {
    cluster: "lab",
    channel: "C0LAB",
    requestedBy: "UVIEWER1",
    deliveryId: "d1",
    requestText: "doctor",
  };
  return { sim, notifier, cards, processor, data };
}

describe("doctor job card", () => {
  it("edits the queued card into the doctor's card", async () => {
    const { notifier, cards, processor, data } = setup();
    const job = fakeJob("doctor", data);
    await cards.claimForAnnounce(job.id!);
    await cards.announced(job.id!, { channel: "C0LAB", ts: "1699999999.000001" });
    const result = await processor(job);
    expect(result).toMatchObject({ cluster: "lab", fail: 1, warn: 1, messageTs: "1699999999.000001" });
    const text = notifier.latest("1699999999.000001");
    expect(text).toContain("Doctor of lab :x: fails: 1 failing, 1 warning");
    expect(text.indexOf("drbd.after-sb")).toBeLessThan(text.indexOf("drbd.dual-primary"));
    expect(text).toContain(
      "Fix: in resource internet { net { ... } } on every node: `after-sb-0pri disconnect;`",
    );
    expect(text).toContain("The doctor queried the fence device once");
    expect(text).toMatch(/Doctor in lab · job \S+ · :white_check_mark: Done in/);
    expect(notifier.files).toEqual([]);
  });

  it("keeps sections under Slack's limit and attaches the whole report when evidence is long", () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${"x".repeat(40)}`);
    const report: DoctorReport = {
      cluster: "lab",
      readAt: 0,
      counts: { fail: 1, warn: 0, pass: 0 },
      fenceQuery: null,
      results: [
        {
          id: "heartbeat.haresources",
          area: "heartbeat",
          subject: null,
          status: "fail",
          summary: "haresources differs between the nodes",
          evidence: [
            { node: "ics1", lines },
            { node: "ics2", lines },
          ],
          fix: "copy /etc/ha.d/haresources",
        },
      ],
    };
    const card = renderDoctorCard(report);
    for (const b of card.main.blocks ?? [])
      if (b.type === "section") expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(card.main)).toContain("394 more line(s) in the attached report");
    expect(card.detailText).toBe(renderDoctorText(report));
    expect(card.detailText).toContain("ics2: line 399");
  });

  it("stays within Slack's 50 blocks with many failing checks; the rest is in the attached report", () => {
    const results = Array.from({ length: 80 }, (_, i) => ({
      id: `xen.guest-config`,
      area: "xen" as const,
      subject: `guest${i}`,
      status: "fail" as const,
      summary: `guest${i}: /etc/xen/guest${i} differs between the nodes`,
      evidence: [{ node: "ics1", lines: [`sha256 ${i}`] }],
      fix: "copy it",
    }));
    const card = renderDoctorCard({
      cluster: "lab",
      readAt: 0,
      counts: { fail: 80, warn: 0, pass: 0 },
      fenceQuery: null,
      results,
    });
    expect(card.main.blocks?.length ?? 0).toBeLessThanOrEqual(50);
    expect(card.detailText).toContain("guest79: /etc/xen/guest79 differs");
  });
});
