/**
 * SlackSender: the single outbound path to Slack (chat.postMessage, chat.update, chat.postEphemeral,
 * file uploads). It paces posts per channel, throttles edits per message with coalescing, keeps a
 * global token bucket, honours 429 Retry-After, retries transient failures a bounded number of times,
 * and never throws a Slack failure back to its callers: failures are logged and reported as
 * `null`/silently, so no code path can turn a Slack error into another Slack message.
 */
import type { Logger } from "pino";
import type { MessageRef, Notifier, OutboundMessage } from "../chat/types";
import { classifySlackError, type SlackFailure, type WebClient } from "./client";
import { fitMessage, messagePlainText, smallerForm } from "./limits";

export interface SenderLimits {
  /** Minimum spacing of posts (and uploads) into one channel; Slack allows about 1/s per channel. */
  channelIntervalMs: number;
  /** Minimum spacing of edits to one message; edits arriving meanwhile are coalesced to the newest. */
  updateIntervalMs: number;
  /** Global token bucket over all calls: burst size and sustained rate. */
  bucketCapacity: number;
  bucketRefillPerSec: number;
  /** Retries of transient failures (network, 5xx, internal_error) per message. */
  maxRetries: number;
  /** First retry delay; doubles per attempt. */
  retryBaseMs: number;
  /** 429s tolerated per message before giving up. */
  maxRateLimitRetries: number;
  /** A Retry-After longer than this is not waited for: the message is dropped and logged. */
  maxRetryAfterMs: number;
}

export const DEFAULT_SENDER_LIMITS: SenderLimits = {
  channelIntervalMs: 1_000,
  updateIntervalMs: 2_000,
  bucketCapacity: 20,
  bucketRefillPerSec: 1,
  maxRetries: 3,
  retryBaseMs: 500,
  maxRateLimitRetries: 5,
  maxRetryAfterMs: 120_000,
};

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export interface SenderStats {
  /** Messages accepted and not yet finished (queued, waiting or in flight). */
  queueDepth: number;
  /** HTTP 429 answers received. */
  rateLimited: number;
  sent: number;
  failed: number;
  retried: number;
  /** Edits dropped because a newer edit of the same message replaced them. */
  coalesced: number;
  /** Every Web API attempt by method and result ("ok" or Slack's error code), running totals. */
  calls: { method: string; result: string; count: number }[];
}

/** A message Slack refused or that could not be delivered, kept for the health check. */
export interface DeliveryFailure {
  at: number;
  method: string;
  channel: string;
  code: string;
  /** What reached Slack instead: the smaller form, or nothing. */
  delivered: "smaller_form" | "nothing";
}

// A type (not an interface) so it passes as the ops server's CheckResult.
export type DeliveryHealth = {
  ok: boolean;
  error?: string;
  /** Failures within the window, by what was delivered instead. */
  refused: number;
  undelivered: number;
  lastCode?: string;
  lastAt?: string;
};

/** How long a refused or lost message keeps the health check degraded. */
const DELIVERY_HEALTH_WINDOW_MS = 15 * 60_000;
/** At most one direct message to the admins per error code and channel in this long. */
const ADMIN_DM_INTERVAL_MS = 10 * 60_000;
/** Messages whose overflow was attached once already (edits would otherwise attach it every time). */
const ATTACHED_REFS_MAX = 2_000;

/**
 * Refusals a smaller message cannot avoid: the channel, the token or the edited message is the problem,
 * not the content.
 */
const NOT_CONTENT_ERRORS = new Set([
  "not_in_channel",
  "channel_not_found",
  "is_archived",
  "restricted_action",
  "restricted_action_read_only_channel",
  "restricted_action_thread_only_channel",
  "restricted_action_non_threadable_channel",
  "not_authed",
  "invalid_auth",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "missing_scope",
  "no_permission",
  "ekm_access_denied",
  "message_not_found",
  "cant_update_message",
  "edit_window_closed",
  "user_not_in_channel",
]);

type Attempt<T> = { ok: true; result: T } | { ok: false; failure: SlackFailure; err: unknown };

interface Lane {
  tail: Promise<void>;
  lastStartAt: number;
}

interface UpdateSlot {
  pending: OutboundMessage | null;
  waiters: (() => void)[];
  lastSentAt: number;
  running: boolean;
}

class TokenBucket {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly capacity: number,
    private readonly perSec: number,
    private readonly clock: Clock,
  ) {
    this.tokens = capacity;
    this.last = clock.now();
  }

  /** Waits until `n` tokens are available and takes them; callers are served in arrival order. */
  take(n = 1): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = this.clock.now();
        this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSec);
        this.last = now;
        if (this.tokens >= n) {
          this.tokens -= n;
          return;
        }
        await this.clock.sleep(Math.ceil(((n - this.tokens) / this.perSec) * 1000));
      }
    });
    this.queue = turn;
    return turn;
  }
}

type CallContext = { channel: string; ts?: string; threadTs?: string };

export class SlackSender implements Notifier {
  private readonly limits: SenderLimits;
  private readonly clock: Clock;
  private readonly bucket: TokenBucket;
  private readonly lanes = new Map<string, Lane>();
  private readonly updates = new Map<string, UpdateSlot>();
  /** Per-method pause after a 429: Slack's limits are per method, so one 429 holds back that method. */
  private readonly pausedUntil = new Map<string, number>();
  private readonly counters: Omit<SenderStats, "queueDepth" | "calls"> = {
    rateLimited: 0,
    sent: 0,
    failed: 0,
    retried: 0,
    coalesced: 0,
  };
  private depth = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly callCounts = new Map<string, number>();
  private failures: DeliveryFailure[] = [];
  private admins: readonly string[] = [];
  private readonly lastAdminDm = new Map<string, number>();
  private readonly attachedRefs = new Set<string>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    opts: { limits?: Partial<SenderLimits>; clock?: Clock } = {},
  ) {
    this.limits = { ...DEFAULT_SENDER_LIMITS, ...opts.limits };
    this.clock = opts.clock ?? realClock;
    this.bucket = new TokenBucket(this.limits.bucketCapacity, this.limits.bucketRefillPerSec, this.clock);
  }

  get queueDepth(): number {
    return this.depth;
  }

  get rateLimitedCount(): number {
    return this.counters.rateLimited;
  }

  stats(): SenderStats {
    const calls = [...this.callCounts].map(([key, count]) => {
      const [method = "", result = ""] = key.split("\t");
      return { method, result, count };
    });
    return { queueDepth: this.depth, ...this.counters, calls };
  }

  /** Slack user IDs told by direct message when a message is refused or lost (the inventory's admins). */
  escalateTo(admins: readonly string[]): void {
    this.admins = [...new Set(admins)];
  }

  /**
   * For /readyz: degraded while a message was refused or lost within the last 15 minutes (a restart would
   * not fix it; someone has to look at the log).
   */
  deliveryHealth(): DeliveryHealth {
    const since = this.clock.now() - DELIVERY_HEALTH_WINDOW_MS;
    this.failures = this.failures.filter((f) => f.at >= since);
    const refused = this.failures.filter((f) => f.delivered === "smaller_form").length;
    const undelivered = this.failures.length - refused;
    const last = this.failures.at(-1);
    if (!last) return { ok: true, refused: 0, undelivered: 0 };
    return {
      ok: false,
      error: `${undelivered} message(s) not delivered and ${refused} sent in a smaller form in the last 15 minutes (last: ${last.method} ${last.code})`,
      refused,
      undelivered,
      lastCode: last.code,
      lastAt: new Date(last.at).toISOString(),
    };
  }

  /** Resolves when everything accepted so far has been sent or given up (for shutdown and tests). */
  drain(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  post(channel: string, message: OutboundMessage): Promise<MessageRef | null> {
    return this.track(
      this.inLane(channel, async () => {
        const res = await this.deliver<{ channel?: string; ts?: string }>(
          "chat.postMessage",
          message,
          (m) => ({
            channel,
            text: m.text,
            ...(m.blocks ? { blocks: m.blocks } : {}),
            ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
            unfurl_links: false,
            unfurl_media: false,
          }),
          { channel, ...(message.threadTs ? { threadTs: message.threadTs } : {}) },
          (r) => (r.ts ? (message.threadTs ?? r.ts) : null),
        );
        if (!res?.ts) return null;
        return { channel: res.channel ?? channel, ts: res.ts };
      }),
    );
  }

  /**
   * Edits a message. At most one edit per message per `updateIntervalMs`; an edit queued behind another
   * replaces it (its promise resolves when the replacing edit is done). The newest edit is always sent.
   */
  update(ref: MessageRef, message: OutboundMessage): Promise<void> {
    const key = `${ref.channel}/${ref.ts}`;
    let slot = this.updates.get(key);
    if (!slot) {
      slot = { pending: null, waiters: [], lastSentAt: Number.NEGATIVE_INFINITY, running: false };
      this.updates.set(key, slot);
    }
    if (slot.pending) {
      this.counters.coalesced += 1;
    } else {
      this.depth += 1;
    }
    slot.pending = message;
    const done = new Promise<void>((resolve) => slot.waiters.push(resolve));
    if (!slot.running) void this.runUpdates(key, ref, slot);
    return done;
  }

  postEphemeral(channel: string, user: string, message: OutboundMessage): Promise<void> {
    // Ephemeral replies answer a user's click; they skip channel pacing (not channel messages) but
    // still go through the global bucket and 429 handling.
    return this.track(
      this.deliver(
        "chat.postEphemeral",
        message,
        (m) => ({
          channel,
          user,
          text: m.text,
          ...(m.blocks ? { blocks: m.blocks } : {}),
          ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
        }),
        { channel },
        null,
      ).then(() => undefined),
    );
  }

  upload(
    channel: string,
    file: { filename: string; content: string; title: string; threadTs?: string },
  ): Promise<void> {
    return this.track(
      this.inLane(channel, async () => {
        await this.call(
          "files.uploadV2",
          {
            channel_id: channel,
            filename: file.filename,
            title: file.title,
            content: file.content,
            ...(file.threadTs ? { thread_ts: file.threadTs } : {}),
          },
          { channel, ...(file.threadTs ? { threadTs: file.threadTs } : {}) },
          // getUploadURLExternal + upload + completeUploadExternal.
          3,
        );
      }),
    );
  }

  // ---- internals ----

  private track<T>(work: Promise<T>): Promise<T> {
    this.depth += 1;
    return work.finally(() => this.finishOne());
  }

  private finishOne(): void {
    this.depth -= 1;
    if (this.depth === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Runs `fn` after the channel's previous post, no earlier than `channelIntervalMs` after it started. */
  private inLane<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    let lane = this.lanes.get(channel);
    if (!lane) {
      lane = { tail: Promise.resolve(), lastStartAt: Number.NEGATIVE_INFINITY };
      this.lanes.set(channel, lane);
    }
    const l = lane;
    const run = l.tail.then(async () => {
      const wait = l.lastStartAt + this.limits.channelIntervalMs - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
      l.lastStartAt = this.clock.now();
      return fn();
    });
    l.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async runUpdates(key: string, ref: MessageRef, slot: UpdateSlot): Promise<void> {
    slot.running = true;
    try {
      while (slot.pending) {
        const wait = slot.lastSentAt + this.limits.updateIntervalMs - this.clock.now();
        if (wait > 0) await this.clock.sleep(wait);
        const message = slot.pending;
        const waiters = slot.waiters;
        slot.pending = null;
        slot.waiters = [];
        slot.lastSentAt = this.clock.now();
        if (!message) break;
        await this.deliver(
          "chat.update",
          message,
          (m) => ({
            channel: ref.channel,
            ts: ref.ts,
            text: m.text,
            // An explicit empty list removes old blocks when the new message is text-only.
            blocks: m.blocks ?? [],
          }),
          { channel: ref.channel, ts: ref.ts },
          () => ref.ts,
        );
        for (const w of waiters) w();
        this.finishOne();
      }
    } finally {
      slot.running = false;
      // Forget the slot once its spacing no longer matters, so long-lived processes do not accumulate.
      const forget = setTimeout(() => {
        if (!slot.running && !slot.pending && this.updates.get(key) === slot) this.updates.delete(key);
      }, this.limits.updateIntervalMs);
      forget.unref?.();
    }
  }

  /**
   * Sends a message fitted to Slack's limits (./limits). What was cut, and the message's own
   * `attachment`, is attached in the thread `threadOf` names (once per message for edits). When Slack
   * refuses the content, the smaller form (summary and buttons) is sent instead, and every refusal or
   * loss is surfaced: error log, the health check, and a direct message to the admins.
   */
  private async deliver<T>(
    method: "chat.postMessage" | "chat.update" | "chat.postEphemeral",
    message: OutboundMessage,
    args: (m: OutboundMessage) => Record<string, unknown>,
    ctx: CallContext,
    threadOf: ((result: T & { ts?: string }) => string | null) | null,
  ): Promise<T | null> {
    const { message: fitted, overflow } = fitMessage(message, { noAttachment: threadOf === null });
    // Not a failure (the rest is attached), but worth seeing: the renderer should summarize instead.
    if (overflow.length > 0)
      this.logger.info(
        { method, ...ctx, parts: overflow.length },
        "slack message cut to fit, the rest attached in the thread",
      );
    const first = await this.attempt<T & { ts?: string }>(method, args(fitted), ctx);
    if (first.ok) {
      const thread = threadOf?.(first.result) ?? null;
      const extra = [
        ...(overflow.length > 0 ? [overflow.join("\n\n")] : []),
        ...(message.attachment ? [message.attachment.content] : []),
      ];
      if (thread && extra.length > 0)
        this.attachOnce(method, ctx.channel, thread, message, extra.join("\n\n"));
      return first.result;
    }
    const { failure } = first;
    if (failure.kind !== "permanent" || NOT_CONTENT_ERRORS.has(failure.code) || !message.blocks) {
      this.surface(method, ctx, message, first.err, failure.code, "nothing");
      return null;
    }
    const second = await this.attempt<T & { ts?: string }>(
      method,
      args(smallerForm(message, failure.code)),
      ctx,
    );
    if (!second.ok) {
      this.surface(method, ctx, message, first.err, failure.code, "nothing");
      return null;
    }
    const thread = threadOf?.(second.result) ?? null;
    if (thread) this.attachOnce(method, ctx.channel, thread, message, messagePlainText(message), true);
    this.surface(method, ctx, message, first.err, failure.code, "smaller_form");
    return second.result;
  }

  private attachOnce(
    method: string,
    channel: string,
    threadTs: string,
    message: OutboundMessage,
    content: string,
    always = false,
  ): void {
    const key = `${channel}/${threadTs}`;
    if (method === "chat.update" && !always) {
      if (this.attachedRefs.has(key)) return;
      if (this.attachedRefs.size >= ATTACHED_REFS_MAX) this.attachedRefs.clear();
      this.attachedRefs.add(key);
    }
    const attachment = message.attachment;
    void this.upload(channel, {
      filename: attachment?.filename ?? "message.txt",
      title: attachment?.title ?? "The full text of a message too long for Slack",
      content,
      threadTs,
    });
  }

  /** A message Slack refused or that never arrived: logged, counted for /readyz, and the admins told. */
  private surface(
    method: string,
    ctx: CallContext,
    message: OutboundMessage,
    err: unknown,
    code: string,
    delivered: DeliveryFailure["delivered"],
  ): void {
    this.failures.push({ at: this.clock.now(), method, channel: ctx.channel, code, delivered });
    if (this.failures.length > 1_000) this.failures.splice(0, this.failures.length - 1_000);
    this.logger.error(
      { err, method, ...ctx, code, delivered },
      delivered === "nothing"
        ? "slack message not delivered"
        : "slack refused a message, sent a smaller form",
    );
    if (this.admins.length === 0 || this.admins.includes(ctx.channel)) return;
    const key = `${code}/${ctx.channel}`;
    const now = this.clock.now();
    if (now - (this.lastAdminDm.get(key) ?? Number.NEGATIVE_INFINITY) < ADMIN_DM_INTERVAL_MS) return;
    this.lastAdminDm.set(key, now);
    const what =
      delivered === "nothing"
        ? "could not deliver a message"
        : "had a message refused and sent a smaller form";
    const summary = message.text.length > 1_500 ? `${message.text.slice(0, 1_499)}…` : message.text;
    const text = `⚠️ xenops ${what} in <#${ctx.channel}> (\`${method}\`: \`${code}\`). The log has the details (further ones like it are not sent here for 10 minutes). The message was:\n>${summary.replace(/\n/g, "\n>")}`;
    // Straight to the API, never through deliver(): a refused DM must not produce another one.
    for (const admin of this.admins)
      void this.track(
        this.inLane(admin, async () => {
          const dm = await this.attempt("chat.postMessage", { channel: admin, text }, { channel: admin });
          if (!dm.ok)
            this.logger.error(
              { err: dm.err, user: admin, code: dm.failure.code },
              "slack admin message failed",
            );
        }),
      );
  }

  /**
   * One logical call with bounded retries. Resolves with the result, or null after logging when Slack
   * refused or could not be reached; never rejects.
   */
  private async call<T>(
    method: string,
    args: Record<string, unknown>,
    ctx: CallContext,
    cost = 1,
  ): Promise<T | null> {
    const outcome = await this.attempt<T>(method, args, ctx, cost);
    if (outcome.ok) return outcome.result;
    this.logger.error({ err: outcome.err, method, ...ctx, code: outcome.failure.code }, "slack call failed");
    return null;
  }

  private count(method: string, result: string): void {
    const key = `${method}\t${result}`;
    this.callCounts.set(key, (this.callCounts.get(key) ?? 0) + 1);
  }

  /** One logical call with bounded retries of transient failures and 429s; never rejects. */
  private async attempt<T>(
    method: string,
    args: Record<string, unknown>,
    ctx: CallContext,
    cost = 1,
  ): Promise<Attempt<T>> {
    let transient = 0;
    let limited = 0;
    for (;;) {
      const paused = (this.pausedUntil.get(method) ?? 0) - this.clock.now();
      if (paused > 0) await this.clock.sleep(paused);
      await this.bucket.take(cost);
      try {
        const result =
          method === "files.uploadV2"
            ? await this.client.filesUploadV2(args as unknown as Parameters<WebClient["filesUploadV2"]>[0])
            : await this.client.apiCall(method, args);
        this.counters.sent += 1;
        this.count(method, "ok");
        return { ok: true, result: result as T };
      } catch (err) {
        const failure = classifySlackError(err);
        this.count(method, failure.code.replace(/[^A-Za-z0-9_]/g, "_").slice(0, 48));
        const fields = { method, ...ctx, error: failure.code, attempt: transient + limited + 1 };
        if (failure.kind === "rate_limited") {
          this.counters.rateLimited += 1;
          limited += 1;
          if (
            limited > this.limits.maxRateLimitRetries ||
            failure.retryAfterMs > this.limits.maxRetryAfterMs
          ) {
            this.counters.failed += 1;
            this.logger.error(
              { ...fields, retryAfterMs: failure.retryAfterMs },
              "slack call dropped after rate limiting",
            );
            return { ok: false, failure, err };
          }
          const until = this.clock.now() + failure.retryAfterMs;
          this.pausedUntil.set(method, Math.max(until, this.pausedUntil.get(method) ?? 0));
          this.logger.warn({ ...fields, retryAfterMs: failure.retryAfterMs }, "slack call rate limited");
          this.counters.retried += 1;
          continue;
        }
        if (failure.kind === "transient" && transient < this.limits.maxRetries) {
          const delay = this.limits.retryBaseMs * 2 ** transient;
          transient += 1;
          this.counters.retried += 1;
          this.logger.warn({ ...fields, retryInMs: delay }, "slack call failed, retrying");
          await this.clock.sleep(delay);
          continue;
        }
        this.counters.failed += 1;
        return { ok: false, failure, err };
      }
    }
  }
}

/** The Notifier the rest of xenops uses for Slack output. */
export function createSlackNotifier(sender: SlackSender): Notifier {
  return sender;
}
