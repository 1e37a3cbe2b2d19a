/**
 * The two-writer hunt (src/lab/fuzz): seeded random sequences of faults and user actions against the
 * simulator over SSH and the real operations code on the test Redis, with the ground truth checked
 * after every step. A failure prints each offending sequence; replay one with
 * `npm run fuzz -- --seed S`.
 */
import { describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import { type FuzzStep, formatResult, runMany, runSequence } from "../../src/lab/fuzz";
import {
  createFaults,
  referenceLab,
  Simulation,
  startSimulatedCluster,
  twoWriterViolations,
} from "../../src/sim";
import { testRedisUrl } from "../support/redis";

/** Sequences `npm test` runs (seeds 1..SEQUENCES); `npm run fuzz -- --runs N` runs more. */
const SEQUENCES = 160;

describe("ground truth", () => {
  it("sees the guests of a partitioned node, and the checker flags a guest executing on two nodes", () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    const faults = createFaults(sim);
    faults.partition("ics2");
    sim.tick(35_000);
    const truth = sim.truth();
    expect(truth.nodes.find((n) => n.name === "ics2")).toMatchObject({ power: "on", partitioned: true });
    expect(truth.guests[0]?.on).toEqual([
      expect.objectContaining({ node: "ics2", state: "running", writer: true }),
    ]);
    expect(twoWriterViolations(truth)).toEqual([]);

    // What a create on the survivor would do: promote there (the link is down) and start the guest.
    expect(sim.promote("internet", "ics1").ok).toBe(true);
    expect(sim.createGuest("ics1", "internet").ok).toBe(true);
    expect(twoWriterViolations(sim.truth())).toEqual([
      "guest internet executes on ics1 (running) and ics2 (running)",
      "drbd internet is Primary with an executing guest on ics1 and ics2",
    ]);
  });

  it("a live migration's source and paused target are not two writers; counts fence actions", () => {
    const sim = new Simulation(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    sim.promote("internet", "ics1");
    expect(sim.startMigration("ics2", "internet", "ics1", true).ok).toBe(true);
    const truth = sim.truth();
    expect(truth.guests[0]?.migration).toEqual({ from: "ics2", to: "ics1" });
    expect(truth.guests[0]?.on.map((p) => `${p.node}:${p.state}:${p.writer}`).sort()).toEqual([
      "ics1:incoming:false",
      "ics2:migrating-out:true",
    ]);
    expect(twoWriterViolations(truth)).toEqual([]);
    sim.fence("ics1", "reset", { client: "stonith", origin: "ics2" });
    expect(sim.truth().fences).toEqual([{ target: "ics1", executions: 1, effective: 1 }]);
  });

  it("`!sim truth` prints it in the lab console, unreachable nodes included", async () => {
    const lab = await startSimulatedCluster(referenceLab(), { clock: "manual" });
    try {
      lab.faults.partition("ics2");
      const text = await labDirectives(lab)("!sim truth");
      expect(text).toBe(
        [
          "truth of lab at 2009-01-12T10:00:00.000Z",
          "node ics1: on",
          "node ics2: on, ssh unreachable, partitioned",
          "guest internet: ics2 running (writer)",
          "drbd internet: ics1 Secondary/UpToDate WFConnection; ics2 Primary/UpToDate WFConnection writer",
          "fences: none",
        ].join("\n"),
      );
    } finally {
      await lab.close();
    }
  });
});

describe("two-writer hunt", () => {
  it("regression: a partitioned peer declared dead by heartbeat is not taken for down by create", async () => {
    // internet runs on ics2; ics2 is cut off but keeps running it; heartbeat on ics1 declares ics2
    // dead after its 30 s deadtime. Starting internet on ics1 then would give it two writers.
    const steps: FuzzStep[] = [
      { kind: "partition", node: "ics2" },
      { kind: "advance", seconds: 35 },
      {
        kind: "do",
        op: { action: "create", guest: "internet", node: "ics1", overrideHa: true },
      },
      { kind: "advance", seconds: 5 },
    ];
    const result = await runSequence({ seed: 3, redisUrl: testRedisUrl(), steps, detail: true });
    expect(result.flavour).toBe("reference");
    // Before the liveness fix: "guest internet executes on ics1 (running) and ics2 (running)".
    expect(result.violation, formatResult(result)).toBeNull();
    expect(result.steps.map((s) => s.text)).toEqual([
      "partition ics2",
      "advance 35s",
      "do create internet on ics1 --override-ha",
      "advance 5s",
    ]);
    // The create is refused: a node that only went silent is not proven off.
    expect(result.steps[2]?.outcome).toMatch(/^refused by preflight \(not running: /);
  }, 60_000);

  it(`${SEQUENCES} seeded sequences keep one writer per guest and disk, and one fence per approval`, async () => {
    const seeds = Array.from({ length: SEQUENCES }, (_, i) => i + 1);
    const results = await runMany(seeds, { redisUrl: testRedisUrl(), concurrency: 4 });
    const bad = results.filter((r) => r.violation !== null);
    expect(bad.map(formatResult).join("\n\n")).toBe("");
    // The hunt must really act: approvals executed, not only refused plans.
    const executed = results
      .flatMap((r) => r.steps)
      .filter((s) => /#\d+(?: \(.*\))?: succeeded/.test(s.outcome));
    expect(executed.length).toBeGreaterThan(SEQUENCES / 4);
  }, 180_000);
});
