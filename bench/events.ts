/**
 * Event latency: a fault injected in the simulator → the incident posted, p50 and p99, per
 * source. Called by the main bench (`runEventsBench()` from bench/run.ts), or alone:
 *
 *   npx tsx bench/events.ts
 *
 * - push, events2: modern lab (DRBD 9) over SSH; the fault is a DRBD link dropped to StandAlone on
 *   one node; the survivor's `drbdsetup events2` stream carries it. Target p99 ≤ 1 s.
 * - push, webhook: reference lab; a signed `split-brain` handler request as contrib/drbd sends it.
 *   Target p99 ≤ 1 s.
 * - polling: reference lab (DRBD 8, no events2) with the monitor every `pollMs`; the fault is the
 *   same StandAlone link, found by the next snapshot. Target p99 ≤ poll interval + 1 s.
 *
 * The incident policy is relaxed (no flap coalescing, no throttling, no storm limit) so every fault
 * is a new incident and its post is what is timed. Everything runs on loopback against the
 * simulator's SSH servers; Redis: REDIS_URL or an embedded redis-server.
 */
import { pino } from "pino";
import { StaticGroupDirectory } from "../src/chat/authz";
import type { MessageRef, Notifier, OutboundMessage } from "../src/chat/types";
import type { InventoryConfig } from "../src/config/schema";
import { signWebhook } from "../src/events/webhook";
import { type Lab, startLab } from "../src/lab/lab";
import type { Logger } from "../src/log";
import { startEmbeddedRedis } from "../src/queue/embedded-redis";
import { createDeps, type Deps } from "../src/runtime/deps";
import { modernLab, referenceLab, type SimClusterSpecInput } from "../src/sim";
import { fmt, percentile, say, section, sleep, table, verdict, within } from "./util";

export interface EventsBenchOptions {
  redisUrl?: string;
  logger?: Logger;
  /** Faults per push source (default 30) and for polling (default 15). */
  pushRuns?: number;
  pollRuns?: number;
  /** The monitor's interval in the polling series (default 2000 ms; production default 10 s). */
  pollMs?: number;
}

export interface EventsBenchRow {
  source: string;
  runs: number;
  p50: number;
  p99: number;
  max: number;
  targetMs: number;
}

export interface EventsBenchResult {
  rows: EventsBenchRow[];
  verdicts: string[];
}

const SECRET_ENV = "XENOPS_BENCH_WEBHOOK_SECRET";
const SECRET = "bench-webhook-secret-0123456789abcdef";

/** Records when each message is posted, and lets the bench wait for the next one matching. */
class TimingNotifier implements Notifier {
  private seq = 0;
  private waiters: { match: (text: string) => boolean; resolve: (at: number) => void }[] = [];

  async post(channel: string, message: OutboundMessage): Promise<MessageRef> {
    const at = performance.now();
    const text = `${message.text}\n${JSON.stringify(message.blocks ?? [])}`;
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(text)) return true;
      w.resolve(at);
      return false;
    });
    this.seq += 1;
    return { channel, ts: `1700000000.${String(this.seq).padStart(6, "0")}` };
  }
  async update(): Promise<void> {}
  async postEphemeral(): Promise<void> {}

  /** Resolves with the performance.now() of the next post whose text matches. */
  next(match: (text: string) => boolean): Promise<number> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

interface Rig {
  lab: Lab;
  deps: Deps;
  notifier: TimingNotifier;
  close(): Promise<void>;
}

async function rig(
  redisUrl: string,
  logger: Logger,
  spec: SimClusterSpecInput,
  monitor: { intervalMs: number },
  webhook: boolean,
): Promise<Rig> {
  const lab = await startLab({ redisUrl, logger, spec, commandTimeoutMs: 3_000 });
  const inventory: InventoryConfig = {
    ...lab.inventory,
    clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor })),
    ...(webhook
      ? { webhook: { secret: { env: SECRET_ENV }, host: "127.0.0.1", port: 0, maxSkewSeconds: 300 } }
      : {}),
  };
  const notifier = new TimingNotifier();
  const deps = await createDeps({
    inventory,
    logger,
    redisUrl,
    queuePrefix: `bench-events-${Date.now().toString(36)}`,
    secretEnv: { [SECRET_ENV]: SECRET },
    notifier,
    groups: new StaticGroupDirectory(),
    sshOptions: { reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 } },
    events: {
      removeSchedulersOnStop: true,
      webhookPort: 0,
      incidentPolicy: {
        flapWindowMs: 0,
        coalesceWindowMs: 0,
        followUpIntervalMs: 0,
        parentUpdateIntervalMs: 0,
        maxNewPerWindow: 100_000,
        maxPostsPerWindow: 100_000,
      },
    },
  });
  try {
    await deps.startWorkers().ready();
    // The monitor's first run stores the facts every later change is compared with.
    await within(
      20_000,
      "the first monitor run",
      (async () => {
        while (!(await deps.events.pipeline.load(lab.inventory.clusters[0]?.name ?? "")).facts)
          await sleep(50);
      })(),
    );
  } catch (err) {
    await deps.close();
    await lab.close();
    throw err;
  }
  return {
    lab,
    deps,
    notifier,
    async close() {
      await deps.close();
      await lab.close();
    },
  };
}

/** One series: inject, wait for the matching post, undo, wait for the resolution; latency per run. */
async function series(
  r: Rig,
  runs: number,
  step: {
    inject: () => void | Promise<void>;
    posted: (text: string) => boolean;
    undo: () => void | Promise<void>;
    /** The post that says it cleared; null: nothing to wait for. */
    undone: ((text: string) => boolean) | null;
    /** Wait a random 0..jitterMs before each fault, so faults fall anywhere in a poll interval. */
    jitterMs?: number;
  },
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (step.jitterMs) await sleep(Math.random() * step.jitterMs);
    const seen = r.notifier.next(step.posted);
    const t0 = performance.now();
    await step.inject();
    out.push((await within(30_000, "the incident post", seen)) - t0);
    const cleared = step.undone ? r.notifier.next(step.undone) : null;
    await step.undo();
    if (cleared) await within(30_000, "the resolution", cleared);
    await sleep(50);
  }
  return out;
}

function row(source: string, samples: number[], targetMs: number): EventsBenchRow {
  return {
    source,
    runs: samples.length,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    targetMs,
  };
}

export async function runEventsBench(options: EventsBenchOptions = {}): Promise<EventsBenchResult> {
  const logger = options.logger ?? pino({ level: "silent" });
  const pushRuns = options.pushRuns ?? 30;
  const pollRuns = options.pollRuns ?? 15;
  const pollMs = options.pollMs ?? 2_000;
  const embedded = options.redisUrl ? null : await startEmbeddedRedis({ logger });
  const redisUrl = options.redisUrl ?? embedded?.url ?? "";
  const rows: EventsBenchRow[] = [];
  section("e. event latency: fault injected in the simulator → incident posted");
  try {
    // Push: events2 over SSH (modern lab). The monitor polls only at start (10 min interval).
    {
      const r = await rig(redisUrl, logger, modernLab(), { intervalMs: 600_000 }, false);
      try {
        const sim = r.lab.sim.cluster;
        const samples = await series(r, pushRuns, {
          inject: () => void sim.disconnect("web", "hv1"),
          posted: (t) => t.includes("web is StandAlone"),
          undo: () => void sim.connect("web", "hv1", false),
          undone: (t) => t.includes("Resolved: web is connected again"),
        });
        rows.push(row("push: events2 (DRBD 9)", samples, 1_000));
      } finally {
        await r.close();
      }
    }
    // Push: the webhook (a DRBD split-brain handler), on the reference lab.
    {
      const r = await rig(redisUrl, logger, referenceLab(), { intervalMs: pollMs }, true);
      try {
        const url = r.deps.events.webhookUrls()[0];
        if (!url) throw new Error("the webhook did not start");
        let n = 0;
        const hook = await series(r, pushRuns, {
          inject: async () => {
            n += 1;
            const body = JSON.stringify({
              cluster: "lab",
              node: "ics1",
              source: "drbd",
              event: "split-brain",
              resource: "internet",
              peer: "ics2",
              details: { run: String(n) },
            });
            const ts = Math.floor(Date.now() / 1000);
            const res = await fetch(url, {
              method: "POST",
              headers: {
                "x-xenops-timestamp": String(ts),
                "x-xenops-signature": signWebhook(SECRET, ts, body),
                "content-type": "application/json",
              },
              body,
            });
            if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
          },
          posted: (t) => t.includes("detected a split brain of internet"),
          // A handler's report is a happening: nothing to undo, the next one is a new incident.
          undo: () => {},
          undone: null,
        });
        rows.push(row("push: webhook (DRBD handler)", hook, 1_000));
      } finally {
        await r.close();
      }
    }
    {
      // A fresh lab: the handler's split-brain reports above would make the next fault a split brain.
      const r = await rig(redisUrl, logger, referenceLab(), { intervalMs: pollMs }, false);
      try {
        const sim = r.lab.sim.cluster;
        const polled = await series(r, pollRuns, {
          inject: () => void sim.disconnect("internet", "ics1"),
          posted: (t) => t.includes("internet is StandAlone"),
          undo: () => void sim.connect("internet", "ics1", false),
          undone: (t) => t.includes("Resolved: internet is connected again"),
          // The resolution is seen by a poll: without jitter every fault would start right after one.
          jitterMs: pollMs,
        });
        rows.push(row(`polling every ${pollMs} ms (DRBD 8)`, polled, pollMs + 1_000));
      } finally {
        await r.close();
      }
    }
  } finally {
    await embedded?.stop();
  }
  say(
    table(
      ["source", "runs", "p50 ms", "p99 ms", "max ms", "target p99"],
      rows.map((x) => [
        x.source,
        String(x.runs),
        fmt(x.p50, 0),
        fmt(x.p99, 0),
        fmt(x.max, 0),
        `≤ ${x.targetMs} ms`,
      ]),
    ),
  );
  const verdicts = rows.map((x) =>
    verdict(
      `event latency, ${x.source}`,
      x.p99 <= x.targetMs,
      `p99 ${fmt(x.p99, 0)} ms (target ≤ ${x.targetMs} ms)`,
    ),
  );
  for (const v of verdicts) say(`  ${v}`);
  return { rows, verdicts };
}

// Alone: `npx tsx bench/events.ts`.
if (import.meta.url === `file://${process.argv[1]}`) {
  runEventsBench({ ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}) }).then(
    () => {
      process.exitCode = 0;
    },
    (err: unknown) => {
      process.stderr.write(`bench/events: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
