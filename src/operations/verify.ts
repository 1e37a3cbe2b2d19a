/**
 * Verification and making safe, shared by the executor and crash recovery. Everything here reads the
 * cluster again (never trusts an exit status alone) and never runs a destructive command: the only
 * commands are read-only probes and the undo of non-destructive steps (demote a resource the guest
 * does not use, turn allow-two-primaries off again), each only when the fresh state shows it is safe.
 */
import type { ClusterConfig } from "../config/schema";
import { errorCode, errorMessage } from "../errors";
import type { ClusterState } from "../model/schema";
import { type OperationDeps, redactValues } from "./context";
import {
  confirmedDown,
  describeLocation,
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
/**
 * Where the guest runs, where a node that does not answer counts as running nothing only when it is
 * confirmed down (the rule the create preflight uses: no SSH and HA declares it offline), e.g. the
 * peer that was just fenced. Any other silent node stays "unknown".
 */
export function locateExceptDown(
  state: ClusterState,
  guest: string,
  cluster?: ClusterConfig,
): { loc: GuestLocation; down: string[] } {
  const seen = locateGuest(state, guest);
  const down = cluster ? seen.unknown.filter((n) => confirmedDown(cluster, state, n).down) : [];
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
  for (;;) {
    const state = await probe(deps, cluster);
    const { loc } = locateExceptDown(state, guest, cluster);
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

/** After create: the guest runs on `node` only and its resources are Primary there. */
export function checkCreated(
  state: ClusterState,
  guest: string,
  node: string,
  resources: readonly string[],
  cluster?: ClusterConfig,
): UnitCheck {
  const { loc, down } = locateExceptDown(state, guest, cluster);
  const placed = runsOnlyOn(loc, node);
  const details = [
    placed
      ? `${guest} runs on ${node} only (checked on every node${down.length ? `; ${down.join(", ")} confirmed down` : ""})`
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
  details: string[];
}

/** Successful fence events for `node` in the fencer's HA view (Pacemaker's fence history). */
export function fenceSuccesses(state: ClusterState, observer: string, node: string): number {
  return (
    nodeState(state, observer)?.ha?.fenceHistory.filter((f) => f.target === node && f.status === "success")
      .length ?? 0
  );
}

/**
 * Watches a fenced node until it is seen off: SSH stops answering, and the HA view (declares it
 * offline or records the fence) or the agent's power status (off) confirms it. Without an HA stack
 * and without a power status, SSH alone has to do.
 */
export async function verifyFenced(
  deps: OperationDeps,
  cluster: ClusterConfig,
  opts: {
    target: string;
    fencer: string;
    historyBefore: number;
    secrets: ReadonlyMap<string, string>;
    timeoutMs: number;
  },
): Promise<FenceEvidence> {
  const { target, fencer } = opts;
  const fence = deps.mutationsFor(cluster.name).fence;
  const power = fence?.powerStatus(target) ?? null;
  const deadline = Date.now() + opts.timeoutMs;
  let sshDown: string | null = null;
  let haDown: string | null = null;
  let powerOff: string | null = null;
  let lastSsh = "";
  for (;;) {
    const state = await probe(deps, cluster, [target, fencer]);
    const t = nodeState(state, target);
    if (t && !t.reachable) sshDown ??= `SSH to ${target} fails (${t.error?.code ?? "unreachable"})`;
    else lastSsh = `${target} still answers over SSH`;
    const f = nodeState(state, fencer);
    const seen = f?.ha?.running ? f.ha.nodes.find((n) => n.name === target)?.status : undefined;
    if (seen === "offline" || seen === "unclean")
      haDown ??= `${cluster.toolstack.ha} on ${fencer} sees ${target} ${seen}`;
    if (fenceSuccesses(state, fencer, target) > opts.historyBefore)
      haDown ??= `the fence history on ${fencer} records the fence of ${target}`;
    if (power && fence) {
      try {
        const res = await deps.runnerFor(cluster.name, fencer).run(power.argv, {
          timeoutMs: Math.min(deps.settings.probeTimeoutMs * 4, cluster.commandTimeoutMs),
          okExitCodes: [0, 1, 2],
          ...(power.stdin ? { stdin: power.stdin(opts.secrets) } : {}),
        });
        if (fence.parsePowerStatus(res.exitCode, res.stdout) === "off")
          powerOff ??= `${fence.label} reports ${target} off`;
      } catch (err) {
        deps.logger.debug(
          { err: redactValues(errorMessage(err), opts.secrets) },
          "power status probe failed",
        );
      }
    }
    const confirmed =
      haDown ??
      powerOff ??
      (cluster.toolstack.ha === "none" && !power ? "no HA stack or power status to ask" : null);
    if (sshDown && confirmed)
      return {
        verified: true,
        sshDown: true,
        details: [sshDown, confirmed, ...(haDown && powerOff ? [powerOff] : [])],
      };
    if (Date.now() >= deadline) {
      const details = [sshDown ?? lastSsh];
      if (sshDown)
        details.push(
          `no confirmation from ${cluster.toolstack.ha === "none" ? "the fence agent" : `the HA view on ${fencer}`} within ${Math.round(opts.timeoutMs / 1000)} s`,
        );
      return { verified: false, sshDown: sshDown !== null, details };
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
