/**
 * The per-cluster gauges after a monitor pass over the simulator, and the series count at 100 nodes (the
 * SSH latency histogram has no node label any more).
 */
import type { Job } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { driversFor } from "../../src/drivers/registry";
import { createMonitorProcessor, monitorPassSummary, passReporter } from "../../src/events/monitor";
import { silentLogger } from "../../src/log";
import { Metrics } from "../../src/observability/metrics";
import type { MonitorJob } from "../../src/queue/schema";
import { createFaults, referenceLab, Simulation, scaleLab } from "../../src/sim";
import { type Harness, harness, simRunner, snapshotOf } from "../events/helpers";

/** Value of one series in the text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const seriesCount = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;

describe("cluster gauges from the events monitor", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("a monitor pass sets reachability, DRBD states, open incidents and the time of the pass", async () => {
    h = harness(referenceLab());
    const metrics = new Metrics({ defaultMetrics: false });
    const x = h;
    const monitor = createMonitorProcessor({
      inventory: x.inventory,
      runnerFor: (_cluster, node) => simRunner(x.sim, node),
      driversFor: () => driversFor(x.cluster.toolstack),
      pipeline: x.pipeline,
      logger: silentLogger(),
      onPass: passReporter(
        x.incidents,
        (p) => metrics.monitorPass(p),
        () => x.sim.now(),
      ),
    });
    const job = (reason: string) =>
      ({ data: { cluster: x.cluster.name, reason } }) as unknown as Job<MonitorJob>;
    const c = x.cluster.name;
    const [first, second] = x.cluster.nodes.map((n) => n.name) as [string, string];

    await monitor(job("start"));
    let text = await metrics.render();
    expect(sample(text, `xenops_node_reachable{cluster="${c}",node="${first}"}`)).toBe(1);
    expect(sample(text, `xenops_node_reachable{cluster="${c}",node="${second}"}`)).toBe(1);
    const resources = x.sim.state.drbd.length;
    // Each resource on two nodes: two local disks, one connection seen from each side.
    expect(sample(text, `xenops_drbd_disks{cluster="${c}",state="UpToDate"}`)).toBe(2 * resources);
    expect(sample(text, `xenops_drbd_connections{cluster="${c}",state="Connected"}`)).toBe(2 * resources);
    expect(sample(text, `xenops_incidents_open{cluster="${c}",severity="critical"}`)).toBe(0);
    expect(sample(text, `xenops_monitor_last_success_timestamp_seconds{cluster="${c}"}`)).toBe(
      x.sim.now() / 1000,
    );

    createFaults(x.sim).partition(second);
    x.sim.tick(20_000);
    await monitor(job("schedule"));
    text = await metrics.render();
    expect(sample(text, `xenops_node_reachable{cluster="${c}",node="${second}"}`)).toBe(0);
    // Only what the reachable node reports: its disks UpToDate, its connections no longer Connected.
    expect(sample(text, `xenops_drbd_disks{cluster="${c}",state="UpToDate"}`)).toBe(resources);
    expect(sample(text, `xenops_drbd_connections{cluster="${c}",state="Connected"}`)).toBe(0);
    const notConnected = text
      .split("\n")
      .filter((l) => l.startsWith(`xenops_drbd_connections{cluster="${c}"`) && !l.includes('"Connected"'))
      .reduce((n, l) => n + Number(l.split(" ").at(-1)), 0);
    expect(notConnected).toBe(resources);
    const open = ["critical", "warning", "info"].reduce(
      (n, s) => n + (sample(text, `xenops_incidents_open{cluster="${c}",severity="${s}"}`) ?? 0),
      0,
    );
    expect(open).toBeGreaterThan(0);
    expect(open).toBe((await x.incidents.active(c)).filter((r) => r.status === "open").length);
    expect(sample(text, `xenops_monitor_last_success_timestamp_seconds{cluster="${c}"}`)).toBe(
      x.sim.now() / 1000,
    );
  });

  it("100 nodes: a few hundred series, not thousands", async () => {
    const sim = new Simulation(scaleLab(100));
    const h100 = harness(scaleLab(100), { sim });
    h = h100;
    const state = await snapshotOf(sim, h100.cluster);
    expect(state.nodes).toHaveLength(100);
    const metrics = new Metrics({ defaultMetrics: false });
    // Every node answers commands and fails a few: every per-node series exists.
    for (const node of state.nodes)
      for (let i = 0; i < 20; i += 1)
        metrics.sshCommand(h100.cluster.name, node.name, 0.001 * (i + 1), i % 10 !== 0);
    metrics.monitorPass(monitorPassSummary(state, [{ severity: "critical" }], Date.now()));
    const text = await metrics.render();
    const count = seriesCount(text);
    // Before: a latency histogram per node and result, 100 x 2 x 15 = 3,000 series.
    expect(count).toBeLessThan(300);
    expect(text).not.toMatch(/xenops_ssh_command_duration_seconds_bucket\{[^}]*node=/);
    expect(text.match(/^xenops_ssh_command_errors_total\{/gm)).toHaveLength(100);
    expect(text.match(/^xenops_node_reachable\{/gm)).toHaveLength(100);
    expect(
      sample(
        text,
        `xenops_ssh_command_errors_total{cluster="${h100.cluster.name}",node="${state.nodes[0]?.name}"}`,
      ),
    ).toBe(2);
  });
});
