/** Push for DRBD 9: events2 streams per node feed the pipeline without waiting for a poll. */
import { afterEach, describe, expect, it } from "vitest";
import { Events2Watcher } from "../../src/events/events2";
import { silentLogger } from "../../src/log";
import { modernLab } from "../../src/sim";
import { type Harness, harness, parents, simRunner } from "./helpers";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function watch(x: Harness, pokes: string[]): Events2Watcher[] {
  return x.cluster.nodes.map((n) => {
    const w = new Events2Watcher({
      cluster: x.cluster.name,
      node: n.name,
      runner: simRunner(x.sim, n.name),
      pipeline: x.pipeline,
      logger: silentLogger(),
      debounceMs: 5,
      minBackoffMs: 20,
      maxBackoffMs: 50,
      poke: async () => {
        pokes.push(n.name);
      },
    });
    w.start();
    cleanups.push(() => w.close());
    return w;
  });
}

async function until(predicate: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("events2 push", () => {
  it("a split brain is posted from the streams alone", async () => {
    const x = harness(modernLab());
    cleanups.push(() => x.close());
    await x.poll();
    const watchers = watch(x, []);
    await until(() => watchers.every((w) => w.applied > 0));
    expect(x.notifier.posts).toHaveLength(0);
    x.sim.splitBrain("web");
    // One side's stream may arrive first (StandAlone), the other's makes it a split brain: one incident.
    await until(() =>
      JSON.stringify(x.notifier.current(parents(x.notifier)[0]?.ref.ts ?? "") ?? "").includes(
        "SPLIT-BRAIN on web",
      ),
    );
    // The next poll agrees: nothing new.
    const r = await x.poll();
    expect(r.opened).toEqual([]);
    expect(parents(x.notifier)).toHaveLength(1);
  });

  it("a resync is seen starting and finishing", async () => {
    const x = harness(modernLab());
    cleanups.push(() => x.close());
    await x.poll();
    const watchers = watch(x, []);
    await until(() => watchers.every((w) => w.applied > 0));
    x.sim.startResync("db", "hv2", 1024 * 1024);
    await until(() => x.notifier.posts.some((p) => JSON.stringify(p.message).includes("Resync of db")));
    x.tick(3600_000);
    await until(() =>
      x.notifier.posts.some((p) => JSON.stringify(p.message).includes("finished: UpToDate/UpToDate")),
    );
  });

  it("a stream that breaks asks for a poll and reconnects when the node is back", async () => {
    const x = harness(modernLab());
    cleanups.push(() => x.close());
    await x.poll();
    const pokes: string[] = [];
    const watchers = watch(x, pokes);
    await until(() => watchers.every((w) => w.applied > 0));
    x.sim.nodeDown("hv2");
    await until(() => pokes.includes("hv2"));
    // The survivor's stream reports the lost link at once.
    await until(() =>
      x.notifier.posts.some((p) => JSON.stringify(p.message).includes("lost its replication link")),
    );
    const hv2 = watchers[1];
    const before = hv2?.applied ?? 0;
    x.sim.nodeUp("hv2", 0);
    await until(() => (hv2?.applied ?? 0) > before);
  });
});
