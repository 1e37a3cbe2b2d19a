/**
 * SlackSender: the single outbound path to Slack (chat.postMessage, chat.update, chat.postEphemeral,
 * file uploads). It paces posts per channel, throttles edits per message with coalescing, keeps a
 * global token bucket, honours 429 Retry-After, retries transient failures a bounded number of times,
 * and never throws a Slack failure back to its callers: failures are logged and reported as
 * `null`/silently, so no code path can turn a Slack error into another Slack message.
 */
import type { Logger } from "pino";
import type { MessageRef, Notifier, OutboundMessage } from "../app/types";
import { classifySlackError, type WebClient } from "./client";

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
}

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
  private readonly counters: Omit<SenderStats, "queueDepth"> = {
    rateLimited: 0,
    sent: 0,
    failed: 0,
    retried: 0,
    coalesced: 0,
  };
  private depth = 0;
  private idleWaiters: (() => void)[] = [];

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
    return { queueDepth: this.depth, ...this.counters };
  }

  /** Resolves when everything accepted so far has been sent or given up (for shutdown and tests). */
  drain(): Promise<void> {
    if (this.depth === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  post(channel: string, message: OutboundMessage): Promise<MessageRef | null> {
    return this.track(
      this.inLane(channel, async () => {
        const res = await this.call<{ channel?: string; ts?: string }>(
          "chat.postMessage",
          {
            channel,
            text: message.text,
            ...(message.blocks ? { blocks: message.blocks } : {}),
            ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
            unfurl_links: false,
            unfurl_media: false,
          },
          { channel, ...(message.threadTs ? { threadTs: message.threadTs } : {}) },
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
      this.call(
        "chat.postEphemeral",
        {
          channel,
          user,
          text: message.text,
          ...(message.blocks ? { blocks: message.blocks } : {}),
          ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
        },
        { channel },
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
        await this.call(
          "chat.update",
          {
            channel: ref.channel,
            ts: ref.ts,
            text: message.text,
            // An explicit empty list removes old blocks when the new message is text-only.
            blocks: message.blocks ?? [],
          },
          { channel: ref.channel, ts: ref.ts },
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
   * One logical call with bounded retries. Resolves with the result, or null after logging when Slack
   * refused or could not be reached; never rejects.
   */
  private async call<T>(
    method: string,
    args: Record<string, unknown>,
    ctx: CallContext,
    cost = 1,
  ): Promise<T | null> {
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
        return result as T;
      } catch (err) {
        const failure = classifySlackError(err);
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
            return null;
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
        this.logger.error(fields, "slack call failed");
        return null;
      }
    }
  }
}

/** The Notifier the rest of xenops uses for Slack output. */
export function createSlackNotifier(sender: SlackSender): Notifier {
  return sender;
}
