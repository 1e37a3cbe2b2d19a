/**
 * Maintenance windows: `/xen maintenance NODE DURATION` silences a node's events and blocks risky
 * actions on it until the window ends. Windows live in Redis with an expiry, so every process (bot,
 * workers) sees the same ones and they end by themselves.
 *
 * Other code calls `isInMaintenance(cluster, node)` before planning or running anything risky on a
 * node (fence, migrate to or from it, start guests on it, split-brain recovery).
 */
import type { Redis } from "ioredis";
import { compareText } from "../compare-text";
import { XenopsError } from "../errors";
import { formatDurationMinutes } from "../message/text";
import type { EventKeys } from "./store";

export interface MaintenanceWindow {
  cluster: string;
  node: string;
  /** Slack user who set it. */
  by: string;
  reason: string;
  /** ISO times. */
  since: string;
  until: string;
}

/** Longest window one command may set: a week. */
export const MAX_MAINTENANCE_MS = 7 * 24 * 3600_000;

/** "90m", "2h", "1h30m", "45s", "1d": milliseconds; null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/i.exec(text.trim());
  if (!m || text.trim() === "") return null;
  const [, d, h, min, s] = m;
  const ms =
    ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(s ?? 0) * 1000;
  return ms > 0 ? ms : null;
}

export class MaintenanceStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: EventKeys,
    private readonly now: () => number = Date.now,
  ) {}

  async set(
    window: Omit<MaintenanceWindow, "since" | "until">,
    durationMs: number,
  ): Promise<MaintenanceWindow> {
    if (!(durationMs > 0) || durationMs > MAX_MAINTENANCE_MS)
      throw new XenopsError(
        "invalid_argument",
        `a maintenance window lasts between 1 s and ${formatDurationMinutes(MAX_MAINTENANCE_MS)}`,
      );
    const now = this.now();
    const full: MaintenanceWindow = {
      ...window,
      since: new Date(now).toISOString(),
      until: new Date(now + durationMs).toISOString(),
    };
    await this.redis.set(
      this.keys.maintenance(window.cluster, window.node),
      JSON.stringify(full),
      "PX",
      durationMs,
    );
    return full;
  }

  /** Ends a window early; the window that was active, if any. */
  async end(cluster: string, node: string): Promise<MaintenanceWindow | null> {
    const key = this.keys.maintenance(cluster, node);
    const current = await this.get(cluster, node);
    await this.redis.del(key);
    return current;
  }

  async get(cluster: string, node: string): Promise<MaintenanceWindow | null> {
    const raw = await this.redis.get(this.keys.maintenance(cluster, node));
    if (!raw) return null;
    try {
      const w = JSON.parse(raw) as MaintenanceWindow;
      // Expiry is Redis's job; an injected clock (tests) may run ahead of it.
      return Date.parse(w.until) > this.now() ? w : null;
    } catch {
      return null;
    }
  }

  /** The active window of a node, or null: call this before any risky action on the node. */
  isInMaintenance(cluster: string, node: string): Promise<MaintenanceWindow | null> {
    return this.get(cluster, node);
  }

  async list(cluster: string): Promise<MaintenanceWindow[]> {
    const out: MaintenanceWindow[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        "MATCH",
        `${this.keys.maintenancePrefix(cluster)}*`,
        "COUNT",
        200,
      );
      cursor = next;
      for (const key of keys) {
        const node = key.slice(this.keys.maintenancePrefix(cluster).length);
        const w = await this.get(cluster, node);
        if (w) out.push(w);
      }
    } while (cursor !== "0");
    return out.sort((a, b) => compareText(a.node, b.node));
  }

  /**
   * Throws XenopsError("forbidden") naming the window when any of `nodes` is in maintenance: the
   * guard for risky actions.
   */
  async assertNotInMaintenance(cluster: string, nodes: readonly string[]): Promise<void> {
    for (const node of nodes) {
      const w = await this.get(cluster, node);
      if (w)
        throw new XenopsError(
          "forbidden",
          `${node} is in maintenance until ${w.until} (set by ${w.by}${w.reason ? `: ${w.reason}` : ""}); risky actions on it are blocked. End it with \`/xen maintenance ${node} off\`.`,
        );
    }
  }
}
