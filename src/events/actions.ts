/**
 * Buttons on incidents ("Fence ics2", "Start its guests on ics1", "Keep ics1's data", "Fail back to
 * ics2"). A click never acts: it checks the clicker's role and the maintenance windows, then queues
 * the planning job of the operation, whose plan goes on an approval card in the incident's thread.
 * Fence, start and failback are the risky operations' own planners (issue 4); the split-brain
 * recovery goes through `split-brain-plan` (jobs/split-brain.ts), the same planner with the card in
 * the incident's thread, and runs in the same executor as every approved action.
 *
 * Button values come back from Slack and are treated as untrusted: parsed, and every name checked
 * against the inventory.
 */
import { z } from "zod";
import type { ActionRequest, Reply } from "../app/types";
import { policyFor } from "../approval/policy";
import type { RiskyAction } from "../approval/types";
import { type ClusterConfig, type InventoryConfig, Name } from "../config/schema";
import type { Authorizer } from "../core/authz";
import { type EnqueuedJob, EnqueueOutcomeUnknown, type JobEnqueuer } from "../core/enqueuer";
import type { ActionHandler } from "../core/router";
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

/** What a click asks the risky operations (issue 4) for: their planning jobs, enqueued. */
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

export function createEventActionHandler(deps: EventActionDeps): ActionHandler {
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: "event-actions" });
  return {
    prefix: EVENT_ACTION_PREFIX,
    async handle(request: ActionRequest): Promise<Reply | null> {
      let value: z.infer<typeof ActionValue>;
      try {
        value = ActionValue.parse(JSON.parse(request.value));
      } catch {
        return { text: "That button's data is not valid; nothing was done." };
      }
      const cluster = deps.inventory.clusters.find((c) => c.name === value.c);
      if (!cluster) return { text: `Unknown cluster "${value.c}"; nothing was done.` };
      const a = value.a;
      const bad = checkNames(cluster, a);
      if (bad) return { text: `${bad}; nothing was done.` };
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
      if (!(await deps.authorizer.has(request.userId, role)))
        return { text: `Requesting to ${describe(a)} needs the *${role}* role, which you do not have.` };
      try {
        await deps.maintenance.assertNotInMaintenance(cluster.name, nodesTouched(a));
      } catch (err) {
        return { text: errorMessage(err) };
      }
      const incident = await deps.incidents.get(value.i);
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
      const ctx: OperationContext = {
        cluster: cluster.name,
        requestedBy: request.userId,
        channel: request.channelId,
        threadTs,
        deliveryId: `event:${value.i}:${JSON.stringify(a)}:${window}`,
        requestText: `[button] ${describe(a)}`,
      };
      log.info(
        { cluster: cluster.name, user: request.userId, action: a.kind, incident: value.i },
        "event action requested",
      );
      let jobs: EnqueuedJob[];
      try {
        switch (a.kind) {
          case "keep_data":
            jobs = [
              await deps.jobs.enqueue(
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
                  threadTs,
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
          return {
            text: `The request to ${describe(a)} may have been queued: ${errorMessage(err)}. See \`/xen jobs\` before clicking again.`,
          };
        return {
          text: `Could not queue the request to ${describe(a)}: ${errorMessage(err)}. Nothing was done.`,
        };
      }
      const numbers = jobs.map((j) => j.number).join(", ");
      const dup = jobs.length > 0 && jobs.every((j) => j.duplicate);
      return {
        text: dup
          ? `Already queued (job ${numbers}): planning to ${describe(a)}.`
          : `Queued as job ${numbers}: planning to ${describe(a)}. The plan and its approval card will appear in the incident's thread.`,
      };
    },
  };
}
