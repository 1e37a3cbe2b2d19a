/**
 * A fence method xenops does not ship, added the way a real one is: a driver (here in the test) and an
 * entry in a registry (here the test's mutationsFor). Nothing in operations is told about it, yet it
 * goes through planning (device check), preflight, approval, execution and verification, with its own
 * secret on stdin and its own exit statuses: `xpdu` answers "no answer" with exit 7 and reads power OFF
 * with exit 3, codes no shipped method uses. The inventory still says heartbeat stonith (apcsmart),
 * which cannot read power: the fence below is verified only because the new driver reads the power
 * back, so nothing in operations can have looked at the inventory's method.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { CommandRunner, ExecResult, RunOptions } from "../../src/command-runner";
import type { FenceDriver, FenceInvocation, PowerStatus } from "../../src/drivers/fence";
import { mutationDriversFor } from "../../src/drivers/registry";
import { ExecError } from "../../src/errors";
import { executeApproved } from "../../src/operations/executor";
import type { PlanOutcome } from "../../src/operations/types";
import { referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { allText, type Harness, harness } from "./harness";
import { partition, QUICK_HA } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const TOKEN = "pdu-t0ken-xyz";

/** The new method's driver: `xpdu VERB [NODE]`, its API token on stdin. */
function xpduDriver(): FenceDriver {
  const call = (verb: string, target?: string): FenceInvocation => ({
    argv: ["xpdu", verb, ...(target ? [target] : [])],
    stdin: (secrets) => `token=${secrets.get("token") ?? ""}\n`,
    stdinShown: "token=[redacted]\n",
  });
  return {
    method: "xpdu",
    label: "test PDU xpdu",
    secrets: { token: { env: "XPDU_TOKEN" } },
    secretNames: ["token"],
    needsParamOrder: false,
    paramOrderUnreadable: null,
    paramOrderQuery: () => null,
    parseParamOrder: () => [],
    fence: (target, action) => call(action === "off" ? "off" : "cycle", target),
    deviceCheck: () => call("ping"),
    powerStatus: (target) => call("status", target),
    exitCodes: { fence: [0], deviceCheck: [0, 7], powerStatus: [0, 3] },
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus(exitCode, stdout): PowerStatus {
      if (exitCode === 3 && stdout.trim() === "outlet off") return "off";
      if (exitCode === 0 && stdout.trim() === "outlet on") return "on";
      return "unknown";
    },
  };
}

interface PduCall {
  node: string;
  argv: string[];
  stdin: string | undefined;
}

/**
 * The device behind `xpdu`, on top of the simulator's power: it answers only with the right token and
 * while the simulator's fence device is reachable.
 */
function answer(
  x: Harness,
  from: string,
  argv: readonly string[],
  stdin: string,
): { exitCode: number; stdout: string } {
  const [, verb, target = ""] = argv;
  if (!x.sim.state.fence?.reachable || stdin !== `token=${TOKEN}\n`)
    return { exitCode: 7, stdout: "no answer\n" };
  const node = x.sim.node(target);
  if (verb === "ping") return { exitCode: 0, stdout: "pong\n" };
  if (!node) return { exitCode: 9, stdout: "unknown outlet\n" };
  if (verb === "status")
    return node.up || node.bootAt !== null
      ? { exitCode: 0, stdout: "outlet on\n" }
      : { exitCode: 3, stdout: "outlet off\n" };
  const done = x.sim.fence(target, verb === "off" ? "off" : "reset", { client: "xpdu", origin: from });
  return done.ok ? { exitCode: 0, stdout: "done\n" } : { exitCode: 7, stdout: "no answer\n" };
}

/** Registers the new method for this cluster (the test's registry) and installs `xpdu` on the nodes. */
function addXpdu(x: Harness): PduCall[] {
  const calls: PduCall[] = [];
  const toolstack = x.cluster.toolstack;
  x.deps.mutationsFor = () => ({ ...mutationDriversFor(toolstack), fence: xpduDriver() });
  const base = x.deps.runnerFor;
  x.deps.runnerFor = (cluster, node): CommandRunner => {
    const inner = base(cluster, node);
    return {
      node,
      async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
        if (argv[0] !== "xpdu") return inner.run(argv, options);
        // The fencing node must answer, as for any command.
        await inner.run(["true"], { timeoutMs: options.timeoutMs });
        calls.push({ node, argv: [...argv], stdin: options.stdin });
        const res = answer(x, node, argv, options.stdin ?? "");
        if (!(options.okExitCodes ?? [0]).includes(res.exitCode))
          throw new ExecError("exec_failed", `${node}: xpdu exited with code ${res.exitCode}`, {
            node,
            argv,
            exitCode: res.exitCode,
            signal: null,
            stdout: res.stdout,
            stderr: "",
          });
        return { ...res, stderr: "", durationMs: 1 };
      },
    };
  };
  return calls;
}

const failed = (p: PlanOutcome) =>
  p.ok ? {} : Object.fromEntries(p.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));

describe("a fence method added as a driver and a registry entry only", () => {
  it("plans, fences and verifies a silent node through the new method's own power reading", async () => {
    h = await harness(referenceLab(QUICK_HA), { secretEnv: { XPDU_TOKEN: TOKEN } });
    expect(h.cluster.toolstack.fence.method).toBe("stonith");
    const calls = addXpdu(h);
    await partition(h, "ics2", "ics1");

    const plan = await h.plan({ action: "fence", node: "ics2" });
    expect(failed(plan)).toEqual({});
    if (!plan.ok) return;
    expect(plan.plan.summary).toBe("Fence ics2 (power it off)");
    expect(plan.plan.steps).toHaveLength(1);
    expect(plan.plan.steps[0]).toMatchObject({
      node: "ics1",
      argv: ["xpdu", "off", "ics2"],
      destructive: true,
      description: "Power off ics2 through test PDU xpdu (options on stdin: token=[redacted])",
    });
    const checks = Object.fromEntries(plan.plan.checks.map((c) => [c.name, c.detail]));
    expect(checks["fence method"]).toBe("test PDU xpdu");
    expect(checks["fence device"]).toBe("test PDU xpdu answers (`xpdu ping` from ics1)");
    // The verdict it promises: the new method's power reading is the evidence (ics2 is already silent).
    expect(checks.verify).toBe(
      "success only with evidence that did not hold before: the device reads the power back as off",
    );

    const id = await h.approve({ action: "fence", node: "ics2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.details).toContain("test PDU xpdu reports ics2 powered off");
    expect(await h.offProofs.get(h.cluster.name, "ics2")).toMatchObject({ kind: "fenced", approvalId: id });
    expect(h.sim.node("ics2")?.up).toBe(false);

    // Exactly one fence; the secret went on stdin only, resolved from the driver's declaration.
    expect(calls.filter((c) => c.argv[1] === "off" || c.argv[1] === "cycle")).toHaveLength(1);
    expect(calls.every((c) => c.stdin === `token=${TOKEN}\n`)).toBe(true);
    expect(calls.some((c) => c.argv[1] === "status")).toBe(true);
    // The inventory's own method was never run.
    expect(h.calls.some((c) => c.argv[0] === "stonith")).toBe(false);
    expect(calls.every((c) => !c.argv.join(" ").includes(TOKEN))).toBe(true);
    expect(allText(h.notifier)).not.toContain(TOKEN);
    expect(JSON.stringify(await h.deps.approvals.get(id))).not.toContain(TOKEN);
    expect(JSON.stringify(await h.deps.approvals.journal(id))).not.toContain(TOKEN);
  });

  it("its own 'no answer' exit status refuses the plan; nothing is fenced", async () => {
    h = await harness(referenceLab(QUICK_HA), { secretEnv: { XPDU_TOKEN: TOKEN } });
    const calls = addXpdu(h);
    h.sim.state.fence!.reachable = false;
    const plan = await h.plan({ action: "fence", node: "ics2" });
    expect(failed(plan)).toEqual({
      "fence device": "test PDU xpdu does not answer: `xpdu ping` from ics1 exited 7 (no answer)",
    });
    expect(calls.map((c) => c.argv[1])).toEqual(["ping"]);
  });

  it("a missing secret is refused at planning, naming it, never guessing", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const calls = addXpdu(h);
    const plan = await h.plan({ action: "fence", node: "ics2" });
    expect(failed(plan)["fence device"]).toBe(
      `cannot resolve the fence secrets: ${h.cluster.name} fence secret token: environment variable XPDU_TOKEN is not set`,
    );
    expect(calls).toEqual([]);
  });

  it("an ineffective fence: the new method reads the power back as on, so it is not verified", async () => {
    h = await harness(referenceLab(QUICK_HA), {
      secretEnv: { XPDU_TOKEN: TOKEN },
      settings: { fenceVerifyTimeoutMs: 1_000 },
    });
    const calls = addXpdu(h);
    await partition(h, "ics2", "ics1");
    createFaults(h.sim).fenceIneffective("ics2");
    const id = await h.approve({ action: "fence", node: "ics2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("ics2: the fence did not take effect; the device reports it powered on");
    expect(await h.offProofs.get(h.cluster.name, "ics2")).toBeNull();
    expect(calls.filter((c) => c.argv[1] === "off")).toHaveLength(1);
  });
});
