/**
 * Prometheus metrics of one xenops process, on its own registry (not prom-client's global one, so tests and
 * several instances never collide). Other modules report through the small API below and never touch
 * prom-client themselves:
 *
 *   const metrics = new Metrics();
 *   metrics.jobFinished("migrate", "completed", 12.3);   // per job name and outcome
 *   metrics.sshCommand("prod", "node1", 0.42, true);      // latency per cluster, errors per node
 *   metrics.monitorPass({ cluster, at, nodes, ... });     // gauges of a monitor pass (events monitor)
 *   metrics.event("drbd_split_brain");                    // events by kind
 *   metrics.observeSender(() => sender.stats());          // Slack sender: queue depth and 429s, read at scrape
 *   await metrics.render();                               // text exposition (served by ./ops-server)
 *
 * Label values come from code and the inventory (job names, outcomes, clusters, nodes, event kinds), never
 * from user input, so cardinality stays bounded.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export interface SenderSnapshot {
  /** Messages accepted and not finished yet. */
  queueDepth: number;
  /** 429 answers received so far (a running total). */
  rateLimited: number;
  /** Web API attempts by method and result ("ok" or Slack's error code), running totals. */
  calls?: readonly { method: string; result: string; count: number }[];
}

export interface MetricsOptions {
  /** Process metrics (CPU, memory, event loop lag, GC) too (default true). */
  defaultMetrics?: boolean;
  /** Labels added to every series, e.g. {role: "worker"}. */
  labels?: Record<string, string>;
}

const JOB_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const SSH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<"name" | "outcome">;
  private readonly jobSeconds: Histogram<"name" | "outcome">;
  private readonly sshSeconds: Histogram<"cluster" | "result">;
  private readonly sshErrors: Counter<"cluster" | "node">;
  private readonly nodeReachable: Gauge<"cluster" | "node">;
  private readonly drbdConnections: Gauge<"cluster" | "state">;
  private readonly drbdDisks: Gauge<"cluster" | "state">;
  private readonly incidentsOpen: Gauge<"cluster" | "severity">;
  private readonly monitorLastPass: Gauge<"cluster">;
  /** Label values set per cluster at the last update, so states that went away are set back to 0. */
  private readonly lastStates = new Map<string, Set<string>>();
  private readonly events: Counter<"kind">;
  private readonly pages: Counter<"service" | "action" | "result">;
  private sender: (() => SenderSnapshot) | undefined;
  /** The sender's running 429 total at the last scrape, to add only what is new. */
  private senderRateLimitedSeen = 0;
  /** The sender's running per-method/result totals at the last scrape. */
  private senderCallsSeen = new Map<string, number>();

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    if (options.labels) this.registry.setDefaultLabels(options.labels);
    // Unprefixed (process_*, nodejs_*), as stock Node.js dashboards expect them.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.jobs = new Counter({
      name: "xenops_jobs_total",
      help: "Jobs finished, by job name and outcome.",
      labelNames: ["name", "outcome"],
      registers,
    });
    this.jobSeconds = new Histogram({
      name: "xenops_job_duration_seconds",
      help: "Job run time from start to finish, by job name and outcome.",
      labelNames: ["name", "outcome"],
      buckets: JOB_BUCKETS,
      registers,
    });
    // Per cluster, not per node: a histogram per node is ~30 series a node (3,000 at 100 nodes); the
    // node that fails shows in xenops_ssh_command_errors_total instead.
    this.sshSeconds = new Histogram({
      name: "xenops_ssh_command_duration_seconds",
      help: "Latency of remote commands over SSH, by cluster and result (ok or error).",
      labelNames: ["cluster", "result"],
      buckets: SSH_BUCKETS,
      registers,
    });
    this.sshErrors = new Counter({
      name: "xenops_ssh_command_errors_total",
      help: "Remote commands over SSH that failed (transport error, timeout, non-zero exit), by cluster and node.",
      labelNames: ["cluster", "node"],
      registers,
    });
    this.nodeReachable = new Gauge({
      name: "xenops_node_reachable",
      help: "1 when the node answered over SSH at the last monitor pass, else 0.",
      labelNames: ["cluster", "node"],
      registers,
    });
    this.drbdConnections = new Gauge({
      name: "xenops_drbd_connections",
      help: "DRBD connections (resource, node and peer as each node reports it) by connection state, at the last monitor pass.",
      labelNames: ["cluster", "state"],
      registers,
    });
    this.drbdDisks = new Gauge({
      name: "xenops_drbd_disks",
      help: "DRBD local disks (resource on a node) by disk state, at the last monitor pass.",
      labelNames: ["cluster", "state"],
      registers,
    });
    this.incidentsOpen = new Gauge({
      name: "xenops_incidents_open",
      help: "Open incidents by severity, at the last monitor pass.",
      labelNames: ["cluster", "severity"],
      registers,
    });
    this.monitorLastPass = new Gauge({
      name: "xenops_monitor_last_success_timestamp_seconds",
      help: "Unix time of the last monitor pass that read the cluster and evaluated its events.",
      labelNames: ["cluster"],
      registers,
    });
    this.events = new Counter({
      name: "xenops_events_total",
      help: "Cluster events observed, by kind.",
      labelNames: ["kind"],
      registers,
    });
    this.pages = new Counter({
      name: "xenops_pages_total",
      help: "Requests to paging services, by service (pagerduty, opsgenie), action (trigger, acknowledge, resolve) and result (ok, retry, failed).",
      labelNames: ["service", "action", "result"],
      registers,
    });
    const snapshot = () => this.senderSnapshot();
    new Gauge({
      name: "xenops_slack_sender_queue_depth",
      help: "Slack messages accepted by the sender and not finished yet.",
      registers,
      collect() {
        const s = snapshot();
        if (s) this.set(s.queueDepth);
      },
    });
    const rateLimitedDelta = (total: number) => {
      // A smaller total means the source was restarted: everything it reports is new.
      const delta = total >= this.senderRateLimitedSeen ? total - this.senderRateLimitedSeen : total;
      this.senderRateLimitedSeen = total;
      return delta;
    };
    new Counter({
      name: "xenops_slack_rate_limited_total",
      help: "HTTP 429 answers from Slack.",
      registers,
      collect() {
        const s = snapshot();
        if (!s) return;
        const delta = rateLimitedDelta(s.rateLimited);
        if (delta > 0) this.inc(delta);
      },
    });
    const callsSeen = () => this.senderCallsSeen;
    new Counter({
      name: "xenops_slack_calls_total",
      help: "Slack Web API calls, by method and result (ok, or Slack's error code such as msg_blocks_too_long).",
      labelNames: ["method", "result"],
      registers,
      collect() {
        const s = snapshot();
        if (!s?.calls) return;
        const seen = callsSeen();
        for (const c of s.calls) {
          const key = `${c.method}\t${c.result}`;
          const before = seen.get(key) ?? 0;
          const delta = c.count >= before ? c.count - before : c.count;
          seen.set(key, c.count);
          // Zero too, so a series exists (and rate() works) from its first scrape.
          this.inc({ method: c.method, result: c.result }, delta);
        }
      },
    });
  }

  /** A job reached a final state; `outcome` e.g. "completed", "failed", "cancelled". */
  jobFinished(name: string, outcome: string, seconds: number): void {
    this.jobs.inc({ name, outcome });
    if (validSeconds(seconds)) this.jobSeconds.observe({ name, outcome }, seconds);
  }

  /** One remote command finished (`ok`: exit 0). */
  sshCommand(cluster: string, node: string, seconds: number, ok: boolean): void {
    if (validSeconds(seconds)) this.sshSeconds.observe({ cluster, result: ok ? "ok" : "error" }, seconds);
    if (!ok) this.sshErrors.inc({ cluster, node });
  }

  /**
   * A monitor pass finished: reachability per node and DRBD states from its snapshot, the open incidents
   * by severity, and the time of the pass (alert when it gets old: the monitor stalled).
   */
  monitorPass(pass: MonitorPassSummary): void {
    const { cluster } = pass;
    for (const n of pass.nodes) this.nodeReachable.set({ cluster, node: n.name }, n.reachable ? 1 : 0);
    this.setStates(this.drbdConnections, "conn", cluster, countBy(pass.drbdConnections));
    this.setStates(this.drbdDisks, "disk", cluster, countBy(pass.drbdDisks));
    const severities: Record<string, number> = { critical: 0, warning: 0, info: 0 };
    for (const s of pass.openIncidents) severities[s] = (severities[s] ?? 0) + 1;
    this.setStates(this.incidentsOpen, "sev", cluster, severities);
    this.monitorLastPass.set({ cluster }, pass.at / 1000);
  }

  private setStates(
    gauge: Gauge<"cluster" | "state"> | Gauge<"cluster" | "severity">,
    kind: string,
    cluster: string,
    counts: Record<string, number>,
  ): void {
    const key = `${kind}\t${cluster}`;
    const before = this.lastStates.get(key) ?? new Set<string>();
    const label = kind === "sev" ? "severity" : "state";
    const set = (value: string, n: number) => (gauge as Gauge<string>).set({ cluster, [label]: value }, n);
    for (const value of before) if (!(value in counts)) set(value, 0);
    for (const [value, n] of Object.entries(counts)) set(value, n);
    this.lastStates.set(key, new Set([...before, ...Object.keys(counts)]));
  }

  event(kind: string): void {
    this.events.inc({ kind });
  }

  /** One request to a paging service: delivered (ok), failed and retried later (retry), or given up (failed). */
  page(service: string, action: string, result: "ok" | "retry" | "failed"): void {
    this.pages.inc({ service, action, result });
  }

  /** Read the Slack sender at each scrape (e.g. `() => sender.stats()`); a later call replaces the source. */
  observeSender(source: () => SenderSnapshot): void {
    this.sender = source;
    this.senderRateLimitedSeen = 0;
    this.senderCallsSeen = new Map();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private senderSnapshot(): SenderSnapshot | undefined {
    try {
      return this.sender?.();
    } catch {
      // A broken source must not break the whole scrape.
      return undefined;
    }
  }
}

/** What a monitor pass reports (see monitorPassSummary in src/events/monitor.ts). */
export interface MonitorPassSummary {
  cluster: string;
  /** Unix time in milliseconds. */
  at: number;
  nodes: readonly { name: string; reachable: boolean }[];
  /** One entry per connection as a node reports it (e.g. "Connected", "StandAlone"). */
  drbdConnections: readonly string[];
  /** One entry per local disk (e.g. "UpToDate", "Inconsistent"). */
  drbdDisks: readonly string[];
  /** Severity of each open incident. */
  openIncidents: readonly string[];
}

function countBy(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  // Values come from DRBD's fixed vocabulary; anything else is folded so a garbled read cannot add series.
  for (const v of values) {
    const k = /^[A-Za-z]{1,32}$/.test(v) ? v : "other";
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function validSeconds(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds >= 0;
}
