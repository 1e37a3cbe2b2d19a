/**
 * heartbeat's takeover and failback as first-class events, read from its log by the monitor (real
 * Redis, the simulator's heartbeat, a recording notifier, the simulator's clock): the takeover with
 * its STONITH evidence, a failed STONITH, a takeover without a fence (critical, re-paged), other
 * escalations that re-page, and the start-up baseline.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createFaults, referenceLab, Simulation } from "../../src/sim";
import { type Harness, harness, parents, replies } from "./helpers";

const open: Harness[] = [];
function h(...args: Parameters<typeof harness>): Harness {
  const x = harness(...args);
  open.push(x);
  return x;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

function buttonsOf(message: unknown): string[] {
  const blocks =
    (message as { blocks?: { type: string; elements?: { text: { text: string } }[] }[] }).blocks ?? [];
  return blocks.flatMap((b) => (b.type === "actions" ? (b.elements ?? []).map((e) => e.text.text) : []));
}

const PAGE = "<@UONCALL1>";

function thread(x: Harness): string[] {
  const parent = parents(x.notifier)[0];
  if (!parent) throw new Error("no incident posted");
  return replies(x.notifier, parent.ref.ts).map((r) => JSON.stringify(r.message));
}

function parentNow(x: Harness): string {
  const parent = parents(x.notifier)[0];
  if (!parent) throw new Error("no incident posted");
  return JSON.stringify(x.notifier.current(parent.ref.ts));
}

describe("heartbeat takes over by itself (reference lab defaults)", () => {
  it("the incident's headline follows the takeover at once, even within the message's update interval", async () => {
    // The takeover ends 2 s after heartbeat starts it: less than the 5 s between routine updates.
    const x = h(referenceLab({ ha: { takeoverMs: 2_000 } }), { haLog: true });
    await x.poll();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    const dead = await x.poll();
    expect(dead.changed[0]?.title).toBe(
      "ics2 is dead according to heartbeat on ics1: heartbeat is taking over internet on ics1",
    );
    expect(parentNow(x)).toContain("heartbeat is taking over internet on ics1");
    x.tick(2_000);
    const took = await x.poll();
    expect(took.happened.map((e) => e.kind)).toEqual(["ha_takeover"]);
    expect(parentNow(x)).toContain("heartbeat reset it through APCSmart and started internet on ics1");
  });

  it("posts the takeover with heartbeat's STONITH lines as evidence; the incident says what heartbeat did; auto failback is posted", async () => {
    const x = h(referenceLab(), { haLog: true });
    await x.poll();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    const dead = await x.poll();
    expect(dead.changed.map((c) => c.kind)).toEqual(["node_dead"]);
    expect(dead.changed[0]?.title).toBe(
      "ics2 is dead according to heartbeat on ics1: heartbeat is taking over internet on ics1",
    );
    expect(dead.changed[0]?.actions).toEqual([]);

    x.tick(5_000);
    const took = await x.poll();
    // The guest's move is the takeover itself: no separate "moved" reply.
    expect(took.happened.map((e) => e.kind)).toEqual(["ha_takeover"]);
    const e = took.happened[0];
    expect(e?.title).toBe("heartbeat started internet on ics1 after ics2 died");
    expect(e?.severity).toBe("warning");
    expect(e?.repage).toBeUndefined();
    expect(e?.evidence).toContain(
      "fence: heartbeat reports ics2 reset through APCSmart (power not verified)",
    );
    expect(
      e?.evidence.some((l) => /^heartbeat\[\d+\]: \S+ info: Resetting node ics2 with \[APCSmart\]$/.test(l)),
    ).toBe(true);
    expect(e?.evidence.some((l) => l.endsWith("info: node ics2 now reset."))).toBe(true);
    expect(e?.evidence.some((l) => l.endsWith("info: mach_down takeover complete."))).toBe(true);

    expect(parents(x.notifier)).toHaveLength(1);
    expect(thread(x).some((t) => t.includes("heartbeat started internet on ics1 after ics2 died"))).toBe(
      true,
    );
    const now = parentNow(x);
    expect(now).toContain("heartbeat reset it through APCSmart and started internet on ics1");
    expect(now).toContain("power not verified");
    expect(now).not.toContain("Fence ics2 before starting its guests elsewhere");
    expect(buttonsOf(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""))).toEqual([]);
    // Paged once, when ics2 was declared dead; a fenced takeover does not page again.
    expect(thread(x).filter((t) => t.includes(PAGE))).toHaveLength(1);

    // The APC reset powers ics2 back on (rebootMs 60 s); auto_failback live-migrates internet home.
    x.tick(55_000);
    const back = await x.poll();
    expect(back.resolved.map((c) => c.kind)).toContain("node_dead");
    // auto_failback is on: heartbeat moves it home itself, xenops offers no second migration.
    expect(back.opened.map((c) => c.kind)).not.toContain("failback_ready");
    x.tick(25_000);
    const home = await x.poll();
    expect(home.happened.map((e) => e.kind)).toEqual(["ha_failback"]);
    expect(home.happened[0]?.title).toBe("heartbeat migrated internet back to ics2");
    expect(home.happened[0]?.evidence.some((l) => l.includes("ics1 wants to go standby [foreign]"))).toBe(
      true,
    );
    expect(thread(x).some((t) => t.includes("heartbeat migrated internet back to ics2"))).toBe(true);
    expect(parents(x.notifier)).toHaveLength(1);
    expect(thread(x).some((t) => t.includes("can fail back"))).toBe(false);
    // Nothing new on the next pass: the cursor only reports new lines.
    x.tick(10_000);
    expect((await x.poll()).happened).toEqual([]);
  });

  it("a fence device that does not answer: 'Host ics2 not reset!' is critical with the raw lines, and nothing is taken over", async () => {
    const x = h(referenceLab(), { haLog: true });
    createFaults(x.sim).fenceDevice(false);
    await x.poll();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    const r = await x.poll();
    expect(r.happened.map((e) => e.kind)).toEqual(["ha_stonith_failed"]);
    const e = r.happened[0];
    expect(e?.severity).toBe("critical");
    expect(e?.title).toBe("heartbeat could NOT reset ics2 (Host ics2 not reset!): no takeover");
    expect(e?.evidence.some((l) => /^heartbeat\[\d+\]: \S+ ERROR: Host ics2 not reset!$/.test(l))).toBe(true);
    expect(e?.evidence.some((l) => l.endsWith("ERROR: STONITH of ics2 failed.  Retrying..."))).toBe(true);
    expect(thread(x).some((t) => t.includes("Host ics2 not reset!"))).toBe(true);
    expect(parentNow(x)).toContain("heartbeat could NOT reset it, no takeover");
    expect(buttonsOf(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""))).toEqual(["Fence ics2"]);

    // heartbeat keeps retrying: one incident, no repeated posts, still nothing started.
    const before = x.notifier.posts.length;
    x.tick(15_000);
    expect((await x.poll()).happened).toEqual([]);
    expect(x.notifier.posts.length).toBe(before);
    expect(x.sim.guestLocations("internet")).toEqual([]);
  });

  it("a takeover with no fence in heartbeat's log is critical and pages on-call again", async () => {
    const x = h(referenceLab({ fence: undefined }), { haLog: true });
    await x.poll();
    x.sim.nodeDown("ics2");
    await x.poll();
    x.tick(31_000);
    await x.poll();
    x.tick(5_000);
    const took = await x.poll();
    expect(took.happened.map((e) => e.kind)).toEqual(["ha_takeover"]);
    const e = took.happened[0];
    expect(e?.severity).toBe("critical");
    expect(e?.repage).toBe(true);
    expect(e?.title).toBe("heartbeat started internet on ics1 after ics2 died, WITHOUT fencing ics2");
    expect(e?.evidence).toContain("fence: heartbeat has no STONITH device configured: ics2 was NOT fenced");
    expect(e?.evidence.some((l) => l.endsWith("WARN: No STONITH device configured."))).toBe(true);
    // Paged when ics2 died, and again for the unfenced takeover, in the thread.
    const pages = thread(x).filter((t) => t.includes(PAGE));
    expect(pages).toHaveLength(2);
    expect(pages[1]).toContain("WITHOUT fencing ics2");
    const now = parentNow(x);
    expect(now).toContain("on-call paged again");
    expect(now).toContain("WITHOUT fencing ics2");
    expect(buttonsOf(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""))).toEqual(["Fence ics2"]);
  });
});

describe("escalation to data loss or two writers re-pages", () => {
  it("a split-brain handler call on a link incident that already paged", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }), { haLog: true });
    await x.poll();
    x.sim.disconnect("internet", "ics1");
    const standalone = await x.poll();
    expect(standalone.opened.map((c) => c.kind)).toEqual(["drbd_standalone"]);
    expect(JSON.stringify(parents(x.notifier)[0]?.message)).toContain(PAGE);
    expect(thread(x).filter((t) => t.includes(PAGE))).toHaveLength(0);
    await x.pipeline.report({
      cluster: "lab",
      kind: "split_brain",
      family: "link",
      severity: "critical",
      subject: "internet",
      node: null,
      title: "DRBD on ics1 called its split-brain handler for internet",
      evidence: ["split-brain handler: resource=internet node=ics1"],
      source: "webhook",
      at: new Date(x.sim.now()).toISOString(),
    });
    const pages = thread(x).filter((t) => t.includes(PAGE));
    expect(pages).toHaveLength(1);
    expect(pages[0]).toContain("split-brain handler");
    expect(parentNow(x)).toContain("on-call paged again");
    // The same news again does not page a third time.
    await x.pipeline.report({
      cluster: "lab",
      kind: "split_brain",
      family: "link",
      severity: "critical",
      subject: "internet",
      node: null,
      title: "DRBD on ics2 called its split-brain handler for internet",
      evidence: [],
      source: "webhook",
      at: new Date(x.sim.now()).toISOString(),
    });
    expect(thread(x).filter((t) => t.includes(PAGE))).toHaveLength(1);
  });

  it("a split brain resolved without xenops re-pages in the split brain's thread", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.splitBrain("internet");
    await x.poll();
    expect(JSON.stringify(parents(x.notifier)[0]?.message)).toContain(PAGE);
    createFaults(x.sim).heal();
    const r = await x.poll();
    expect(r.happened.map((e) => e.kind)).toContain("split_brain_auto_resolved");
    const pages = thread(x).filter((t) => t.includes(PAGE));
    expect(pages).toHaveLength(1);
    expect(pages[0]).toContain("resolved WITHOUT xenops");
  });
});

describe("start-up baseline", () => {
  it("opens what is true now (ics2 dead, internet away from home, with heartbeat's lines), and nothing twice", async () => {
    // heartbeat fenced ics2 and took over while xenops was not running.
    const spec = referenceLab({ timing: { rebootMs: 600_000 } });
    const sim = new Simulation(spec);
    sim.nodeDown("ics2");
    sim.tick(40_000);
    expect(sim.guestLocations("internet")).toEqual(["ics1"]);

    const x = h(spec, { sim, haLog: true });
    const first = await x.poll();
    expect(first.opened.map((c) => c.kind).sort()).toEqual(["drbd_disconnected", "guest_away", "node_dead"]);
    // What happened before is described, not announced as news.
    expect(first.happened).toEqual([]);
    const dead = first.opened.find((c) => c.kind === "node_dead");
    expect(dead?.title).toBe(
      "ics2 is dead according to heartbeat on ics1: heartbeat reset it through APCSmart and started internet on ics1",
    );
    expect(dead?.evidence.some((l) => l.endsWith("info: node ics2 now reset."))).toBe(true);
    const away = first.opened.find((c) => c.kind === "guest_away");
    expect(away?.title).toBe("internet runs on ics1, away from its home ics2");
    expect(away?.severity).toBe("warning");
    expect(away?.evidence[0]).toBe("internet: home ics2, runs on ics1");
    expect(away?.evidence.some((l) => l.endsWith("info: mach_down takeover complete."))).toBe(true);
    const tops = parents(x.notifier).map((p) => JSON.stringify(p.message));
    expect(tops).toHaveLength(2);
    expect(tops.some((t) => t.includes("internet runs on ics1, away from its home ics2"))).toBe(true);
    expect(tops.some((t) => t.includes("ics2 is dead according to heartbeat on ics1"))).toBe(true);

    // The stored facts are lost (the incidents are not): another start posts nothing twice.
    await x.store.redis.del(x.store.keys.state("lab"));
    const posts = x.notifier.posts.length;
    const y = x.restart();
    open.push(y);
    const again = await y.poll();
    expect(again.opened.map((c) => c.kind).sort()).toEqual(["drbd_disconnected", "guest_away", "node_dead"]);
    expect(x.notifier.posts.length).toBe(posts);
  });

  it("a guest away from home is not news after start (a migration has its own card); it is followed until home", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }), { haLog: true });
    await x.poll();
    x.sim.promote("internet", "ics1");
    x.sim.startMigration("ics2", "internet", "ics1", true);
    x.tick(20_000);
    const moved = await x.poll();
    expect(moved.opened).toEqual([]);
    expect(parents(x.notifier)).toHaveLength(0);
  });
});
