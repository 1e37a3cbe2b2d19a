/**
 * A local paging service for the lab and the tests (test/support/fake-pager.ts): PagerDuty's Events
 * API v2 (`POST /v2/enqueue`) and Opsgenie's Alert API (`POST /v2/alerts`, `.../acknowledge`,
 * `.../close`) on one HTTP server. Each request is checked the way the services document it
 * (required fields, enums, lengths, the key) and refused with 400 (PagerDuty "Event object is
 * invalid") or 422/401 (Opsgenie) otherwise. Alerts are kept by dedup key with their state, so a test
 * can see what a person's phone would show. `failNext` and `delayNext` make the next requests fail or
 * hang on purpose.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeAction = "trigger" | "acknowledge" | "resolve";

export interface FakeRequest {
  service: "pagerduty" | "opsgenie";
  action: FakeAction;
  key: string;
  status: number;
  body: Record<string, unknown>;
  /** Why it was refused, when it was. */
  error?: string;
}

export interface FakeAlert {
  service: "pagerduty" | "opsgenie";
  key: string;
  status: "triggered" | "acknowledged" | "resolved";
  summary: string;
  severity: string;
  /** Triggers with this key while it was open (deduplicated). */
  count: number;
  body: Record<string, unknown>;
}

export interface FakePagerOptions {
  /** The PagerDuty integration key it accepts (32 characters). */
  routingKey?: string;
  /** The Opsgenie API key it accepts. */
  apiKey?: string;
  /** Called for every request it answered (the lab prints them). */
  onRequest?: (r: FakeRequest) => void;
}

export const FAKE_ROUTING_KEY = "R0123456789abcdef0123456789ABCDE";
export const FAKE_GENIE_KEY = "00000000-1111-2222-3333-444444444444";

const PD_SEVERITIES = new Set(["critical", "error", "warning", "info"]);
const PD_ACTIONS = new Set(["trigger", "acknowledge", "resolve"]);
const OG_PRIORITIES = new Set(["P1", "P2", "P3", "P4", "P5"]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: unknown, max: number, what: string, required = true): string | null {
  if (v === undefined && !required) return null;
  if (typeof v !== "string" || (required && v.length === 0)) return `${what} must be a non-empty string`;
  if (v.length > max) return `${what} is longer than ${max} characters`;
  return null;
}

/** PagerDuty's rules for an event; null when valid. */
export function checkPagerDutyEvent(body: unknown, routingKey: string): string | null {
  if (!isObject(body)) return "body must be a JSON object";
  if (body.routing_key !== routingKey)
    return typeof body.routing_key === "string" && body.routing_key.length === 32
      ? "unknown routing_key"
      : "routing_key must be the 32-character integration key";
  if (typeof body.event_action !== "string" || !PD_ACTIONS.has(body.event_action))
    return "event_action must be trigger, acknowledge or resolve";
  const dk = str(body.dedup_key, 255, "dedup_key", body.event_action !== "trigger");
  if (dk) return dk;
  if (body.event_action !== "trigger") return null;
  const p = body.payload;
  if (!isObject(p)) return "payload is required for a trigger";
  const bad =
    str(p.summary, 1024, "payload.summary") ??
    str(p.source, 255, "payload.source") ??
    (typeof p.severity !== "string" || !PD_SEVERITIES.has(p.severity)
      ? "payload.severity must be critical, error, warning or info"
      : null);
  if (bad) return bad;
  if (p.timestamp !== undefined && (typeof p.timestamp !== "string" || Number.isNaN(Date.parse(p.timestamp))))
    return "payload.timestamp must be an ISO 8601 time";
  if (p.custom_details !== undefined && !isObject(p.custom_details))
    return "payload.custom_details must be an object";
  if (body.links !== undefined) {
    if (!Array.isArray(body.links)) return "links must be an array";
    for (const l of body.links)
      if (!isObject(l) || typeof l.href !== "string") return "links[].href is required";
  }
  return null;
}

/** Opsgenie's rules for a create-alert request; null when valid. */
export function checkOpsgenieAlert(body: unknown): string | null {
  if (!isObject(body)) return "body must be a JSON object";
  const bad =
    str(body.message, 130, "message") ??
    str(body.alias, 512, "alias", false) ??
    str(body.description, 15_000, "description", false) ??
    str(body.entity, 512, "entity", false) ??
    str(body.source, 100, "source", false) ??
    str(body.user, 100, "user", false) ??
    str(body.note, 25_000, "note", false);
  if (bad) return bad;
  if (body.priority !== undefined && (typeof body.priority !== "string" || !OG_PRIORITIES.has(body.priority)))
    return "priority must be one of P1, P2, P3, P4, P5";
  if (body.details !== undefined) {
    if (!isObject(body.details)) return "details must be a map of strings";
    let total = 0;
    for (const [k, v] of Object.entries(body.details)) {
      if (typeof v !== "string") return `details.${k} must be a string`;
      total += k.length + v.length;
    }
    if (total > 8_000) return "details are longer than 8000 characters in all";
  }
  if (body.tags !== undefined) {
    if (!Array.isArray(body.tags) || body.tags.length > 20) return "tags: at most 20";
    for (const t of body.tags)
      if (typeof t !== "string" || t.length > 50) return "tags: at most 50 characters each";
  }
  return null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export class FakePager {
  readonly requests: FakeRequest[] = [];
  readonly alerts = new Map<string, FakeAlert>();
  private failures: number[] = [];
  private delays: Promise<void>[] = [];
  private server: Server | null = null;
  port = 0;
  readonly routingKey: string;
  readonly apiKey: string;

  constructor(private readonly options: FakePagerOptions = {}) {
    this.routingKey = options.routingKey ?? FAKE_ROUTING_KEY;
    this.apiKey = options.apiKey ?? FAKE_GENIE_KEY;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** PagerDuty's enqueue URL on this server. */
  get pagerDutyUrl(): string {
    return `${this.url}/v2/enqueue`;
  }

  /** The next `count` requests are answered with `status` (e.g. 500, 429, 400). */
  failNext(count: number, status = 500): void {
    for (let i = 0; i < count; i++) this.failures.push(status);
  }

  /** The next request is held until the returned function is called. */
  delayNext(): () => void {
    let release: () => void = () => {};
    this.delays.push(
      new Promise<void>((r) => {
        release = r;
      }),
    );
    return release;
  }

  /** Requests it accepted, as `action key` (e.g. "trigger xenops-..."). */
  accepted(service?: FakeRequest["service"]): FakeRequest[] {
    return this.requests.filter((r) => r.status === 202 && (!service || r.service === service));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(body));
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ message: String(err) }));
        },
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private record(r: FakeRequest): FakeRequest {
    this.requests.push(r);
    this.options.onRequest?.(r);
    return r;
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const raw = await readBody(req);
    const delay = this.delays.shift();
    if (delay) await delay;
    const url = new URL(req.url ?? "/", "http://x");
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = null;
    }
    const obj = isObject(body) ? body : {};
    const failure = this.failures.shift();
    if (req.method !== "POST") return { status: 405, body: { message: "method not allowed" } };
    if (url.pathname === "/v2/enqueue") return this.pagerDuty(obj, body, failure);
    const og = /^\/v2\/alerts(?:\/([^/]+)\/(acknowledge|close))?$/.exec(url.pathname);
    if (og) return this.opsgenie(req, url, og, obj, body, failure);
    return { status: 404, body: { message: "not found" } };
  }

  private pagerDuty(obj: Record<string, unknown>, body: unknown, failure: number | undefined) {
    const action = (PD_ACTIONS.has(String(obj.event_action)) ? obj.event_action : "trigger") as FakeAction;
    const key = typeof obj.dedup_key === "string" ? obj.dedup_key : "";
    if (failure !== undefined) {
      this.record({
        service: "pagerduty",
        action,
        key,
        status: failure,
        body: obj,
        error: "failing on purpose",
      });
      return { status: failure, body: { status: "error", message: "failing on purpose" } };
    }
    const error = checkPagerDutyEvent(body, this.routingKey);
    if (error) {
      this.record({ service: "pagerduty", action, key, status: 400, body: obj, error });
      return {
        status: 400,
        body: { status: "invalid event", message: "Event object is invalid", errors: [error] },
      };
    }
    this.apply("pagerduty", action, key, obj);
    this.record({ service: "pagerduty", action, key, status: 202, body: obj });
    return { status: 202, body: { status: "success", message: "Event processed", dedup_key: key } };
  }

  private opsgenie(
    req: IncomingMessage,
    url: URL,
    m: RegExpExecArray,
    obj: Record<string, unknown>,
    body: unknown,
    failure: number | undefined,
  ) {
    const verb = m[2];
    const action: FakeAction =
      verb === "acknowledge" ? "acknowledge" : verb === "close" ? "resolve" : "trigger";
    const key = verb ? decodeURIComponent(m[1] ?? "") : typeof obj.alias === "string" ? obj.alias : "";
    const refuse = (status: number, error: string) => {
      this.record({ service: "opsgenie", action, key, status, body: obj, error });
      return { status, body: { message: error, took: 0.001, requestId: "fake" } };
    };
    if (failure !== undefined) return refuse(failure, "failing on purpose");
    if (req.headers.authorization !== `GenieKey ${this.apiKey}`) return refuse(401, "Could not authenticate");
    if (verb) {
      if (url.searchParams.get("identifierType") !== "alias")
        return refuse(422, "identifierType must be alias (xenops acts on alerts by alias)");
      const bad =
        str(obj.user, 100, "user", false) ??
        str(obj.source, 100, "source", false) ??
        str(obj.note, 25_000, "note", false);
      if (bad) return refuse(422, bad);
    } else {
      const bad = checkOpsgenieAlert(body);
      if (bad) return refuse(422, bad);
    }
    this.apply("opsgenie", action, key, obj);
    this.record({ service: "opsgenie", action, key, status: 202, body: obj });
    return { status: 202, body: { result: "Request will be processed", took: 0.001, requestId: "fake" } };
  }

  /** What the service does with a valid event: dedup by key while the alert is open. */
  private apply(
    service: FakeAlert["service"],
    action: FakeAction,
    key: string,
    body: Record<string, unknown>,
  ) {
    const existing = this.alerts.get(key);
    if (action === "trigger") {
      if (existing && existing.status !== "resolved") {
        existing.count += 1;
        return;
      }
      const payload = isObject(body.payload) ? body.payload : body;
      this.alerts.set(key, {
        service,
        key,
        status: "triggered",
        summary: String(payload.summary ?? payload.message ?? ""),
        severity: String(payload.severity ?? payload.priority ?? ""),
        count: 1,
        body,
      });
      return;
    }
    // Acknowledging or resolving an alert that does not exist (or is closed) is a no-op, as at the services.
    if (!existing || existing.status === "resolved") return;
    existing.status = action === "acknowledge" ? "acknowledged" : "resolved";
  }
}
