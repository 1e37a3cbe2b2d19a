/**
 * Prometheus metrics of one xenops process, on its own registry (not prom-client's global one, so tests and
 * several instances never collide). Other modules report through the small API below and never touch
 * prom-client themselves:
 *
 *   const metrics = new Metrics();
 *   metrics.jobFinished("migrate", "completed", 12.3);   // per job name and outcome
 *   metrics.sshCommand("prod", "node1", 0.42, true);      // latency per cluster/node, ok or error
 *   metrics.event("drbd_split_brain");                    // events by kind
 *   metrics.observeSender(() => sender.stats());          // Slack sender: queue depth and 429s, read at scrape
 *   await metrics.render();                               // text exposition (served by ./server)
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
  private readonly sshSeconds: Histogram<"cluster" | "node" | "result">;
  private readonly events: Counter<"kind">;
  private readonly pages: Counter<"service" | "action" | "result">;
  private sender: (() => SenderSnapshot) | undefined;
  /** The sender's running 429 total at the last scrape, to add only what is new. */
  private senderRateLimitedSeen = 0;

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
    this.sshSeconds = new Histogram({
      name: "xenops_ssh_command_duration_seconds",
      help: "Latency of remote commands over SSH, by cluster, node and result (ok or error).",
      labelNames: ["cluster", "node", "result"],
      buckets: SSH_BUCKETS,
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
  }

  /** A job reached a final state; `outcome` e.g. "completed", "failed", "cancelled". */
  jobFinished(name: string, outcome: string, seconds: number): void {
    this.jobs.inc({ name, outcome });
    if (validSeconds(seconds)) this.jobSeconds.observe({ name, outcome }, seconds);
  }

  /** One remote command finished (`ok`: exit 0). */
  sshCommand(cluster: string, node: string, seconds: number, ok: boolean): void {
    if (validSeconds(seconds))
      this.sshSeconds.observe({ cluster, node, result: ok ? "ok" : "error" }, seconds);
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

function validSeconds(seconds: number): boolean {
  return Number.isFinite(seconds) && seconds >= 0;
}
