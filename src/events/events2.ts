/**
 * Push for DRBD 9: one persistent `drbdsetup events2 --statistics` stream per node over SSH. Every
 * change after the initial state (`exists -`) updates that node's DRBD facts in the pipeline within
 * milliseconds; `call helper` lines (split-brain, fence-peer...) are reported as they come. A stream
 * that ends or breaks is started again with backoff, and meanwhile the monitor is asked to poll now
 * (a dropped stream often means the node died).
 */

import type { CommandRunner, StreamHandle } from "../command-runner";
import { Events2State } from "../drivers/drbd9/events2";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import type { EventPipeline } from "./pipeline";
import type { ClusterEvent } from "./types";

export const EVENTS2_ARGV = ["drbdsetup", "events2", "--statistics"] as const;

export interface Events2WatcherOptions {
  cluster: string;
  node: string;
  runner: CommandRunner;
  pipeline: EventPipeline;
  logger: Logger;
  /** Ask for a poll now (the stream broke). */
  poke?: () => Promise<void>;
  /** Changes within this window are applied together (default 20 ms; the pipeline batches nodes for 30 ms more). */
  debounceMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called after each update reached the pipeline (bench, tests). */
  onApplied?: (at: number) => void;
}

const HELPERS: Record<
  string,
  {
    kind: ClusterEvent["kind"];
    severity: ClusterEvent["severity"];
    family: ClusterEvent["family"];
    what: string;
  }
> = {
  "split-brain": {
    kind: "split_brain",
    severity: "critical",
    family: "link",
    what: "DRBD detected a split brain it could not resolve",
  },
  "pri-lost-after-sb": {
    kind: "split_brain_auto_resolved",
    severity: "critical",
    family: "link",
    what: "DRBD's after-sb policy made this Primary lose its data",
  },
  "fence-peer": {
    kind: "drbd_handler",
    severity: "warning",
    family: "link",
    what: "DRBD asked to fence its peer",
  },
  "before-resync-target": {
    kind: "resync_started",
    severity: "info",
    family: "resync",
    what: "a resync onto this node starts",
  },
  "after-resync-target": {
    kind: "resync_finished",
    severity: "info",
    family: "resync",
    what: "a resync onto this node finished",
  },
};

export class Events2Watcher {
  private handle: StreamHandle | null = null;
  private state = new Events2State();
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private closed = false;
  private backoff: number;
  private lineNo = 0;
  private readonly log: Logger;
  /** Updates applied so far (tests, bench). */
  applied = 0;

  constructor(private readonly o: Events2WatcherOptions) {
    this.backoff = o.minBackoffMs ?? 1_000;
    this.log = o.logger.child({ component: "events2", cluster: o.cluster, node: o.node });
  }

  start(): void {
    if (this.closed || this.handle) return;
    if (!this.o.runner.stream) {
      this.log.warn("this runner cannot stream; DRBD events come from polling only");
      return;
    }
    this.state = new Events2State();
    this.lineNo = 0;
    const handle = this.o.runner.stream(EVENTS2_ARGV, (line) => this.onLine(line));
    this.handle = handle;
    handle.done.then(
      () => this.ended(null),
      (err: unknown) => this.ended(err),
    );
  }

  private onLine(line: string): void {
    this.lineNo += 1;
    let event: ReturnType<Events2State["applyLine"]>;
    try {
      event = this.state.applyLine(line, this.lineNo);
    } catch (err) {
      this.log.warn({ err, line: line.slice(0, 200) }, "unreadable events2 line");
      return;
    }
    if (!event) return;
    // A successful line means the stream works: reset the backoff.
    this.backoff = this.o.minBackoffMs ?? 1_000;
    if (event.object === "helper" && event.action === "call") {
      this.reportHelper(event.fields);
      return;
    }
    if (!this.state.initialStateComplete) return;
    if (event.object === "-") {
      this.schedule(0);
      return;
    }
    this.schedule(this.o.debounceMs ?? 20);
  }

  private reportHelper(fields: Record<string, string>): void {
    const helper = fields.helper ?? "";
    const known = HELPERS[helper];
    const resource = fields.name ?? null;
    if (!known || !resource) return;
    const event: ClusterEvent = {
      cluster: this.o.cluster,
      kind: known.kind,
      family: known.family,
      severity: known.severity,
      subject: resource,
      node: null,
      relatedNode: this.o.node,
      title: `${this.o.node}: ${helper} handler for ${resource}: ${known.what}`,
      evidence: [
        `events2 on ${this.o.node}: call helper ${Object.entries(fields)
          .map(([k, v]) => `${k}:${v}`)
          .join(" ")}`,
      ],
      source: "events2",
      at: new Date().toISOString(),
    };
    const node = this.o.node;
    this.o.pipeline
      .report(
        event,
        helper === "split-brain"
          ? (facts) => {
              facts.memory.splitBrainReports[resource] = { node, at: event.at };
              return facts;
            }
          : undefined,
      )
      .catch((err: unknown) => this.log.warn({ err }, "reporting a DRBD helper failed"));
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const resources = this.state.toResourceStates();
      this.o.pipeline
        .observeDrbd(this.o.cluster, this.o.node, resources)
        .then(() => {
          this.applied += 1;
          this.o.onApplied?.(Date.now());
        })
        .catch((err: unknown) => this.log.warn({ err }, "applying events2 state failed"));
    }, ms);
  }

  private ended(err: unknown): void {
    this.handle = null;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.closed) return;
    this.log.info(
      { err: err ? errorMessage(err) : null, retryInMs: this.backoff },
      "events2 stream ended; reconnecting",
    );
    this.o.poke?.().catch(() => {});
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 30_000);
    this.retry = setTimeout(() => {
      this.retry = null;
      this.start();
    }, wait);
    this.retry.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retry) clearTimeout(this.retry);
    this.handle?.close();
    this.handle = null;
  }
}
