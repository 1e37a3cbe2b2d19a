/**
 * The Slack front end on Bolt: `/xen` and `xenops:*` buttons, mapped to the CommandCore contracts.
 * Socket Mode with an app token, or HTTP with Bolt's HTTPReceiver (signature and timestamp checks)
 * plus a replay guard in front of it.
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  App,
  type BlockAction,
  defaultBodyLimit,
  HTTPReceiver,
  type HTTPReceiverOptions,
  type Receiver,
  type RespondArguments,
  type SlackAction,
  type SlashCommand,
  SocketModeReceiver,
  verifySlackRequest,
} from "@slack/bolt";
import type { Logger } from "pino";
import type { ActionRequest, CommandCore, CommandRequest, OutboundMessage, Reply } from "../app/types";
import { XenopsError } from "../errors";
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
   * If the core has not answered a slash command by then, ack with a holding text and deliver its reply
   * later as an ephemeral message: Slack shows an error to the user when the ack misses 3 s.
   */
  ackDeadlineMs?: number;
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
  const channelId = b.channel?.id ?? (typeof container.channel_id === "string" ? container.channel_id : null);
  const messageTs = b.message?.ts ?? (typeof container.message_ts === "string" ? container.message_ts : null);
  if (!action || !channelId || !messageTs) return null;
  const value = "value" in action && typeof action.value === "string" ? action.value : "";
  return {
    source: "slack",
    deliveryId: b.trigger_id,
    channelId,
    userId: b.user.id,
    messageTs,
    actionId: action.action_id,
    value,
  };
}

type Outcome<T> = { kind: "done"; value: T } | { kind: "failed"; error: unknown } | { kind: "late" };

function settleWithin<T>(
  work: Promise<T>,
  ms: number,
): { first: Promise<Outcome<T>>; final: Promise<Outcome<T>> } {
  const final = work.then(
    (value): Outcome<T> => ({ kind: "done", value }),
    (error: unknown): Outcome<T> => ({ kind: "failed", error }),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "late" }), ms);
  });
  const first = Promise.race([final, late]).finally(() => clearTimeout(timer));
  return { first, final };
}

// ---- replay protection ----

const REPLAY_WINDOW_SEC = 5 * 60;

/**
 * Remembers the signatures of verified requests for Slack's 5-minute timestamp window. Bolt rejects
 * stale timestamps; within the window an identical request (same signature) can only be a replay.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();
  private lastPrune = 0;

  constructor(
    private readonly windowSec = REPLAY_WINDOW_SEC,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records the signature; false when it was already seen inside the window. */
  admit(signature: string, timestampSec: number): boolean {
    const nowMs = this.now();
    if (nowMs - this.lastPrune > 1_000) {
      for (const [sig, expires] of this.seen) if (expires <= nowMs) this.seen.delete(sig);
      this.lastPrune = nowMs;
    }
    const expires = this.seen.get(signature);
    if (expires !== undefined && expires > nowMs) return false;
    // Kept until Bolt's staleness check would reject the request anyway.
    this.seen.set(signature, Math.max(nowMs, timestampSec * 1000) + this.windowSec * 1000);
    return true;
  }

  /** A timestamp far in the future would outlive the memory of its signature: refuse it. */
  tooFarAhead(timestampSec: number): boolean {
    return timestampSec * 1000 - this.now() > this.windowSec * 1000;
  }
}

class BodyTooLargeError extends Error {}

function bufferBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
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

/**
 * Bolt's HTTPReceiver with a replay guard in front of its request listener. `requestListener` is the
 * receiver's public entry point (its own server calls it per request), and Bolt reuses a body already
 * buffered on `req.rawBody`, so the guard reads the body once, verifies the signature with Bolt's own
 * `verifySlackRequest`, rejects a signature seen before with 401 and hands everything else to Bolt,
 * which still does the authoritative signature and staleness checks.
 */
export class ReplayGuardedHTTPReceiver extends HTTPReceiver {
  private readonly guard: ReplayGuard;

  constructor(
    options: HTTPReceiverOptions & { endpoints: string[] },
    private readonly log: Logger,
    guard = new ReplayGuard(),
  ) {
    super(options);
    this.guard = guard;
    const inner = this.requestListener;
    const endpoints = options.endpoints;
    const secret = options.signingSecret;
    this.requestListener = ((req, res) => {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "POST" || !endpoints.includes(path)) return inner(req, res);
      bufferBody(req, defaultBodyLimit)
        .then((raw) => {
          (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
          const verdict = this.screen(req, raw, secret);
          if (verdict === "pass") return inner(req, res);
          if (verdict === "retry-duplicate") return reply(res, 200);
          return reply(res, 401);
        })
        .catch((err: unknown) => {
          if (err instanceof BodyTooLargeError) return reply(res, 413);
          this.log.warn(
            { error: err instanceof Error ? err.name : "unknown" },
            "slack request handling failed",
          );
          reply(res, 500);
        });
    }) satisfies RequestListener;
  }

  private screen(req: IncomingMessage, raw: Buffer, secret: string): "pass" | "replay" | "retry-duplicate" {
    const signature = header(req, "x-slack-signature");
    const timestampSec = Number(header(req, "x-slack-request-timestamp"));
    if (!signature || !Number.isFinite(timestampSec)) return "pass"; // Bolt rejects it
    try {
      verifySlackRequest({
        signingSecret: secret,
        body: raw.toString("utf8"),
        headers: { "x-slack-signature": signature, "x-slack-request-timestamp": timestampSec },
      });
    } catch {
      return "pass"; // bad signature or stale: Bolt answers 401 and logs it
    }
    if (this.guard.tooFarAhead(timestampSec)) {
      this.log.warn({ timestampSec }, "slack request rejected: timestamp too far in the future");
      return "replay";
    }
    if (this.guard.admit(signature, timestampSec)) return "pass";
    // x-slack-retry-num is not signed, so it can never let a duplicate through; a duplicate that
    // carries it is answered 200 with nothing dispatched, so that Slack stops re-sending it.
    const retryNum = header(req, "x-slack-retry-num");
    const verdict = retryNum !== null ? "retry-duplicate" : "replay";
    this.log.warn(
      { retryNum, status: verdict === "replay" ? 401 : 200 },
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
    receiver = new ReplayGuardedHTTPReceiver(
      {
        signingSecret: opts.signingSecret,
        endpoints: [opts.endpoint ?? "/slack/events"],
        port: opts.port ?? 3000,
        logger: sdkLogger,
        // ack() answers the HTTP request at once; the listener's remaining work runs after.
        processBeforeResponse: false,
      },
      logger,
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

  app.command(commandName, async ({ command, ack, context }) => {
    const request = toCommandRequest(command);
    if (context.retryNum)
      logger.info({ deliveryId: request.deliveryId, retryNum: context.retryNum }, "slack retry");
    const { first, final } = settleWithin(opts.core.command(request), ackDeadlineMs);
    const outcome = await first;
    if (outcome.kind === "done") return ack(asRespond(outcome.value));
    if (outcome.kind === "failed") {
      logger.error({ deliveryId: request.deliveryId, err: outcome.error }, "command failed");
      return ack(asRespond({ text: INTERNAL_ERROR_TEXT }));
    }
    await ack(asRespond({ text: HOLDING_TEXT }));
    logger.warn({ deliveryId: request.deliveryId, ackDeadlineMs }, "command reply missed the ack deadline");
    const late = await final;
    if (late.kind === "failed")
      logger.error({ deliveryId: request.deliveryId, err: late.error }, "command failed");
    const message = late.kind === "done" ? toOutbound(late.value) : { text: INTERNAL_ERROR_TEXT };
    await sender.postEphemeral(request.channelId, request.userId, message);
  });

  app.action(/^xenops:/, async ({ ack, body }) => {
    // Ack first: the core's answer (if any) goes out as an ephemeral message afterwards.
    await ack();
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
      // Let replies already accepted go out, but do not hang shutdown on an unreachable Slack.
      await Promise.race([sender.drain(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    },
  };
}
