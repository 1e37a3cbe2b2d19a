/**
 * Verification and making safe, shared by the executor and crash recovery. Everything here reads the
 * cluster again (never trusts an exit status alone) and never runs a destructive command: the only
 * commands are read-only probes and the undo of non-destructive steps (demote a resource the guest
 * does not use, turn allow-two-primaries off again), each only when the fresh state shows it is safe.
 */
import type { ClusterConfig } from "../config/schema";
import { bootIdArgv, parseBootId } from "../drivers/boot-id";
import { ExecError, errorCode, errorMessage } from "../errors";
import type { ClusterState } from "../model";
import { type OperationDeps, redactValues } from "./context";
import { nodeLiveness, type OffProof, provenOff, seenAlive } from "./liveness";
import {
  describeLocation,
  drbdHealthy,
  drbdOn,
  type GuestLocation,
  locateGuest,
  migrationSettled,
  nodeState,
  runsOnlyOn,
} from "./locate";
import { snapshotCluster } from "./plan";
import type { OperationStep } from "./types";

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A snapshot for verification: short per-command timeout (a node that went away must not stall us). */
export function probe(
  deps: OperationDeps,
  cluster: ClusterConfig,
  nodes?: readonly string[],
): Promise<ClusterState> {
  return snapshotCluster(deps, cluster, {
    timeoutMs: Math.min(deps.settings.probeTimeoutMs, cluster.commandTimeoutMs),
    ...(nodes ? { nodes } : {}),
  });
}

/**
 * Polls until the guest's placement has settled (no migration names) and, when `expect` is given, it
 * runs only there; or until the timeout. Returns the last state and location read.
 */
/** The stored off-proofs of the cluster; empty (nothing proven) without a store or when unreadable. */
export async function readOffProofs(
  deps: Pick<OperationDeps, "offProofs" | "logger">,
  cluster: ClusterConfig,
): Promise<Record<string, OffProof>> {
  if (!deps.offProofs) return {};
  try {
    return await deps.offProofs.getAll(cluster.name);
  } catch (err) {
    deps.logger.warn({ err }, "could not read the off-proofs");
    return {};
  }
}

/**
 * Where the guest runs, where a node that does not answer counts as running nothing only when it is
 * proven off (src/operations/liveness.ts: fenced and verified, or attested off), the rule the create
 * preflight uses. Any other silent node stays "unknown".
 */
export function locateExceptDown(
  state: ClusterState,
  guest: string,
  cluster?: ClusterConfig,
  proofs: Readonly<Record<string, OffProof | null>> = {},
): { loc: GuestLocation; down: string[] } {
  const seen = locateGuest(state, guest);
  const down = cluster ? seen.unknown.filter((n) => provenOff(nodeLiveness(cluster, state, n, proofs))) : [];
  return { loc: { ...seen, unknown: seen.unknown.filter((n) => !down.includes(n)) }, down };
}

export async function waitForPlacement(
  deps: OperationDeps,
  cluster: ClusterConfig,
  guest: string,
  expect: string | null,
  timeoutMs: number,
): Promise<{ state: ClusterState; loc: GuestLocation; ok: boolean }> {
  const deadline = Date.now() + timeoutMs;
  const proofs = await readOffProofs(deps, cluster);
  for (;;) {
    const state = await probe(deps, cluster);
    const { loc } = locateExceptDown(state, guest, cluster, proofs);
    const settled = migrationSettled(loc) && loc.unknown.length === 0;
    const ok = expect === null ? settled : runsOnlyOn(loc, expect);
    if (ok || Date.now() >= deadline) return { state, loc, ok };
    await sleep(deps.settings.pollIntervalMs);
  }
}

export interface UnitCheck {
  ok: boolean;
  /** The guest is where it should be (false: it is somewhere else, or unknown). */
  placed: boolean;
  details: string[];
}

/** After a migration: the guest runs on `to` only; on `from` each resource is Secondary and UpToDate. */
export function checkMigrated(
  state: ClusterState,
  step: Pick<OperationStep, "guest" | "from" | "to">,
  resources: readonly string[],
): UnitCheck {
  const guest = step.guest ?? "";
  const from = step.from ?? "";
  const to = step.to ?? "";
  const loc = locateGuest(state, guest);
  const placed = runsOnlyOn(loc, to);
  const details = [placed ? `${guest} runs on ${to} only (checked on every node)` : describeLocation(loc)];
  let ok = placed;
  for (const r of resources) {
    const src = drbdOn(state, from, r);
    const dst = drbdOn(state, to, r);
    const srcOk = !!src && src.role === "Secondary" && src.diskState === "UpToDate";
    const dstOk = !!dst && dst.role === "Primary" && dst.diskState === "UpToDate";
    const conn = src?.peers[0]?.connectionState ?? "unknown";
    details.push(
      `${r}: ${from} ${src ? `${src.role}/${src.diskState}` : "unknown"}, ${to} ${dst ? `${dst.role}/${dst.diskState}` : "unknown"}, ${conn}`,
    );
    if (!srcOk || !dstOk) ok = false;
  }
  return { ok, placed, details };
}

/**
 * Right before a migration unit starts (a later guest of an evacuation): the guest still runs on
 * `from` only, and each of its resources is Connected, UpToDate/UpToDate and in sync on both nodes,
 * Primary on `from` and Secondary on `to`, as the plan checked. Empty when it may start.
 */
export function unitStartProblems(
  state: ClusterState,
  step: { guest: string; from: string; to: string },
  resources: readonly string[],
): string[] {
  const problems: string[] = [];
  const loc = locateGuest(state, step.guest);
  if (!runsOnlyOn(loc, step.from)) problems.push(describeLocation(loc));
  for (const r of resources) {
    for (const node of [step.from, step.to]) {
      const h = drbdHealthy(node, drbdOn(state, node, r), r);
      if (!h.ok) problems.push(h.detail);
    }
    const src = drbdOn(state, step.from, r);
    const dst = drbdOn(state, step.to, r);
    if (src && src.role !== "Primary") problems.push(`${r} is ${src.role} on ${step.from}, expected Primary`);
    if (dst && dst.role !== "Secondary")
      problems.push(`${r} is ${dst.role} on ${step.to}, expected Secondary`);
  }
  return problems;
}

/** After create: the guest runs on `node` only and its resources are Primary there. */
export function checkCreated(
  state: ClusterState,
  guest: string,
  node: string,
  resources: readonly string[],
  cluster?: ClusterConfig,
  proofs: Readonly<Record<string, OffProof | null>> = {},
): UnitCheck {
  const { loc, down } = locateExceptDown(state, guest, cluster, proofs);
  const placed = runsOnlyOn(loc, node);
  const details = [
    placed
      ? `${guest} runs on ${node} only (checked on every node${down.length ? `; ${down.join(", ")} proven off` : ""})`
      : describeLocation(loc),
  ];
  let ok = placed;
  for (const r of resources) {
    const x = drbdOn(state, node, r);
    details.push(`${r} on ${node}: ${x ? `${x.role}/${x.diskState}` : "unknown"}`);
    if (x?.role !== "Primary") ok = false;
  }
  return { ok, placed, details };
}

export interface FenceEvidence {
  verified: boolean;
  /** SSH to the target failed at least once after the fence. */
  sshDown: boolean;
  /**
   * The node was already silent before the fence and nothing can tell whether the fence powered it
   * off (a device without power status, no fencer history): "fence reported success; power-off not
   * verified". A human must check and attest it.
   */
  unverifiable: boolean;
  /** The device reads the node's power back as on after the fence (the fence did not take effect). */
  poweredOn: boolean;
  details: string[];
  /** What proved it off (for the off-proof), when verified. */
  evidence: string[];
  /**
   * Verified as a reset: it went away after the fence and came back with a new boot id. It runs
   * again, so this is no proof that it is off now (no off-proof may be recorded from it).
   */
  reset: boolean;
}

/** Successful fence events for `node` in the fencer's HA view (Pacemaker's fence history). */
export function fenceSuccesses(state: ClusterState, observer: string, node: string): number {
  return (
    nodeState(state, observer)?.ha?.fenceHistory.filter((f) => f.target === node && f.status === "success")
      .length ?? 0
  );
}

/**
 * What a probe right before the fence step saw of the target: whether it answered over SSH, and the
 * fencer's count of recorded fences of it.
 */
export interface BeforeFence {
  /** The detail when it answered over SSH, else null (already silent). */
  aliveBefore: string | null;
  historyBefore: number;
  /** The target's boot id read right before the fence; null when it could not be read (no evidence). */
  bootIdBefore?: string | null;
}

export function beforeFence(
  state: ClusterState,
  target: string,
  fencer: string,
  bootId: string | null = null,
): BeforeFence {
  // Only SSH counts: an HA view lags (heartbeat calls a silent peer online until its deadtime ends),
  // so a node cut off just before the fence would look "alive before, gone after" with no fence at all.
  const alive = seenAlive(state, target);
  const aliveBefore = alive.alive && nodeState(state, target)?.reachable === true ? alive.detail : null;
  return {
    aliveBefore,
    historyBefore: fenceSuccesses(state, fencer, target),
    // Only of a node that answered: a boot id is compared only with one read after SSH failed.
    ...(aliveBefore !== null && bootId !== null ? { bootIdBefore: bootId } : {}),
  };
}

/**
 * The node's boot id over SSH, or null when it cannot be read or parsed (unknown: never assumed).
 * Read-only, bounded by the probe timeout.
 */
export async function readBootId(
  deps: OperationDeps,
  cluster: ClusterConfig,
  node: string,
): Promise<string | null> {
  try {
    const res = await deps.runnerFor(cluster.name, node).run(bootIdArgv(), {
      timeoutMs: Math.min(deps.settings.probeTimeoutMs, cluster.commandTimeoutMs),
    });
    return parseBootId(res.stdout);
  } catch (err) {
    deps.logger.debug({ err, node }, "boot id not read");
    return null;
  }
}

/**
 * Pure: whether one probe after the fence shows the target off. Not seen alive at all; or SSH fails and
 * the device reads its power off in this very probe, when an HA view still calling it online only lags
 * (heartbeat keeps a silent peer "active" until its deadtime ends, and a reset node may be back by then).
 */
export function offAfterFence(state: ClusterState, target: string, powerOffNow: boolean): boolean {
  if (!seenAlive(state, target).alive) return true;
  const t = nodeState(state, target);
  return powerOffNow && t !== undefined && !t.reachable;
}

/**
 * Pure: a reset shown by the boot id. The target answered over SSH right before the fence, SSH failed
 * at least once after it, and it answers again with a boot id other than the one read before: it
 * rebooted in between. An HA view still calling it online only lags and does not matter here. null when
 * this evidence does not apply (an `off` fence, a boot id unread before or now, SSH never failed).
 */
export function judgeReset(input: {
  target: string;
  before: BeforeFence;
  sshDown: string | null;
  /** The boot id the target answers with now (null: it does not answer, or unreadable). */
  bootIdNow: string | null;
  action: "reboot" | "off";
}): { reset: boolean; line: string } | null {
  const was = input.before.bootIdBefore ?? null;
  const now = input.bootIdNow;
  if (input.action === "off" || input.before.aliveBefore === null || !was || !now || !input.sshDown)
    return null;
  if (now === was)
    return {
      reset: false,
      line: `${input.target} answered again after SSH failed (${input.sshDown}), with the same boot id (${now}): the fence did not reset it (a network interruption?)`,
    };
  return {
    reset: true,
    line: `${input.target} was reset: SSH failed after the fence and it came back with a new boot id (was ${was}, now ${now})`,
  };
}

/** Pure: the verdict over what was seen after the fence. */
export function judgeFence(input: {
  before: BeforeFence;
  /** The target is not seen alive now (SSH fails, no HA view says online/standby). */
  offNow: boolean;
  sshDown: string | null;
  /** Pacemaker's fencer recorded a success after the fence ran. */
  historyNew: string | null;
  /** The device read the power back as off. */
  powerOff: string | null;
  /** A reset fence: the target and the boot id it answers with now (judgeReset). */
  reset?: { target: string; bootIdNow: string | null; action: "reboot" | "off" };
}): { verified: boolean; evidence: string[]; reset?: boolean } {
  const { before, offNow, sshDown } = input;
  if (!offNow) {
    const r = input.reset ? judgeReset({ ...input.reset, before, sshDown }) : null;
    // Verified, but as a reset: the node runs again, so this is never evidence that it is off now.
    if (r?.reset) return { verified: true, evidence: [r.line], reset: true };
    return { verified: false, evidence: [] };
  }
  const evidence: string[] = [];
  if (input.powerOff) evidence.push(input.powerOff);
  if (input.historyNew) evidence.push(input.historyNew);
  const aliveThenGone = before.aliveBefore !== null && sshDown !== null;
  if (aliveThenGone)
    evidence.push(`seen alive right before the fence (${before.aliveBefore}); ${sshDown} after it`);
  if (evidence.length === 0) return { verified: false, evidence: [] };
  if (sshDown && !aliveThenGone) evidence.push(sshDown);
  return { verified: true, evidence };
}

/**
 * Watches a fenced node until it is verified off with evidence that did not hold before the fence:
 * (a) the device reads its power back as off, or Pacemaker's fencer records a new success; or (b) it
 * was seen alive right before the fence and is off after it (SSH fails and no HA view sees it up).
 * A node already silent before the fence, fenced through a device that cannot report power, can never
 * be verified: that is said at once ("power-off not verified"), never "verified off".
 */
export async function verifyFenced(
  deps: OperationDeps,
  cluster: ClusterConfig,
  opts: {
    target: string;
    fencer: string;
    before: BeforeFence;
    secrets: ReadonlyMap<string, string>;
    timeoutMs: number;
    /** The fence's action: a `reboot` may also be verified by a new boot id, an `off` never. */
    action?: "reboot" | "off";
  },
): Promise<FenceEvidence> {
  const { target, fencer, before } = opts;
  const action = opts.action ?? "reboot";
  const bootIdMatters = action !== "off" && before.aliveBefore !== null && !!before.bootIdBefore;
  /** SSH came back after failing, with the boot id from before: said when nothing else verified it. */
  let sameBootId: string | null = null;
  const { fence, fenceHistory } = deps.mutationsFor(cluster.name);
  const power = fence?.powerStatus(target) ?? null;
  const canConfirm = before.aliveBefore !== null || power !== null || !!fenceHistory;
  const deadline = Date.now() + opts.timeoutMs;
  let sshDown: string | null = null;
  let historyNew: string | null = null;
  let powerOff: string | null = null;
  let poweredOn: string | null = null;
  let lastAlive = "";
  for (;;) {
    const state = await probe(deps, cluster, [target, fencer]);
    const t = nodeState(state, target);
    if (t && !t.reachable) sshDown ??= `SSH to ${target} fails (${t.error?.code ?? "unreachable"})`;
    const alive = seenAlive(state, target);
    if (alive.alive) lastAlive = alive.detail;
    let powerOffNow = false;
    if (fenceSuccesses(state, fencer, target) > before.historyBefore)
      historyNew ??= `the fence history on ${fencer} records the fence of ${target}`;
    if (power && fence) {
      try {
        const res = await deps.runnerFor(cluster.name, fencer).run(power.argv, {
          timeoutMs: Math.min(deps.settings.probeTimeoutMs * 4, cluster.commandTimeoutMs),
          okExitCodes: fence.exitCodes.powerStatus,
          ...(power.stdin ? { stdin: power.stdin(opts.secrets) } : {}),
        });
        const status = fence.parsePowerStatus(res.exitCode, res.stdout);
        powerOffNow = status === "off";
        if (status === "off") powerOff ??= `${fence.label} reports ${target} powered off`;
        else if (status === "on") poweredOn = `${fence.label} reports ${target} powered ON after the fence`;
      } catch (err) {
        deps.logger.debug(
          { err: redactValues(errorMessage(err), opts.secrets) },
          "power status probe failed",
        );
      }
    }
    const offNow = offAfterFence(state, target, powerOffNow);
    // Back after SSH failed: a new boot id shows the reset even while an HA view lags "online".
    const bootIdNow =
      bootIdMatters && sshDown !== null && !offNow && t?.reachable === true
        ? await readBootId(deps, cluster, target)
        : null;
    const reset = judgeReset({ target, before, sshDown, bootIdNow, action });
    if (reset && !reset.reset) sameBootId = reset.line;
    const verdict = judgeFence({
      before,
      offNow,
      sshDown,
      historyNew,
      powerOff,
      reset: { target, bootIdNow, action },
    });
    if (verdict.verified && verdict.reset)
      return {
        verified: true,
        sshDown: true,
        unverifiable: false,
        poweredOn: false,
        reset: true,
        details: [
          ...verdict.evidence,
          `${target} runs again (${alive.detail}): not off, and no off-proof is recorded`,
        ],
        evidence: verdict.evidence,
      };
    if (verdict.verified) {
      // The HA view's verdict supports the evidence (heartbeat's "dead" alone would prove nothing).
      const seen = nodeState(state, fencer)?.ha?.nodes.find((n) => n.name === target)?.status;
      const haLine =
        seen === "offline" || seen === "unclean"
          ? [`${cluster.toolstack.ha} on ${fencer} sees ${target} ${seen}`]
          : alive.alive
            ? [
                `${cluster.toolstack.ha} on ${fencer} still sees ${target} ${seen ?? "up"} (its view lags until the deadtime ends)`,
              ]
            : [];
      return {
        verified: true,
        sshDown: true,
        unverifiable: false,
        poweredOn: false,
        details: [...verdict.evidence, ...haLine],
        evidence: verdict.evidence,
        reset: false,
      };
    }
    if (!canConfirm && !alive.alive)
      return {
        verified: false,
        sshDown: sshDown !== null,
        unverifiable: true,
        poweredOn: false,
        details: [
          `${target} was already silent before the fence (${alive.detail}), and ${fence?.label ?? "the fence device"} cannot report power: nothing shows whether the fence powered it off`,
        ],
        evidence: [],
        reset: false,
      };
    if (Date.now() >= deadline) {
      const details = [alive.alive ? lastAlive : (sshDown ?? alive.detail)];
      if (poweredOn && !alive.alive)
        details.push(`${poweredOn}: the fence did not take effect (wrong outlet or device?)`);
      else if (!alive.alive)
        details.push(
          `no evidence that it was powered off within ${Math.round(opts.timeoutMs / 1000)} s${before.aliveBefore ? "" : ` (${target} was already silent before the fence)`}`,
        );
      if (sameBootId) details.push(sameBootId);
      else if (action !== "off" && before.aliveBefore !== null && !before.bootIdBefore)
        details.push(`${target}'s boot id could not be read before the fence: a reset cannot be told by it`);
      return {
        verified: false,
        sshDown: sshDown !== null,
        unverifiable: false,
        poweredOn: poweredOn !== null && !alive.alive,
        details,
        evidence: [],
        reset: false,
      };
    }
    await sleep(deps.settings.pollIntervalMs);
  }
}

/** Runs one undo command; returns a line for the report. Never throws. */
export async function runUndo(
  deps: OperationDeps,
  cluster: ClusterConfig,
  node: string,
  argv: string[],
  what: string,
): Promise<{ ok: boolean; line: string }> {
  try {
    await deps.runnerFor(cluster.name, node).run(argv, { timeoutMs: cluster.commandTimeoutMs });
    return { ok: true, line: `undone: ${what} (${argv.join(" ")} on ${node})` };
  } catch (err) {
    return {
      ok: false,
      line: `could not undo: ${what} (${argv.join(" ")} on ${node}: ${errorCode(err)} ${errorMessage(err).slice(0, 200)})`,
    };
  }
}

/**
 * Undoes the non-destructive preparation of a guest's unit (promote on a node where the guest does not
 * run, allow-two-primaries) when the fresh state shows it is safe. `done` are the steps that ran (or
 * may have run). Returns report lines.
 */
export async function undoPreparation(
  deps: OperationDeps,
  cluster: ClusterConfig,
  state: ClusterState,
  guest: string,
  done: readonly OperationStep[],
  /** Called before each undo command (the lock's assertHeld): a throw stops the undo. */
  guard: () => Promise<void> = async () => {},
): Promise<{ lines: string[]; allOk: boolean }> {
  const drbd = deps.mutationsFor(cluster.name).drbd;
  const loc = locateGuest(state, guest);
  const lines: string[] = [];
  let allOk = true;
  const guarded = async (node: string, argv: string[], what: string) => {
    try {
      await guard();
    } catch (err) {
      return { ok: false, line: `not undone: ${what} (${errorMessage(err)})` };
    }
    return runUndo(deps, cluster, node, argv, what);
  };
  for (const s of done.filter((x) => x.kind === "drbd-primary")) {
    const r = s.resource ?? "";
    if (loc.on.some((p) => p.node === s.node) || loc.unknown.includes(s.node)) {
      lines.push(`left ${r} Primary on ${s.node}: ${guest} runs there or it cannot be read`);
      allOk = false;
      continue;
    }
    if (drbdOn(state, s.node, r)?.role !== "Primary") continue;
    const res = await guarded(s.node, drbd.secondary(r), `promotion of ${r} on ${s.node}`);
    lines.push(res.line);
    allOk &&= res.ok;
  }
  const toggled = done.filter((x) => x.kind === "drbd-allow-two-primaries");
  if (toggled.length > 0) {
    // Both sides must be Secondary again except the guest's node, or turning it off would fail anyway.
    for (const s of toggled) {
      const argv = s.argv.map((a) => (a === "--allow-two-primaries=yes" ? "--allow-two-primaries=no" : a));
      const res = await runUndo(
        deps,
        cluster,
        s.node,
        argv,
        `allow-two-primaries on ${s.resource ?? "?"} (${s.node})`,
      );
      lines.push(res.line);
      allOk &&= res.ok;
    }
  }
  return { lines, allOk };
}

/** Where a resource is Primary, and the nodes whose DRBD state could not be read. */
export function primariesOf(state: ClusterState, resource: string): { primary: string[]; unknown: string[] } {
  const primary: string[] = [];
  const unknown: string[] = [];
  for (const n of state.nodes) {
    const r = drbdOn(state, n.name, resource);
    if (r === undefined) unknown.push(n.name);
    else if (r?.role === "Primary") primary.push(n.name);
  }
  return { primary, unknown };
}

/** The last lines a failed command printed, for the report. */
export function errorOutput(err: unknown, secrets: ReadonlyMap<string, string> = new Map()): string[] {
  if (!(err instanceof ExecError)) return [];
  // stderr carries the error; stdout only when stderr is empty (xm adds its usage text there).
  const text = err.stderr.trim() !== "" ? err.stderr : err.stdout;
  const lines = redactValues(text, secrets)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines.slice(-8).map((l) => `output: ${l.slice(0, 300)}`);
}

/** One step of a migration unit, with its index in the plan. */
export interface IndexedStep {
  index: number;
  step: OperationStep;
}

export interface ArrivalSettled {
  /** Source demoted, allow-two-primaries off where it was turned on, one Primary per resource, placed. */
  ok: boolean;
  /** Two Primaries (or an unreadable node) remain, or the guest is no longer on the target only. */
  page: boolean;
  lines: string[];
  state: ClusterState;
}

/**
 * The guest arrived on `to` although its migration reported an error (or the worker running it
 * stopped): finish the unit's non-destructive tail of the approved plan — demote the source (only
 * where the guest does not run and the resource is still Primary), turn allow-two-primaries off again
 * — then read the cluster back and require exactly one Primary per resource, on `to`. `state` must
 * show the guest on `to` only. `onRun` hears each command run (journal, card).
 */
export async function settleArrival(
  deps: OperationDeps,
  cluster: ClusterConfig,
  state: ClusterState,
  unit: { guest: string; from: string; to: string; resources: readonly string[] },
  tail: readonly IndexedStep[],
  hooks: {
    guard?: () => Promise<void>;
    onRun?: (
      index: number,
      result: { ok: boolean; exitCode: number | null; durationMs: number; error?: unknown },
    ) => Promise<void>;
  } = {},
): Promise<ArrivalSettled> {
  const { guest, to } = unit;
  const lines: string[] = [];
  let ok = true;
  const loc = locateGuest(state, guest);
  for (const { index, step } of tail) {
    if (step.kind !== "drbd-secondary" && step.kind !== "drbd-disallow-two-primaries") continue;
    const r = step.resource ?? "?";
    if (step.kind === "drbd-secondary") {
      if (loc.on.some((p) => p.node === step.node) || loc.unknown.includes(step.node)) {
        lines.push(`left ${r} Primary on ${step.node}: ${guest} runs there or it cannot be read`);
        ok = false;
        continue;
      }
      const role = drbdOn(state, step.node, r)?.role;
      if (role !== "Primary") {
        lines.push(`${r} is already ${role ?? "unknown"} on ${step.node}: not demoted`);
        continue;
      }
    }
    try {
      await (hooks.guard ?? (async () => {}))();
    } catch (err) {
      lines.push(`not run: ${step.description} (${errorMessage(err)}); nothing more was run`);
      ok = false;
      break;
    }
    const started = Date.now();
    try {
      const res = await deps
        .runnerFor(cluster.name, step.node)
        .run(step.argv, { timeoutMs: step.timeoutMs ?? cluster.commandTimeoutMs });
      lines.push(`ran: ${step.argv.join(" ")} on ${step.node}`);
      await hooks.onRun?.(index, { ok: true, exitCode: res.exitCode, durationMs: res.durationMs });
    } catch (err) {
      ok = false;
      lines.push(
        `failed: ${step.argv.join(" ")} on ${step.node}: ${errorCode(err)} ${errorMessage(err).slice(0, 200)}`,
      );
      await hooks.onRun?.(index, {
        ok: false,
        exitCode: err instanceof ExecError ? err.exitCode : null,
        durationMs: Date.now() - started,
        error: err,
      });
    }
  }

  const after = await probe(deps, cluster);
  let page = false;
  const now = locateGuest(after, guest);
  if (!runsOnlyOn(now, to)) {
    lines.push(`read back: ${describeLocation(now)}`);
    ok = false;
    page = true;
  }
  for (const r of unit.resources) {
    const { primary, unknown } = primariesOf(after, r);
    if (unknown.length > 0) {
      lines.push(`${r}: the DRBD state of ${unknown.join(", ")} cannot be read; one Primary not verified`);
      ok = false;
      page = true;
    } else if (primary.length !== 1 || primary[0] !== to) {
      lines.push(
        `${r}: Primary on ${primary.length ? primary.join(" and ") : "no node"}; expected ${to} only`,
      );
      ok = false;
      page = true;
    } else lines.push(`${r}: Primary on ${to} only (read back on every node)`);
  }
  const c = checkMigrated(after, { guest, from: unit.from, to }, unit.resources);
  lines.push(...c.details);
  if (!c.ok) ok = false;
  return { ok, page, lines, state: after };
}
