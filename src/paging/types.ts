/**
 * A paging service (PagerDuty, Opsgenie) as xenops uses it: one alert per dedup key, triggered,
 * acknowledged and resolved. Implementations validate nothing the caller could not fix: they trim to
 * the service's documented limits and throw `PageError` with whether a retry can help.
 */
import { XenopsError } from "../errors";

export type PageAction = "trigger" | "acknowledge" | "resolve";
export type PageSeverity = "critical" | "error" | "warning" | "info";
export type PagingService = "pagerduty" | "opsgenie";

export interface PageRequest {
  action: PageAction;
  /** Identifies the alert at the service across trigger, acknowledge and resolve. */
  dedupKey: string;
  /** One line: what happened (cut to the service's limit). */
  summary: string;
  /** Where it happened: the node, else the cluster. */
  source: string;
  severity: PageSeverity;
  cluster: string;
  node?: string | null;
  resource?: string | null;
  /** The incident's Slack message. */
  link?: { href: string; text: string } | null;
  /** Who acknowledged (or resolved) it, for the service's log. */
  by?: string | null;
  /** More context shown with the alert. */
  details?: Record<string, string>;
}

export interface Pager {
  readonly service: PagingService;
  send(request: PageRequest, signal?: AbortSignal): Promise<void>;
}

export class PageError extends XenopsError {
  constructor(
    message: string,
    /** A later attempt may succeed (network error, 429, 5xx); a 4xx will not. */
    readonly retryable: boolean,
    readonly status: number | null = null,
  ) {
    super("page_failed", message);
  }
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** POSTs JSON; maps the outcome to PageError (non-2xx, network, timeout). */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  opts: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<void> {
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    throw new PageError(`cannot reach ${new URL(url).host}: ${(err as Error).message}`, true);
  }
  const text = (await res.text().catch(() => "")).slice(0, 300).replace(/\s+/g, " ").trim();
  if (res.ok) return;
  const retryable = res.status === 429 || res.status >= 500 || res.status === 408;
  throw new PageError(`HTTP ${res.status}${text ? `: ${text}` : ""}`, retryable, res.status);
}
