/**
 * Preflight checks and plan builders: pure functions over the cluster config, a fresh ClusterState and
 * the planner's facts. Each action lists every check it ran (passed or not) so a refusal says exactly
 * why, and a plan carries the checks the approver sees. A check that cannot be established fails.
 */
import {
  pickRelevantState,
  planStateHash,
  type StateFocus,
  summarizeRelevantState,
} from "../approval/state-hash";
import type { ActionPlan, PreflightCheck } from "../approval/types";
import type { ClusterConfig } from "../config/schema";
import { atLeast84 } from "../drivers/drbdadm";
import type { MutationDrivers } from "../drivers/registry";
import type { ClusterState } from "../model";
import { haManagerCheck, noteOverrides, type OperationOverride } from "./ha-manager";
import { type Liveness, nodeLiveness, notProvenOff, provenOff, seenAlive } from "./liveness";
import {
  declaredDead,
  describeLocation,
  drbdHealthy,
  drbdOn,
  guestMemory,
  healthyNode,
  locateGuest,
  nodeState,
  runsOnlyOn,
} from "./locate";
import { planSplitBrainRecovery } from "./split-brain-plan";
import type { OperationRequest, OperationStep, PlanFacts, PlanOutcome } from "./types";

/** Timeouts the plan writes onto its steps. */
export interface PlanSettings {
  /** A migration may take this long plus perGiB for each GiB of guest memory. */
  migrateBaseTimeoutMs: number;
  migratePerGiBTimeoutMs: number;
  /** `xm create` (the domain builder, attaching disks). */
  createTimeoutMs: number;
  /** The fence command (agents power-cycle and wait for the device). */
  fenceTimeoutMs: number;
}

export const DEFAULT_PLAN_SETTINGS: PlanSettings = {
  migrateBaseTimeoutMs: 120_000,
  migratePerGiBTimeoutMs: 60_000,
  createTimeoutMs: 120_000,
  fenceTimeoutMs: 120_000,
};

export interface PlanInput {
  cluster: ClusterConfig;
  state: ClusterState;
  facts: PlanFacts;
  drivers: MutationDrivers;
  settings: PlanSettings;
  /** Checks the requester bypassed by typing it (`--override-ha`); set by buildPlan from the request. */
  overrides?: readonly OperationOverride[] | undefined;
}

const check = (name: string, ok: boolean, detail: string): PreflightCheck => ({ name, ok, detail });

function guestConfig(cluster: ClusterConfig, guest: string) {
  return cluster.guests.find((g) => g.name === guest);
}

/** Where the guest runs, when it runs on exactly one node and plainly (else null). */
function soleNode(state: ClusterState, guest: string): string | null {
  const loc = locateGuest(state, guest);
  const only = loc.on[0];
  return only && runsOnlyOn(loc, only.node) ? only.node : null;
}

// ------------------------------------------------------------------------------------------- migrate

interface MigrateUnit {
  checks: PreflightCheck[];
  steps: OperationStep[];
  source: string | null;
  resources: string[];
  memoryMiB: number | null;
  /** Resources that get allow-two-primaries for this migration only. */
  toggled: string[];
}

/**
 * The checks and steps of one live migration. `reservedMiB`: memory already promised on the target by
 * earlier guests of the same plan (evacuate). `label` prefixes check names (evacuate: the guest).
 */
function migrateUnit(
  input: PlanInput,
  guest: string,
  target: string,
  reservedMiB = 0,
  label = "",
): MigrateUnit {
  const { cluster, state, facts, drivers, settings } = input;
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) =>
    checks.push(check(`${label}${name}`, ok, detail));
  const cfg = guestConfig(cluster, guest);
  const resources = cfg?.drbd ?? [];
  const unit: MigrateUnit = { checks, steps: [], source: null, resources, memoryMiB: null, toggled: [] };
  if (!cfg) {
    add("guest", false, `${guest} is not a guest of ${cluster.name}`);
    return unit;
  }
  if (!cluster.nodes.some((n) => n.name === target)) {
    add("target", false, `${target} is not a node of ${cluster.name}`);
    return unit;
  }

  // Where it runs: on its source per the hypervisor, and on no other node (migration names count).
  const loc = locateGuest(state, guest);
  const source = soleNode(state, guest);
  if (source === target) add("location", false, `${guest} already runs on ${target}`);
  else if (source === null)
    add(
      "location",
      false,
      `${describeLocation(loc)}: it must run on exactly one node, plainly, with every node's domain list known`,
    );
  else add("location", true, `${guest} runs on ${source} only (every node's domain list read)`);
  unit.source = source === target ? null : source;

  // Target reachable, hypervisor answering, not declared dead.
  const t = nodeState(state, target);
  const reach = healthyNode(cluster, state, target);
  if (!t?.reachable || t.domains === null || t.xenInfo === null)
    add(
      "target",
      false,
      !t?.reachable
        ? reach.detail
        : `${target} answers but its hypervisor state could not be read (${t.domainsError?.message ?? t.xenInfoError?.message ?? "unknown"})`,
    );
  else {
    const dead = declaredDead(cluster, state, target);
    if (dead.dead === null)
      add("target", false, `${target} answers, but whether HA declares it dead is unknown: ${dead.detail}`);
    else
      add(
        "target",
        !dead.dead,
        dead.dead ? `${target} is declared dead: ${dead.detail}` : `${target} answers; ${dead.detail}`,
      );
  }

  if (resources.length === 0)
    add(
      "disks",
      false,
      `${guest} declares no DRBD resources: xenops live-migrates only guests whose disks are replicated`,
    );
  // Without a source (or already on the target) the checks below would only add noise.
  if (unit.source === null) return unit;

  const src = unit.source;
  for (const r of resources) {
    // Another guest on the source using the same resource keeps it open there: the source could not be
    // demoted after the move, leaving the resource Primary on both nodes with two primaries allowed.
    const sharing = cluster.guests
      .filter((g) => g.name !== guest && g.drbd.includes(r))
      .filter((g) => locateGuest(state, g.name).on.some((p) => p.node === src))
      .map((g) => g.name);
    if (sharing.length > 0)
      add(
        `drbd ${r} shared`,
        false,
        `${r} is also used by ${sharing.join(", ")} on ${src}: ${src} could not be demoted after ${guest} left (${r} would stay Primary on both nodes with two primaries allowed); xenops live-migrates only guests whose DRBD resources no other guest on the source uses`,
      );
    // Both sides Connected, UpToDate/UpToDate, nothing out of sync; source Primary, target Secondary.
    const problems: string[] = [];
    for (const node of [src, target]) {
      if (node === null) continue;
      const h = drbdHealthy(node, drbdOn(state, node, r), r);
      if (!h.ok) problems.push(h.detail);
    }
    const onSrc = src ? drbdOn(state, src, r) : undefined;
    const onTgt = drbdOn(state, target, r);
    if (src && onSrc && onSrc.role !== "Primary")
      problems.push(`${r} is ${onSrc.role} on ${src}, expected Primary (the guest writes there)`);
    if (onTgt && onTgt.role !== "Secondary")
      problems.push(`${r} is ${onTgt.role} on ${target}, expected Secondary`);
    add(
      `drbd ${r}`,
      problems.length === 0,
      problems.length === 0
        ? `${r} Connected, UpToDate/UpToDate, in sync on ${src} and ${target}`
        : problems.join("; "),
    );

    // Dual-primary for the duration of the migration.
    const rc = cluster.drbd.find((x) => x.name === r);
    if (rc?.allowTwoPrimaries)
      add(`dual-primary ${r}`, true, `allow-two-primaries is set in ${r}'s configuration`);
    else {
      const versions = [src, target]
        .filter((n): n is string => n !== null)
        .map((n) => ({ n, v: facts.drbdVersion[n] }));
      const unknown = versions.filter((x) => !x.v);
      const old = versions.filter((x) => x.v && !atLeast84(x.v));
      if (unknown.length > 0)
        add(
          `dual-primary ${r}`,
          false,
          `${r} does not allow two primaries in its configuration and the DRBD version of ${unknown.map((x) => x.n).join(", ")} is unknown`,
        );
      else if (old.length > 0)
        add(
          `dual-primary ${r}`,
          false,
          `${r} does not allow two primaries and DRBD ${old.map((x) => `${x.v?.text} on ${x.n}`).join(", ")} cannot enable it at run time: set allow-two-primaries in ${r}'s net section (and allowTwoPrimaries: true in the inventory)`,
        );
      else {
        add(
          `dual-primary ${r}`,
          true,
          `enabled for this migration only (drbdadm net-options), disabled again afterwards`,
        );
        unit.toggled.push(r);
      }
    }
  }

  // Memory on the target: what the running domain uses now (xm/xl list), not the inventory's figure.
  const need = guestMemory(cluster, state, guest);
  const mem = need.mib;
  unit.memoryMiB = mem;
  const free = t?.xenInfo?.freeMemoryMiB ?? null;
  if (mem === null) add("memory", false, `the memory of ${guest} is unknown: ${need.source}`);
  else if (free === null) add("memory", false, `the free memory of ${target} is unknown`);
  else {
    const left = free - reservedMiB;
    add(
      "memory",
      left >= mem,
      `${target} has ${left} MiB free${reservedMiB ? ` after ${reservedMiB} MiB for the guests before` : ""}; ${guest} needs ${mem} MiB (${need.source})`,
    );
  }

  // Xen versions: same major; the target not older than the source.
  const s = src ? nodeState(state, src)?.xenInfo : null;
  const ti = t?.xenInfo;
  if (!s || !ti || s.xenMajor === null || s.xenMinor === null || ti.xenMajor === null || ti.xenMinor === null)
    add("xen versions", false, "the Xen version of the source or the target is unknown");
  else {
    const ok = s.xenMajor === ti.xenMajor && ti.xenMinor >= s.xenMinor;
    add(
      "xen versions",
      ok,
      `${src} runs Xen ${s.xenVersion ?? `${s.xenMajor}.${s.xenMinor}`}, ${target} Xen ${ti.xenVersion ?? `${ti.xenMajor}.${ti.xenMinor}`}${ok ? "" : ": live migration needs the same major version and a target at least as new"}`,
    );
  }

  if (checks.some((c) => !c.ok) || src === null || mem === null) return unit;

  // The steps: dual-primary on (if toggled), promote the target, migrate, demote the source, dual-primary off.
  const steps = unit.steps;
  const d = drivers.drbd;
  const base = { guest, from: src, to: target };
  for (const r of unit.toggled)
    for (const node of [src, target]) {
      const v = facts.drbdVersion[node];
      const argv = v ? d.allowTwoPrimaries(r, true, v) : null;
      if (argv)
        steps.push({
          ...base,
          node,
          argv,
          kind: "drbd-allow-two-primaries",
          resource: r,
          destructive: false,
          description: `Allow two primaries on ${r} for this migration`,
        });
    }
  for (const r of resources)
    steps.push({
      ...base,
      node: target,
      argv: d.primary(r),
      kind: "drbd-primary",
      resource: r,
      destructive: false,
      description: `Promote ${r} on ${target} (dual-primary while the guest moves)`,
    });
  const gib = Math.max(1, Math.ceil(mem / 1024));
  steps.push({
    ...base,
    node: src,
    argv: drivers.hypervisor.migrateLive(guest, target),
    kind: "migrate",
    destructive: true,
    description: `Live-migrate ${guest} from ${src} to ${target}`,
    timeoutMs: settings.migrateBaseTimeoutMs + gib * settings.migratePerGiBTimeoutMs,
  });
  for (const r of resources)
    steps.push({
      ...base,
      node: src,
      argv: d.secondary(r),
      kind: "drbd-secondary",
      resource: r,
      destructive: false,
      description: `Demote ${r} on ${src} (the guest left it)`,
    });
  for (const r of unit.toggled)
    for (const node of [target, src]) {
      const v = facts.drbdVersion[node];
      const argv = v ? d.allowTwoPrimaries(r, false, v) : null;
      if (argv)
        steps.push({
          ...base,
          node,
          argv,
          kind: "drbd-disallow-two-primaries",
          resource: r,
          destructive: false,
          description: `Disallow two primaries on ${r} again`,
        });
    }
  return unit;
}

function rollbackNote(
  units: { guest: string; source: string | null; target: string; resources: string[]; toggled: string[] }[],
): PreflightCheck {
  const parts = units.map((u) => {
    const demote = u.resources.length ? `demotes ${u.resources.join(", ")} on ${u.target} again` : "";
    const off = u.toggled.length ? "turns allow-two-primaries off again" : "";
    const what = [demote, off].filter(Boolean).join(" and ") || "has nothing to undo";
    return units.length > 1 ? `${u.guest}: ${what}` : what;
  });
  return check(
    "on failure",
    true,
    `if a migration fails and the guest still runs on its source only, xenops ${parts.join("; ")} and stops; if it runs on two nodes, none, or cannot be told, nothing more runs and on-call is paged`,
  );
}

// ---------------------------------------------------------------------------------------- the builders

/** A check per node in a maintenance window (only the nodes the planner asked about). */
function maintenanceChecks(facts: PlanFacts): PreflightCheck[] {
  return Object.entries(facts.maintenance)
    .filter(([, w]) => w !== "")
    .map(([node, w]) =>
      check(
        `maintenance ${node}`,
        false,
        w === null
          ? `whether ${node} is in a maintenance window is unknown`
          : `${w}; end it first (\`/xen maintenance ${node} off\`)`,
      ),
    );
}

function outcome(
  input: PlanInput,
  action: ActionPlan["action"],
  summary: string,
  checks: PreflightCheck[],
  steps: OperationStep[],
  focus: StateFocus,
  target: ActionPlan["target"],
  params: ActionPlan["params"],
): PlanOutcome {
  const { state } = input;
  const proofs = input.facts.offProofs;
  checks.push(...maintenanceChecks(input.facts));
  // An attestation runs no command: its plan is the record itself.
  if (checks.some((c) => !c.ok) || (steps.length === 0 && action !== "attest_off"))
    return {
      ok: false,
      checks,
      summary,
      state,
    };
  const plan: ActionPlan = {
    action,
    cluster: input.cluster.name,
    summary,
    target,
    params: {
      ...params,
      focusGuests: [...(focus.guests ?? [])],
      focusNodes: [...(focus.nodes ?? [])],
      focusResources: [...(focus.resources ?? [])],
      ...(focus.offProofNodes?.length ? { focusOffProofNodes: [...focus.offProofNodes] } : {}),
    },
    steps,
    checks,
    // The off-proofs the plan relies on are part of its state: approval is refused if one disappears.
    stateHash: planStateHash(state, focus, proofs),
    stateSummary: summarizeRelevantState(pickRelevantState(state, focus, proofs)),
  };
  return { ok: true, plan, state };
}

/** The state focus a plan was hashed with (stored in its params). */
export function focusOfPlan(plan: Pick<ActionPlan, "params">): StateFocus {
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  return {
    guests: list(plan.params.focusGuests),
    nodes: list(plan.params.focusNodes),
    resources: list(plan.params.focusResources),
    offProofNodes: list(plan.params.focusOffProofNodes),
  };
}

export function planMigrate(input: PlanInput, guest: string, target: string): PlanOutcome {
  const unit = migrateUnit(input, guest, target);
  const summary = `Live-migrate ${guest}${unit.source ? ` from ${unit.source}` : ""} to ${target}`;
  const checks = [...unit.checks];
  checks.push(haManagerCheck(input, "migrate", guest, target));
  if (unit.steps.length > 0)
    checks.push(
      rollbackNote([
        { guest, source: unit.source, target, resources: unit.resources, toggled: unit.toggled },
      ]),
    );
  return outcome(
    input,
    "migrate",
    summary,
    checks,
    unit.steps,
    { guests: [guest], resources: unit.resources },
    { guest, node: target },
    { guest, from: unit.source ?? "", to: target, resources: unit.resources },
  );
}

/** Where `create` starts a guest: the node asked for, else its home. */
export function createNode(cluster: ClusterConfig, guest: string, node: string | null): string | null {
  return node ?? guestConfig(cluster, guest)?.home ?? null;
}

export function planCreate(input: PlanInput, guest: string, requested: string | null): PlanOutcome {
  const { cluster, state, facts, drivers, settings } = input;
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push(check(name, ok, detail));
  const cfg = guestConfig(cluster, guest);
  const node = createNode(cluster, guest, requested);
  const summary = `Start ${guest}${node ? ` on ${node}` : ""}`;
  const resources = cfg?.drbd ?? [];
  const focus = { guests: [guest], resources };
  if (!cfg) add("guest", false, `${guest} is not a guest of ${cluster.name}`);
  else if (!node) add("node", false, `${guest} has no home node: say where, \`create ${guest} on NODE\``);
  else if (!cluster.nodes.some((n) => n.name === node))
    add("node", false, `${node} is not a node of ${cluster.name}`);
  if (!cfg || !node || checks.some((c) => !c.ok))
    return outcome(input, "create", summary, checks, [], focus, { guest }, {});

  // Runs nowhere (migration names included); a node we cannot read must be proven off (fenced and
  // verified, or attested off): a silent node may still run the guest.
  const live = (n: string): Liveness =>
    nodeLiveness(cluster, state, n, facts.offProofs, facts.aliveFenceCounts);
  const relied = new Set<string>();
  const whyNot = (l: Liveness) =>
    l.kind === "alive" ? `${l.detail}: what runs there could not be read` : notProvenOff(l);
  const loc = locateGuest(state, guest);
  const unproven = loc.unknown.map(live).filter((l) => !provenOff(l));
  if (loc.on.length > 0) add("not running", false, `${describeLocation(loc)}`);
  else if (unproven.length > 0)
    add(
      "not running",
      false,
      `cannot tell whether ${guest} runs on ${unproven.map((l) => l.node).join(", ")}: ${unproven.map(whyNot).join("; ")}`,
    );
  else {
    for (const n of loc.unknown) relied.add(n);
    add(
      "not running",
      true,
      `${guest} runs on no node${loc.unknown.length ? ` (${loc.unknown.map((n) => `${n} proven off`).join(", ")})` : ""}`,
    );
  }

  checks.push(haManagerCheck(input, "create", guest, node));

  const reach = healthyNode(cluster, state, node);
  const ns = nodeState(state, node);
  add(
    "node",
    reach.ok && ns?.xenInfo !== null && ns?.domains !== null,
    !reach.ok
      ? reach.detail
      : ns?.domains === null || ns?.xenInfo === null
        ? `${node} answers but its hypervisor state could not be read (${[ns.domainsError?.message, ns.xenInfoError?.message].filter(Boolean).join("; ") || "unknown"})`
        : `${node} answers and is not declared dead`,
  );

  const promote: string[] = [];
  for (const r of resources) {
    const problems: string[] = [];
    const local = drbdOn(state, node, r);
    // Primary on no other node (nodes whose DRBD state is unknown must be proven off).
    for (const other of cluster.nodes.map((n) => n.name).filter((n) => n !== node)) {
      const o = drbdOn(state, other, r);
      if (o === undefined) {
        const l = live(other);
        if (provenOff(l)) relied.add(other);
        else problems.push(`${r} on ${other} is unknown: ${whyNot(l)}`);
      } else if (o?.role === "Primary") problems.push(`${r} is Primary on ${other}`);
    }
    if (local === undefined) problems.push(`DRBD state of ${node} unknown`);
    else if (local === null || local.unconfigured) problems.push(`${r} is not configured on ${node}`);
    else {
      if (local.diskState !== "UpToDate")
        problems.push(`${r} on ${node} is ${local.diskState}, not UpToDate`);
      // Every peer counts (DRBD 9 may have several, some outside the inventory), not the first only.
      const down = local.peers.filter((p) => p.connectionState !== "Connected");
      // DRBD 9 names its peers: only the inventory nodes behind a connection that is down matter then.
      const named = local.peers.length > 0 && down.every((p) => p.node !== null);
      const outside = named ? down.filter((p) => !cluster.nodes.some((n) => n.name === p.node)) : [];
      if (outside.length > 0)
        problems.push(
          `${r} on ${node} is not connected to ${outside.map((p) => `${p.node} (${p.connectionState})`).join(", ")}, which ${outside.length === 1 ? "is not a node" : "are not nodes"} of ${cluster.name}: it may still write and cannot be proven off`,
        );
      if (local.peers.length === 0 || down.length > outside.length) {
        const peerNodes = cluster.nodes
          .map((n) => n.name)
          .filter(
            (n) => n !== node && drbdOn(state, n, r) !== null && (!named || down.some((p) => p.node === n)),
          );
        const peers = peerNodes.map(live);
        const unprovenPeers = peers.filter((l) => !provenOff(l));
        if (peerNodes.length === 0 || unprovenPeers.length > 0)
          problems.push(
            `${r} on ${node} is ${down[0]?.connectionState ?? "without a peer"} and its peer may still write: ${
              unprovenPeers.length
                ? unprovenPeers
                    .map((l) =>
                      l.kind === "alive"
                        ? `${l.node} is up (${l.detail}): reconnect ${r} first, its data may be newer`
                        : notProvenOff(l),
                    )
                    .join("; ")
                : "no peer node has it"
            }`,
          );
        else for (const l of peers) relied.add(l.node);
      }
      const primaries = local.peers.filter((p) => p.role === "Primary");
      if (primaries.length > 0)
        problems.push(
          primaries.every((p) => p.node === null)
            ? `${r}'s peer is Primary`
            : `${r}'s peer ${primaries.map((p) => p.node ?? "?").join(", ")} is Primary`,
        );
      if (local.role !== "Primary") promote.push(r);
    }
    add(
      `drbd ${r}`,
      problems.length === 0,
      problems.length === 0
        ? `${r} on ${node}: ${local?.role}, UpToDate, ${local?.peers[0]?.connectionState === "Connected" ? "Connected" : "peer proven off"}; Primary nowhere else`
        : problems.join("; "),
    );
  }

  const file = cfg.configFile;
  if (!file) add("config file", false, `${guest} has no configFile in the inventory`);
  else {
    const exists = facts.configFile[node];
    add(
      "config file",
      exists === true,
      exists === true
        ? `${file} exists on ${node}`
        : exists === false
          ? `${file} does not exist on ${node}`
          : `whether ${file} exists on ${node} is unknown`,
    );
  }

  const mem = cfg.memoryMiB ?? null;
  const free = ns?.xenInfo?.freeMemoryMiB ?? null;
  if (mem === null)
    add("memory", false, `the memory of ${guest} is unknown (set memoryMiB in the inventory)`);
  else if (free === null) add("memory", false, `the free memory of ${node} is unknown`);
  else add("memory", free >= mem, `${node} has ${free} MiB free; ${guest} needs ${mem} MiB`);

  // Say on the card which proofs the plan relies on: approving it trusts them.
  for (const n of [...relied].sort()) add(`off-proof ${n}`, true, live(n).detail);

  const steps: OperationStep[] = [];
  if (!checks.some((c) => !c.ok) && file) {
    for (const r of promote)
      steps.push({
        node,
        guest,
        argv: drivers.drbd.primary(r),
        kind: "drbd-primary",
        resource: r,
        destructive: false,
        description: `Promote ${r} on ${node}`,
      });
    steps.push({
      node,
      guest,
      argv: drivers.hypervisor.create(file),
      kind: "create",
      destructive: true,
      description: `Start ${guest} on ${node} from ${file}`,
      timeoutMs: settings.createTimeoutMs,
    });
    checks.push(
      check(
        "on failure",
        true,
        promote.length
          ? `if ${guest} does not start, xenops demotes ${promote.join(", ")} on ${node} again (only if ${guest} does not run there)`
          : `nothing to undo`,
      ),
    );
  }
  return outcome(
    input,
    "create",
    summary,
    checks,
    steps,
    relied.size > 0 ? { ...focus, offProofNodes: [...relied].sort() } : focus,
    { guest, node },
    { guest, node, resources, promoted: promote },
  );
}

/** The node that runs a fence: a healthy node other than the target (first by name). */
export function chooseFencer(cluster: ClusterConfig, state: ClusterState, target: string): string | null {
  const candidates = cluster.nodes
    .map((n) => n.name)
    .filter((n) => n !== target)
    .sort();
  return (
    candidates.find(
      (n) => healthyNode(cluster, state, n).ok && declaredDead(cluster, state, n).dead !== true,
    ) ?? null
  );
}

/**
 * Fencing a node that holds the only UpToDate copy of a resource takes the only good data down with it:
 * its peer is Inconsistent or Outdated (a resync running), DUnknown, or cannot be read. Such a fence is
 * refused unless the request names the resource (`--override-last-copy R`); the approvers then type
 * `NODE/R` (policyFor). A copy elsewhere counts only as that node reads its own disk: UpToDate.
 * `used`: the overrides that were needed (they go into the plan and its typed confirmation).
 */
export function lastCopyChecks(
  input: Pick<PlanInput, "cluster" | "state">,
  target: string,
  overrides: readonly string[] = [],
): { checks: PreflightCheck[]; used: string[] } {
  const { cluster, state } = input;
  const checks: PreflightCheck[] = [];
  const used: string[] = [];
  const others = cluster.nodes.map((n) => n.name).filter((n) => n !== target);
  const command = (rs: readonly string[]) =>
    `\`/xen fence ${cluster.name} ${target} --override-last-copy ${rs.join(" ")}\``;
  for (const name of overrides)
    if (!cluster.drbd.some((r) => r.name === name))
      checks.push(check(`override ${name}`, false, `${name} is not a DRBD resource of ${cluster.name}`));
  for (const { name: r } of cluster.drbd) {
    const mine = drbdOn(state, target, r);
    if (mine === null || mine?.unconfigured) continue;
    if (mine && mine.diskState !== "UpToDate") {
      if (overrides.includes(r))
        checks.push(
          check(`last copy ${r}`, true, `${r} is ${mine.diskState} on ${target}: no override needed`),
        );
      continue;
    }
    const copies = others.filter((n) => {
      const x = drbdOn(state, n, r);
      return !!x && !x.unconfigured && x.diskState === "UpToDate";
    });
    if (copies.length > 0) {
      checks.push(
        check(
          `last copy ${r}`,
          true,
          `${copies.join(", ")} also ${copies.length === 1 ? "holds" : "hold"} an UpToDate copy of ${r}${overrides.includes(r) ? ": no override needed" : ""}`,
        ),
      );
      continue;
    }
    // No other node reads UpToDate: say what each one shows (its own reading, else the target's view).
    const peers = others
      .map((n) => {
        const x = drbdOn(state, n, r);
        if (x === null) return null;
        if (x === undefined) {
          const seen =
            mine?.peers.find((p) => p.node === n) ?? (mine?.peers.length === 1 ? mine.peers[0] : undefined);
          return `${n} cannot be read${seen ? ` (${target} sees its disk ${seen.diskState})` : ""}`;
        }
        const p = x.peers[0];
        const sync = p?.sync?.percent;
        return `${n} ${x.unconfigured ? "unconfigured" : x.diskState}${p?.replicationState && p.replicationState !== "Established" && p.replicationState !== "Off" ? ` (${p.replicationState}${sync !== null && sync !== undefined ? ` ${sync}%` : ""})` : ""}`;
      })
      .filter((x): x is string => x !== null);
    const where = `${mine ? `${target} is UpToDate` : `${target} cannot be read and may hold it`}; ${peers.join("; ") || "no other node has it"}`;
    if (overrides.includes(r)) {
      used.push(r);
      checks.push(
        check(
          `last copy ${r}`,
          true,
          `OVERRIDDEN: ${target} may hold the only UpToDate copy of ${r} (${where}); the requester named it with --override-last-copy and approving needs \`${target}/${r}\` typed`,
        ),
      );
    } else
      checks.push(
        check(
          `last copy ${r}`,
          false,
          `${target} may hold the only UpToDate copy of ${r} (${where}): fencing it could lose ${r}'s data. Wait until another copy is UpToDate (resync done), or if that loss is accepted request ${command([r])}; the approvers then type \`${target}/${r}\``,
        ),
      );
  }
  return { checks, used };
}

export function planFence(
  input: PlanInput,
  target: string,
  overrideLastCopy: readonly string[] = [],
): PlanOutcome {
  const { cluster, state, facts, drivers, settings } = input;
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push(check(name, ok, detail));
  const fence = drivers.fence;
  // A node already silent is powered off, not cycled: a device that reads power back then shows
  // "off" as evidence the fence took effect (after a reboot it reads "on" again), the node stays off
  // while someone checks it (and attests it when the device cannot tell), and a node cut off by a
  // partition does not boot back into it with its guests. A node seen alive is power-cycled.
  const silent = !seenAlive(state, target).alive;
  const action = silent ? ("off" as const) : ("reboot" as const);
  // Verification needs SSH answering before the fence (an HA view that says online may be lagging).
  const answers = nodeState(state, target)?.reachable === true;
  const summary = action === "off" ? `Fence ${target} (power it off)` : `Fence ${target} (power-cycle it)`;
  const focus = { nodes: [target] };
  if (!cluster.nodes.some((n) => n.name === target)) {
    add("node", false, `${target} is not a node of ${cluster.name}`);
    return outcome(input, "fence", summary, checks, [], focus, { node: target }, {});
  }
  add(
    "fence method",
    fence !== null,
    fence ? `${fence.label}` : `${cluster.name} has no fence method configured (toolstack.fence)`,
  );

  const others = cluster.nodes.map((n) => n.name).filter((n) => n !== target);
  const healthy = others.filter((n) => healthyNode(cluster, state, n).ok);
  add(
    "not the last healthy node",
    healthy.length > 0,
    healthy.length > 0
      ? `${healthy.join(", ")} ${healthy.length === 1 ? "stays" : "stay"} up`
      : `no other node is healthy (${others.map((n) => healthyNode(cluster, state, n).detail).join("; ") || "there is no other node"}): fencing ${target} would leave nothing running`,
  );
  const fencer = chooseFencer(cluster, state, target);
  add(
    "fence from",
    fencer !== null,
    fencer ? `${fencer} runs the fence (never ${target} itself)` : `no surviving peer can run the fence`,
  );

  const dev = facts.fenceDevice;
  if (fence && fencer) {
    if (!dev) add("fence device", false, "the fence device was not checked");
    else add("fence device", dev.ok !== false, dev.detail);
  }
  if (fence?.needsParamOrder && !facts.fenceParamOrder)
    add(
      "fence parameters",
      false,
      fence.paramOrderUnreadable ?? `${fence.label}: its parameter order could not be read`,
    );

  const t = nodeState(state, target);
  const guests = t?.domains?.filter((d) => !d.isDom0).map((d) => d.guest ?? d.name) ?? null;
  add(
    "guests on the node",
    true,
    guests === null
      ? `${target}'s domains are unknown (${t?.reachable ? "unreadable" : "it does not answer"}); whatever runs there stops`
      : guests.length === 0
        ? `no guests run on ${target}`
        : `these stop with it: ${guests.join(", ")} (HA may restart them elsewhere)`,
  );
  const lastCopy = lastCopyChecks(input, target, overrideLastCopy);
  checks.push(...lastCopy.checks);

  const steps: OperationStep[] = [];
  if (!checks.some((c) => !c.ok) && fence && fencer) {
    const inv = fence.fence(target, action, facts.fenceParamOrder ?? undefined);
    steps.push({
      node: fencer,
      argv: inv.argv,
      kind: "fence",
      fenceTarget: target,
      fenceAction: action,
      ...(facts.fenceParamOrder ? { paramOrder: facts.fenceParamOrder } : {}),
      stdinShown: inv.stdinShown,
      destructive: true,
      description: `${action === "off" ? "Power off" : "Power-cycle"} ${target} through ${fence.label}${inv.stdinShown ? ` (options on stdin: ${inv.stdinShown.trim().split("\n").join(", ")})` : ""}`,
      timeoutMs: settings.fenceTimeoutMs,
    });
    checks.push(
      check(
        "verify",
        true,
        !answers && !fence.powerStatus(target) && !drivers.fenceHistory
          ? `${target} is already silent and ${fence.label} cannot report power: the fence cannot be verified; once someone has checked ${target} is powered off, \`/xen attest-off ${target}\``
          : `success only with evidence that did not hold before: ${[
              ...(fence.powerStatus(target) ? ["the device reads the power back as off"] : []),
              ...(drivers.fenceHistory ? [drivers.fenceHistory.evidence] : []),
              ...(answers ? [`${target}, answering SSH now, stops answering`] : []),
              ...(answers && action !== "off"
                ? [`it stops answering and comes back with a new boot id (reset)`]
                : []),
            ].join(", or ")}`,
      ),
    );
  }
  return outcome(
    input,
    "fence",
    summary,
    checks,
    steps,
    focus,
    { node: target },
    {
      victim: target,
      fencer: fencer ?? "",
      ...(lastCopy.used.length ? { overrideLastCopy: lastCopy.used } : {}),
    },
  );
}

export function planEvacuate(input: PlanInput, source: string): PlanOutcome {
  const { cluster, state } = input;
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push(check(name, ok, detail));
  const summary = `Evacuate ${source}: live-migrate every guest off it`;
  const n = nodeState(state, source);
  if (!cluster.nodes.some((x) => x.name === source))
    add("node", false, `${source} is not a node of ${cluster.name}`);
  else if (!n?.reachable || n.domains === null)
    add(
      "node",
      false,
      `${source}'s domains are unknown: ${n?.error?.message ?? n?.domainsError?.message ?? "unreachable"}`,
    );
  if (checks.some((c) => !c.ok))
    return outcome(input, "evacuate", summary, checks, [], { nodes: [source] }, { node: source }, {});

  const domains = (n?.domains ?? []).filter((d) => !d.isDom0);
  const unknownGuests = domains.filter((d) => !d.guest || !guestConfig(cluster, d.guest));
  if (unknownGuests.length > 0)
    add(
      "guests",
      false,
      `not in the inventory, so xenops cannot plan them: ${unknownGuests.map((d) => d.name).join(", ")}`,
    );
  const guests = [
    ...new Set(domains.map((d) => d.guest).filter((g): g is string => !!g && !!guestConfig(cluster, g))),
  ].sort();
  if (guests.length === 0 && unknownGuests.length === 0)
    add("guests", false, `no guests run on ${source}: nothing to evacuate`);
  else if (unknownGuests.length === 0)
    add(
      "guests",
      true,
      `${guests.length} guest${guests.length === 1 ? "" : "s"} to move, one at a time: ${guests.join(", ")}`,
    );

  const steps: OperationStep[] = [];
  const units: {
    guest: string;
    source: string | null;
    target: string;
    resources: string[];
    toggled: string[];
  }[] = [];
  const reserved = new Map<string, number>();
  const resources = new Set<string>();
  const targets = new Set<string>();
  for (const guest of guests) {
    const target = evacuationTarget(cluster, state, source, guest);
    if (!target) {
      add(
        `${guest}: target`,
        false,
        `no other node has all of ${guest}'s DRBD resources (${guestConfig(cluster, guest)?.drbd.join(", ") || "none declared"})`,
      );
      continue;
    }
    const unit = migrateUnit(input, guest, target, reserved.get(target) ?? 0, `${guest}: `);
    checks.push(...unit.checks);
    checks.push(haManagerCheck(input, "evacuate", guest, source, `${guest}: `));
    reserved.set(target, (reserved.get(target) ?? 0) + (unit.memoryMiB ?? 0));
    for (const r of unit.resources) resources.add(r);
    targets.add(target);
    steps.push(...unit.steps);
    units.push({ guest, source: unit.source, target, resources: unit.resources, toggled: unit.toggled });
  }
  if (steps.length > 0 && !checks.some((c) => !c.ok)) checks.push(rollbackNote(units));
  return outcome(
    input,
    "evacuate",
    summary,
    checks,
    steps,
    { nodes: [source], guests, resources: [...resources] },
    { node: source },
    { guests, resources: [...resources], targets: [...targets], from: source },
  );
}

/**
 * `/xen attest-off NODE`: humans say they checked NODE is powered off. No command runs; the execution
 * reads the node once more (it must still not answer) and records an `attested-off` proof. Refused
 * while the node is seen alive: a node that answers is not off.
 */
export function planAttestOff(input: PlanInput, target: string): PlanOutcome {
  const { cluster, state, facts } = input;
  const checks: PreflightCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => checks.push(check(name, ok, detail));
  const summary = `Attest that ${target} is powered off`;
  const focus = { nodes: [target] };
  if (!cluster.nodes.some((n) => n.name === target)) {
    add("node", false, `${target} is not a node of ${cluster.name}`);
    return outcome(input, "attest_off", summary, checks, [], focus, { node: target }, {});
  }
  const alive = seenAlive(state, target);
  add(
    "not answering",
    !alive.alive,
    alive.alive
      ? `${alive.detail}: a node that answers is not off, so it cannot be attested off`
      : `${alive.detail}, and no HA view sees it online`,
  );
  const l = nodeLiveness(cluster, state, target, facts.offProofs, facts.aliveFenceCounts);
  if (!alive.alive)
    add(
      "liveness",
      true,
      l.proof
        ? `already ${l.detail}; the attestation replaces that proof`
        : `${l.detail}; nothing else proves it off`,
    );
  const others = cluster.nodes.map((n) => n.name).filter((n) => n !== target);
  const t = nodeState(state, target);
  const guests = t?.domains?.filter((d) => !d.isDom0).map((d) => d.guest ?? d.name) ?? null;
  add(
    "what this allows",
    true,
    `once attested, ${target} counts as running nothing: its guests may be started on ${others.join(", ") || "another node"}${guests === null ? " (what ran there cannot be read)" : ""}. Attest only after someone has checked ${target} is powered off (power LED, PDU outlet, console); the proof is void as soon as ${target} is seen alive again`,
  );
  add(
    "on execution",
    true,
    `no command runs on any node; ${target} is read once more and must still not answer, then the attestation is recorded`,
  );
  return outcome(input, "attest_off", summary, checks, [], focus, { node: target }, { node: target });
}

/** The node a guest goes to when its node is evacuated: another node with all its resources (first by name). */
export function evacuationTarget(
  cluster: ClusterConfig,
  state: ClusterState,
  source: string,
  guest: string,
): string | null {
  const res = guestConfig(cluster, guest)?.drbd ?? [];
  if (res.length === 0) return null;
  const known = (n: string) => (res.every((r) => drbdOn(state, n, r) !== undefined) ? 0 : 1);
  const candidates = cluster.nodes
    .map((n) => n.name)
    .filter((n) => n !== source)
    // Nodes that have every resource; a node whose DRBD state is unknown stays a candidate (its own
    // checks then say why it cannot take the guest), but known ones come first.
    .filter((n) => res.every((r) => drbdOn(state, n, r) !== null))
    .sort((a, b) => known(a) - known(b) || (a < b ? -1 : a > b ? 1 : 0));
  return candidates[0] ?? null;
}

/** Dispatch. */
export function buildPlan(input: PlanInput, request: OperationRequest): PlanOutcome {
  switch (request.action) {
    case "migrate":
      return noteOverrides(
        planMigrate({ ...input, overrides: request.overrides }, request.guest, request.target),
        request.overrides,
      );
    case "create":
      return noteOverrides(
        planCreate({ ...input, overrides: request.overrides }, request.guest, request.node),
        request.overrides,
      );
    case "fence":
      return planFence(input, request.node, request.overrideLastCopy);
    case "evacuate":
      return noteOverrides(
        planEvacuate({ ...input, overrides: request.overrides }, request.node),
        request.overrides,
      );
    case "attest_off":
      return planAttestOff(input, request.node);
    case "split_brain_recover":
      return planSplitBrainRecovery(
        input.cluster,
        input.state,
        request,
        input.facts.drbdVersion[request.victim] ?? null,
        input.facts,
      );
  }
}

/** One line for humans, before any state is known ("Live-migrate internet to ics1"). */
export function describeRequest(request: OperationRequest): string {
  switch (request.action) {
    case "migrate":
      return `Live-migrate ${request.guest} to ${request.target}`;
    case "create":
      return `Start ${request.guest}${request.node ? ` on ${request.node}` : ""}`;
    case "fence":
      return `Fence ${request.node}${request.overrideLastCopy?.length ? ` (overriding the last-copy refusal for ${request.overrideLastCopy.join(", ")})` : ""}`;
    case "evacuate":
      return `Evacuate ${request.node}`;
    case "attest_off":
      return `Attest that ${request.node} is powered off`;
    case "split_brain_recover":
      return `Recover the split brain of ${request.resource}, keeping ${request.survivor}'s data (discarding ${request.victim}'s)`;
  }
}
