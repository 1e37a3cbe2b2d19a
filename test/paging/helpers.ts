/**
 * On-call paging over the real event pipeline: the lab's inventory with a paging service pointed at a
 * local fake (test/support/fake-pager.ts), incidents on the test Redis with the paging listener, a
 * recording notifier, and the simulator's manual clock driving every timer.
 */
import type { ClusterConfig, InventoryConfig } from "../../src/config/schema";
import { IncidentManager } from "../../src/events/incidents";
import { MaintenanceStore } from "../../src/events/maintenance";
import { EventPipeline } from "../../src/events/pipeline";
import { EventStore, eventKeys } from "../../src/events/store";
import { silentLogger } from "../../src/log";
import { OncallService } from "../../src/paging/oncall";
import { PagerRegistry } from "../../src/paging/registry";
import { closeConnection, createRedisConnection } from "../../src/queue/redis";
import { type SimClusterSpecInput, Simulation } from "../../src/sim";
import { RecordingNotifier } from "../approval/helpers";
import { simInventory, snapshotOf } from "../events/helpers";
import type { FakePager } from "../support/fake-pager";
import { testRedisUrl, uniquePrefix } from "../support/redis";

export interface PagingHarness {
  sim: Simulation;
  inventory: InventoryConfig;
  cluster: ClusterConfig;
  notifier: RecordingNotifier;
  pipeline: EventPipeline;
  incidents: IncidentManager;
  store: EventStore;
  oncall: OncallService;
  pages: { service: string; action: string; result: string }[];
  audits: unknown[];
  prefix: string;
  poll(): ReturnType<EventPipeline["observe"]>;
  tick(ms: number): void;
  restart(): PagingHarness;
  close(): Promise<void>;
}

export interface PagingHarnessOptions {
  service?: "pagerduty" | "opsgenie" | "none";
  fake?: FakePager;
  oncall?: Record<string, unknown>;
  prefix?: string;
  sim?: Simulation;
  notifier?: RecordingNotifier;
  env?: Record<string, string>;
}

export function pagingHarness(spec: SimClusterSpecInput, opts: PagingHarnessOptions = {}): PagingHarness {
  const sim = opts.sim ?? new Simulation(spec);
  const service = opts.service ?? "pagerduty";
  const paging =
    service === "none" || !opts.fake
      ? {}
      : service === "pagerduty"
        ? { paging: { pagerduty: { routingKey: { env: "PD_KEY" }, url: opts.fake.pagerDutyUrl } } }
        : { paging: { opsgenie: { apiKey: { env: "OG_KEY" }, url: opts.fake.url } } };
  const inventory = simInventory(sim, paging as Partial<ClusterConfig>, {
    oncall: { users: ["UONCALL1"], groups: ["SONCALL1"], ...opts.oncall },
  });
  const cluster = inventory.clusters[0] as ClusterConfig;
  const prefix = opts.prefix ?? uniquePrefix("paging");
  const redis = createRedisConnection(testRedisUrl(), { role: "client" });
  const keys = eventKeys(prefix);
  const now = () => sim.now();
  const store = new EventStore(redis, keys);
  const maintenance = new MaintenanceStore(redis, keys, now);
  const notifier = opts.notifier ?? new RecordingNotifier();
  const pages: PagingHarness["pages"] = [];
  const audits: unknown[] = [];
  const env = {
    PD_KEY: opts.fake?.routingKey ?? "",
    OG_KEY: opts.fake?.apiKey ?? "",
    ...opts.env,
  };
  const oncall = new OncallService({
    inventory,
    store,
    prefix,
    notifier,
    pagers: new PagerRegistry(inventory, env),
    logger: silentLogger(),
    authorizer: { has: async (user) => user.startsWith("U") && user !== "UNOBODY" },
    now,
    onPage: (s, action, result) => pages.push({ service: s, action, result }),
    audit: (e) => audits.push(e),
    retry: { baseMs: 1_000, maxMs: 8_000, attempts: 4 },
  });
  const incidents = new IncidentManager({
    store,
    maintenance,
    notifier,
    inventory,
    logger: silentLogger(),
    now,
    listener: oncall,
  });
  const pipeline = new EventPipeline({ store, incidents, inventory, logger: silentLogger(), now });
  return {
    sim,
    inventory,
    cluster,
    notifier,
    pipeline,
    incidents,
    store,
    oncall,
    pages,
    audits,
    prefix,
    poll: async () => pipeline.observe(await snapshotOf(sim, cluster)),
    tick: (ms) => sim.tick(ms),
    restart: () => pagingHarness(spec, { ...opts, prefix, sim, notifier }),
    close: () => closeConnection(redis),
  };
}

/** Buttons of a message, by text. */
export function buttonsOf(message: unknown): { text: string; value: string; action_id: string }[] {
  const blocks =
    (
      message as {
        blocks?: {
          type: string;
          elements?: { text: { text: string }; value: string; action_id: string }[];
        }[];
      }
    ).blocks ?? [];
  return blocks.flatMap((b) =>
    b.type === "actions"
      ? (b.elements ?? []).map((e) => ({ text: e.text.text, value: e.value, action_id: e.action_id }))
      : [],
  );
}
