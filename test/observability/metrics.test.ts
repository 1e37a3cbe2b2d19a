import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/observability/metrics";

/** The value of one series in a text exposition ("name{labels} value"). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("Metrics", () => {
  it("counts jobs, SSH latency and events by their labels", async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.jobFinished("migrate", "completed", 12);
    m.jobFinished("migrate", "completed", 40);
    m.jobFinished("status", "failed", 0.7);
    m.jobFinished("status", "failed", Number.NaN); // counted, not observed
    m.sshCommand("prod", "node1", 0.03, true);
    m.sshCommand("prod", "node1", 2, false);
    m.event("drbd_split_brain");
    m.event("drbd_split_brain");

    const text = await m.render();
    expect(sample(text, 'xenops_jobs_total{name="migrate",outcome="completed"}')).toBe(2);
    expect(sample(text, 'xenops_jobs_total{name="status",outcome="failed"}')).toBe(2);
    expect(sample(text, 'xenops_job_duration_seconds_sum{name="migrate",outcome="completed"}')).toBe(52);
    expect(sample(text, 'xenops_job_duration_seconds_count{name="status",outcome="failed"}')).toBe(1);
    expect(
      sample(text, 'xenops_job_duration_seconds_bucket{le="30",name="migrate",outcome="completed"}'),
    ).toBe(1);
    expect(sample(text, 'xenops_ssh_command_duration_seconds_count{cluster="prod",result="ok"}')).toBe(1);
    expect(sample(text, 'xenops_ssh_command_duration_seconds_count{cluster="prod",result="error"}')).toBe(1);
    // Latency per cluster only; the failing node is named by the error counter.
    expect(sample(text, 'xenops_ssh_command_errors_total{cluster="prod",node="node1"}')).toBe(1);
    expect(sample(text, 'xenops_events_total{kind="drbd_split_brain"}')).toBe(2);
    expect(m.contentType).toMatch(/^text\/plain/);
  });

  it("reads the Slack sender at scrape time and keeps the 429 counter monotonic", async () => {
    const m = new Metrics({ defaultMetrics: false });
    let stats = { queueDepth: 3, rateLimited: 2 };
    m.observeSender(() => stats);
    let text = await m.render();
    expect(sample(text, "xenops_slack_sender_queue_depth")).toBe(3);
    expect(sample(text, "xenops_slack_rate_limited_total")).toBe(2);

    stats = { queueDepth: 0, rateLimited: 5 };
    text = await m.render();
    expect(sample(text, "xenops_slack_sender_queue_depth")).toBe(0);
    expect(sample(text, "xenops_slack_rate_limited_total")).toBe(5);

    // A restarted sender starts from 0 again: its 429s add up, the counter never goes down.
    m.observeSender(() => ({ queueDepth: 1, rateLimited: 1 }));
    expect(sample(await m.render(), "xenops_slack_rate_limited_total")).toBe(6);

    // A throwing source leaves the scrape intact.
    m.observeSender(() => {
      throw new Error("sender gone");
    });
    expect(sample(await m.render(), "xenops_slack_rate_limited_total")).toBe(6);
  });

  it("includes process metrics and default labels unless told otherwise", async () => {
    const text = await new Metrics({ labels: { role: "worker" } }).render();
    expect(text).toContain("process_cpu_user_seconds_total");
    expect(text).toMatch(/\nprocess_resident_memory_bytes\{role="worker"\} \d+/);
  });
});
