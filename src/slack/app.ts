/**
 * The Slack front end on Bolt: `/xen` and `xenops:*` buttons, mapped to the CommandCore contracts.
 * Socket Mode with an app token, or HTTP with Bolt's HTTPReceiver (signature and timestamp checks)
 * plus a replay guard in front of it.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import {
  App,
  type BlockAction,
  HTTPReceiver,
  type HTTPReceiverOptions,
  type Receiver,
  type RespondArguments,
  type SlackAction,
  type SlashCommand,
  SocketModeReceiver,
} from "@slack/bolt";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { ActionRequest, CommandCore, CommandRequest, OutboundMessage, Reply } from "../chat/types";
import { XenopsError } from "../errors";
import { parseActionValue } from "../events/actions";
import { EVENT_ACTION_PREFIX } from "../events/render";
import type { FormActor, FormCore } from "../forms/core";
import {
  FORM_ACTION_PREFIX,
  FORM_CALLBACK_ID,
  FORM_PREFLIGHT_ACTION,
  type FormState,
  incidentFormValues,
  stateOfView,
} from "../forms/form";
import { parseHomeBlockId } from "../forms/home";
import { durableMark } from "../queue/redis";
import { boltLogger, slackClientOptions, type WebClient } from "./client";
import { type SenderLimits, SlackSender } from "./sender";

export interface SlackAppOptions {
  mode: "socket" | "http";
  botToken: string;
  /** Socket Mode app-level token (`xapp-...`); required in socket mode. */
  appToken?: string;
  /** Required in HTTP mode. */
  signingSecret?: string;
  /** HTTP mode listen port (0 = any free port); default 3000. */
  port?: number;
  /** HTTP mode listen address; default all interfaces. */
  host?: string;
  /** HTTP mode request path; default `/slack/events`. */
  endpoint?: string;
  slackApiUrl?: string;
  /** Slash command name; default `/xen`. */
  command?: string;
  core: CommandCore;
  logger: Logger;
  senderLimits?: Partial<SenderLimits>;
  /**
   * Socket Mode slash commands and modal submissions: if the core has not answered by then, ack with a
   * holding text (close the modal) and deliver the reply later as an ephemeral message: Slack shows an
   * error to the user when the ack misses 3 s. HTTP-mode slash commands do not wait (see the `/xen` handler).
   */
  ackDeadlineMs?: number;
  /**
   * HTTP mode: where seen request signatures are kept (`redisReplayStore(deps.redis, prefix)`), shared by
   * every replica and kept across restarts. Required in HTTP mode.
   */
  replayStore?: ReplayStore;
  /** `/xen` without arguments opens this modal form (operations from a phone). */
  forms?: FormCore;
  /** The App Home tab: told when a user opens it (it publishes the view). */
  home?: { opened(userId: string): void };
}

export interface SlackApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bot's WebClient (429s rejected, no client-side retries): for the sender and the group directory. */
  client: WebClient;
  /** The rate-limited outbound path; also the Notifier for the rest of xenops. */
  sender: SlackSender;
  /** The bound HTTP port once started in HTTP mode; null otherwise. */
  httpPort(): number | null;
}

/** Shown only when something broke inside xenops; details are in the log, never in Slack. */
const INTERNAL_ERROR_TEXT = "Sorry, that failed inside xenops. The error was logged.";
const HOLDING_TEXT = "Working on it… the answer will follow here.";

/** Our Block type is a strict subset of Block Kit; Bolt's types are wider, so cast in one place. */
function asRespond(reply: Reply): RespondArguments {
  const body = {
    response_type: "ephemeral",
    text: reply.text,
    ...(reply.blocks ? { blocks: reply.blocks } : {}),
  };
  return body as unknown as RespondArguments;
}

function toOutbound(reply: Reply): OutboundMessage {
  return { text: reply.text, ...(reply.blocks ? { blocks: reply.blocks } : {}) };
}

export function toCommandRequest(command: SlashCommand): CommandRequest {
  return {
    source: "slack",
    // trigger_id is what Slack keeps on a retry of the same invocation: the core dedupes on it.
    deliveryId: command.trigger_id,
    teamId: command.team_id || null,
    channelId: command.channel_id,
    userId: command.user_id,
    text: (command.text ?? "").trim(),
  };
}

export function toActionRequest(body: SlackAction): ActionRequest | null {
  if (body.type !== "block_actions") return null;
  const b = body as BlockAction;
  const action = b.actions[0];
  const container = b.container as { channel_id?: unknown; message_ts?: unknown };
  // A button on the App Home tab has no message: its block id names the incident's channel and message.
  const home = action && "block_id" in action ? parseHomeBlockId(String(action.block_id)) : null;
  const channelId =
    b.channel?.id ??
    (typeof container.channel_id === "string" ? container.channel_id : (home?.channel ?? null));
  const messageTs =
    b.message?.ts ??
    (typeof container.message_ts === "string" ? container.message_ts : home ? (home.ts ?? "home") : null);
  if (!action || !channelId || !messageTs) return null;
  const value = "value" in action && typeof action.value === "string" ? action.value : "";
  const actionTs = typeof action.action_ts === "string" ? action.action_ts : null;
  return {
    source: "slack",
    deliveryId: b.trigger_id,
    channelId,
    userId: b.user.id,
    messageTs,
    actionId: action.action_id,
    value,
    ...(actionTs ? { actionTs } : {}),
  };
}

type Outcome<T> = { kind: "done"; value: T } | { kind: "failed"; error: unknown } | { kind: "late" };

function settle<T>(work: Promise<T>): Promise<Outcome<T>> {
  return work.then(
    (value): Outcome<T> => ({ kind: "done", value }),
    (error: unknown): Outcome<T> => ({ kind: "failed", error }),
  );
}

/**
 * The outcome if `work` settles without waiting on I/O (its promise chain ends in this turn of the event
 * loop), else "late": setImmediate runs only after every pending microtask.
 */
function settledNow<T>(work: Promise<Outcome<T>>): Promise<Outcome<T>> {
  const late = new Promise<Outcome<T>>((resolve) => setImmediate(() => resolve({ kind: "late" })));
  return Promise.race([work, late]);
}

/** The outcome if `work` settles within `ms`, else "late". */
async function settledWithin<T>(work: Promise<Outcome<T>>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "late" }), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function settleWithin<T>(
  work: Promise<T>,
  ms: number,
): { first: Promise<Outcome<T>>; final: Promise<Outcome<T>> } {
  const final = settle(work);
  return { first: settledWithin(final, ms), final };
}

// ---- replies through response_url ----

/** Kept-alive connections to Slack's hooks, one pool per scheme. */
export interface ResponseAgents {
  http: HttpAgent;
  https: HttpsAgent;
}

export function responseAgents(): ResponseAgents {
  return { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
}

/**
 * POSTs a reply to a command's response_url (taken from the signed request). Plain node:http(s) on kept-alive
 * connections: Bolt's respond() goes through fetch, several times the CPU per reply. Rejects on a non-2xx
 * answer, a network error or `timeoutMs` without an answer.
 */
export function postToResponseUrl(
  url: string,
  body: unknown,
  agents: ResponseAgents,
  timeoutMs = 5_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new XenopsError("invalid_argument", "the command has no valid response_url"));
      return;
    }
    const https = target.protocol === "https:";
    if (!https && target.protocol !== "http:") {
      reject(new XenopsError("invalid_argument", "the response_url is not http(s)"));
      return;
    }
    const data = JSON.stringify(body);
    const options = {
      method: "POST",
      timeout: timeoutMs,
      headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) },
    };
    const onResponse = (res: IncomingMessage) => {
      res.resume();
      res.on("error", reject);
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new Error(`response_url answered HTTP ${status}`));
      });
    };
    const req = https
      ? httpsRequest(target, { ...options, agent: agents.https }, onResponse)
      : httpRequest(target, { ...options, agent: agents.http }, onResponse);
    req.on("timeout", () => req.destroy(new Error(`response_url did not answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(data);
  });
}

// ---- replay protection ----

/** Slack refuses timestamps further than this from now; so do we, in both directions. */
const REPLAY_WINDOW_SEC = 5 * 60;
/** Slack's bodies are a few KiB; anything near this is not Slack. */
export const MAX_SLACK_BODY_BYTES = 256 * 1024;
/**
 * The only signature form Slack sends. Bolt's own check splits on "=" and reads two parts, so
 * `v0=<hex>=1` would verify there and look new to a cache keyed on the header text.
 */
const SLACK_SIGNATURE = /^v0=[0-9a-f]{64}$/;

/** Where seen signatures are remembered: shared by every bot replica and kept across restarts. */
export interface ReplayStore {
  /** Records `key` for `ttlMs`; false when it was already recorded. */
  claim(key: string, ttlMs: number): Promise<boolean>;
}

/**
 * The replay cache in Redis (`SET key 1 NX PX ttl`). `redis` may be a getter: the bot's Redis client is
 * handed out by the composition root, which is built after the Slack app (it needs the app's sender).
 */
export function redisReplayStore(redis: Redis | (() => Redis), prefix: string): ReplayStore {
  const client = typeof redis === "function" ? redis : () => redis;
  return {
    async claim(key, ttlMs) {
      const conn = client();
      const entry = `${prefix}:slack:replay:${key}`;
      const claimed = (await conn.set(entry, "1", "PX", ttlMs, "NX")) === "OK";
      // Durable: an entry lost in a failover would let the same request through once more.
      const durable = durableMark(conn);
      if (!claimed) return false;
      try {
        await durable.confirm();
      } catch (err) {
        // Refused for now (the caller answers "unavailable"): give the signature back, so that Slack's retry
        // of this very request is not taken for a replay. Best effort; the error stands either way.
        await conn.del(entry).catch(() => 0);
        throw err;
      }
      return true;
    },
  };
}

/**
 * Screens signed Slack requests before Bolt sees them: exact signature form, timestamp within the window
 * both ways, then (once the HMAC is right) the signature recorded in the store. A signature is only valid
 * while its timestamp is within the window of now, that is at most twice the window after it is first
 * seen; the record outlives that by a margin.
 */
export class ReplayGuard {
  readonly ttlMs: number;

  constructor(
    private readonly store: ReplayStore,
    private readonly windowSec = REPLAY_WINDOW_SEC,
    private readonly now: () => number = Date.now,
  ) {
    this.ttlMs = (2 * windowSec + 60) * 1000;
  }

  /** The normalized signature (its hex digest), or null when the headers are malformed or stale. */
  checkHeaders(signature: string | null, timestamp: string | null): { hex: string; ts: number } | null {
    if (!signature || !SLACK_SIGNATURE.test(signature)) return null;
    if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return null;
    const ts = Number(timestamp);
    if (Math.abs(this.now() / 1000 - ts) > this.windowSec) return null;
    return { hex: signature.slice(3), ts };
  }

  /** Records the signature; false when it was already seen. */
  admit(hex: string): Promise<boolean> {
    return this.store.claim(hex, this.ttlMs);
  }
}

/** HMAC check of Slack's v0 scheme, on headers already checked by `ReplayGuard.checkHeaders`. */
export function slackSignatureValid(secret: string, hex: string, timestamp: number, raw: Buffer): boolean {
  const expected = createHmac("sha256", secret).update(`v0:${timestamp}:`).update(raw).digest();
  const given = Buffer.from(hex, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

class BodyTooLargeError extends Error {}

/** Reads at most `limit` bytes; a longer body rejects as soon as it passes the limit. */
export function bufferBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.pause();
        reject(new BodyTooLargeError());
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** A declared length over the limit: refused before a byte of the body is read. */
export function declaredTooLarge(req: IncomingMessage, limit: number): boolean {
  const v = req.headers["content-length"];
  return typeof v === "string" && /^\d+$/.test(v) && Number(v) > limit;
}

/**
 * Answers and closes the connection without reading the rest of the body (a refusal before the body, or
 * a body over the limit). The socket is dropped shortly after the answer is out: a client still sending
 * would otherwise keep it open.
 */
export function refuseUnread(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  req.pause();
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  res.writeHead(status, { connection: "close", "content-type": "text/plain; charset=utf-8" });
  res.end(`${text}\n`, () => {
    setTimeout(() => req.socket.destroy(), 1_000).unref();
  });
}

function header(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name];
  return typeof v === "string" ? v : null;
}

function reply(res: ServerResponse, status: number): void {
  if (res.headersSent) return;
  res.writeHead(status);
  res.end();
}

type Verdict = "pass" | "unauthorized" | "retry-duplicate" | "unavailable";

/**
 * Bolt's HTTPReceiver with a replay guard in front of its request listener. `requestListener` is the
 * receiver's public entry point (its own server calls it per request), and Bolt reuses a body already
 * buffered on `req.rawBody`. In order: signature and timestamp headers (401), declared body size
 * (413, nothing read), the body up to 256 KiB (413), the HMAC (401), the signature in the shared replay
 * cache (401; 200 with nothing dispatched for a Slack retry); then Bolt (its own signature check is off:
 * see createSlackApp).
 */
export class ReplayGuardedHTTPReceiver extends HTTPReceiver {
  constructor(
    options: HTTPReceiverOptions & { endpoints: string[] },
    private readonly log: Logger,
    private readonly guard: ReplayGuard,
  ) {
    super(options);
    const inner = this.requestListener;
    const endpoints = options.endpoints;
    const secret = options.signingSecret;
    this.requestListener = ((req, res) => {
      const raw = req.url ?? "/";
      // Parsing the URL only when the raw path is not an endpoint as is: whatever Bolt would route to an
      // endpoint once normalized comes through here all the same.
      const path = endpoints.includes(raw) ? raw : new URL(raw, "http://localhost").pathname;
      if (req.method !== "POST" || !endpoints.includes(path)) return inner(req, res);
      const signed = this.guard.checkHeaders(
        header(req, "x-slack-signature"),
        header(req, "x-slack-request-timestamp"),
      );
      if (!signed) {
        this.log.warn({ remote: req.socket.remoteAddress }, "slack request refused: bad signature headers");
        return refuseUnread(req, res, 401, "unauthorized");
      }
      if (declaredTooLarge(req, MAX_SLACK_BODY_BYTES))
        return refuseUnread(req, res, 413, "request body too large");
      bufferBody(req, MAX_SLACK_BODY_BYTES)
        .then(async (raw) => {
          (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
          const verdict = await this.screen(req, raw, secret, signed);
          if (verdict === "pass") return inner(req, res);
          if (verdict === "retry-duplicate") return reply(res, 200);
          return reply(res, verdict === "unavailable" ? 503 : 401);
        })
        .catch((err: unknown) => {
          if (err instanceof BodyTooLargeError) return refuseUnread(req, res, 413, "request body too large");
          this.log.warn(
            { error: err instanceof Error ? err.name : "unknown" },
            "slack request handling failed",
          );
          reply(res, 500);
        });
    }) satisfies RequestListener;
  }

  private async screen(
    req: IncomingMessage,
    raw: Buffer,
    secret: string,
    signed: { hex: string; ts: number },
  ): Promise<Verdict> {
    if (!slackSignatureValid(secret, signed.hex, signed.ts, raw)) {
      this.log.warn({ remote: req.socket.remoteAddress }, "slack request refused: bad signature");
      return "unauthorized";
    }
    let fresh: boolean;
    try {
      fresh = await this.guard.admit(signed.hex);
    } catch (err) {
      // Without the shared cache a replay cannot be told apart: refuse, Slack retries later.
      this.log.error({ err }, "slack replay cache unavailable");
      return "unavailable";
    }
    if (fresh) return "pass";
    // x-slack-retry-num is not signed, so it can never let a duplicate through; a duplicate that
    // carries it is answered 200 with nothing dispatched, so that Slack stops re-sending it.
    const retryNum = header(req, "x-slack-retry-num");
    const verdict = retryNum !== null ? "retry-duplicate" : "unauthorized";
    this.log.warn(
      { retryNum, status: verdict === "unauthorized" ? 401 : 200 },
      "slack request replayed: duplicate signature",
    );
    return verdict;
  }
}

// ---- the app ----

export function createSlackApp(opts: SlackAppOptions): SlackApp {
  const logger = opts.logger.child({ component: "slack" });
  const secrets = [opts.botToken, opts.appToken, opts.signingSecret].filter((s): s is string => !!s);
  const sdkLogger = boltLogger(opts.logger, secrets);
  const commandName = opts.command ?? "/xen";
  const ackDeadlineMs = opts.ackDeadlineMs ?? 2_500;

  let receiver: Receiver;
  if (opts.mode === "socket") {
    if (!opts.appToken)
      throw new XenopsError("config_invalid", "Socket Mode needs an app-level token (xapp-...)");
    receiver = new SocketModeReceiver({
      appToken: opts.appToken,
      logger: sdkLogger,
      // Only the URL: the Socket Mode client keeps its own retry policy for apps.connections.open.
      installerOptions: { clientOptions: opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {} },
    });
  } else {
    if (!opts.signingSecret)
      throw new XenopsError("config_invalid", "HTTP mode needs the Slack signing secret");
    if (!opts.replayStore)
      throw new XenopsError(
        "config_invalid",
        "HTTP mode needs a replay store (Redis) for request signatures",
      );
    receiver = new ReplayGuardedHTTPReceiver(
      {
        signingSecret: opts.signingSecret,
        endpoints: [opts.endpoint ?? "/slack/events"],
        port: opts.port ?? 3000,
        logger: sdkLogger,
        // ack() answers the HTTP request at once; the listener's remaining work runs after.
        processBeforeResponse: false,
        // Every request Bolt routes to the endpoint has passed the guard's checks, which are stricter than
        // Bolt's own (exact signature form, timestamp window both ways, HMAC, replay): one HMAC per request.
        signatureVerification: false,
      },
      logger,
      new ReplayGuard(opts.replayStore),
    );
  }

  const app = new App({
    token: opts.botToken,
    receiver,
    logger: sdkLogger,
    clientOptions: slackClientOptions({
      ...(opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {}),
      logger: opts.logger,
      secrets,
    }),
    socketMode: opts.mode === "socket",
    convoStore: false,
    // auth.test runs in start(), so a bad token fails start() instead of an unhandled rejection.
    deferInitialization: true,
  });
  const sender = new SlackSender(app.client, opts.logger.child({ component: "slack-sender" }), {
    ...(opts.senderLimits ? { limits: opts.senderLimits } : {}),
  });

  app.error(async (error) => {
    logger.error({ error: error.code ?? error.name }, "slack listener failed");
  });

  const replyAgents = responseAgents();

  app.command(commandName, async ({ command, ack, context, client }) => {
    const request = toCommandRequest(command);
    if (request.text === "" && opts.forms) {
      // The trigger_id expires 3 s after the command: the first view comes from stored state only.
      const forms = opts.forms;
      await ack();
      try {
        const { view } = await forms.open(request.channelId);
        await client.views.open({ trigger_id: command.trigger_id, view: view as never });
      } catch (err) {
        logger.error({ deliveryId: request.deliveryId, err }, "form open failed");
        await sender.postEphemeral(request.channelId, request.userId, {
          text: `The form could not open; type the command instead (\`${commandName} help\`).`,
        });
      }
      return;
    }
    if (context.retryNum)
      logger.info({ deliveryId: request.deliveryId, retryNum: context.retryNum }, "slack retry");
    const work = settle(opts.core.command(request));
    // HTTP mode puts in the ack only the answers that need no I/O (help, usage errors, refusals): a command
    // that waits on Redis (the enqueue) is acked at once and its reply follows through response_url, so a
    // burst of commands is acked in milliseconds instead of after every enqueue of the burst. Socket Mode
    // answers in the ack what is ready within the ack deadline.
    const http = opts.mode === "http";
    const now = http ? await settledNow(work) : await settledWithin(work, ackDeadlineMs);
    if (now.kind === "done") return ack(asRespond(now.value));
    if (now.kind === "failed") {
      logger.error({ deliveryId: request.deliveryId, err: now.error }, "command failed");
      return ack(asRespond({ text: INTERNAL_ERROR_TEXT }));
    }
    if (http) await ack();
    else {
      await ack(asRespond({ text: HOLDING_TEXT }));
      logger.warn({ deliveryId: request.deliveryId, ackDeadlineMs }, "command reply missed the ack deadline");
    }
    // A Slack retry of this delivery finds the same job: the core dedupes on trigger_id.
    const late = await work;
    if (late.kind === "failed")
      logger.error({ deliveryId: request.deliveryId, err: late.error }, "command failed");
    const reply = late.kind === "done" ? late.value : { text: INTERNAL_ERROR_TEXT };
    if (http) {
      try {
        await postToResponseUrl(command.response_url, asRespond(reply), replyAgents);
        return;
      } catch (err) {
        // An expired or unreachable response_url: the same ephemeral message through the Web API.
        logger.warn({ deliveryId: request.deliveryId, err }, "command reply via response_url failed");
      }
    }
    await sender.postEphemeral(request.channelId, request.userId, toOutbound(reply));
  });

  const incidentForm = opts.forms ? registerForms(app, opts.forms, sender, logger, ackDeadlineMs) : null;

  app.action(/^xenops:/, async ({ ack, body, client }) => {
    // Ack first: the core's answer (if any) goes out as an ephemeral message afterwards.
    await ack();
    if (incidentForm && (await incidentForm(body, client))) return;
    const request = toActionRequest(body);
    if (!request) {
      logger.warn({ type: body.type }, "ignored an action without channel, message or action");
      return;
    }
    let result: Reply | null;
    try {
      result = await opts.core.action(request);
    } catch (err) {
      logger.error({ deliveryId: request.deliveryId, err }, "action failed");
      result = { text: INTERNAL_ERROR_TEXT };
    }
    if (result) await sender.postEphemeral(request.channelId, request.userId, toOutbound(result));
  });

  const home = opts.home;
  if (home)
    app.event("app_home_opened", async ({ event }) => {
      if (event.tab === "home") home.opened(event.user);
    });

  let server: Server | null = null;
  return {
    client: app.client,
    sender,
    httpPort: () => {
      const address = server?.address();
      return address && typeof address === "object" ? (address as AddressInfo).port : null;
    },
    async start() {
      await app.init();
      if (opts.mode === "http") {
        const listen = opts.host ? { port: opts.port ?? 3000, host: opts.host } : (opts.port ?? 3000);
        server = (await app.start(listen)) as Server;
        logger.info(
          { mode: "http", port: (server.address() as AddressInfo | null)?.port },
          "slack app listening",
        );
      } else {
        await app.start();
        logger.info({ mode: "socket" }, "slack app connected");
      }
    },
    async stop() {
      await app.stop();
      server = null;
      replyAgents.http.destroy();
      replyAgents.https.destroy();
      // Let replies already accepted go out, but do not hang shutdown on an unreachable Slack.
      await Promise.race([sender.drain(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    },
  };
}

// ---- the modal form (`/xen` without arguments) ----

interface ViewPayload {
  id: string;
  hash?: string;
  private_metadata?: string;
  state?: { values?: Record<string, Record<string, never>> };
  blocks?: { block_id?: string; type?: string }[];
}

function formActor(viewId: string, userId: string, teamId: string | null): FormActor {
  return { source: "slack", viewId, userId, teamId };
}

/** The block id that shows a field's error: its input block, else the action select. */
function errorBlocks(view: ViewPayload, errors: Partial<Record<string, string>>): Record<string, string> {
  const inputs = (view.blocks ?? []).filter((b) => b.type === "input" && b.block_id);
  const idOf = (field: string) => inputs.find((b) => b.block_id?.split(".")[0] === field)?.block_id;
  const out: Record<string, string> = {};
  for (const [field, message] of Object.entries(errors)) {
    if (!message) continue;
    const id = idOf(field) ?? idOf("action");
    if (id) out[id] = out[id] ? `${out[id]} ${message}` : message;
  }
  return out;
}

/**
 * Registers the modal's handlers. Returns the opener for incidents' buttons: every incident action that
 * leads to an approval opens the modal pre-filled (action, cluster, guests or resource, node) and runs
 * its preflight, so the clicker sees the dry run and types any confirmation before filing it; true when
 * the click was handled so.
 */
function registerForms(
  app: App,
  forms: FormCore,
  sender: SlackSender,
  logger: Logger,
  ackDeadlineMs: number,
): (body: SlackAction, client: WebClient) => Promise<boolean> {
  /** Updates the modal; with `hash`, only if nothing updated it since (else Slack answers hash_conflict). */
  const update = async (
    client: WebClient,
    view: ViewPayload,
    next: Record<string, unknown>,
    hash?: string,
  ): Promise<string | null> => {
    const res = await client.views.update({
      view_id: view.id,
      view: next as never,
      ...(hash ? { hash } : {}),
    });
    return (res.view as { hash?: string } | undefined)?.hash ?? null;
  };

  /** Runs the dry run and shows it; the modal says "running" meanwhile. */
  const preflight = async (
    client: WebClient,
    view: Pick<ViewPayload, "id">,
    actor: FormActor,
    state: FormState,
  ) => {
    const pending = await forms.change({
      ...state,
      preflight: { command: "", ok: null, text: "Running the dry run (read-only)…" },
    });
    if (!pending.preflightKey) return;
    const hash = await update(client, view, pending.view);
    const done = await forms.preflight(actor, state);
    if (!done) return;
    try {
      // The user may have changed a choice meanwhile: then this dry run is stale and is not shown.
      await update(client, view, done.view, hash ?? undefined);
    } catch (err) {
      if ((err as { data?: { error?: string } }).data?.error !== "hash_conflict") throw err;
      logger.info({ viewId: view.id }, "form changed during its preflight; stale dry run dropped");
    }
  };

  const openIncidentForm = async (body: SlackAction, client: WebClient): Promise<boolean> => {
    if (body.type !== "block_actions") return false;
    const b = body as BlockAction;
    const action = b.actions[0];
    if (!action?.action_id.startsWith(EVENT_ACTION_PREFIX)) return false;
    const request = toActionRequest(body);
    const parsed = request ? parseActionValue(request.value) : null;
    if (!request || !parsed) return false;
    let opened: { id?: string; hash?: string } | undefined;
    let state: FormState;
    try {
      const shown = await forms.open(
        request.channelId,
        incidentFormValues(parsed.incident, parsed.cluster, parsed.action),
      );
      state = shown.state;
      const res = await client.views.open({ trigger_id: b.trigger_id, view: shown.view as never });
      opened = res.view as { id?: string; hash?: string } | undefined;
    } catch (err) {
      // The modal could not open: the button does what it does without one (plan at once).
      logger.warn({ err, action: parsed.action.kind }, "incident form open failed");
      return false;
    }
    if (!opened?.id) return true;
    try {
      await preflight(
        client,
        { id: opened.id },
        formActor(opened.id, request.userId, b.team?.id ?? null),
        state,
      );
    } catch (err) {
      logger.error({ err, viewId: opened.id }, "incident form preflight failed");
    }
    return true;
  };

  app.action(new RegExp(`^${FORM_ACTION_PREFIX}`), async ({ ack, body, client, action }) => {
    await ack();
    const b = body as BlockAction & { view?: ViewPayload };
    const actionId = "action_id" in action ? action.action_id : "";
    const teamId = b.team?.id ?? null;
    try {
      const view = b.view;
      const state = view ? stateOfView(view) : null;
      if (!view || !state) {
        logger.warn({ actionId: actionId.slice(0, 60) }, "form action without a readable view");
        return;
      }
      const actor = formActor(view.id, b.user.id, teamId);
      if (actionId === FORM_PREFLIGHT_ACTION) {
        await preflight(client, view, actor, state);
        return;
      }
      const next = await forms.change(state);
      await update(client, view, next.view);
      // A complete risky request: its dry run is shown before it can be submitted.
      const key = next.preflightKey;
      const shown = next.state.preflight;
      // (A dry run still "running" in the view the user acted on was dropped as stale: run it again.)
      if (key && (shown?.command !== key || shown.ok === null))
        await preflight(client, view, actor, next.state);
    } catch (err) {
      logger.error({ err, actionId: actionId.slice(0, 60) }, "form action failed");
    }
  });

  app.view(FORM_CALLBACK_ID, async ({ ack, body, view }) => {
    const v = view as unknown as ViewPayload;
    const state = stateOfView(v);
    if (!state) {
      await ack();
      logger.warn({ viewId: v.id }, "form submitted without a readable state");
      return;
    }
    const actor = formActor(v.id, body.user.id, body.team?.id ?? null);
    const { first, final } = settleWithin(forms.submit(actor, state), ackDeadlineMs);
    const outcome = await first;
    if (outcome.kind === "done") {
      const r = outcome.value;
      if (!r.ok) return ack({ response_action: "errors", errors: errorBlocks(v, r.errors) });
      return ack({ response_action: "update", view: r.view as never });
    }
    // Late or failed: close the modal; the answer goes to the user as an ephemeral message.
    await ack();
    const late = outcome.kind === "late" ? await final : outcome;
    let text = INTERNAL_ERROR_TEXT;
    if (late.kind === "done")
      text = late.value.ok
        ? late.value.reply.text
        : `Not filed: ${Object.values(late.value.errors).join(" ")}`;
    else if (late.kind === "failed") logger.error({ viewId: v.id, err: late.error }, "form submit failed");
    await sender.postEphemeral(state.channelId, actor.userId, { text });
  });

  return openIncidentForm;
}
