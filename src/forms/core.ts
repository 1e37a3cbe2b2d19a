/**
 * The form core: the `/xen` modal's behaviour for every front end (Slack's views, the console's
 * `form` and `submit` lines). Opening and changing a form read only the inventory and the stored
 * facts (no SSH: Slack's trigger_id expires in 3 s). The preflight is the typed command with
 * `--dry-run`, filed through the command core like any command; submitting files the typed command
 * itself, with the view id as the delivery id, so a resubmitted view queues nothing twice.
 */
import { createHash } from "node:crypto";
import type {
  CommandCore,
  FormActor,
  FormCore,
  FormPreflight,
  FormShown,
  FormState,
  FormSubmitResult,
  Reply,
} from "../chat/types";
import type { InventoryConfig } from "../config/schema";
import { errorMessage } from "../errors";
import { describeAction, type EventActionHandler } from "../events/actions";
import type { Facts } from "../events/facts";
import type { Logger } from "../log";
import { deriveJobId } from "../queue/names";
import type { JobOutcome } from "../queue/queues";
import {
  buildFormView,
  commandText,
  type FormContext,
  incidentActionOf,
  isRisky,
  normalize,
  preflightKey,
  validate,
} from "./form";

export type { FormActor, FormCore, FormSubmitResult };

type Json = Record<string, unknown>;

export interface FormCoreDeps {
  inventory: InventoryConfig;
  core: CommandCore;
  /** The events monitor's last stored facts of a cluster (Redis); null when none. */
  loadFacts(cluster: string): Promise<Facts | null>;
  waitForJob(jobId: string, timeoutMs: number): Promise<JobOutcome>;
  logger: Logger;
  /**
   * The typed confirmation an approval request asks for (null: none), or `found: false` when there is
   * no such request; for checking the `approve` form on submit.
   */
  approvalTyped?(id: string): Promise<{ found: boolean; typed: string | null }>;
  /**
   * The incidents' actions (the events module's button handler): what an incident offers now, as stored,
   * and filing one of them (or its dry run) as its button would, keyed by the form's view id.
   */
  incidents?: Pick<EventActionHandler, "offered" | "request">;
  /** How long the preflight may take before the modal says it is still running (default 60 s). */
  preflightTimeoutMs?: number;
}

/** The plan job's answer (jobs/operation-plan.ts): what it posted, and its text for the modal. */
interface PlanResult {
  result?: string;
  summary?: string;
  preview?: string;
}

export function createFormCore(deps: FormCoreDeps): FormCore {
  const log = deps.logger.child({ component: "forms" });
  const timeoutMs = deps.preflightTimeoutMs ?? 60_000;

  async function context(channelId: string, incidentId?: string): Promise<FormContext> {
    const facts = new Map<string, Facts | null>();
    for (const c of deps.inventory.clusters.filter((x) => x.channels.includes(channelId))) {
      try {
        facts.set(c.name, await deps.loadFacts(c.name));
      } catch (err) {
        // Without stored facts every inventory choice is offered; the preflight still checks it.
        log.warn({ err, cluster: c.name }, "stored facts unreadable for the form");
        facts.set(c.name, null);
      }
    }
    // The incident whose button opened the form, read from the store on every step: the form's own
    // copy of its id (private_metadata) only says which one to read.
    let incident: FormContext["incident"] = null;
    if (incidentId && deps.incidents && /^[A-Za-z0-9_-]{8,32}$/.test(incidentId)) {
      try {
        const offered = await deps.incidents.offered(incidentId);
        if (offered && facts.has(offered.cluster))
          incident = { id: incidentId, cluster: offered.cluster, actions: offered.actions };
      } catch (err) {
        log.warn({ err, incident: incidentId }, "incident unreadable for the form");
      }
    }
    return { inventory: deps.inventory, facts, incident };
  }

  async function render(state: FormState): Promise<FormShown> {
    const ctx = await context(state.channelId, state.values.incident);
    const values = normalize(state.values, ctx, state.channelId);
    const key = isRisky(values) ? preflightKey(values, ctx) : null;
    // A preflight without its command is the one about to run, for what the form says now.
    const preflight =
      state.preflight && state.preflight.command === ""
        ? { ...state.preflight, command: key ?? "" }
        : (state.preflight ?? null);
    const next: FormState = { ...state, values, preflight };
    return { state: next, view: buildFormView(next, ctx), preflightKey: key };
  }

  return {
    open: (channelId, values = {}) => render({ channelId, values, preflight: null }),
    change: (state) => render(state),

    async preflight(actor, state) {
      const ctx = await context(state.channelId, state.values.incident);
      const values = normalize(state.values, ctx, state.channelId);
      const incident = incidentActionOf(values, ctx);
      if (incident && deps.incidents && values.cluster && values.incident) {
        const key = preflightKey(values, ctx) as string;
        let preflight: FormPreflight;
        try {
          const filed = await deps.incidents.request({
            source: actor.source,
            userId: actor.userId,
            incidentId: values.incident,
            cluster: values.cluster,
            action: incident,
            dryRun: true,
            key: actor.viewId,
          });
          const parts: FormPreflight[] = [];
          for (const jobId of filed.jobIds)
            parts.push(preflightOf(key, filed.reply, await deps.waitForJob(jobId, timeoutMs)));
          preflight =
            parts.length === 0
              ? { command: key, ok: false, text: filed.reply.text }
              : {
                  command: key,
                  ok: parts.some((p) => p.ok === false)
                    ? false
                    : parts.every((p) => p.ok === true)
                      ? true
                      : null,
                  text: parts.map((p) => p.text).join("\n\n"),
                };
        } catch (err) {
          log.warn({ err, viewId: actor.viewId }, "form preflight failed");
          preflight = { command: key, ok: false, text: `The preflight could not run: ${errorMessage(err)}` };
        }
        const next: FormState = { channelId: state.channelId, values, preflight };
        return { state: next, view: buildFormView(next, ctx) };
      }
      const text = commandText(values, { dryRun: true });
      if (!text || !values.cluster || !/^(migrate|create|fence|evacuate|attest-off) /.test(text)) return null;
      const digest = createHash("sha256").update(text).digest("hex").slice(0, 12);
      const deliveryId = `${actor.viewId}:preflight:${digest}:${Date.now().toString(36)}`;
      let preflight: FormPreflight;
      try {
        const reply = await deps.core.command({
          source: actor.source,
          deliveryId,
          teamId: actor.teamId,
          channelId: state.channelId,
          userId: actor.userId,
          text,
        });
        const outcome = await deps.waitForJob(
          deriveJobId(values.cluster, "operation-plan", deliveryId),
          timeoutMs,
        );
        preflight = preflightOf(text, reply, outcome);
      } catch (err) {
        log.warn({ err, viewId: actor.viewId }, "form preflight failed");
        preflight = { command: text, ok: false, text: `The preflight could not run: ${errorMessage(err)}` };
      }
      const next: FormState = { channelId: state.channelId, values, preflight };
      return { state: next, view: buildFormView(next, ctx) };
    },

    async submit(actor, state) {
      const ctx = await context(state.channelId, state.values.incident);
      const values = normalize(state.values, ctx, state.channelId);
      const approval =
        values.action === "approve" && values.request && deps.approvalTyped
          ? await deps.approvalTyped(values.request).catch(() => undefined)
          : undefined;
      const incident = incidentActionOf(values, ctx);
      const errors = validate(values, approval, incident);
      if (
        Object.keys(errors).length === 0 &&
        incident &&
        deps.incidents &&
        values.cluster &&
        values.incident
      ) {
        // Filed as the incident's button files it (names, role and maintenance checked again, the card
        // in its thread), once per form: the view id is the request's key.
        const dryRun = (values.options ?? "").split(/\s+/).includes("dry-run");
        const filed = await deps.incidents.request({
          source: actor.source,
          userId: actor.userId,
          incidentId: values.incident,
          cluster: values.cluster,
          action: incident,
          dryRun,
          key: actor.viewId,
        });
        const what = `${describeAction(incident)}${dryRun ? " (dry run)" : ""}`;
        log.info({ viewId: actor.viewId, user: actor.userId, action: incident.kind }, "form submitted");
        return {
          ok: true,
          command: what,
          incident: true,
          reply: filed.reply,
          view: resultView(what, filed.reply, false),
        };
      }
      const text = commandText(values);
      if (Object.keys(errors).length > 0 || !text) {
        if (Object.keys(errors).length === 0)
          errors.action = "This form no longer stands for a request; choose again.";
        return { ok: false, errors, state: { ...state, values } };
      }
      const reply = await deps.core.command({
        source: actor.source,
        deliveryId: actor.viewId,
        teamId: actor.teamId,
        channelId: state.channelId,
        userId: actor.userId,
        text,
      });
      log.info({ viewId: actor.viewId, user: actor.userId, action: values.action }, "form submitted");
      return { ok: true, command: text, reply, view: resultView(text, reply) };
    },
  };
}

function preflightOf(command: string, reply: Reply, outcome: JobOutcome): FormPreflight {
  if (outcome.state === "missing")
    // Nothing was queued: the core refused (role, usage); its answer says why.
    return { command, ok: false, text: reply.text };
  if (outcome.state === "timeout")
    return { command, ok: null, text: `${reply.text}\nStill running; its card will appear in the channel.` };
  if (outcome.state === "failed")
    return { command, ok: false, text: `The dry run failed: ${outcome.failedReason}` };
  // QueueEvents hands the return value over as JSON text; a job read back gives the object.
  let raw = outcome.returnValue;
  if (typeof raw === "string") {
    try {
      raw = JSON.parse(raw);
    } catch {
      raw = {};
    }
  }
  const r = (raw ?? {}) as PlanResult;
  const text = r.preview ?? r.summary ?? "done";
  return { command, ok: r.result === "dry-run", text };
}

/** The modal after submitting: what was filed and the core's answer (same as the typed command's). */
function resultView(command: string, reply: Reply, typed = true): Json {
  return {
    type: "modal",
    callback_id: "xenops-form-done",
    title: { type: "plain_text", text: "xenops" },
    close: { type: "plain_text", text: "Close" },
    blocks: [
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: (typed ? `Filed \`/xen ${command}\`` : `Filed (as the incident's button): ${command}`).slice(
            0,
            2_900,
          ),
        },
      },
      { type: "section", text: { type: "mrkdwn", text: reply.text.slice(0, 2_900) } },
    ],
  };
}
