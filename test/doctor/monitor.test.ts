/**
 * The monitor's daily doctor: statuses kept in Redis, a warning incident for every check that passed
 * before and fails now, the schedule claimed once per interval, no fence query, `off` honoured.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ClusterConfig } from "../../src/config/schema";
import { DoctorRuns, doctorEveryMs, regressions, withDoctorRuns } from "../../src/doctor/monitor";
import { runChecks } from "../../src/doctor/run";
import type { ClusterEvent } from "../../src/events/types";
import { silentLogger } from "../../src/log";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { referenceLab, Simulation } from "../../src/sim";
import { editConfigFile } from "../../src/sim/config-files";
import { simFile } from "../../src/sim/startup";
import { harness, parents } from "../events/helpers";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { labFacts, runner, simCluster } from "./helpers";

const redis = createRedisConnection(testRedisUrl(), { role: "client" });
afterAll(async () => {
  await closeConnection(redis);
});

function setup(monitor?: { doctorEvery: string }) {
  const sim = new Simulation(referenceLab());
  const cluster = ClusterConfig.parse({ ...simCluster(sim), ...(monitor ? { monitor } : {}) });
  const events: ClusterEvent[] = [];
  const calls: string[][] = [];
  const prefix = uniquePrefix("doctor");
  const runs = new DoctorRuns({
    redis,
    prefix,
    runnerFor: (_c, node) => {
      const r = runner(sim, node);
      return {
        node,
        run: (argv, o) => {
          calls.push([...argv]);
          return r.run(argv, o);
        },
      };
    },
    secretEnv: {},
    logger: silentLogger(),
    report: async (e) => {
      events.push(e);
    },
  });
  return { sim, cluster, events, calls, prefix, runs };
}

describe("doctor run by the monitor", () => {
  it("parses doctorEvery (default a day, off)", () => {
    const sim = new Simulation(referenceLab());
    expect(doctorEveryMs(ClusterConfig.parse(simCluster(sim)))).toBe(86_400_000);
    expect(doctorEveryMs(ClusterConfig.parse({ ...simCluster(sim), monitor: { doctorEvery: "30m" } }))).toBe(
      1_800_000,
    );
    expect(
      doctorEveryMs(ClusterConfig.parse({ ...simCluster(sim), monitor: { doctorEvery: "off" } })),
    ).toBeNull();
    expect(() => ClusterConfig.parse({ ...simCluster(sim), monitor: { doctorEvery: "soon" } })).toThrow(
      /duration/,
    );
  });

  it("regressions: only pass → fail counts", async () => {
    const report = runChecks(await labFacts(referenceLab()));
    expect(regressions({}, report)).toEqual([]);
    expect(regressions({ "drbd.after-sb:internet": "warn" }, report)).toEqual([]);
    expect(regressions({ "drbd.after-sb:internet": "pass" }, report).map((r) => r.id)).toEqual([
      "drbd.after-sb",
    ]);
  });

  it("opens a warning incident when a check that passed starts failing; runs once per interval; never queries the fence", async () => {
    const { sim, cluster, events, calls, prefix, runs } = setup();
    const first = await runs.maybeRun(cluster);
    expect(first.ran).toBe(true);
    // The guide's own after-sb policy failed from the start: not a regression.
    expect(first.regressions).toEqual([]);
    expect(events).toEqual([]);
    expect(await redis.hget(`${prefix}:doctor:lab:last`, "nodes.hosts")).toBe("pass");
    expect(calls.some((c) => c[0] === "stonith" && c.includes("-S"))).toBe(false);

    // Not due again within the interval.
    expect((await runs.maybeRun(cluster)).ran).toBe(false);

    const hosts = simFile(sim, "ics2", "/etc/hosts") ?? "";
    editConfigFile(
      sim,
      "ics2",
      "/etc/hosts",
      { content: hosts, mode: "644" },
      { op: "replace", from: "203.0.113.1\tics1.example.net\tics1\n", to: "" },
    );
    await redis.del(`${prefix}:doctor:lab:due`);
    const second = await runs.maybeRun(cluster);
    expect(second.regressions.map((r) => r.id)).toEqual(["nodes.hosts"]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "config_check_failed",
      family: "config",
      severity: "warning",
      subject: "nodes.hosts",
      cluster: "lab",
    });
    expect(events[0]!.title).toMatch(
      /nodes.hosts passed before and fails now: ics2: \/etc\/hosts does not name ics1/,
    );
    expect(events[0]!.detail).toMatch(/^Fix: in \/etc\/hosts/);

    // Still failing next time: no second incident.
    await redis.del(`${prefix}:doctor:lab:due`);
    expect((await runs.maybeRun(cluster)).regressions).toEqual([]);
    expect(events).toHaveLength(1);
  });

  it("off: never runs; the wrapper runs it after the monitor", async () => {
    const off = setup({ doctorEvery: "off" });
    expect(await off.runs.maybeRun(off.cluster)).toEqual({ ran: false, regressions: [] });
    expect(off.calls).toEqual([]);

    const on = setup();
    const seen: string[] = [];
    const processors = withDoctorRuns(
      {
        monitor: async (job: { data: { cluster: string; reason?: string } }) => {
          seen.push(job.data.cluster);
          return "monitored";
        },
      },
      on.runs,
      () => on.cluster,
    );
    // Not on the monitor's run at start; in the background on the next one.
    expect(await processors.monitor({ data: { cluster: "lab", reason: "start" } })).toBe("monitored");
    await on.runs.settle();
    expect(on.calls).toEqual([]);
    expect(await processors.monitor({ data: { cluster: "lab", reason: "schedule" } })).toBe("monitored");
    await on.runs.settle();
    expect(seen).toEqual(["lab", "lab"]);
    expect(await redis.exists(`${on.prefix}:doctor:lab:last`)).toBe(1);
  });

  it("the regression is a warning incident in the cluster's channel (the event pipeline)", async () => {
    const h = harness(referenceLab());
    try {
      const { sim, cluster, prefix } = setup();
      const runs = new DoctorRuns({
        redis,
        prefix,
        runnerFor: (_c, node) => runner(sim, node),
        secretEnv: {},
        logger: silentLogger(),
        report: (e) => h.pipeline.report(e),
      });
      await runs.maybeRun(cluster);
      await redis.del(`${prefix}:doctor:lab:due`);
      const auth = simFile(sim, "ics1", "/etc/ha.d/authkeys") ?? "";
      editConfigFile(
        sim,
        "ics1",
        "/etc/ha.d/authkeys",
        { content: auth, mode: "600" },
        { op: "mode", mode: "644" },
      );
      expect((await runs.maybeRun(cluster)).regressions.map((r) => r.id)).toEqual(["heartbeat.authkeys"]);
      const posted = parents(h.notifier);
      expect(posted).toHaveLength(1);
      const text = JSON.stringify(h.notifier.current(posted[0]!.ref.ts));
      expect(text).toContain("Configuration check heartbeat.authkeys passed before and fails now");
      expect(text).toContain("ics1: 644");
    } finally {
      await h.close();
    }
  });
});
