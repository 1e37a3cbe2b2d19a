/**
 * Refusals caused by output that cannot be read show it: the first 20 raw lines on the card, every line
 * in a file attached to the card's thread. `/xen status` on a tampered node still answers, read-only,
 * and says the part is "unknown (unreadable output)".
 */
import { afterEach, describe, expect, it } from "vitest";
import { createOperationPlanProcessor } from "../../jobs/operation-plan";
import { createStatusProcessor } from "../../jobs/status";
import { MemoryCardStore } from "../../src/job-cards/card-store";
import { renderPlain } from "../../src/message/plain";
import { RAW_LINES_ON_CARD, unreadableBlocks, unreadableFileText } from "../../src/operations/unreadable";
import type { OperationPlanJob, StatusJob } from "../../src/queue/schema";
import { createFaults, execInProcess, referenceLab } from "../../src/sim";
import { fakeJob, RecordingNotifier } from "../jobs/helpers";
import { type Harness, harness } from "./harness";

/** The reference lab with eleven more DRBD resources, so /proc/drbd runs to about 50 lines. */
function longProcDrbdLab() {
  const base = referenceLab();
  const extra = Array.from({ length: 11 }, (_, i) => ({
    name: `data${i + 1}`,
    minor: i + 1,
    nodes: ["ics1", "ics2"] as [string, string],
    sizeMiB: 1024,
    allowTwoPrimaries: true,
  }));
  return referenceLab({ drbd: [...(base.drbd ?? []), ...extra] });
}

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

async function setup() {
  const h = await harness(longProcDrbdLab());
  open.push(h);
  const notifier = new RecordingNotifier();
  const deps = { ...h.deps, notifier };
  return { h, notifier, faults: createFaults(h.sim), plan: createOperationPlanProcessor(deps) };
}

function planJob(operation: OperationPlanJob["operation"], requestText: string) {
  const data: OperationPlanJob = {
    cluster: "lab",
    channel: "C0LAB",
    requestedBy: "UOPER1",
    deliveryId: `d-${requestText}`,
    requestText,
    operation,
    dryRun: false,
  };
  return fakeJob("operation-plan", data);
}

/** Commands that change something: status and preflight must never run one. */
const MUTATING =
  /^(sudo \S+ )?((xm|xl) (create|migrate|destroy|shutdown|mem-set|pause|unpause)|drbdadm .*(primary|secondary|connect|disconnect|net-options|invalidate|down|up|adjust|attach|detach)|stonith|stonith_admin|fence_\S+|crm_resource|crm|pcs|hb_standby|hb_takeover)\b/;
/^(xm (list|info)|cat \/proc\/drbd|cl_status( .*)?|test -f \S+|uname( .*)?|hostname|drbdadm (dump|role|state|cstate|dstate|sh-\S+)( .*)?)$/;

describe("a refusal on unreadable output", () => {
  it("migrate: /proc/drbd cut mid-line on the target; 20 raw lines on the card, all of them attached", async () => {
    const { h, notifier, faults, plan } = await setup();
    const proc = (await execInProcess(h.sim, "ics1", "cat /proc/drbd")).stdout;
    const lines = proc.trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(40);
    // Cut in the middle of the last line.
    const cutAt = proc.trimEnd().length - 10;
    faults.tamper("ics1", "cat /proc/drbd", { kind: "truncate", bytes: cutAt });
    const expected = proc.slice(0, cutAt).split("\n");

    const result = await plan(
      planJob({ action: "migrate", guest: "internet", target: "ics1" }, "migrate internet ics1"),
    );
    expect(result).toMatchObject({ result: "refused" });

    const [card] = notifier.posts();
    expect(card?.text).toContain("Refused: Live-migrate internet to ics1");
    expect(card?.text).toContain("Unreadable output: DRBD status on ics1");
    // The first 20 lines as read, and not the 21st.
    for (const line of expected.slice(0, RAW_LINES_ON_CARD)) expect(card?.text).toContain(line.trim());
    expect(card?.text).not.toContain(expected[RAW_LINES_ON_CARD]?.trim());
    expect(card?.text).toContain(`First ${RAW_LINES_ON_CARD} of ${expected.length} lines`);

    // Every line in the file, in the card's thread.
    expect(notifier.files).toHaveLength(1);
    const file = notifier.files[0];
    expect(file).toMatchObject({ channel: "C0LAB", threadTs: card?.ts, filename: "unreadable-output.txt" });
    expect(file?.content).toContain(expected.join("\n"));
    expect(file?.title).toContain(`${expected.length} lines`);

    // Read-only: nothing but reads ran anywhere (and the check does see a mutation).
    expect(h.calls.length).toBeGreaterThan(0);
    expect("drbdadm primary internet").toMatch(MUTATING);
    expect("xm migrate --live internet ics1").toMatch(MUTATING);
    for (const c of h.calls) expect(c.argv.join(" ")).not.toMatch(MUTATING);
  });

  it("create and migrate with a header-only `xm list` on ics1: refused, the header shown and attached", async () => {
    const { h, notifier, faults, plan } = await setup();
    faults.tamper("ics1", "xm list", "headonly");

    await plan(planJob({ action: "create", guest: "internet", node: "ics1" }, "create internet on ics1"));
    await plan(planJob({ action: "migrate", guest: "internet", target: "ics1" }, "migrate internet ics1"));

    const cards = notifier.posts();
    expect(cards.map((c) => c.text.split("\n")[0])).toEqual([
      "⛔ Refused: Start internet on ics1",
      "⛔ Refused: Live-migrate internet to ics1",
    ]);
    for (const card of cards) {
      expect(card.text).toContain("Unreadable output: domain list (xm/xl list) on ics1");
      expect(card.text).toMatch(/^Name +ID +Mem\(MiB\) +VCPUs +State +Time\(s\)$/m);
      expect(card.text).toContain("no Domain-0 row");
    }
    expect(notifier.files.map((f) => f.threadTs)).toEqual(cards.map((c) => c.ts));
    for (const c of h.calls) expect(c.argv.join(" ")).not.toMatch(MUTATING);

    // Untampered, the checks that needed ics1's domain list pass again, and nothing more is attached.
    faults.untamper("ics1", "xm list");
    const again = await plan(
      planJob({ action: "migrate", guest: "internet", target: "ics1" }, "migrate again"),
    );
    expect(again.failed ?? []).not.toContain("location");
    expect(again.failed ?? []).not.toContain("target");
    expect(notifier.files).toHaveLength(2);
  });

  it("a refusal that has nothing to do with unreadable output attaches nothing", async () => {
    const { notifier, faults, plan } = await setup();
    // ics1's output is fine; internet already runs on ics2.
    faults.tamper("ics1", "cl_status", "garbage");
    await plan(planJob({ action: "migrate", guest: "internet", target: "ics2" }, "migrate internet ics2"));
    const [card] = notifier.posts();
    expect(card?.text).toContain("Refused");
    expect(card?.text).not.toContain("Unreadable output");
    expect(notifier.files).toHaveLength(0);
  });
});

describe("unreadable output rendering", () => {
  it("an empty output says so; lines past the card's budget go to the file only", () => {
    const items = [
      { node: "n1", part: "domains", code: "parse_error", message: "xm-list: empty output", raw: [] },
      {
        node: "n2",
        part: "drbd",
        code: "parse_error",
        message: "proc-drbd: line 3: bad",
        raw: Array.from({ length: 45 }, (_, i) => `line-${i + 1}`),
      },
    ];
    const text = renderPlain({ summary: [], blocks: unreadableBlocks(items) });
    expect(text).toContain("(empty output)");
    expect(text).toContain("line-20");
    expect(text).not.toContain("line-21");
    const file = unreadableFileText(items);
    expect(file).toContain("=== n1: domain list (xm/xl list) (parse_error: xm-list: empty output)");
    expect(file).toContain("0 lines as read (empty output)");
    expect(file).toContain("line-45");
  });
});

describe("/xen status with a tampered node", () => {
  it("answers, says unknown (unreadable output), and only reads", async () => {
    const { h, faults } = await setup();
    faults.tamper("ics1", "xm list", "headonly");
    const notifier = new RecordingNotifier();
    const cards = new MemoryCardStore();
    const processor = createStatusProcessor({
      inventory: h.inventory,
      runnerFor: h.deps.runnerFor,
      driversFor: h.deps.driversFor,
      notifier,
      logger: h.deps.logger,
      cards,
    });
    const data: StatusJob = {
      cluster: "lab",
      target: null,
      channel: "C0LAB",
      requestedBy: "UVIEWER1",
      deliveryId: "d-status",
      requestText: "status",
    };
    const guestsBefore = JSON.stringify(h.sim.state.guests);
    const drbdBefore = JSON.stringify(h.sim.state.drbd.map((r) => r.nodes.map((n) => r.local[n]?.role)));
    await processor(fakeJob("status", data));

    const [card] = notifier.posts();
    const text = card ? notifier.latest(card.ts) : "";
    expect(text).toContain("Domains: unknown (unreadable output): xm-list: no Domain-0 row");
    expect(text).not.toMatch(/Domains: none/);
    expect(text).toContain("ics2");
    for (const c of h.calls) expect(c.argv.join(" ")).not.toMatch(MUTATING);
    expect(JSON.stringify(h.sim.state.guests)).toBe(guestsBefore);
    expect(JSON.stringify(h.sim.state.drbd.map((r) => r.nodes.map((n) => r.local[n]?.role)))).toBe(
      drbdBefore,
    );
  });
});
