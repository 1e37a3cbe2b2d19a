/**
 * Buttons on incidents ("Fence ics2", "Start its guests on ics1", "Keep ics1's data", "Fail back to
 * ics2"). A click never acts: it checks the clicker's role and the maintenance windows, then queues
 * the planning job of the operation, whose plan goes on an approval card in the incident's thread.
 * Fence, start and failback are planned by `operation-plan`, like typed commands; the split-brain
 * recovery goes through `split-brain-plan` (jobs/split-brain.ts), the same planner with the card in
 * the incident's thread, and runs in the same executor as every approved action.
 *
 * Button values come back from Slack and are treated as untrusted: parsed, and every name checked
 * against the inventory.
 */
import { z } from "zod";
import { policyFor } from "../approval/policy";
import type { RiskyAction } from "../approval/types";
import type { Authorizer } from "../chat/authz";
import { type EnqueuedJob, EnqueueOutcomeUnknown, type JobEnqueuer } from "../chat/enqueuer";
import type { ActionHandler } from "../chat/router";
import type { ActionRequest, Reply } from "../chat/types";
import { type ClusterConfig, type InventoryConfig, Name } from "../config/schema";
import { errorMessage } from "../errors";
import type { Logger } from "../log";
import type { IncidentManager } from "./incidents";
import type { MaintenanceStore } from "./maintenance";
import { EVENT_ACTION_PREFIX } from "./render";
import type { IncidentAction } from "./types";

const ActionValue = z.object({
  v: z.literal(1),
  i: z.string().regex(/^[A-Za-z0-9_-]{8,32}$/),
  c: Name,
  a: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("fence"), node: Name }).strict(),
    z
      .object({
        kind: z.literal("start_guests"),
        node: Name,
        survivor: Name,
        guests: z.array(Name).min(1).max(50),
      })
      .strict(),
    z.object({ kind: z.literal("keep_data"), resource: Name, survivor: Name, victim: Name }).strict(),
    z.object({ kind: z.literal("failback"), node: Name, guests: z.array(Name).min(1).max(50) }).strict(),
  ]),
});

/** What a click asks the risky operations for: their planning jobs, enqueued. */
export interface OperationRequests {
  fence(req: OperationContext & { node: string }): Promise<EnqueuedJob[]>;
  /** Start (create) each guest on `node`. */
  start(req: OperationContext & { guests: string[]; node: string }): Promise<EnqueuedJob[]>;
  /** Live-migrate each guest to `target` (failback). */
  migrate(
    req: OperationContext & { guests: string[]; target: string; failback: boolean },
  ): Promise<EnqueuedJob[]>;
}

export interface OperationContext {
  cluster: string;
  requestedBy: string;
  channel: string;
  /** Thread of the incident, where the approval cards go. */
  threadTs: string | null;
  deliveryId: string;
  requestText: string;
  /** Plan and post the dry run only (the `/xen` form's preflight of an incident's action). */
  dryRun?: boolean;
}

/**
 * An incident's action asked for through the `/xen` form opened from its button: the same checks and
 * planning as the click, keyed by `key` (the form's view id) instead of the click.
 */
export interface IncidentRequest {
  source: "slack" | "console";
  userId: string;
  incidentId: string;
  cluster: string;
  action: IncidentAction;
  dryRun: boolean;
  /** What makes it one request: a resubmission with the same key queues nothing twice. */
  key: string;
}

export interface IncidentRequestResult {
  reply: Reply;
  /** The planning jobs queued (or found already queued); empty when refused before queueing. */
  jobIds: string[];
}

/** The actions an incident's message offers now, as stored (never as a button or a form says). */
export interface OfferedActions {
  cluster: string;
  actions: IncidentAction[];
}

export interface EventActionHandler extends ActionHandler {
  request(req: IncidentRequest): Promise<IncidentRequestResult>;
  offered(incidentId: string): Promise<OfferedActions | null>;
}

export interface EventActionDeps {
  inventory: InventoryConfig;
  authorizer: Pick<Authorizer, "has">;
  maintenance: MaintenanceStore;
  incidents: IncidentManager;
  jobs: JobEnqueuer;
  operations: OperationRequests;
  logger: Logger;
  now?: () => number;
}

function policyAction(a: IncidentAction): RiskyAction {
  switch (a.kind) {
    case "fence":
      return "fence";
    case "start_guests":
      return "create";
    case "keep_data":
      return "split_brain_recover";
    case "failback":
      return "failback";
  }
}

/** The nodes a risky action touches: none of them may be in maintenance. */
export function nodesTouched(a: IncidentAction): string[] {
  switch (a.kind) {
    case "fence":
      return [a.node];
    case "start_guests":
      return [a.survivor, a.node];
    case "keep_data":
      return [a.victim, a.survivor];
    case "failback":
      return [a.node];
  }
}

function checkNames(cluster: ClusterConfig, a: IncidentAction): string | null {
  const nodes = new Set(cluster.nodes.map((n) => n.name));
  const guests = new Set(cluster.guests.map((g) => g.name));
  for (const n of nodesTouched(a)) if (!nodes.has(n)) return `unknown node "${n}" in ${cluster.name}`;
  if (a.kind === "start_guests" || a.kind === "failback")
    for (const g of a.guests) if (!guests.has(g)) return `unknown guest "${g}" in ${cluster.name}`;
  if (a.kind === "keep_data" && a.victim === a.survivor)
    return "the survivor and the victim are the same node";
  return null;
}

/** A button's value (untrusted: it comes back from Slack), or null when it is not valid. */
export function parseActionValue(
  raw: string,
): { incident: string; cluster: string; action: IncidentAction } | null {
  try {
    const v = ActionValue.parse(JSON.parse(raw));
    return { incident: v.i, cluster: v.c, action: v.a };
  } catch {
    return null;
  }
}

/** The same action (its guests compared as sets). */
export function sameAction(x: IncidentAction, y: IncidentAction): boolean {
  const norm = (a: IncidentAction) =>
    JSON.stringify("guests" in a ? { ...a, guests: [...a.guests].sort() } : a, Object.keys(a).sort());
  return norm(x) === norm(y);
}

export function describeAction(a: IncidentAction): string {
  return describe(a);
}

function describe(a: IncidentAction): string {
  switch (a.kind) {
    case "fence":
      return `fence ${a.node}`;
    case "start_guests":
      return `start ${a.guests.join(", ")} on ${a.survivor}`;
    case "keep_data":
      return `recover ${a.resource} keeping ${a.survivor}'s data (discarding ${a.victim}'s)`;
    case "failback":
      return `fail ${a.guests.join(", ")} back to ${a.node}`;
  }
}

export function createEventActionHandler(deps: EventActionDeps): EventActionHandler {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: "event-actions" });

  /** Checks names, role and maintenance windows, then queues the planning jobs (or their dry runs). */
  async function file(req: {
    userId: string;
    channelId: string;
    threadTs: string | null;
    incidentId: string;
    cluster: string;
    action: IncidentAction;
    dryRun: boolean;
    deliveryId: string;
    requestText: string;
  }): Promise<IncidentRequestResult> {
    const none = (text: string): IncidentRequestResult => ({ reply: { text }, jobIds: [] });
    const cluster = deps.inventory.clusters.find((c) => c.name === req.cluster);
    if (!cluster) return none(`Unknown cluster "${req.cluster}"; nothing was done.`);
    const a = req.action;
    const bad = checkNames(cluster, a);
    if (bad) return none(`${bad}; nothing was done.`);
    const action = policyAction(a);
    const role =
      action === "split_brain_recover"
        ? policyFor(action, deps.inventory, {
            params:
              a.kind === "keep_data"
                ? { victim: a.victim, resource: a.resource }
                : { victim: "", resource: "" },
            target: {},
          }).requestRole
        : policyFor(action, deps.inventory).requestRole;
    if (!(await deps.authorizer.has(req.userId, role)))
      return none(`Requesting to ${describe(a)} needs the *${role}* role, which you do not have.`);
    try {
      await deps.maintenance.assertNotInMaintenance(cluster.name, nodesTouched(a));
    } catch (err) {
      return none(errorMessage(err));
    }
    const ctx: OperationContext = {
      cluster: cluster.name,
      requestedBy: req.userId,
      channel: req.channelId,
      threadTs: req.threadTs,
      deliveryId: req.deliveryId,
      requestText: req.requestText,
      ...(req.dryRun ? { dryRun: true } : {}),
    };
    log.info(
      {
        cluster: cluster.name,
        user: req.userId,
        action: a.kind,
        incident: req.incidentId,
        dryRun: req.dryRun,
      },
      "event action requested",
    );
    let jobs: EnqueuedJob[];
    try {
      switch (a.kind) {
        case "keep_data":
          jobs = [
            req.dryRun
              ? // The dry run is the same planner's, through the operations' planning job.
                await deps.jobs.enqueue(
                  cluster.name,
                  "operation-plan",
                  {
                    cluster: cluster.name,
                    channel: ctx.channel,
                    requestedBy: ctx.requestedBy,
                    deliveryId: ctx.deliveryId,
                    requestText: ctx.requestText,
                    operation: {
                      action: "split_brain_recover",
                      resource: a.resource,
                      survivor: a.survivor,
                      victim: a.victim,
                    },
                    dryRun: true,
                    threadTs: req.threadTs,
                  },
                  { deliveryId: ctx.deliveryId },
                )
              : await deps.jobs.enqueue(
                  cluster.name,
                  "split-brain-plan",
                  {
                    cluster: cluster.name,
                    channel: ctx.channel,
                    requestedBy: ctx.requestedBy,
                    deliveryId: ctx.deliveryId,
                    requestText: ctx.requestText,
                    resource: a.resource,
                    survivor: a.survivor,
                    victim: a.victim,
                    threadTs: req.threadTs,
                  },
                  { deliveryId: ctx.deliveryId },
                ),
          ];
          break;
        case "fence":
          jobs = await deps.operations.fence({ ...ctx, node: a.node });
          break;
        case "start_guests":
          jobs = await deps.operations.start({ ...ctx, guests: a.guests, node: a.survivor });
          break;
        case "failback":
          jobs = await deps.operations.migrate({
            ...ctx,
            guests: a.guests,
            target: a.node,
            failback: true,
          });
          break;
      }
    } catch (err) {
      log.error({ err }, "event action failed");
      if (err instanceof EnqueueOutcomeUnknown)
        return none(
          `The request to ${describe(a)} may have been queued: ${errorMessage(err)}. See \`/xen jobs\` before clicking again.`,
        );
      return none(`Could not queue the request to ${describe(a)}: ${errorMessage(err)}. Nothing was done.`);
    }
    const numbers = jobs.map((j) => j.number).join(", ");
    const dup = jobs.length > 0 && jobs.every((j) => j.duplicate);
    const what = req.dryRun ? `the dry run of: ${describe(a)}` : `planning to ${describe(a)}`;
    // The split-brain planner posts in the incident's thread; the operations' planners in the channel.
    const where = a.kind === "keep_data" ? "in the incident's thread" : "in the channel";
    return {
      jobIds: jobs.map((j) => j.jobId),
      reply: {
        text: dup
          ? `Already queued (job ${numbers}): ${what}.`
          : `Queued as job ${numbers}: ${what}. ${req.dryRun ? "The dry run" : "The plan and its approval card"} will appear ${where}.`,
      },
    };
  }

  return {
    prefix: EVENT_ACTION_PREFIX,
    async handle(request: ActionRequest): Promise<Reply | null> {
      const value = parseActionValue(request.value);
      if (!value) return { text: "That button's data is not valid; nothing was done." };
      const incident = await deps.incidents.get(value.incident);
      const threadTs = incident?.threadTs ?? request.messageTs;
      // One request per click, however often its request arrives (a Slack retry, a replay): keyed by
      // the minute of the click's own action_ts, signed with it, so clicks on the same button within
      // that minute (double clicks, two people at once) are one request too. Without action_ts (the
      // console), by the trigger of a Slack click, else by the minute it arrived.
      const clickTs = /^\d{1,12}(\.\d{1,6})?$/.test(request.actionTs ?? "") ? Number(request.actionTs) : null;
      const window =
        clickTs !== null
          ? `at${Math.floor(clickTs / 60)}`
          : request.source === "slack"
            ? `trigger:${request.deliveryId}`
            : String(Math.floor(now() / 60_000));
      const result = await file({
        userId: request.userId,
        channelId: request.channelId,
        threadTs,
        incidentId: value.incident,
        cluster: value.cluster,
        action: value.action,
        dryRun: false,
        deliveryId: `event:${value.incident}:${JSON.stringify(value.action)}:${window}`,
        requestText: `[button] ${describe(value.action)}`,
      });
      return result.reply;
    },

    async offered(incidentId) {
      const rec = await deps.incidents.get(incidentId);
      if (!rec) return null;
      if (rec.status !== "open") return null;
      return { cluster: rec.cluster, actions: rec.current.actions ?? [] };
    },

    async request(req) {
      // The incident, its channel and thread are read here, never taken from the form: the action must
      // be one its message offers now.
      const rec = await deps.incidents.get(req.incidentId);
      const offered =
        rec && rec.status === "open" && rec.cluster === req.cluster ? (rec.current.actions ?? []) : [];
      const base = offered.find((o) => coversAction(o, req.action));
      if (!rec || !base)
        return {
          reply: { text: "That incident no longer offers this action; nothing was done." },
          jobIds: [],
        };
      const digest = req.dryRun ? `dry:${Date.now().toString(36)}` : "request";
      return file({
        userId: req.userId,
        channelId: rec.channel,
        threadTs: rec.threadTs ?? rec.ts,
        incidentId: rec.id,
        cluster: rec.cluster,
        action: req.action,
        dryRun: req.dryRun,
        deliveryId: `event:${rec.id}:${JSON.stringify(req.action)}:form:${req.key}:${digest}`,
        requestText: `[form] ${describe(req.action)}${req.dryRun ? " --dry-run" : ""}`,
      });
    },
  };
}

/**
 * Whether `offered` covers `asked`: the same action, or (starting guests, failing back) the same one for
 * some of its guests.
 */
export function coversAction(offered: IncidentAction, asked: IncidentAction): boolean {
  if (
    (offered.kind === "start_guests" && asked.kind === "start_guests") ||
    (offered.kind === "failback" && asked.kind === "failback")
  ) {
    const { guests: og, ...o } = offered;
    const { guests: ag, ...q } = asked;
    return (
      sameAction({ ...o, guests: [] } as IncidentAction, { ...q, guests: [] } as IncidentAction) &&
      ag.length > 0 &&
      ag.every((g) => og.includes(g))
    );
  }
  return sameAction(offered, asked);
}
