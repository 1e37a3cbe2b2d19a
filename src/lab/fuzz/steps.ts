/**
 * The steps of a two-writer hunt and their seeded generation. A seed alone gives the lab (flavour,
 * guests) and the whole list of steps, before anything runs, so `npm run fuzz -- --seed S` replays
 * the same sequence. Steps name their targets (nodes, guests, resources) by name; which pending
 * request an `approve` takes is resolved when it runs (the newest one that is still open, or an older
 * one by its draw), so the list stays meaningful whatever the earlier steps did.
 */
import { modernLab, Rng, referenceLab, type SimClusterSpecInput } from "../../sim";

export type FuzzStep =
  | { kind: "advance"; seconds: number }
  | { kind: "nodeDown"; node: string }
  | { kind: "nodeUp"; node: string }
  /** Cut off from its peers (HA and DRBD links) and from xenops' SSH; it keeps running its guests. */
  | { kind: "partition"; node: string }
  | { kind: "unpartition"; node: string }
  | { kind: "unreachable"; node: string }
  | { kind: "reachable"; node: string }
  | { kind: "fenceIneffective"; node: string; on: boolean }
  | { kind: "fenceDevice"; up: boolean }
  /** The next migration breaks off midway, or (arrived) completes on the target while the command fails. */
  | { kind: "failMigration"; guest: string | null; arrived: boolean }
  | { kind: "splitBrain"; resource: string }
  | { kind: "tamper"; node: string; command: string; mode: string }
  | { kind: "heal" }
  /** The bot is redeployed: a fresh instance (SSH pool, approval engine, locks) on the same Redis. */
  | { kind: "restart" }
  /** Plan an operation and file its approval request (no decision yet). */
  | { kind: "request"; op: FuzzOperation }
  /** Plan, request, approve and execute at once (one operator and enough approvers at hand). */
  | { kind: "do"; op: FuzzOperation }
  /** Approve an open request with as many distinct approvers as its policy needs, then execute it. */
  | { kind: "approve"; pick: number }
  /**
   * Approve an open request and run its execution until the command of its step at `at` (a fraction
   * of the plan) is held `phase` it runs; then the bot dies there, a fresh one starts and crash
   * recovery settles the execution.
   */
  | { kind: "crash"; pick: number; at: number; phase: "before" | "after" }
  /** The execution of an already executed approval is delivered again (a duplicate job). */
  | { kind: "redeliver"; pick: number };

/**
 * `overrideHa`: typed `--override-ha` (the operator knows the cluster manager will not act; the
 * hunt's HA stack never takes over by itself). `overrideLastCopy`: the fence may take down the last
 * UpToDate copy of every resource (named by a human).
 */
export type FuzzOperation =
  | { action: "create"; guest: string; node: string | null; overrideHa: boolean }
  | { action: "migrate"; guest: string; target: string; overrideHa: boolean }
  | { action: "fence"; node: string; overrideLastCopy: boolean }
  | { action: "evacuate"; node: string; overrideHa: boolean }
  | { action: "attest_off"; node: string }
  | { action: "split_brain_recover"; resource: string; survivor: string; victim: string };

export function describeOperation(op: FuzzOperation): string {
  switch (op.action) {
    case "create":
      return `create ${op.guest}${op.node ? ` on ${op.node}` : ""}${op.overrideHa ? " --override-ha" : ""}`;
    case "migrate":
      return `migrate ${op.guest} to ${op.target}${op.overrideHa ? " --override-ha" : ""}`;
    case "fence":
      return `fence ${op.node}${op.overrideLastCopy ? " (last copies overridden)" : ""}`;
    case "evacuate":
      return `evacuate ${op.node}${op.overrideHa ? " --override-ha" : ""}`;
    case "attest_off":
      return `attest-off ${op.node}`;
    case "split_brain_recover":
      return `recover split brain ${op.resource} keeping ${op.survivor} (discard ${op.victim})`;
  }
}

export function describeStep(step: FuzzStep): string {
  switch (step.kind) {
    case "advance":
      return `advance ${step.seconds}s`;
    case "nodeDown":
    case "nodeUp":
    case "partition":
    case "unpartition":
    case "unreachable":
    case "reachable":
      return `${step.kind} ${step.node}`;
    case "fenceIneffective":
      return `fenceIneffective ${step.node} ${step.on ? "on" : "off"}`;
    case "fenceDevice":
      return `fenceDevice ${step.up ? "up" : "down"}`;
    case "failMigration":
      return `failMigration ${step.guest ?? "any"}${step.arrived ? " (arrives, command fails)" : ""}`;
    case "splitBrain":
      return `splitBrain ${step.resource}`;
    case "tamper":
      return `tamper ${step.node} ${step.command} ${step.mode}`;
    case "heal":
    case "restart":
      return step.kind;
    case "request":
    case "do":
      return `${step.kind} ${describeOperation(step.op)}`;
    case "approve":
    case "redeliver":
      return `${step.kind} (draw ${step.pick.toFixed(2)})`;
    case "crash":
      return `crash mid-execution (draw ${step.pick.toFixed(2)}, at ${step.at.toFixed(2)}, ${step.phase} the command)`;
  }
}

export type Flavour = "reference" | "modern";

/** The lab of a seed: the reference pair (two small guests, so either node can hold both) or the modern one. */
export function fuzzSpec(seed: number): { flavour: Flavour; spec: SimClusterSpecInput } {
  // Fenced nodes stay off for 10 simulated minutes: only a `nodeUp` or long advances bring them back.
  const timing = { migrationMsPerGiB: 4_000, shutdownMs: 15_000, rebootMs: 600_000 };
  const flavour: Flavour = seed % 3 === 2 ? "modern" : "reference";
  // The HA stack takes nothing over by itself: a guest on two nodes is then always xenops' doing.
  const quietHa = (deadtimeMs: number, takeoverMs: number) => ({
    deadtimeMs,
    autoTakeover: false,
    autoFailback: false,
    takeoverMs,
  });
  if (flavour === "modern")
    return { flavour, spec: modernLab({ seed: seed >>> 0, timing, ha: quietHa(5_000, 3_000) }) };
  const resource = (name: string, minor: number) => ({
    name,
    minor,
    nodes: ["ics1", "ics2"] as [string, string],
    sizeMiB: 20_480,
    allowTwoPrimaries: true,
    syncRateKiBps: 10_240,
    writeRateKiBps: 8,
  });
  return {
    flavour,
    spec: referenceLab({
      seed: seed >>> 0,
      guests: [
        // Both are heartbeat groups (haresources): hand operations on them need --override-ha.
        { name: "internet", memoryMiB: 1024, vcpus: 1, drbd: ["internet"], home: "ics2", runningOn: "ics2" },
        { name: "mail", memoryMiB: 1024, vcpus: 1, drbd: ["mail"], runningOn: "ics1" },
      ],
      drbd: [resource("internet", 0), resource("mail", 1)],
      timing,
      ha: quietHa(30_000, 5_000),
    }),
  };
}

export interface StepFeatures {
  /** Commands whose output the tamper fault may spoil, and how (none: no tamper steps). */
  tamper: { commands: readonly string[]; modes: readonly string[] } | null;
  /** The operations know `attest_off`. */
  attestOff: boolean;
}

type Weighted = [number, () => FuzzStep];

/** The steps of a seed: between `min` and `max` of them. */
export function generateSteps(
  seed: number,
  spec: SimClusterSpecInput,
  features: StepFeatures,
  length: { min: number; max: number } = { min: 10, max: 30 },
): FuzzStep[] {
  const rng = new Rng(seed >>> 0).fork("fuzz-steps");
  const nodes = spec.nodes.map((n) => n.name);
  const guests = (spec.guests ?? []).map((g) => g.name);
  const resources = (spec.drbd ?? []).map((r) => r.name);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)] as T;
  const operation = (): FuzzOperation => {
    const r = rng.next();
    const overrideHa = rng.next() < 0.8;
    if (r < 0.36)
      return {
        action: "create",
        guest: pick(guests),
        node: rng.next() < 0.2 ? null : pick(nodes),
        overrideHa,
      };
    if (r < 0.62) return { action: "migrate", guest: pick(guests), target: pick(nodes), overrideHa };
    if (r < 0.78) return { action: "fence", node: pick(nodes), overrideLastCopy: rng.next() < 0.4 };
    if (r < 0.86) return { action: "evacuate", node: pick(nodes), overrideHa };
    if (r < 0.93 && features.attestOff) return { action: "attest_off", node: pick(nodes) };
    const resource = pick(resources);
    const pair = spec.drbd?.find((x) => x.name === resource)?.nodes ?? [nodes[0] ?? "", nodes[1] ?? ""];
    const survivor = pick(pair);
    return {
      action: "split_brain_recover",
      resource,
      survivor,
      victim: pair[0] === survivor ? pair[1] : pair[0],
    };
  };
  const table: Weighted[] = [
    [14, () => ({ kind: "advance", seconds: pick([5, 15, 35, 35, 65, 120]) })],
    [6, () => ({ kind: "partition", node: pick(nodes) })],
    [5, () => ({ kind: "unpartition", node: pick(nodes) })],
    [3, () => ({ kind: "nodeDown", node: pick(nodes) })],
    [6, () => ({ kind: "nodeUp", node: pick(nodes) })],
    [2, () => ({ kind: "unreachable", node: pick(nodes) })],
    [2, () => ({ kind: "reachable", node: pick(nodes) })],
    [3, () => ({ kind: "fenceIneffective", node: pick(nodes), on: rng.next() < 0.6 })],
    [2, () => ({ kind: "fenceDevice", up: rng.next() < 0.5 })],
    [
      4,
      () => ({
        kind: "failMigration",
        guest: rng.next() < 0.5 ? null : pick(guests),
        arrived: rng.next() < 0.5,
      }),
    ],
    [2, () => ({ kind: "splitBrain", resource: pick(resources) })],
    [2, () => ({ kind: "heal" })],
    [3, () => ({ kind: "restart" })],
    [6, () => ({ kind: "request", op: operation() })],
    [14, () => ({ kind: "do", op: operation() })],
    [7, () => ({ kind: "approve", pick: rng.next() })],
    [2, () => ({ kind: "redeliver", pick: rng.next() })],
    [
      1,
      () => ({
        kind: "crash",
        pick: rng.next(),
        at: rng.next(),
        phase: rng.next() < 0.5 ? "before" : "after",
      }),
    ],
  ];
  const tamper = features.tamper;
  if (tamper && tamper.commands.length > 0 && tamper.modes.length > 0)
    table.push([
      2,
      () => ({ kind: "tamper", node: pick(nodes), command: pick(tamper.commands), mode: pick(tamper.modes) }),
    ]);
  const total = table.reduce((s, [w]) => s + w, 0);
  const count = rng.int(length.min, Math.max(length.min, length.max));
  const steps: FuzzStep[] = [];
  for (let i = 0; i < count; i++) {
    const x = rng.next() * total;
    let sum = 0;
    // The last entry also takes what rounding leaves over.
    const entry =
      table.find(([w]) => {
        sum += w;
        return x < sum;
      }) ?? (table[table.length - 1] as Weighted);
    steps.push(entry[1]());
  }
  return steps;
}
