/**
 * The two-writer hunter: runs a seeded sequence of faults and user actions against the simulated
 * cluster (over SSH) and the real operations code, and after every step checks the ground truth
 * (src/sim/truth.ts):
 *
 *   - no guest executes on two nodes, and no guest has domains on two nodes except a live
 *     migration's source and its paused incoming target;
 *   - no DRBD resource is Primary with an executing guest on both nodes;
 *   - no fence device action runs twice for one approval (nor outside an approved fence).
 *
 * The two-writer checks also run on every change of the simulation, so a guest started twice and
 * stopped again within one step is caught too. The first step after (or during) which one of them
 * fails ends the sequence; the result holds the seed, every step with what came of it, the problems
 * and the truth, so `npm run fuzz -- --seed S` replays it.
 * Used by test/fuzz/two-writers.test.ts and scripts/fuzz.ts.
 */
import { policyFor } from "../../approval/policy";
import type { RiskyAction } from "../../approval/types";
import { errorMessage } from "../../errors";
import type { Logger } from "../../log";
import type { OperationSettings } from "../../operations/context";
import { recoverUnfinished } from "../../operations/crash-recovery";
import { executeApproved } from "../../operations/executor";
import { ExecutionLease } from "../../operations/lease";
import { planOperation } from "../../operations/plan";
import type { ExecutionOutcome, OperationRequest } from "../../operations/types";
import { type Faults, formatTruth, readTruth, twoWriterViolations } from "../../sim";
import {
  describeOperation,
  describeStep,
  type Flavour,
  type FuzzOperation,
  type FuzzStep,
  fuzzSpec,
  generateSteps,
  type StepFeatures,
} from "./steps";
import {
  FUZZ_APPROVERS,
  FUZZ_CHANNEL,
  FUZZ_RECOVERY_REQUESTER,
  FUZZ_REQUESTER,
  startWorld,
  type World,
} from "./world";

export interface StepRecord {
  index: number;
  step: FuzzStep;
  text: string;
  /** What came of it, in one line. */
  outcome: string;
}

export interface FuzzViolation {
  /** 1-based number of the step after which the invariants failed. */
  step: number;
  problems: string[];
  truth: string;
}

export interface FuzzResult {
  seed: number;
  flavour: Flavour;
  /** The steps came from the seed (not given by the caller), so the seed alone replays them. */
  generated: boolean;
  steps: StepRecord[];
  violation: FuzzViolation | null;
  durationMs: number;
}

export interface FuzzOptions {
  seed: number;
  redisUrl: string;
  /** Replay these steps instead of the seed's own (the seed still picks the lab). */
  steps?: FuzzStep[];
  length?: { min: number; max: number };
  logger?: Logger;
  settings?: Partial<OperationSettings>;
  /** Refusals say why each failed check failed (long lines). */
  detail?: boolean;
  /** Called after each step (the CLI's --verbose). */
  onStep?: (record: StepRecord) => void;
}

/** Commands whose output the tamper fault spoils (src/sim/tamper.ts), and how. */
const TAMPER_CHOICES = {
  commands: ["xm list", "cat /proc/drbd", "cl_status", "xl list", "drbdsetup status", "crm_mon"],
  modes: ["garbage", "truncate 40", "empty", "headonly", "fail"],
} as const;

/** What the hunt draws from: tamper choices, and attest-off (an operation of the planner). */
export function huntFeatures(): StepFeatures {
  return { tamper: TAMPER_CHOICES, attestOff: true };
}

interface RequestEntry {
  id: string;
  label: string;
  action: RiskyAction;
  /** A typed confirmation the policy asks for (split-brain recovery: the victim's name). */
  typed: string | undefined;
  approvals: number;
  decided: boolean;
  executions: number;
}

/** One line for an execution outcome. */
function outcomeLine(o: ExecutionOutcome): string {
  const first = (s: string) => s.split("\n")[0] ?? "";
  switch (o.status) {
    case "succeeded":
      return `succeeded: ${first(o.summary)}`;
    case "refused":
      return `refused: ${first(o.summary)}`;
    case "failed":
    case "uncertain":
      return `${o.status}${o.page ? " (paged)" : ""}: ${first(o.summary)}`;
  }
}

class Sequence {
  private readonly requests: RequestEntry[] = [];
  /** Fence device actions seen so far, and per approval during its executions. */
  private fencesSeen = 0;
  private readonly fencesBy = new Map<string, number>();

  constructor(
    private readonly world: World,
    private readonly features: StepFeatures,
    /** Say why each refused check failed, not only its name. */
    private readonly detail: boolean,
  ) {}

  private get faults(): Faults {
    return this.world.lab.faults;
  }

  private get sim() {
    return this.world.lab.cluster;
  }

  /** Runs one step; returns what came of it. Fence actions it caused are attributed in `fenceProblems`. */
  async run(step: FuzzStep): Promise<string> {
    const f = this.faults;
    const lab = this.world.lab;
    switch (step.kind) {
      case "advance":
        await lab.tick(step.seconds * 1000);
        return "ok";
      case "nodeDown":
        if (!lab.node(step.node).up) return "already down";
        f.nodeDown(step.node);
        await lab.settled();
        return "ok";
      case "nodeUp":
        if (lab.node(step.node).up) return "already up";
        f.nodeUp(step.node);
        await lab.settled();
        return "ok";
      case "partition":
        if (!lab.node(step.node).up) return "down (nothing to cut off)";
        f.partition(step.node);
        await lab.settled();
        return "ok";
      case "unpartition":
        f.partition(step.node, false);
        await lab.settled();
        return "ok";
      case "unreachable":
        f.unreachable(step.node);
        await lab.settled();
        return "ok";
      case "reachable":
        f.reachable(step.node);
        await lab.settled();
        return "ok";
      case "fenceIneffective":
        f.fenceIneffective(step.node, step.on);
        return "ok";
      case "fenceDevice":
        f.fenceDevice(step.up);
        return "ok";
      case "failMigration":
        f.failMigration(step.guest, 0.5, step.arrived ? { arrived: true } : {});
        return "ok";
      case "splitBrain":
        f.splitBrain(step.resource);
        return "ok";
      case "tamper":
        f.tamper(step.node, step.command, step.mode);
        return "ok";
      case "heal":
        f.heal();
        await lab.settled();
        return "ok";
      case "restart":
        await this.world.restart();
        return "ok";
      case "request": {
        const r = await this.request(step.op);
        return typeof r === "string" ? r : `filed #${this.requests.indexOf(r) + 1}`;
      }
      case "do": {
        const r = await this.request(step.op);
        if (typeof r === "string") return r;
        return `#${this.requests.indexOf(r) + 1}: ${await this.approve(r)}`;
      }
      case "approve": {
        const open = this.requests.filter((r) => !r.decided);
        if (open.length === 0) return "nothing to approve";
        // Mostly the newest request (what an approver sees first), sometimes an older, staler one.
        const r = step.pick < 0.6 ? open[open.length - 1] : open[Math.floor(step.pick * open.length)];
        if (!r) return "nothing to approve";
        return `#${this.requests.indexOf(r) + 1} (${r.label}): ${await this.approve(r)}`;
      }
      case "crash": {
        const open = this.requests.filter((r) => !r.decided);
        const r = step.pick < 0.6 ? open[open.length - 1] : open[Math.floor(step.pick * open.length)];
        if (!r) return "nothing to approve";
        return `#${this.requests.indexOf(r) + 1} (${r.label}): ${await this.crash(r, step.at, step.phase)}`;
      }
      case "redeliver": {
        const done = this.requests.filter((r) => r.executions > 0);
        const r = done[Math.floor(step.pick * done.length)];
        if (!r) return "nothing executed yet";
        return `#${this.requests.indexOf(r) + 1} (${r.label}): ${await this.execute(r)}`;
      }
    }
  }

  private async request(op: FuzzOperation): Promise<RequestEntry | string> {
    const { world } = this;
    const { bot, cluster, inventory } = world;
    const label = describeOperation(op);
    if (op.action === "attest_off") {
      if (!this.features.attestOff) return "skipped (no attest-off)";
      // The humans attesting are honest: whoever walks up to a node that is on sees it running.
      const power = this.sim.truth().nodes.find((n) => n.name === op.node)?.power;
      if (power === "on") return `not asked: a human checking finds ${op.node} powered on`;
    }
    const request = requestOf(
      op,
      cluster.name,
      world.lab.cluster.state.drbd.map((r) => r.name),
    );
    const outcome = await planOperation(bot.deps, request);
    if (!outcome.ok) {
      const failed = outcome.checks.filter((c) => !c.ok);
      const why = failed.map((c) => (this.detail ? `${c.name}: ${c.detail}` : c.name));
      return `refused by preflight (${why.join(this.detail ? "; " : ", ") || "no steps"})`;
    }
    const policy = policyFor(outcome.plan.action, inventory, outcome.plan);
    const record = await bot.deps.approvals.request(outcome.plan, {
      // Discarding a side's data and attesting a node off may only be asked for by an approver.
      requestedBy:
        op.action === "split_brain_recover" || op.action === "attest_off"
          ? FUZZ_RECOVERY_REQUESTER
          : FUZZ_REQUESTER,
      channel: FUZZ_CHANNEL,
      policy,
    });
    return this.file(record.id, label, outcome.plan.action, policy.approvals, policy.typedConfirmation);
  }

  private file(
    id: string,
    label: string,
    action: RiskyAction,
    approvals: number,
    typed: string | undefined,
  ): RequestEntry {
    const entry: RequestEntry = { id, label, action, typed, approvals, decided: false, executions: 0 };
    this.requests.push(entry);
    return entry;
  }

  /** Decides with enough distinct approvers; null once an execution is queued, else why not. */
  private async decide(r: RequestEntry): Promise<string | null> {
    const { bot } = this.world;
    r.decided = true;
    for (const user of FUZZ_APPROVERS.slice(0, r.approvals)) {
      const res = await bot.deps.approvals.decide(r.id, user, "approve", r.typed ? { typed: r.typed } : {});
      if (res.outcome === "refused") return `approval refused: ${res.reason ?? "?"}`;
    }
    await bot.deps.approvals.settled();
    return bot.approved.has(r.id) ? null : "approved, but no execution was queued";
  }

  private async approve(r: RequestEntry): Promise<string> {
    return (await this.decide(r)) ?? this.execute(r);
  }

  /**
   * The worker dies in the middle of the execution (at the step `at` of the plan, its command held
   * before it runs or after it ran), a fresh bot starts and its crash recovery takes the execution over.
   */
  private async crash(r: RequestEntry, at: number, phase: "before" | "after"): Promise<string> {
    if (r.action === "split_brain_recover") return this.approve(r);
    const refused = await this.decide(r);
    if (refused) return refused;
    const world = this.world;
    const record = await world.bot.deps.approvals.get(r.id);
    const steps = record?.plan.steps ?? [];
    const k = Math.min(steps.length - 1, Math.floor(at * steps.length));
    const target = steps[k];
    if (!target) return this.execute(r);
    const hold = world.lab.faults.holdCommand({ node: target.node, argv: target.argv }, phase);
    const leases = watchLeases(r.id);
    r.executions += 1;
    const before = this.xenopsFences();
    const run = executeApproved(world.bot.deps, r.id, { jobId: executionJobId(r.id) }).then(
      outcomeLine,
      (err: unknown) => `threw: ${errorMessage(err)}`,
    );
    let line: string;
    try {
      const first = await world.pumping(() => Promise.race([hold.held().then(() => null), run]));
      if (first !== null) line = `${first} (ended before step ${k + 1} was held)`;
      else {
        // It dies with the command held: its connections drop first, so a command held before it
        // ran never runs, and one held after it ran never reports back.
        await world.crash();
        for (const lease of leases()) lease.stop();
        hold.stop();
        line = `worker died ${phase} step ${k + 1} (${target.argv.join(" ")} on ${target.node}); ${await this.recover(r.id)}`;
      }
    } finally {
      hold.stop();
      leases();
    }
    const ran = this.xenopsFences() - before;
    this.fencesSeen += ran;
    if (ran > 0) this.fencesBy.set(r.id, (this.fencesBy.get(r.id) ?? 0) + ran);
    return line;
  }

  /** The fresh bot's crash recovery, tried until it settles the execution (the dead worker's lease must expire first). */
  private async recover(approvalId: string): Promise<string> {
    const world = this.world;
    const deadline = performance.now() + 8_000;
    // Simulated time stands still while the dead worker's lease runs out (real time), so the state
    // the recovery finds is the one the worker left.
    for (;;) {
      const reports = await world.pumping(() =>
        recoverUnfinished(world.bot.deps, { clusters: [world.cluster.name], owner: "fuzz-recovery" }),
      );
      const mine = reports.find((x) => x.approvalId === approvalId);
      if (mine) return `recovery: ${outcomeLine(mine.outcome)}`;
      const journal = await world.bot.deps.approvals.journal(approvalId);
      if (journal?.finished) return "recovery: nothing to do (the execution had finished)";
      if (performance.now() > deadline) return "recovery: not taken over within 8 s";
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Runs the approval's execution job (again, for a redelivery) with the clock pumping. */
  private async execute(r: RequestEntry): Promise<string> {
    const { bot } = this.world;
    r.executions += 1;
    // The job the approval engine queued (a redelivery is the same job run again, as after a stall).
    const jobId = executionJobId(r.id);
    const before = this.xenopsFences();
    let line: string;
    try {
      line = await this.world.pumping(async () => {
        return outcomeLine(await executeApproved(bot.deps, r.id, { jobId }));
      });
    } catch (err) {
      line = `threw: ${errorMessage(err)}`;
    }
    const ran = this.xenopsFences() - before;
    this.fencesSeen += ran;
    if (ran > 0) this.fencesBy.set(r.id, (this.fencesBy.get(r.id) ?? 0) + ran);
    return line;
  }

  /** Fence device actions by commands (heartbeat's own STONITH is the HA stack's, not an execution's). */
  private xenopsFences(): number {
    return this.sim.fenceLog.filter((f) => f.client !== "heartbeat").length;
  }

  /** Fence actions against the rules: twice for one approval, for a non-fence approval, or outside any. */
  fenceProblems(): string[] {
    const out: string[] = [];
    for (const [id, n] of this.fencesBy) {
      const r = this.requests.find((x) => x.id === id);
      if (r?.action !== "fence")
        out.push(
          `${n} fence action(s) during the execution of #${this.requests.indexOf(r as RequestEntry) + 1} (${r?.label}), which is no fence`,
        );
      else if (n > 1)
        out.push(
          `the fence of #${this.requests.indexOf(r) + 1} (${r.label}) ran ${n} times for one approval`,
        );
    }
    const total = this.xenopsFences();
    if (total > this.fencesSeen)
      out.push(`${total - this.fencesSeen} fence action(s) outside any approved execution`);
    return out;
  }
}

/**
 * The leases (src/operations/lease.ts) started for approvals the hunt is about to kill the worker of.
 * The killed worker runs in this process, so its lease would go on renewing and count as held here;
 * a dead process's lease stops with it, which the crash step does through this registry.
 */
const doomedLeases = new Map<string, ExecutionLease[]>();
let leasesWatched = false;

function watchLeases(approvalId: string): () => ExecutionLease[] {
  if (!leasesWatched) {
    leasesWatched = true;
    const start = ExecutionLease.prototype.start;
    ExecutionLease.prototype.start = function (this: ExecutionLease) {
      doomedLeases.get(this.grant.approvalId)?.push(this);
      return start.call(this);
    };
  }
  doomedLeases.set(approvalId, []);
  return () => {
    const list = doomedLeases.get(approvalId) ?? [];
    doomedLeases.delete(approvalId);
    return list;
  };
}

/** The planner's request for an operation of the hunt. */
function requestOf(op: FuzzOperation, cluster: string, resources: string[]): OperationRequest {
  switch (op.action) {
    case "create":
      return {
        action: "create",
        cluster,
        guest: op.guest,
        node: op.node,
        ...(op.overrideHa ? { overrides: ["ha"] } : {}),
      };
    case "migrate":
      return {
        action: "migrate",
        cluster,
        guest: op.guest,
        target: op.target,
        ...(op.overrideHa ? { overrides: ["ha"] } : {}),
      };
    case "evacuate":
      return { action: "evacuate", cluster, node: op.node, ...(op.overrideHa ? { overrides: ["ha"] } : {}) };
    case "fence":
      return {
        action: "fence",
        cluster,
        node: op.node,
        ...(op.overrideLastCopy ? { overrideLastCopy: resources } : {}),
      };
    case "attest_off":
      return { action: "attest_off", cluster, node: op.node };
    case "split_brain_recover":
      return {
        action: "split_brain_recover",
        cluster,
        resource: op.resource,
        survivor: op.survivor,
        victim: op.victim,
      };
  }
}

/** The execution job id the world's enqueue hook hands out for an approval. */
function executionJobId(approvalId: string): string {
  return `exec-${approvalId}`;
}

/** Runs one seeded sequence; never throws for what the bot does (only for a broken environment). */
export async function runSequence(options: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const { flavour, spec } = fuzzSpec(options.seed);
  const world = await startWorld({
    spec,
    redisUrl: options.redisUrl,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.settings ? { settings: options.settings } : {}),
  });
  const records: StepRecord[] = [];
  let violation: FuzzViolation | null = null;
  try {
    const features = huntFeatures();
    const steps = options.steps ?? generateSteps(options.seed, spec, features, options.length);
    const seq = new Sequence(world, features, options.detail === true);
    // Also between two checks: a guest started twice and stopped again within one step still counts.
    const sim = world.lab.cluster;
    let transient: { problems: string[]; truth: string } | null = null;
    const stopWatching = sim.onChange(() => {
      if (transient) return;
      // The state as it is at this change (no sync: reading must not move the simulation).
      const now = readTruth(sim);
      const problems = twoWriterViolations(now);
      if (problems.length > 0) transient = { problems, truth: formatTruth(now) };
    });
    for (const [i, step] of steps.entries()) {
      let outcome: string;
      try {
        outcome = await seq.run(step);
      } catch (err) {
        outcome = `error: ${errorMessage(err)}`;
      }
      const record: StepRecord = { index: i + 1, step, text: describeStep(step), outcome };
      records.push(record);
      options.onStep?.(record);
      const truth = sim.truth();
      const problems = [...twoWriterViolations(truth), ...seq.fenceProblems()];
      if (problems.length > 0) {
        violation = { step: i + 1, problems, truth: formatTruth(truth) };
        break;
      }
      const seen = transient as { problems: string[]; truth: string } | null;
      if (seen) {
        violation = {
          step: i + 1,
          problems: seen.problems.map((p) => `while the step ran: ${p}`),
          truth: seen.truth,
        };
        break;
      }
    }
    stopWatching();
  } finally {
    await world.close();
  }
  return {
    seed: options.seed,
    flavour,
    generated: options.steps === undefined,
    steps: records,
    violation,
    durationMs: performance.now() - started,
  };
}

/** The report of a sequence: seed, lab, every step with its outcome, and the violation with the truth. */
export function formatResult(r: FuzzResult): string {
  const lines = [
    `seed ${r.seed} (${r.flavour} lab): ${r.violation ? `VIOLATION after step ${r.violation.step}` : "ok"} in ${Math.round(r.durationMs)} ms`,
    ...r.steps.map((s) => `  ${String(s.index).padStart(2)}. ${s.text} -> ${s.outcome}`),
  ];
  if (r.violation)
    lines.push(
      "  problems:",
      ...r.violation.problems.map((p) => `    - ${p}`),
      "  truth:",
      ...r.violation.truth.split("\n").map((l) => `    ${l}`),
      r.generated ? `  replay: npm run fuzz -- --seed ${r.seed}` : "  (steps given by the caller)",
    );
  return lines.join("\n");
}

/** Runs the sequences of `seeds`, `concurrency` at a time (each in its own world); results in seed order. */
export async function runMany(
  seeds: readonly number[],
  options: Omit<FuzzOptions, "seed" | "steps"> & { concurrency?: number; onResult?: (r: FuzzResult) => void },
): Promise<FuzzResult[]> {
  const results: FuzzResult[] = new Array(seeds.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      const seed = seeds[i];
      if (seed === undefined) return;
      const result = await runSequence({ ...options, seed });
      results[i] = result;
      options.onResult?.(result);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, worker));
  return results;
}
