/**
 * JobCard: one Slack message per job, updated in place as the job goes from queued to running (step k of
 * n, free text, the last lines of output, job-specific blocks) to done, failed, cancelled or given up,
 * with its duration. The full output is attached as a file at the end when the card could only show its
 * tail.
 *
 *   const card = openJobCard(job, { notifier, cards }, { title: "Migrate web1 to ics1" });
 *   card.start();
 *   card.step(1, 3, "Checking the target");    card.log("xm migrate ...");
 *   await control.pointOfNoReturn("the guest is moving");   // see ./control
 *   await card.done("web1 runs on ics1");                   // or failed(err) / cancelled(by)
 *
 * Edits are paced here, not only in the Slack sender: a non-final change is sent at most once per
 * `minEditIntervalMs` (default 3 s, Slack's per-message budget), the first one only after `settleMs`
 * (so a job that finishes quickly edits its card once), and an edit identical to the last one is not
 * sent. The final state is always sent.
 */
import type { Job } from "bullmq";
import type { Block, MessageRef, Notifier, OutboundMessage } from "../chat/types";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import {
  context,
  type DocBlock,
  em,
  emoji,
  fromBlock,
  type Inline,
  type MessageDocument,
  markup,
  pre,
  section,
  strong,
  userOrText,
} from "../message/document";
import { clipLine, escapeMrkdwn, formatDuration, mentionOrText, utcTime } from "../message/text";
import { renderSlack, toBlock, toMrkdwn } from "../slack/render/document";
import type { CardStore } from "./card-store";

/** action_id of the Cancel button (its value is the job id). */
export const CANCEL_ACTION_ID = "xenops:job:cancel";

export type CardPhase = "queued" | "running" | "done" | "failed" | "cancelled" | "gave_up";

const FINAL: ReadonlySet<CardPhase> = new Set(["done", "failed", "cancelled", "gave_up"]);

export interface CardState {
  phase: CardPhase;
  title: string;
  jobId: string;
  jobNumber: number | null;
  /** Slack user ID, or "system" for jobs xenops started by itself. */
  requestedBy: string;
  cancellable: boolean;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  step: { index: number; total: number; text: string } | null;
  /** mrkdwn line under the status (what the job is doing now). */
  activity: string | null;
  /** mrkdwn: how it ended. */
  summary: string | null;
  /** Job-specific blocks between the status and the output. */
  body: DocBlock[];
  /** mrkdwn notes shown as context lines (point of no return, alerts). */
  notes: string[];
  /** Every output line so far (bounded); the card shows the tail. */
  output: string[];
  pointOfNoReturn: string | null;
  cancelledBy: string | null;
}

/** A card's state when its job is queued: nothing started; cancellable unless said otherwise. */
export function queuedState(
  info: Pick<CardState, "title" | "jobId" | "jobNumber" | "requestedBy" | "createdAt"> & {
    cancellable: boolean | undefined;
  },
): CardState {
  return {
    phase: "queued",
    title: info.title,
    jobId: info.jobId,
    jobNumber: info.jobNumber,
    requestedBy: info.requestedBy,
    cancellable: info.cancellable ?? true,
    createdAt: info.createdAt,
    startedAt: null,
    endedAt: null,
    step: null,
    activity: null,
    summary: null,
    body: [],
    notes: [],
    output: [],
    pointOfNoReturn: null,
    cancelledBy: null,
  };
}

/** Job-specific blocks: document blocks, or Block Kit from a caller that still builds it. */
export type CardBody = readonly (DocBlock | Block)[];

function docBlocks(body: CardBody): DocBlock[] {
  return body.map((b) => ("kind" in b ? b : fromBlock(b)));
}

export interface RenderOptions {
  outputLines?: number;
  now?: number;
}

const MAX_BLOCKS = 50;
const MAX_SECTION_CHARS = 2_900;
const MAX_LINE_CHARS = 200;
const MAX_OUTPUT_LINES_KEPT = 20_000;
const SUMMARY_MAX_CHARS = 1_000;

function jobLabel(s: Pick<CardState, "jobNumber" | "jobId">): string {
  return s.jobNumber !== null ? `job ${s.jobNumber}` : `job ${s.jobId.slice(0, 16)}`;
}

function elapsed(s: CardState, now: number): number | null {
  if (s.startedAt === null) return null;
  return (s.endedAt ?? now) - s.startedAt;
}

function requester(s: CardState): Inline[] {
  return s.requestedBy === "system" ? ["started by xenops"] : ["requested by ", userOrText(s.requestedBy)];
}

/**
 * The status line: phase, step, duration. `plain` leaves out the emoji and the emphasis, for the
 * one-line summary.
 */
export function statusParts(s: CardState, now = Date.now(), plain = false): Inline[] {
  const took = elapsed(s, now);
  const dur = took === null ? "" : formatDuration(took);
  // Steps, activity and summaries arrive as mrkdwn; the one-line summary shows them without emphasis.
  const mk = (text: string): Inline => markup(plain ? text.replace(/\*/g, "") : text);
  // A long failure reason would overflow the card (it is repeated in the footer): the full text is in
  // the job's log attached at the end.
  const summary: Inline[] = s.summary
    ? [
        ": ",
        mk(
          s.summary.length > SUMMARY_MAX_CHARS ? `${s.summary.slice(0, SUMMARY_MAX_CHARS - 1)}…` : s.summary,
        ),
      ]
    : [];
  const head = (icon: string, word: string): Inline[] => (plain ? [word] : [emoji(icon), " ", strong(word)]);
  switch (s.phase) {
    case "queued":
      return [...head("hourglass_flowing_sand", "Queued"), ...(s.activity ? [" · ", mk(s.activity)] : [])];
    case "running": {
      const step: Inline[] = s.step ? [` · step ${s.step.index} of ${s.step.total}: `, mk(s.step.text)] : [];
      return [...head("gear", "Running"), ...step, ...(dur ? [` (${dur})`] : [])];
    }
    case "done":
      return [...head("white_check_mark", "Done"), ...(dur ? [` in ${dur}`] : []), ...summary];
    case "failed":
      return [...head("x", "Failed"), ...(dur ? [` after ${dur}`] : []), ...summary];
    case "gave_up":
      return [...head("warning", "Gave up"), ...(dur ? [` after ${dur}`] : []), ...summary];
    case "cancelled": {
      const by: Inline[] = s.cancelledBy ? [" by ", userOrText(s.cancelledBy)] : [];
      const when = took === null ? " before it started" : ` after ${dur}`;
      return [...head("no_entry_sign", "Cancelled"), ...by, when, ...summary];
    }
  }
}

/** The status line as Slack mrkdwn. */
export function statusLine(s: CardState, now = Date.now()): string {
  return toMrkdwn(statusParts(s, now));
}

function showsCancel(s: CardState): boolean {
  return s.cancellable && !FINAL.has(s.phase) && s.pointOfNoReturn === null;
}

function tail(lines: readonly string[], n: number): string[] {
  const shown = lines.slice(-n).map((l) => clipLine(l, MAX_LINE_CHARS));
  // Keep the code block under the section limit, dropping the oldest lines first.
  // Measured escaped (& < > grow), as Slack counts what is sent.
  while (shown.length > 1 && escapeMrkdwn(shown.join("\n")).length > MAX_SECTION_CHARS - 100) shown.shift();
  return shown;
}

/** The card as a front-end-neutral document. */
export function jobCardDocument(s: CardState, options: RenderOptions = {}): MessageDocument {
  const now = options.now ?? Date.now();
  const outputLines = options.outputLines ?? 8;
  const status = statusParts(s, now);
  const blocks: DocBlock[] = [section(strong(s.title), ` · ${jobLabel(s)}\n`, ...status)];
  if (s.activity && s.phase !== "queued") blocks.push(context(markup(s.activity)));
  const tailBlocks: DocBlock[] = [];
  for (const note of s.notes.slice(-5)) tailBlocks.push(context(markup(note)));
  const shown = tail(s.output, outputLines);
  if (shown.length > 0) {
    const more = s.output.length - shown.length;
    tailBlocks.push(
      section(
        ...(more > 0 ? [em(`last ${shown.length} of ${s.output.length} lines`), "\n"] : []),
        pre(shown),
      ),
    );
  }
  const started = s.startedAt !== null ? ` · started ${utcTime(s.startedAt)}` : "";
  tailBlocks.push(context(`${jobLabel(s)} · `, ...requester(s), started));
  if (showsCancel(s))
    tailBlocks.push({
      kind: "actions",
      buttons: [{ label: "Cancel", actionId: CANCEL_ACTION_ID, value: s.jobId, style: "danger" }],
    });
  const room = MAX_BLOCKS - blocks.length - tailBlocks.length;
  blocks.push(...s.body.slice(0, Math.max(0, room)), ...tailBlocks);
  return {
    summary: [s.title, ` (${jobLabel(s)}): `, ...statusParts(s, now, true)],
    blocks,
  };
}

/** The card as a Slack message. */
export function renderJobCard(s: CardState, options: RenderOptions = {}): OutboundMessage {
  return renderSlack(jobCardDocument(s, options));
}

export interface CardProgress {
  phase: CardPhase;
  /** One line for `/xen jobs`. */
  text: string;
}

export interface JobCardOptions {
  notifier: Notifier;
  channel: string;
  jobId: string;
  jobNumber?: number | null;
  title: string;
  requestedBy: string;
  /** Offer a Cancel button while the job is queued or running (default true). */
  cancellable?: boolean;
  /** Shares the message with the "queued" card posted at enqueue time; without it the card posts its own. */
  store?: CardStore;
  /** Update this message instead of posting one (e.g. the card of a previous attempt). */
  existing?: MessageRef;
  /** Minimum spacing of non-final edits (default 3000 ms). */
  minEditIntervalMs?: number;
  /** A running card's first edit waits this long, so a quick job edits once (default 1000 ms). */
  settleMs?: number;
  /** Output lines shown on the card (default 8). */
  outputLines?: number;
  /** Output longer than this (or than the lines shown) is attached as a file at the end (default 2500). */
  attachOverChars?: number;
  /** How long to wait for the queued card being posted elsewhere before posting a new one (default 30 s). */
  adoptTimeoutMs?: number;
  logger?: Logger;
  now?: () => number;
  /** Called after each edit with a one-line summary (e.g. job.updateProgress, for `/xen jobs`). */
  onProgress?: (progress: CardProgress) => void;
}

export interface FinishOptions {
  /**
   * Replace the card's blocks by this message (e.g. the status card), keeping the header line's facts
   * in a context block at the end.
   */
  message?: OutboundMessage;
  /** Job-specific blocks for the final card. */
  body?: CardBody;
}

export class JobCard {
  readonly state: CardState;
  /** Edits sent (after the first post). */
  edits = 0;
  private readonly notifier: Notifier;
  private readonly now: () => number;
  private readonly minEdit: number;
  private readonly settle: number;
  private readonly outputLines: number;
  private readonly attachOver: number;
  private readonly logger: Logger | undefined;
  private refValue: MessageRef | null = null;
  private refKnown = false;
  private readonly refReady: Promise<MessageRef | null>;
  private dirty = false;
  private final = false;
  private finalMessage: OutboundMessage | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastEditAt = Number.NEGATIVE_INFINITY;
  private notBefore = 0;
  private lastSentKey = "";
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: JobCardOptions) {
    this.notifier = options.notifier;
    this.now = options.now ?? Date.now;
    this.minEdit = options.minEditIntervalMs ?? 3_000;
    this.settle = options.settleMs ?? 1_000;
    this.outputLines = options.outputLines ?? 8;
    this.attachOver = options.attachOverChars ?? 2_500;
    this.logger = options.logger;
    this.state = queuedState({
      title: options.title,
      jobId: options.jobId,
      jobNumber: options.jobNumber ?? null,
      requestedBy: options.requestedBy,
      cancellable: options.cancellable,
      createdAt: this.now(),
    });
    this.refReady = this.resolveRef();
  }

  /** The card's message once posted or adopted; null when Slack refused it. */
  ref(): Promise<MessageRef | null> {
    return this.refReady;
  }

  get phase(): CardPhase {
    return this.state.phase;
  }

  render(): OutboundMessage {
    if (this.finalMessage) return this.finalMessage;
    return renderJobCard(this.state, { outputLines: this.outputLines, now: this.now() });
  }

  /** The job started running. */
  start(activity?: string): this {
    if (this.state.startedAt === null) this.state.startedAt = this.now();
    this.state.phase = "running";
    if (activity !== undefined) this.state.activity = activity;
    this.notBefore = this.now() + this.settle;
    return this.changed();
  }

  step(index: number, total: number, text: string): this {
    this.state.step = { index, total, text };
    return this.changed();
  }

  /** mrkdwn line under the status; null clears it. */
  activity(text: string | null): this {
    this.state.activity = text;
    return this.changed();
  }

  /** Job-specific blocks (replaced as a whole). */
  body(blocks: CardBody): this {
    this.state.body = docBlocks(blocks);
    return this.changed();
  }

  /** Output lines (remote command output, progress); the card shows the tail, the file has them all. */
  log(...lines: string[]): this {
    for (const text of lines) for (const line of text.split("\n")) this.state.output.push(line);
    if (this.state.output.length > MAX_OUTPUT_LINES_KEPT)
      this.state.output.splice(0, this.state.output.length - MAX_OUTPUT_LINES_KEPT);
    return this.changed();
  }

  /** A context note (mrkdwn), e.g. an alert that was raised. */
  note(text: string): this {
    this.state.notes.push(text);
    return this.changed();
  }

  /** The job passed its point of no return: the Cancel button goes away and the card says why. */
  pointOfNoReturn(reason: string): this {
    this.state.pointOfNoReturn = reason;
    this.state.notes.push(
      `:lock: Past the point of no return (${escapeMrkdwn(reason)}): cancel no longer stops it; it finishes and verifies.`,
    );
    return this.changed();
  }

  /** Someone pressed cancel after the point of no return. */
  cancelTooLate(by: string | null): this {
    this.state.notes.push(
      `:warning: Cancel requested${by ? ` by ${mentionOrText(by)}` : ""} after the point of no return: finishing and verifying.`,
    );
    return this.changed();
  }

  done(summary?: string, options?: FinishOptions): Promise<void> {
    return this.finish("done", summary ?? null, options);
  }

  failed(reason: unknown, options?: FinishOptions): Promise<void> {
    const text = typeof reason === "string" ? reason : escapeMrkdwn(errorMessage(reason));
    return this.finish("failed", text, options);
  }

  gaveUp(summary: string, options?: FinishOptions): Promise<void> {
    return this.finish("gave_up", summary, options);
  }

  cancelled(by: string | null, summary?: string, options?: FinishOptions): Promise<void> {
    this.state.cancelledBy = by;
    return this.finish("cancelled", summary ?? null, options);
  }

  /** Sends the final state (always), then attaches the full output when the card showed only part of it. */
  async finish(phase: CardPhase, summary: string | null, options: FinishOptions = {}): Promise<void> {
    if (this.final) return;
    this.final = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state.phase = FINAL.has(phase) ? phase : "done";
    this.state.summary = summary;
    this.state.endedAt = this.now();
    if (options.body) this.state.body = docBlocks(options.body);
    if (options.message) this.finalMessage = this.withFooter(options.message);
    this.dirty = true;
    const ref = await this.refReady;
    // The final edit is always sent, but still no sooner than the budget allows after the last one.
    const wait = this.lastEditAt + this.minEdit - this.now();
    if (ref && this.edits > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
    await this.enqueueSend(true);
    if (ref) await this.attachOutput(ref);
  }

  private withFooter(message: OutboundMessage): OutboundMessage {
    const s = this.state;
    const facts: DocBlock = context(
      strong(s.title),
      ` · ${jobLabel(s)} · `,
      ...statusParts(s, this.now()),
      " · ",
      ...requester(s),
    );
    if (message.document) {
      const doc = message.document;
      const blocks = doc.blocks.length < MAX_BLOCKS ? [...doc.blocks, facts] : doc.blocks;
      return { ...message, ...renderSlack({ ...doc, blocks }), text: message.text };
    }
    const blocks: Block[] = message.blocks
      ? [...message.blocks]
      : [{ type: "section", text: { type: "mrkdwn", text: message.text } }];
    if (blocks.length < MAX_BLOCKS) blocks.push(toBlock(facts));
    return { ...message, blocks };
  }

  /**
   * What an edit would change, ignoring the running clock: a card whose only news is "running 3m01s"
   * instead of "running 2m58s" is not edited.
   */
  private contentKey(message: OutboundMessage): string {
    if (this.finalMessage || FINAL.has(this.state.phase)) return JSON.stringify(message);
    return JSON.stringify(
      renderJobCard(this.state, { outputLines: this.outputLines, now: this.state.createdAt }),
    );
  }

  private changed(): this {
    if (this.final) return this;
    this.dirty = true;
    this.arm();
    return this;
  }

  private arm(): void {
    if (this.timer || !this.refKnown || this.final || !this.dirty) return;
    const due = Math.max(this.lastEditAt + this.minEdit, this.notBefore);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.enqueueSend(false);
      },
      Math.max(0, due - this.now()),
    );
    this.timer.unref?.();
  }

  private enqueueSend(final: boolean): Promise<void> {
    const run = this.chain.then(() => this.send(final));
    this.chain = run.catch(() => {});
    return run;
  }

  private async send(final: boolean): Promise<void> {
    if (!this.dirty || !this.refValue) return;
    if (this.final && !final) return;
    const message = this.render();
    const key = this.contentKey(message);
    this.dirty = false;
    if (key === this.lastSentKey) return;
    this.lastSentKey = key;
    this.lastEditAt = this.now();
    try {
      await this.notifier.update(this.refValue, message);
      this.edits += 1;
      // Space the next edit from when this one was done: Slack may have delayed it (429, Retry-After).
      this.lastEditAt = this.now();
    } catch (err) {
      this.logger?.warn({ err, jobId: this.state.jobId }, "job card update failed");
    }
    this.reportProgress();
    // Changes that arrived while this edit was in flight.
    if (this.dirty) this.arm();
  }

  private reportProgress(): void {
    if (!this.options.onProgress) return;
    const s = this.state;
    const text = s.step ? `step ${s.step.index} of ${s.step.total}: ${s.step.text}` : (s.activity ?? s.phase);
    try {
      this.options.onProgress({ phase: s.phase, text: text.slice(0, 200) });
    } catch {
      // progress is best effort
    }
  }

  private async resolveRef(): Promise<MessageRef | null> {
    const { store, jobId } = this.options;
    // Let the caller's synchronous start()/step() calls land first, so the first post shows them.
    await Promise.resolve();
    if (this.options.existing) return this.known(this.options.existing);
    try {
      if (store) {
        if (this.state.jobNumber === null) this.state.jobNumber = await store.jobNumber(jobId);
        const deadline = this.now() + (this.options.adoptTimeoutMs ?? 30_000);
        for (;;) {
          const claim = await store.claimForWorker(jobId);
          if (claim.kind === "adopt") return this.known(claim.ref);
          if (claim.kind === "own") break;
          if (this.now() >= deadline) {
            await store.takeOver(jobId);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } catch (err) {
      this.logger?.warn({ err, jobId }, "job card store unavailable; posting a new card");
    }
    const message = this.render();
    this.lastSentKey = this.contentKey(message);
    this.dirty = false;
    const ref = await this.notifier.post(this.options.channel, message).catch((err: unknown) => {
      this.logger?.warn({ err, jobId }, "job card post failed");
      return null;
    });
    if (ref && store) await store.setRef(jobId, ref).catch(() => {});
    if (ref) this.reportProgress();
    return this.known(ref);
  }

  private known(ref: MessageRef | null): MessageRef | null {
    this.refValue = ref;
    this.refKnown = true;
    this.lastEditAt = Math.max(this.lastEditAt, this.now());
    if (this.dirty && !this.final) this.arm();
    return ref;
  }

  private async attachOutput(ref: MessageRef): Promise<void> {
    const lines = this.state.output;
    const text = lines.join("\n");
    const shown = tail(lines, this.outputLines).length;
    if (lines.length === 0 || (lines.length <= shown && text.length <= this.attachOver)) return;
    if (!this.notifier.upload) return;
    const name = this.state.jobNumber !== null ? `job-${this.state.jobNumber}` : `job-${this.state.jobId}`;
    try {
      await this.notifier.upload(ref.channel, {
        filename: `${name}.log`,
        title: `${this.state.title}: full output (${lines.length} lines)`,
        content: `${text}\n`,
        threadTs: ref.ts,
      });
    } catch (err) {
      this.logger?.warn({ err, jobId: this.state.jobId }, "job log upload failed");
    }
  }
}

export interface OpenJobCardDeps {
  notifier: Notifier;
  cards?: CardStore;
  logger?: Logger;
}

type CardJobData = { channel: string; requestedBy: string };

/**
 * A card for a running BullMQ job: channel and requester from the payload, the shared queued card when
 * `cards` is given, progress mirrored to `job.updateProgress` (what `/xen jobs` shows).
 */
export function openJobCard(
  job: Job<CardJobData>,
  deps: OpenJobCardDeps,
  options: Omit<JobCardOptions, "notifier" | "channel" | "jobId" | "requestedBy" | "store"> &
    Partial<Pick<JobCardOptions, "channel" | "requestedBy">>,
): JobCard {
  const { onProgress, channel, requestedBy, ...rest } = options;
  return new JobCard({
    ...rest,
    notifier: deps.notifier,
    channel: channel ?? job.data.channel,
    jobId: job.id ?? "unknown",
    requestedBy: requestedBy ?? job.data.requestedBy,
    ...(deps.cards ? { store: deps.cards } : {}),
    ...(deps.logger && !rest.logger ? { logger: deps.logger } : {}),
    onProgress: (p) => {
      void job.updateProgress({ phase: p.phase, text: p.text }).catch(() => {});
      onProgress?.(p);
    },
  });
}

/** The "queued" card posted when a job is enqueued (see ./announce). */
export function renderQueuedCard(info: {
  jobId: string;
  jobNumber: number | null;
  title: string;
  requestedBy: string;
  cancellable?: boolean;
  now?: number;
}): OutboundMessage {
  const now = info.now ?? Date.now();
  return renderJobCard(
    queuedState({
      title: info.title,
      jobId: info.jobId,
      jobNumber: info.jobNumber,
      requestedBy: info.requestedBy,
      cancellable: info.cancellable,
      createdAt: now,
    }),
    { now },
  );
}
