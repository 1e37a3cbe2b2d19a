/** The `/xen` modal and the App Home tab, on what the deps store. */
import { Authorizer } from "../chat/authz";
import type { GroupDirectory } from "../chat/types";
import { createFormCore, type FormCore } from "../forms/core";
import { HomeTab } from "../forms/home";
import type { Deps } from "./deps";

/** The `/xen` modal's core on the deps: stored facts, the command core, the plan jobs' outcomes. */
export function formCoreOf(deps: Deps): FormCore {
  return createFormCore({
    inventory: deps.inventory,
    core: deps.core,
    loadFacts: async (cluster) => (await deps.events.store.load(cluster)).facts,
    waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
    incidents: deps.events.actionHandler,
    approvalTyped: async (id) => {
      const record = await deps.approvals.get(id);
      return { found: record !== null, typed: record?.policy.typedConfirmation ?? null };
    },
    logger: deps.logger,
  });
}

/** The App Home tab on the deps' stored state, published with the bot's client. */
export function homeTabOf(
  deps: Deps,
  groups: GroupDirectory,
  publish: (userId: string, view: Record<string, unknown>) => Promise<void>,
  options: { minIntervalMs?: number; refreshMs?: number } = {},
): HomeTab {
  const authorizer = new Authorizer(deps.inventory.roles, groups);
  return new HomeTab({
    source: {
      inventory: deps.inventory,
      loadFacts: async (cluster) => (await deps.events.store.load(cluster)).facts,
      activeIncidents: (cluster) => deps.events.incidents.active(cluster),
      jobs: (clusters) => deps.jobAdmin.list(clusters, { recent: 0 }),
    },
    publish,
    mayView: (userId) => authorizer.has(userId, "viewer"),
    logger: deps.logger,
    ...options,
  });
}
