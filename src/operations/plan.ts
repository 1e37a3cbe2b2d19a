/**
 * Planning with I/O, read-only: a fresh snapshot, the extra facts a preflight needs (DRBD versions,
 * whether a config file exists, whether the fence device answers), then the pure preflight and plan
 * builder. Used by the planning job and again by the executor right before it acts.
 */
import { lastCopyOverrides } from "../approval/policy";
import { takeSnapshot } from "../cluster/snapshot";
import type { ClusterConfig } from "../config/schema";
import { ExecError, errorMessage } from "../errors";
import type { ClusterState } from "../model";
import type { OperationSpec } from "../queue/schema";
import { clusterConfig, type OperationDeps, redactValues, resolveFenceSecrets } from "./context";
import { type OperationOverride, overridesOf } from "./ha-manager";
import { locateGuest, nodeState } from "./locate";
import { buildPlan, chooseFencer, createNode, evacuationTarget } from "./preflight";
import { emptyFacts, type OperationRequest, type PlanFacts, type PlanOutcome } from "./types";

type SnapshotDeps = Pick<OperationDeps, "runnerFor" | "driversFor" | "logger">;

export async function snapshotCluster(
  deps: SnapshotDeps,
  cluster: ClusterConfig,
  options: { timeoutMs?: number; nodes?: readonly string[]; signal?: AbortSignal } = {},
): Promise<ClusterState> {
  return takeSnapshot(
    cluster,
    {
      runnerFor: (node) => deps.runnerFor(cluster.name, node),
      drivers: deps.driversFor(cluster.name),
      logger: deps.logger,
    },
    {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.nodes ? { nodes: options.nodes } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
}

/** Nodes whose DRBD version matters: when a resource involved lacks allow-two-primaries in its config. */
function versionNodes(cluster: ClusterConfig, state: ClusterState, request: OperationRequest): string[] {
  const needs = (guest: string) =>
    (cluster.guests.find((g) => g.name === guest)?.drbd ?? []).some(
      (r) => !cluster.drbd.find((x) => x.name === r)?.allowTwoPrimaries,
    );
  if (request.action === "migrate") {
    if (!needs(request.guest)) return [];
    const from = locateGuest(state, request.guest).on.map((p) => p.node);
    return [...new Set([...from, request.target])];
  }
  if (request.action === "evacuate") {
    const guests = nodeState(state, request.node)?.domains?.flatMap((d) => (d.guest ? [d.guest] : [])) ?? [];
    return guests.some(needs) ? cluster.nodes.map((n) => n.name) : [];
  }
  // The discard's syntax depends on the victim's DRBD version (8.3 vs 8.4+).
  if (request.action === "split_brain_recover") return [request.victim];
  return [];
}

/** The nodes an operation acts on or moves guests to or from (for maintenance windows). */
export function involvedNodes(
  cluster: ClusterConfig,
  state: ClusterState,
  request: OperationRequest,
): string[] {
  switch (request.action) {
    case "migrate":
      return [...new Set([...locateGuest(state, request.guest).on.map((p) => p.node), request.target])];
    case "create": {
      const node = createNode(cluster, request.guest, request.node);
      return node ? [node] : [];
    }
    case "fence":
      return [request.node];
    case "attest_off":
      // Recording that a node is off is not an action on it: a maintenance window does not block it.
      return [];
    case "split_brain_recover":
      return [request.victim, request.survivor];
    case "evacuate": {
      const guests =
        nodeState(state, request.node)?.domains?.flatMap((d) => (d.guest ? [d.guest] : [])) ?? [];
      const targets = guests.map((g) => evacuationTarget(cluster, state, request.node, g));
      return [...new Set([request.node, ...targets.filter((t): t is string => t !== null)])];
    }
  }
}

export async function gatherFacts(
  deps: OperationDeps,
  cluster: ClusterConfig,
  state: ClusterState,
  request: OperationRequest,
  signal?: AbortSignal,
): Promise<PlanFacts> {
  const facts = emptyFacts();
  const call = { timeoutMs: cluster.commandTimeoutMs, ...(signal ? { signal } : {}) };
  const reachable = (n: string) => nodeState(state, n)?.reachable === true;
  const drbd = deps.mutationsFor(cluster.name).drbd;

  await Promise.all(
    versionNodes(cluster, state, request).map(async (node) => {
      if (!reachable(node)) {
        facts.drbdVersion[node] = null;
        return;
      }
      try {
        facts.drbdVersion[node] = await drbd.version(deps.runnerFor(cluster.name, node), call);
      } catch (err) {
        deps.logger.warn({ node, err }, "could not read the DRBD version");
        facts.drbdVersion[node] = null;
      }
    }),
  );

  if (deps.maintenance) {
    const ask = deps.maintenance;
    await Promise.all(
      involvedNodes(cluster, state, request).map(async (node) => {
        try {
          const w = await ask(cluster.name, node);
          facts.maintenance[node] = w
            ? `${node} is in maintenance until ${w.until} (set by <@${w.by}>${w.reason ? `: ${w.reason}` : ""})`
            : "";
        } catch (err) {
          deps.logger.warn({ node, err }, "could not read the maintenance window");
          facts.maintenance[node] = null;
        }
      }),
    );
  }

  if (deps.offProofs) {
    // The one place void proofs are cleared: a node seen alive in this snapshot has no proof any more.
    try {
      await deps.offProofs.clearSeenAlive(cluster.name, state);
      const proofs = await deps.offProofs.getAll(cluster.name);
      for (const n of cluster.nodes) facts.offProofs[n.name] = proofs[n.name] ?? null;
      facts.aliveFenceCounts = await deps.offProofs.aliveFenceCounts(cluster.name);
    } catch (err) {
      // Unread proofs prove nothing: every silent node then counts as not proven off.
      deps.logger.warn({ err }, "could not read the off-proofs");
    }
  }

  if (request.action === "create") {
    const node = createNode(cluster, request.guest, request.node);
    const file = cluster.guests.find((g) => g.name === request.guest)?.configFile;
    if (node && file && reachable(node)) {
      try {
        const res = await deps
          .runnerFor(cluster.name, node)
          .run(["test", "-f", file], { ...call, okExitCodes: [0, 1] });
        facts.configFile[node] = res.exitCode === 0;
      } catch (err) {
        deps.logger.warn({ node, err }, "could not check the guest's config file");
        facts.configFile[node] = null;
      }
    } else if (node) facts.configFile[node] = null;
  }

  if (request.action === "fence") {
    const fence = deps.mutationsFor(cluster.name).fence;
    const fencer = chooseFencer(cluster, state, request.node);
    if (fence && fencer) {
      const runner = deps.runnerFor(cluster.name, fencer);
      let secrets = new Map<string, string>();
      try {
        secrets = await resolveFenceSecrets(fence, cluster.name, deps.secretEnv);
      } catch (err) {
        facts.fenceDevice = { ok: false, detail: `cannot resolve the fence secrets: ${errorMessage(err)}` };
        return facts;
      }
      const orderQuery = fence.paramOrderQuery();
      if (orderQuery) {
        try {
          facts.fenceParamOrder = fence.parseParamOrder((await runner.run(orderQuery, call)).stdout);
          if (facts.fenceParamOrder.length === 0) facts.fenceParamOrder = null;
        } catch (err) {
          deps.logger.warn({ node: fencer, err }, "could not read the fence parameter order");
        }
      }
      let check: ReturnType<typeof fence.deviceCheck> = null;
      try {
        check =
          fence.needsParamOrder && !facts.fenceParamOrder
            ? null
            : fence.deviceCheck(request.node, facts.fenceParamOrder ?? undefined);
      } catch (err) {
        facts.fenceDevice = { ok: false, detail: errorMessage(err) };
        return facts;
      }
      if (!check)
        facts.fenceDevice =
          fence.needsParamOrder && !facts.fenceParamOrder
            ? { ok: false, detail: "the device could not be checked without the plugin's parameter order" }
            : { ok: null, detail: `${fence.label} checks its devices itself when it fences` };
      else {
        const shown = check.argv.join(" ");
        try {
          const res = await runner.run(check.argv, {
            ...call,
            okExitCodes: fence.exitCodes.deviceCheck,
            ...(check.stdin ? { stdin: check.stdin(secrets) } : {}),
          });
          const ok = fence.deviceOk(res.exitCode);
          const why = redactValues(`${res.stderr} ${res.stdout}`.trim().split("\n")[0] ?? "", secrets);
          facts.fenceDevice = ok
            ? { ok: true, detail: `${fence.label} answers (\`${shown}\` from ${fencer})` }
            : {
                ok: false,
                detail: `${fence.label} does not answer: \`${shown}\` from ${fencer} exited ${res.exitCode}${why ? ` (${why.slice(0, 200)})` : ""}`,
              };
        } catch (err) {
          const code = err instanceof ExecError ? err.code : "internal";
          facts.fenceDevice = {
            ok: false,
            detail: `could not check the fence device from ${fencer} (${code}): ${redactValues(errorMessage(err), secrets).slice(0, 200)}`,
          };
        }
      }
    }
  }
  return facts;
}

/** Snapshot, facts, preflight: the plan (or the refusal with every check). */
export async function planOperation(
  deps: OperationDeps,
  request: OperationRequest,
  options: { signal?: AbortSignal } = {},
): Promise<PlanOutcome> {
  const cluster = clusterConfig(deps, request.cluster);
  const state = await snapshotCluster(deps, cluster, options.signal ? { signal: options.signal } : {});
  const facts = await gatherFacts(deps, cluster, state, request, options.signal);
  const outcome = buildPlan(
    { cluster, state, facts, drivers: deps.mutationsFor(cluster.name), settings: deps.settings },
    request,
  );
  return { ...outcome, facts };
}

/** The request an approved plan was made for (its params), to plan it again. */
export function requestOfPlan(plan: {
  action: string;
  cluster: string;
  params: Record<string, unknown>;
  target: { guest?: string; node?: string };
}): OperationRequest | null {
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
  switch (plan.action) {
    case "migrate": {
      const guest = str(plan.params.guest);
      const to = str(plan.params.to);
      return guest && to
        ? { action: "migrate", cluster: plan.cluster, guest, target: to, ...haOverrides(plan.params) }
        : null;
    }
    case "create": {
      const guest = str(plan.params.guest);
      return guest
        ? {
            action: "create",
            cluster: plan.cluster,
            guest,
            node: str(plan.params.node),
            ...haOverrides(plan.params),
          }
        : null;
    }
    case "fence": {
      const node = str(plan.params.victim) ?? plan.target.node ?? null;
      const overrides = lastCopyOverrides(plan);
      return node
        ? {
            action: "fence",
            cluster: plan.cluster,
            node,
            ...(overrides.length ? { overrideLastCopy: overrides } : {}),
          }
        : null;
    }
    case "evacuate": {
      const node = str(plan.params.from) ?? plan.target.node ?? null;
      return node ? { action: "evacuate", cluster: plan.cluster, node, ...haOverrides(plan.params) } : null;
    }
    case "attest_off": {
      const node = str(plan.params.node) ?? plan.target.node ?? null;
      return node ? { action: "attest_off", cluster: plan.cluster, node } : null;
    }
    case "split_brain_recover": {
      const resource = str(plan.params.resource);
      const survivor = str(plan.params.survivor);
      const victim = str(plan.params.victim) ?? plan.target.node ?? null;
      return resource && survivor && victim
        ? { action: "split_brain_recover", cluster: plan.cluster, resource, survivor, victim }
        : null;
    }
    default:
      return null;
  }
}

/** The job payload's form of a request (the cluster travels beside it). */
export function operationSpecOf(request: OperationRequest): OperationSpec {
  switch (request.action) {
    case "migrate":
      return { action: "migrate", guest: request.guest, target: request.target, ...withOverrides(request) };
    case "create":
      return { action: "create", guest: request.guest, node: request.node, ...withOverrides(request) };
    case "fence":
      return {
        action: "fence",
        node: request.node,
        ...(request.overrideLastCopy?.length ? { overrideLastCopy: request.overrideLastCopy } : {}),
      };
    case "evacuate":
      return { action: "evacuate", node: request.node, ...withOverrides(request) };
    case "attest_off":
      return { action: "attest_off", node: request.node };
    case "split_brain_recover":
      return {
        action: "split_brain_recover",
        resource: request.resource,
        survivor: request.survivor,
        victim: request.victim,
      };
  }
}

/** A request's typed overrides, as an object to spread (nothing when there are none). */
function withOverrides(r: { overrides?: OperationOverride[] | undefined }): {
  overrides?: OperationOverride[];
} {
  return r.overrides?.length ? { overrides: [...r.overrides] } : {};
}

/** The overrides a plan was made with (its params). */
function haOverrides(params: Record<string, unknown>): { overrides?: OperationOverride[] } {
  return withOverrides({ overrides: overridesOf(params) });
}

export function requestOfSpec(cluster: string, spec: OperationSpec): OperationRequest {
  return { ...spec, cluster };
}
