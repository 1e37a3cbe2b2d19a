/**
 * Every event from simulator faults, through the real pipeline (Redis state, incidents) with a
 * recording notifier and the simulator's manual clock: what is posted, where, and how often.
 */
import { afterEach, describe, expect, it } from "vitest";
import { actionButtons } from "../../src/events/render";
import { createFaults, modernLab, referenceLab, scaleLab } from "../../src/sim";
import { type Harness, harness, parents, replies, texts } from "./helpers";

const open: Harness[] = [];
function h(...args: Parameters<typeof harness>): Harness {
  const x = harness(...args);
  open.push(x);
  return x;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

function buttonsOf(message: unknown): { text: string; value: string }[] {
  const blocks =
    (message as { blocks?: { type: string; elements?: { text: { text: string }; value: string }[] }[] })
      .blocks ?? [];
  return blocks.flatMap((b) =>
    b.type === "actions" ? (b.elements ?? []).map((e) => ({ text: e.text.text, value: e.value })) : [],
  );
}

describe("node death (reference lab: xm, DRBD 8, heartbeat)", () => {
  it("posts one incident that becomes 'dead' with on-call and a Fence button; the DRBD link goes into its thread", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    expect(x.notifier.posts).toHaveLength(0);

    x.sim.nodeDown("ics2");
    const first = await x.poll();
    expect(first.opened.map((c) => c.kind).sort()).toEqual(["drbd_disconnected", "node_unreachable"]);
    expect(parents(x.notifier)).toHaveLength(1);
    const parent = parents(x.notifier)[0];
    if (!parent) throw new Error("no parent");
    expect(JSON.stringify(parent.message)).toContain("ics2 does not answer over SSH");
    // The link is down because its peer is: a follow-up in the node's thread, not a second incident.
    expect(
      replies(x.notifier, parent.ref.ts).some((r) =>
        JSON.stringify(r.message).includes("internet lost its replication link"),
      ),
    ).toBe(true);

    x.tick(31_000);
    const second = await x.poll();
    expect(second.changed.map((c) => c.kind)).toEqual(["node_dead"]);
    expect(parents(x.notifier)).toHaveLength(1);
    const now = x.notifier.current(parent.ref.ts);
    expect(JSON.stringify(now)).toContain("ics2 is dead according to heartbeat on ics1");
    expect(JSON.stringify(now)).toContain("<!subteam^SONCALL1>");
    expect(JSON.stringify(now)).toContain("<@UONCALL1>");
    expect(buttonsOf(now).map((b) => b.text)).toEqual(["Fence ics2"]);
    // Paged once, in the thread too (a mention in an edit notifies nobody).
    const pages = replies(x.notifier, parent.ref.ts).filter((r) =>
      JSON.stringify(r.message).includes("<@UONCALL1>"),
    );
    expect(pages).toHaveLength(1);

    // Polling on while it stays dead says nothing new.
    const before = x.notifier.posts.length;
    for (let i = 0; i < 5; i++) {
      x.tick(10_000);
      await x.poll();
    }
    expect(x.notifier.posts.length).toBe(before);
  });

  it("a verified fence offers to start the dead node's guests on the survivor", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    const parent = parents(x.notifier)[0];
    if (!parent) throw new Error("no parent");
    const at = new Date(x.sim.now()).toISOString();
    await x.pipeline.report(
      {
        cluster: "lab",
        kind: "fence_succeeded",
        family: "node",
        severity: "warning",
        subject: null,
        node: "ics2",
        title: "ics2 was fenced and is verified off",
        evidence: ["stonith -t apcsmart -T off ics2"],
        source: "job",
        at,
      },
      (f) => {
        f.memory.fencedAt.ics2 = at;
        return f;
      },
    );
    const thread = replies(x.notifier, parent.ref.ts).map((r) => JSON.stringify(r.message));
    expect(thread.some((t) => t.includes("ics2 was fenced and is verified off"))).toBe(true);
    const offer = replies(x.notifier, parent.ref.ts).find((r) =>
      buttonsOf(r.message).some((b) => b.text === "Start its guests on ics1"),
    );
    expect(offer).toBeDefined();
    const value = JSON.parse(buttonsOf(offer?.message)[0]?.value ?? "{}");
    expect(value.a).toEqual({ kind: "start_guests", node: "ics2", survivor: "ics1", guests: ["internet"] });
    expect(buttonsOf(x.notifier.current(parent.ref.ts)).map((b) => b.text)).toEqual([
      "Start its guests on ics1",
    ]);
  });

  it("failover, node back and failback: takeover moves the guest, the node comes back, failback is offered", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    x.sim.heartbeatTakeover("ics2");
    x.tick(6_000);
    const moved = await x.poll();
    expect(moved.happened.map((e) => e.kind)).toEqual(["failover"]);
    expect(moved.happened[0]?.title).toBe("internet moved from ics2 to ics1 (failover: ics2 is down)");

    x.sim.nodeUp("ics2", 0);
    x.tick(1_000);
    const back = await x.poll();
    expect(back.resolved.map((c) => c.kind).sort()).toEqual(["drbd_disconnected", "node_dead"]);
    expect(back.opened.map((c) => c.kind)).toEqual(["failback_ready"]);
    const parent = parents(x.notifier)[0];
    if (!parent) throw new Error("no parent");
    expect(parents(x.notifier)).toHaveLength(1);
    const thread = replies(x.notifier, parent.ref.ts).map((r) => JSON.stringify(r.message));
    expect(thread.some((t) => t.includes("Resolved: ics2 is back"))).toBe(true);
    expect(thread.some((t) => t.includes("internet moved from ics2 to ics1"))).toBe(true);
    const offer = replies(x.notifier, parent.ref.ts).find((r) =>
      buttonsOf(r.message).some((b) => b.text === "Fail back to ics2"),
    );
    expect(offer).toBeDefined();
    expect(JSON.stringify(x.notifier.current(parent.ref.ts))).toContain("RESOLVED");
  });
});

describe("DRBD events", () => {
  it("split brain: one critical incident with the recovery card (both sides, who wrote last, Keep buttons)", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.splitBrain("internet");
    const r = await x.poll();
    expect(r.opened.map((c) => c.kind)).toEqual(["split_brain"]);
    expect(parents(x.notifier)).toHaveLength(1);
    const card = JSON.stringify(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""));
    expect(card).toContain("SPLIT-BRAIN on internet");
    expect(card).toContain("*ics1*");
    expect(card).toContain("*ics2*");
    expect(card).toContain("out of sync: 4.0 MiB");
    expect(card).toContain("ics2 runs internet: it has been writing since the split");
    expect(card).toContain("<@UONCALL1>");
    const buttons = buttonsOf(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? ""));
    expect(buttons.map((b) => b.text)).toEqual(["Keep ics1's data", "Keep ics2's data"]);
    expect(JSON.parse(buttons[0]?.value ?? "{}").a).toEqual({
      kind: "keep_data",
      resource: "internet",
      survivor: "ics1",
      victim: "ics2",
    });
  });

  it("a split brain resolved outside xenops is loud, with evidence, in the split brain's thread", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.splitBrain("internet");
    await x.poll();
    // heal() discards the side that runs no guest (ics1): what an after-sb policy would do.
    createFaults(x.sim).heal();
    const r = await x.poll();
    expect(r.happened.map((e) => e.kind)).toContain("split_brain_auto_resolved");
    const e = r.happened.find((x) => x.kind === "split_brain_auto_resolved");
    expect(e?.severity).toBe("critical");
    expect(e?.evidence.some((l) => l.startsWith("before: ics1: Primary"))).toBe(true);
    const parent = parents(x.notifier)[0];
    expect(parents(x.notifier)).toHaveLength(1);
    expect(
      replies(x.notifier, parent?.ref.ts ?? "").some((p) =>
        JSON.stringify(p.message).includes("resolved WITHOUT xenops"),
      ),
    ).toBe(true);
  });

  it("resync started and finished; disk Inconsistent without a resync", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.startResync("internet", "ics2", 40 * 1024 * 1024);
    const started = await x.poll();
    expect(started.opened.map((c) => c.kind)).toEqual(["resync_started"]);
    expect(started.opened[0]?.title).toMatch(/^Resync of internet from ics2 to ics1 at \d/);
    x.tick(60_000);
    const progress = await x.poll();
    expect(progress.opened).toEqual([]);
    expect(progress.changed).toEqual([]);
    x.tick(4 * 3600_000);
    const done = await x.poll();
    expect(done.resolved.map((c) => c.kind)).toEqual(["resync_started"]);
    const parent = parents(x.notifier)[0];
    expect(
      replies(x.notifier, parent?.ref.ts ?? "").some((p) =>
        JSON.stringify(p.message).includes("Resync of internet finished: UpToDate/UpToDate"),
      ),
    ).toBe(true);

    // A resync that cannot run (link down): the target stays Inconsistent.
    x.sim.disconnect("internet", "ics1");
    x.sim.startResync("internet", "ics2", 1024);
    const stuck = await x.poll();
    expect(stuck.opened.map((c) => c.kind).sort()).toEqual(["disk_inconsistent", "drbd_standalone"]);
  });

  it("connection lost and StandAlone", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.disconnect("internet", "ics1");
    const r = await x.poll();
    expect(r.opened.map((c) => c.kind)).toEqual(["drbd_standalone"]);
    expect(r.opened[0]?.evidence.join("\n")).toContain(
      "ics1: Secondary/Unknown UpToDate/DUnknown StandAlone",
    );
    x.sim.connect("internet", "ics1", false);
    const back = await x.poll();
    expect(back.resolved.map((c) => c.kind)).toEqual(["drbd_standalone"]);
  });

  it("a planned migration between healthy nodes is no incident (it has its own card)", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.promote("internet", "ics1");
    expect(x.sim.startMigration("ics2", "internet", "ics1", true).ok).toBe(true);
    await x.poll();
    x.tick(60_000);
    x.sim.demote("internet", "ics2");
    const r = await x.poll();
    expect(r.happened.map((e) => [e.kind, e.severity, e.title])).toEqual([
      ["failover", "info", "internet moved from ics2 to ics1"],
    ]);
    expect(x.notifier.posts).toHaveLength(0);
  });

  it("a guest running on two nodes is critical", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.promote("internet", "ics1");
    const created = x.sim.createGuest("ics1", "internet");
    expect(created.ok).toBe(true);
    const r = await x.poll();
    expect(r.opened.map((c) => c.kind)).toEqual(["guest_on_two_nodes"]);
    expect(r.opened[0]?.severity).toBe("critical");
    expect(JSON.stringify(x.notifier.posts[0]?.message)).toContain("<@UONCALL1>");
  });

  it("Pacemaker fencing history: fence succeeded, and the stranded guests are offered on the survivor", async () => {
    const x = h(modernLab());
    await x.poll();
    x.sim.nodeDown("hv2");
    x.tick(6_000);
    await x.poll();
    x.sim.fence("hv2", "off", { client: "stonith_admin", origin: "hv1", viaFencer: true });
    const r = await x.poll();
    expect(r.happened.map((e) => e.kind)).toEqual(["fence_succeeded"]);
    const node = r.changed.find((c) => c.kind === "node_dead");
    expect(node?.actions).toEqual([{ kind: "start_guests", node: "hv2", survivor: "hv1", guests: ["db"] }]);
  });
});

describe("coalescing, storms, restarts, maintenance", () => {
  it("a flapping link is one incident with counters; follow-ups are throttled and summarized", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    for (let i = 0; i < 20; i++) {
      x.sim.disconnect("internet", "ics1");
      x.tick(5_000);
      await x.poll();
      x.sim.connect("internet", "ics1", false);
      x.tick(5_000);
      await x.poll();
    }
    expect(parents(x.notifier)).toHaveLength(1);
    const parent = parents(x.notifier)[0];
    const rec = await x.incidents.byKey("lab|internet|-|link");
    expect(rec?.count).toBe(20);
    expect(rec?.flaps).toBe(19);
    // 200 s of flapping at one follow-up a minute at most (plus the first resolution).
    const thread = replies(x.notifier, parent?.ref.ts ?? "");
    expect(thread.length).toBeLessThanOrEqual(6);
    expect(thread.some((t) => JSON.stringify(t.message).includes("summarized here"))).toBe(true);
    x.tick(10_000);
    await x.pipeline.flush("lab");
    expect(JSON.stringify(x.notifier.current(parent?.ref.ts ?? ""))).toContain("flapped *19* times");
  });

  it("a storm never floods the channel: new incidents beyond the limit go onto one storm message", async () => {
    const x = h(scaleLab(20), { policy: { maxNewPerWindow: 4 } });
    await x.poll();
    for (const r of x.sim.state.drbd) x.sim.disconnect(r.name, r.nodes[0]);
    await x.poll();
    const tops = parents(x.notifier);
    expect(tops.length).toBe(5); // four incidents and the storm message
    const storm = tops.find((p) => JSON.stringify(p.message).includes("Event storm"));
    expect(storm).toBeDefined();
    x.tick(10_000);
    await x.pipeline.flush("scale20");
    expect(JSON.stringify(x.notifier.current(storm?.ref.ts ?? ""))).toContain("*36* more are listed here");
    expect(x.notifier.posts.length).toBeLessThanOrEqual(6);
  });

  it("a restarted bot reports what changed while it was down, in the same thread", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    const parent = parents(x.notifier)[0];
    const postsBefore = x.notifier.posts.length;

    // The bot stops; meanwhile ics2 comes back. A new process (same Redis) polls.
    await x.close();
    open.splice(open.indexOf(x), 1);
    x.sim.nodeUp("ics2", 0);
    x.tick(60_000);
    const y = x.restart();
    open.push(y);
    const r = await y.poll();
    expect(r.resolved.map((c) => c.kind).sort()).toEqual(["drbd_disconnected", "node_dead"]);
    expect(parents(y.notifier)).toHaveLength(1);
    const newPosts = y.notifier.posts.slice(postsBefore);
    expect(newPosts.every((p) => p.message.threadTs === parent?.ref.ts)).toBe(true);
    expect(newPosts.some((p) => JSON.stringify(p.message).includes("Resolved: ics2 is back"))).toBe(true);
    expect(JSON.stringify(y.notifier.current(parent?.ref.ts ?? ""))).toContain("RESOLVED");
  });

  it("a restart while the problem persists posts nothing twice", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    x.sim.splitBrain("internet");
    await x.poll();
    const count = x.notifier.posts.length;
    const y = x.restart();
    open.push(y);
    await y.poll();
    await y.poll();
    expect(y.notifier.posts.length).toBe(count);
  });

  it("maintenance silences a node's events; what still holds when it ends is posted then", async () => {
    const x = h(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    await x.poll();
    await x.maintenance.set(
      { cluster: "lab", node: "ics2", by: "UOPER1", reason: "kernel update" },
      3600_000,
    );
    x.sim.nodeDown("ics2");
    x.tick(31_000);
    await x.poll();
    expect(x.notifier.posts).toHaveLength(0);
    expect(await x.incidents.byKey("lab|-|ics2|node")).toMatchObject({ silenced: true });
    await x.maintenance.end("lab", "ics2");
    await x.pipeline.flush("lab");
    expect(parents(x.notifier)).toHaveLength(1);
    expect(texts(x.notifier)[0]).toContain("Held back during maintenance");
  });

  it("buttons carry only names (validated again on click)", () => {
    const b = actionButtons("abcdefgh12345678", "lab", [{ kind: "fence", node: "ics2" }]);
    expect(b[0]?.action_id).toBe("xenops:event:fence:0");
    expect(JSON.parse(b[0]?.value ?? "")).toEqual({
      v: 1,
      i: "abcdefgh12345678",
      c: "lab",
      a: { kind: "fence", node: "ics2" },
    });
  });
});
