/**
 * The pager of each cluster, from the inventory (`clusters[].paging`), its secret resolved once on
 * first use. A cluster without `paging` has none: its on-call is paged in Slack only.
 */
import type { InventoryConfig, PagingConfig } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import { OpsgeniePager } from "./opsgenie";
import { PagerDutyPager } from "./pagerduty";
import type { Pager, PagingService } from "./types";

export type PagerFactory = (config: PagingConfig, secret: string) => Pager;

export const defaultPagerFactory: PagerFactory = (config, secret) =>
  "pagerduty" in config
    ? new PagerDutyPager({
        routingKey: secret,
        ...(config.pagerduty.url ? { url: config.pagerduty.url } : {}),
      })
    : new OpsgeniePager({ apiKey: secret, ...(config.opsgenie.url ? { url: config.opsgenie.url } : {}) });

export class PagerRegistry {
  private readonly cache = new Map<string, Promise<Pager | null>>();

  constructor(
    private readonly inventory: InventoryConfig,
    private readonly env: SecretEnv,
    private readonly factory: PagerFactory = defaultPagerFactory,
  ) {}

  /** Whether the cluster has a paging service (without resolving its secret). */
  configured(cluster: string): boolean {
    return this.serviceOf(cluster) !== null;
  }

  /** The cluster's paging service by name (metrics, messages), without resolving its secret. */
  serviceOf(cluster: string): PagingService | null {
    const config = this.inventory.clusters.find((c) => c.name === cluster)?.paging;
    return config ? ("pagerduty" in config ? "pagerduty" : "opsgenie") : null;
  }

  /** The cluster's pager, or null; rejects when its secret cannot be read (config_invalid). */
  for(cluster: string): Promise<Pager | null> {
    let p = this.cache.get(cluster);
    if (!p) {
      p = this.build(cluster);
      // A secret that could not be read is tried again next time (the file may appear).
      p.catch(() => this.cache.delete(cluster));
      this.cache.set(cluster, p);
    }
    return p;
  }

  private async build(cluster: string): Promise<Pager | null> {
    const config = this.inventory.clusters.find((c) => c.name === cluster)?.paging;
    if (!config) return null;
    const ref = "pagerduty" in config ? config.pagerduty.routingKey : config.opsgenie.apiKey;
    const what = `${cluster} paging ${"pagerduty" in config ? "PagerDuty routing key" : "Opsgenie API key"}`;
    return this.factory(config, (await resolveSecret(ref, this.env, what)).trim());
  }
}
