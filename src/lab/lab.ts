/**
 * The lab: an embedded default that runs the whole product against the simulated cluster. Used by
 * `npm run lab`, by end-to-end tests and by the benchmarks.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InventoryConfig, InventoryConfig as InventorySchema } from "../config/schema";
import type { Logger } from "../log";
import { startEmbeddedRedis } from "../queue/embedded-redis";
import { referenceLab, type SimClusterSpecInput, type SimulatedCluster, startSimulatedCluster } from "../sim";
import { FakePager, type FakeRequest } from "./fake-pager";
import type { HeartbeatTiming } from "./real-ha/config";
import { type RealHaLab, startRealHa } from "./real-ha/index";
import { startRealPacemaker } from "./real-ha/pacemaker";

/** The lab's Slack channel; the console speaks in it. */
export const LAB_CHANNEL = "C0LAB";

/** Fixed lab identities (README "Quick start"). */
export const LAB_ROLES = {
  viewer: { users: ["UVIEWER1"], groups: [] },
  operator: { users: ["UOPER1", "UOPER2"], groups: [] },
  approver: { users: ["UAPPROVER1", "UAPPROVER2"], groups: [] },
  admin: { users: ["UADMIN1"], groups: [] },
};

export interface LabOptions {
  /** Use this Redis instead of starting one. */
  redisUrl?: string;
  spec?: SimClusterSpecInput;
  channel?: string;
  logger?: Logger;
  clock?: "real" | "manual";
  commandTimeoutMs?: number;
  /**
   * On-call paging in the lab (`--oncall`): a fake PagerDuty that prints each request it takes, short
   * re-notification (20 s) and escalation (40 s to UAPPROVER1) timers.
   */
  oncall?: { print(line: string): void; renotifyAfter?: string; escalateAfter?: string };
  /**
   * "real": Debian's heartbeat (reference) or corosync and Pacemaker (modern) run each node in its own
   * namespaces, fencing through the real apcsmart plugin to an emulated UPS (src/lab/real-ha/); root
   * only. Default "sim".
   */
  ha?: "sim" | "real";
  /** Real-HA lab: heartbeat's timing (default the reference cluster's: deadtime 30). */
  haTiming?: HeartbeatTiming;
  /** Real-HA lab: the UPS's delays scaled (default 1: 20 s grace) and a node's boot time (default 5 s). */
  haPower?: { upsDelayScale?: number; bootMs?: number };
}

export interface Lab {
  redisUrl: string;
  sim: SimulatedCluster;
  inventory: InventoryConfig;
  /** Directory holding the lab's client key (removed on close). */
  dir: string;
  /** The real-HA lab's nodes (`ha: "real"`). */
  realHa?: RealHaLab;
  close(): Promise<void>;
}

export async function startLab(options: LabOptions = {}): Promise<Lab> {
  const dir = await mkdtemp(join(tmpdir(), "xenops-lab-"));
  const closers: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    let redisUrl = options.redisUrl;
    if (!redisUrl) {
      const redis = await startEmbeddedRedis(options.logger ? { logger: options.logger } : {});
      closers.unshift(() => redis.stop());
      redisUrl = redis.url;
    }
    const sim = await startSimulatedCluster(options.spec ?? referenceLab(), {
      clock: options.clock ?? "real",
    });
    closers.unshift(() => sim.close());
    let realHa: RealHaLab | undefined;
    if (options.ha === "real") {
      const start = sim.cluster.state.toolstack.ha === "pacemaker" ? startRealPacemaker : startRealHa;
      const started = await start({
        sim: sim.cluster,
        ...(options.haTiming ? { timing: options.haTiming } : {}),
        ...(options.haPower?.upsDelayScale !== undefined
          ? { upsDelayScale: options.haPower.upsDelayScale }
          : {}),
        ...(options.haPower?.bootMs !== undefined ? { bootMs: options.haPower.bootMs } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      realHa = started;
      closers.unshift(() => started.close());
      await started.waitReady();
    }
    const keyFile = join(dir, "id_ed25519");
    await writeFile(keyFile, sim.clientKey.privateKey, { mode: 0o600 });
    const cluster = sim.toClusterConfig(keyFile, {
      channels: [options.channel ?? LAB_CHANNEL],
      ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
    });
    // On the real Pacemaker stack xenops fences through Pacemaker's fencer (which drives the UPS),
    // not the simulated IPMI agent.
    if (realHa?.stack === "pacemaker")
      cluster.toolstack = { ...cluster.toolstack, fence: { method: "stonith_admin" } };
    let paging: Record<string, unknown> = {};
    let oncall: Record<string, unknown> = { users: ["UADMIN1"] };
    if (options.oncall) {
      const print = options.oncall.print;
      const pager = await new FakePager({ onRequest: (r) => print(pagerLine(r)) }).start();
      closers.unshift(() => pager.close());
      const routingKeyFile = join(dir, "pagerduty-routing-key");
      await writeFile(routingKeyFile, `${pager.routingKey}\n`, { mode: 0o600 });
      paging = { paging: { pagerduty: { routingKey: { file: routingKeyFile }, url: pager.pagerDutyUrl } } };
      oncall = {
        ...oncall,
        renotifyAfter: options.oncall.renotifyAfter ?? "20s",
        escalation: [{ after: options.oncall.escalateAfter ?? "40s", users: ["UAPPROVER1"] }],
      };
    }
    const inventory = InventorySchema.parse({
      clusters: [{ ...cluster, ...paging }],
      roles: LAB_ROLES,
      oncall,
    });
    return {
      redisUrl,
      sim,
      inventory,
      dir,
      ...(realHa ? { realHa } : {}),
      async close() {
        for (const close of closers) await close().catch(() => {});
      },
    };
  } catch (err) {
    for (const close of closers) await close().catch(() => {});
    throw err;
  }
}

/** One line of the lab's transcript per request the fake paging service answered. */
function pagerLine(r: FakeRequest): string {
  const body = r.body as { payload?: { summary?: string }; message?: string };
  const summary = body.payload?.summary ?? body.message ?? "";
  const outcome = r.status === 202 ? "" : ` REFUSED ${r.status}${r.error ? ` (${r.error})` : ""}`;
  return `pager: ${r.action} ${r.key}${summary ? ` "${summary}"` : ""}${outcome}\n`;
}
