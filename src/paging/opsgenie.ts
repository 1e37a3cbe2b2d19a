/**
 * Opsgenie Alert API: `POST {url}/v2/alerts` creates an alert (`message` at most 130 characters,
 * `alias` at most 512 is the dedup key: an open alert with the same alias only counts up), `priority`
 * P1..P5, `details` a string map; `POST /v2/alerts/{alias}/acknowledge?identifierType=alias` and
 * `.../close?identifierType=alias` act on it. Every request is `Authorization: GenieKey KEY`; Opsgenie
 * answers 202 (processed asynchronously).
 */
import type { PageSeverity } from "./types";
import { clip, type PageRequest, type Pager, postJson } from "./types";

export const OPSGENIE_URL = "https://api.opsgenie.com";

export interface OpsgenieOptions {
  apiKey: string;
  /** API base (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com). */
  url?: string;
  timeoutMs?: number;
}

const PRIORITY: Record<PageSeverity, "P1" | "P2" | "P3" | "P5"> = {
  critical: "P1",
  error: "P2",
  warning: "P3",
  info: "P5",
};

/** The request (path and body) for one page. */
export function opsgenieRequest(r: PageRequest): { path: string; body: Record<string, unknown> } {
  const alias = clip(r.dedupKey, 512);
  const user = clip(r.by ?? "xenops", 100);
  if (r.action === "trigger") {
    const details: Record<string, string> = {
      cluster: r.cluster,
      ...(r.node ? { node: r.node } : {}),
      ...(r.resource ? { resource: r.resource } : {}),
      ...(r.link ? { slack: r.link.href } : {}),
      ...r.details,
    };
    return {
      path: "/v2/alerts",
      body: {
        message: clip(r.summary, 130),
        alias,
        description: clip(r.summary, 15_000),
        details: capDetails(details, 8_000),
        entity: clip(r.resource ?? r.node ?? r.cluster, 512),
        source: clip(`xenops ${r.source}`, 100),
        priority: PRIORITY[r.severity],
        tags: ["xenops", clip(r.cluster, 50)],
        user,
      },
    };
  }
  const verb = r.action === "acknowledge" ? "acknowledge" : "close";
  return {
    path: `/v2/alerts/${encodeURIComponent(alias)}/${verb}?identifierType=alias`,
    body: { user, source: "xenops", note: clip(`${verb}d from xenops${r.by ? ` by ${r.by}` : ""}`, 25_000) },
  };
}

/** Opsgenie limits details to 8000 characters in all: values are cut, then the last keys dropped. */
function capDetails(details: Record<string, string>, max: number): Record<string, string> {
  const out: Record<string, string> = {};
  let used = 0;
  for (const [k, v] of Object.entries(details)) {
    const value = clip(v, 1_000);
    if (used + k.length + value.length > max) break;
    out[k] = value;
    used += k.length + value.length;
  }
  return out;
}

export class OpsgeniePager implements Pager {
  readonly service = "opsgenie" as const;
  constructor(private readonly options: OpsgenieOptions) {}

  send(r: PageRequest, signal?: AbortSignal): Promise<void> {
    const { path, body } = opsgenieRequest(r);
    const base = (this.options.url ?? OPSGENIE_URL).replace(/\/+$/, "");
    return postJson(
      `${base}${path}`,
      body,
      { authorization: `GenieKey ${this.options.apiKey}` },
      { timeoutMs: this.options.timeoutMs ?? 10_000, signal },
    );
  }
}
