/**
 * PagerDuty Events API v2: `POST https://events.pagerduty.com/v2/enqueue` with the service's
 * integration key as `routing_key`. A trigger carries `payload.summary` (at most 1024 characters),
 * `payload.source`, `payload.severity` (critical, error, warning or info) and `custom_details`;
 * acknowledge and resolve carry only the key and the `dedup_key` (at most 255 characters) of the
 * trigger. PagerDuty answers 202; 400 means the event is invalid (a retry will not help), 429 and 5xx
 * are worth retrying.
 */
import { clip, type PageRequest, type Pager, postJson } from "./types";

export const PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue";

export interface PagerDutyOptions {
  routingKey: string;
  /** The enqueue endpoint (default PagerDuty's). */
  url?: string;
  timeoutMs?: number;
}

export function pagerDutyEvent(routingKey: string, r: PageRequest): Record<string, unknown> {
  const base = {
    routing_key: routingKey,
    event_action: r.action,
    dedup_key: clip(r.dedupKey, 255),
  };
  if (r.action !== "trigger") return base;
  return {
    ...base,
    payload: {
      summary: clip(r.summary, 1024),
      source: clip(r.source, 255),
      severity: r.severity,
      timestamp: new Date().toISOString(),
      component: r.resource ?? r.node ?? r.cluster,
      group: r.cluster,
      class: "xenops",
      custom_details: {
        cluster: r.cluster,
        ...(r.node ? { node: r.node } : {}),
        ...(r.resource ? { resource: r.resource } : {}),
        ...r.details,
      },
    },
    client: "xenops",
    ...(r.link ? { client_url: r.link.href, links: [{ href: r.link.href, text: r.link.text }] } : {}),
  };
}

export class PagerDutyPager implements Pager {
  readonly service = "pagerduty" as const;
  constructor(private readonly options: PagerDutyOptions) {}

  send(r: PageRequest, signal?: AbortSignal): Promise<void> {
    return postJson(
      this.options.url ?? PAGERDUTY_URL,
      pagerDutyEvent(this.options.routingKey, r),
      {},
      { timeoutMs: this.options.timeoutMs ?? 10_000, signal },
    );
  }
}
