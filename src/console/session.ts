/**
 * The console front end: the same command core, queue and jobs as Slack, driven by lines of
 * `<SLACK_USER_ID>: <text>` where text is `/xen ...` or `click <button text>`.
 */
import type { CommandCore, Reply } from "../chat/types";
import { errorMessage } from "../errors";
import { parseActionValue } from "../events/actions";
import { EVENT_ACTION_PREFIX } from "../events/render";
import type { FormCore } from "../forms/core";
import { type FormState, incidentFormValues, parseAssignments } from "../forms/form";
import { viewText } from "../forms/text";
import type { JobOutcome } from "../queue/queues";
import type { ConsoleNotifier } from "./notifier";
import { renderConsole } from "./render";

const LINE = /^\s*([UW][A-Z0-9]{2,})\s*:\s*(.*?)\s*$/;
const SLASH = /^\/xen(?:\s+(.*))?$/;
const CLICK = /^click\s+(.+)$/i;
/** The `/xen` modal in the console: `form field=value ...` opens it, `submit [field=value ...]` files it. */
const FORM = /^(form|submit)(?:\s+(.*))?$/i;

/** A reply rendered from a document prints from it; otherwise its text as the core wrote it. */
function replyText(reply: Reply): string {
  return reply.document ? renderConsole(reply.document) : reply.text;
}

export interface ConsoleSessionOptions {
  core: CommandCore;
  notifier: ConsoleNotifier;
  /** Channel the console speaks in (the cluster's configured channel). */
  channel: string;
  write: (text: string) => void;
  waitForJob(jobId: string, timeoutMs: number): Promise<JobOutcome>;
  /** Distinguishes deliveries of this session from other sessions' (idempotent job ids). */
  sessionId: string;
  /**
   * Console-only `!` lines besides the built-in `!sleep SECONDS` (the lab's `!sim ...` drives the
   * simulator). They never reach the command core, so they cannot exist in Slack.
   */
  directive?: (text: string) => Promise<string>;
  /** The `/xen` modal's core (Slack's `/xen` without arguments), for `form` and `submit` lines. */
  forms?: FormCore;
}

export interface SettleResult {
  outcomes: JobOutcome[];
  /** Jobs that failed or did not finish in time. */
  problems: JobOutcome[];
}

export class ConsoleSession {
  private readonly queued: string[] = [];
  private readonly settled = new Map<string, JobOutcome>();
  private lineNo = 0;
  /** Each user's open form: its view id (the submission's delivery id) and state. */
  private readonly openForms = new Map<string, { viewId: string; state: FormState }>();
  /** Lines that could not be run (bad syntax, no such button). */
  errors = 0;

  constructor(private readonly opts: ConsoleSessionOptions) {}

  /** Register a job this session caused (wired to createDeps' onEnqueued). */
  trackJob(jobId: string): void {
    if (!this.queued.includes(jobId)) this.queued.push(jobId);
  }

  async line(raw: string, defaultUser?: string): Promise<void> {
    this.lineNo += 1;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const match = LINE.exec(trimmed);
    const user = match?.[1] ?? defaultUser;
    // `{approval}`: the id of the newest approval card, which a script cannot know in advance
    // (e.g. `/xen approve {approval} ics2/internet` for a typed confirmation).
    const text = (match ? (match[2] ?? "") : trimmed).replace(
      /\{approval\}/g,
      () => this.opts.notifier.findButton("Approve")?.button.value ?? "{approval}",
    );
    const { write } = this.opts;
    if (text.startsWith("!")) {
      await this.runDirective(text);
      return;
    }
    if (!user) {
      this.errors += 1;
      write(`line ${this.lineNo}: expected "<SLACK_USER_ID>: <text>", e.g. "UVIEWER1: /xen status"\n`);
      return;
    }
    write(`>>> ${user}: ${text}\n`);
    const deliveryId = `console-${this.opts.sessionId}-${this.lineNo}`;
    const slash = SLASH.exec(text);
    if (slash) {
      const reply = await this.opts.core.command({
        source: "console",
        deliveryId,
        teamId: null,
        channelId: this.opts.channel,
        userId: user,
        text: slash[1] ?? "",
      });
      write(`--- only visible to ${user}\n${replyText(reply).replace(/^/gm, "  ")}\n`);
      return;
    }
    const form = FORM.exec(text);
    if (form && this.opts.forms) {
      await this.formLine(
        user,
        (form[1] ?? "").toLowerCase() as "form" | "submit",
        form[2] ?? "",
        deliveryId,
      );
      return;
    }
    const click = CLICK.exec(text);
    if (click) {
      const label = click[1] ?? "";
      // A person clicks once the card is there: wait for it while the jobs this session queued run.
      const found = await this.waitForButton(label);
      if (!found) {
        this.errors += 1;
        write(`line ${this.lineNo}: no message has a button "${label}"\n`);
        return;
      }
      // An incident's action opens the form pre-filled, as in Slack: `submit` files it.
      const incident = found.button.action_id.startsWith(EVENT_ACTION_PREFIX)
        ? parseActionValue(found.button.value ?? "")
        : null;
      if (incident && this.opts.forms) {
        await this.showForm(
          user,
          deliveryId,
          { channelId: found.message.channel, values: {}, preflight: null },
          incidentFormValues(incident.incident, incident.cluster, incident.action),
        );
        return;
      }
      const reply = await this.opts.core.action({
        source: "console",
        deliveryId,
        channelId: found.message.channel,
        userId: user,
        messageTs: found.message.ts,
        actionId: found.button.action_id,
        value: found.button.value ?? "",
      });
      if (reply) write(`--- only visible to ${user}\n${replyText(reply).replace(/^/gm, "  ")}\n`);
      return;
    }
    this.errors += 1;
    write(`line ${this.lineNo}: expected "/xen <verb> ..." or "click <button text>" after "${user}:"\n`);
  }

  /**
   * `form field=value ...`: makes these choices (as the user would pick them, one select after the
   * other) and shows the form, with its preflight once the request is complete; with `action=` it opens
   * a new form, else it goes on with the user's open one. `submit [field=value ...]`: adds the values to
   * the user's open form (opening one if none) and submits it, as Slack's submit button does.
   */
  private async formLine(user: string, verb: "form" | "submit", args: string, viewId: string): Promise<void> {
    const forms = this.opts.forms as FormCore;
    const { write } = this.opts;
    const { values, unknown } = parseAssignments(args);
    if (unknown.length > 0) {
      this.errors += 1;
      write(
        `line ${this.lineNo}: expected field=value (fields: action, cluster, subject, guest, target, node, resource, override_last_copy, options, confirm), not "${unknown.join(" ").slice(0, 60)}"\n`,
      );
      return;
    }
    // `form action=...` opens a new form; other lines go on with the user's open form, if any.
    const current = verb === "submit" || values.action === undefined ? this.openForms.get(user) : undefined;
    const open = current ?? { viewId, state: { channelId: this.opts.channel, values: {}, preflight: null } };
    if (verb === "form") {
      await this.showForm(user, open.viewId, open.state, values);
      return;
    }
    const actor = { source: "console" as const, viewId: open.viewId, userId: user, teamId: null };
    // As in Slack: each choice updates the view in turn (the later selects depend on the earlier ones).
    let state = open.state;
    for (const [field, value] of Object.entries(values))
      state = (await forms.change({ ...state, values: { ...state.values, [field]: value } })).state;
    const result = await forms.submit(actor, state);
    if (!result.ok) {
      this.openForms.set(user, { viewId: open.viewId, state: result.state });
      const errors = Object.entries(result.errors).map(([f, m]) => `${f}: ${m}`);
      write(
        `--- form ${open.viewId} not submitted (only visible to ${user})\n${errors.join("\n").replace(/^/gm, "  ")}\n`,
      );
      return;
    }
    this.openForms.delete(user);
    const filed = result.incident
      ? `${result.command} (as the incident's button)`
      : `\`/xen ${result.command}\``;
    write(
      `--- form ${open.viewId} filed ${filed} (only visible to ${user})\n${replyText(result.reply).replace(/^/gm, "  ")}\n`,
    );
  }

  /** Makes the choices one after the other, as Slack's selects do, then shows the form with its preflight. */
  private async showForm(
    user: string,
    viewId: string,
    start: FormState,
    values: Partial<Record<string, string>>,
  ): Promise<void> {
    const forms = this.opts.forms as FormCore;
    const actor = { source: "console" as const, viewId, userId: user, teamId: null };
    let state = start;
    for (const [field, value] of Object.entries(values))
      state = (await forms.change({ ...state, values: { ...state.values, [field]: value } })).state;
    const shown = (await forms.preflight(actor, state)) ?? (await forms.change(state));
    this.openForms.set(user, { viewId, state: shown.state });
    this.opts.write(
      `--- form ${viewId} (only visible to ${user})\n${viewText(shown.view).replace(/^/gm, "  ")}\n`,
    );
  }

  /** The button, once a message has it; null when no queued job is left that could still post it. */
  private async waitForButton(label: string, timeoutMs = 120_000) {
    await this.waitForJobs(() => this.opts.notifier.findButton(label) !== null, timeoutMs);
    return this.opts.notifier.findButton(label);
  }

  /** Lets the jobs this session queued run until `done()` holds or none is left (or the timeout). */
  private async waitForJobs(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done()) return;
      const pending = this.queued.filter((id) => !this.settled.has(id));
      if (pending.length === 0 || Date.now() >= deadline) return;
      for (const jobId of pending) {
        try {
          const outcome = await this.opts.waitForJob(jobId, 100);
          if (outcome.state !== "timeout") this.settled.set(jobId, outcome);
        } catch {
          // settle() reports it
        }
        if (done()) return;
      }
    }
  }

  private async runDirective(text: string): Promise<void> {
    const { write } = this.opts;
    write(`>>> ${text}\n`);
    if (/^!wait\s*$/.test(text)) {
      // Until every job queued so far (and the jobs those queued) has finished: scripts step through time.
      await this.waitForJobs(() => false, 600_000);
      return;
    }
    const sleep = /^!sleep\s+(\d+(?:\.\d+)?)\s*$/.exec(text);
    if (sleep) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(Number(sleep[1]), 600) * 1000));
      return;
    }
    if (!this.opts.directive) {
      this.errors += 1;
      write(`line ${this.lineNo}: unknown directive; this console knows "!sleep SECONDS" and "!wait"\n`);
      return;
    }
    try {
      const out = await this.opts.directive(text);
      if (out) write(`${out.replace(/^/gm, "--- ")}\n`);
    } catch (err) {
      this.errors += 1;
      write(`line ${this.lineNo}: ${errorMessage(err)}\n`);
    }
  }

  /** Waits until every job this session queued (including jobs queued by those jobs) has finished. */
  async settle(timeoutMs = 120_000): Promise<SettleResult> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const pending = this.queued.filter((id) => !this.settled.has(id));
      if (pending.length === 0) break;
      for (const jobId of pending) {
        const left = Math.max(1, deadline - Date.now());
        let outcome: JobOutcome;
        try {
          outcome = await this.opts.waitForJob(jobId, left);
        } catch (err) {
          outcome = { state: "failed", jobId, failedReason: errorMessage(err) };
        }
        this.settled.set(jobId, outcome);
      }
    }
    const outcomes = this.queued.map((id) => this.settled.get(id)!);
    // A job someone cancelled on purpose (`/xen cancel`, the Cancel button) is not a problem of the script.
    const cancelled = (o: JobOutcome) => o.state === "failed" && /^cancelled\b/.test(o.failedReason);
    return {
      outcomes,
      problems: outcomes.filter((o) => (o.state === "failed" && !cancelled(o)) || o.state === "timeout"),
    };
  }
}
