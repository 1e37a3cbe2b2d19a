/**
 * Fencing on the in-process simulator: heartbeat stonith (apcsmart), a fence agent with its password on
 * stdin (fence_ipmilan), Pacemaker's stonith_admin. Verified off before success; a device that does
 * not answer, or a node that does not go down, fails and pages; never fenced twice for one approval.
 */
import { afterEach, describe, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { modernLab, referenceLab } from "../../src/sim";
import { holdCommand, watchCommands } from "../../src/sim/hooks";
import { allText, type Harness, harness } from "./harness";
import { QUICK_HA } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// Short HA deadtime so heartbeat declares a fenced node dead quickly; the node stays off a while.
const PASSWORD = "s3cret-ipmi-pass";

describe("fence with heartbeat stonith", () => {
  it("fences from the surviving peer, once, and verifies the node is off", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const plan = await h.plan({ action: "fence", node: "ics1" });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.plan.steps).toHaveLength(1);
    expect(plan.plan.steps[0]).toMatchObject({
      node: "ics2",
      argv: ["stonith", "-t", "apcsmart", "-T", "reset", "ttydev=/dev/ttyS0", "hostlist=ics1 ics2", "ics1"],
      destructive: true,
    });
    const watch = watchCommands(h.sim, { argv: ["stonith", "-t", "apcsmart", "-T"] });
    const id = await h.approve({ action: "fence", node: "ics1" });
    expect((await h.deps.approvals.get(id))?.approvedBy).toEqual(["UAPPROVER1", "UAPPROVER2"]);
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    // Evidence that did not hold before: ics1 answered right before the fence and is silent after it.
    expect(outcome.details).toContain(
      "seen alive right before the fence (ics1 answers over SSH); SSH to ics1 fails (ssh_connect_failed) after it",
    );
    expect(outcome.details).toContain("heartbeat on ics2 sees ics1 offline");
    // The verified fence is an off-proof, naming the approvers.
    expect(await h.offProofs.get(h.cluster.name, "ics1")).toMatchObject({
      kind: "fenced",
      by: ["UAPPROVER1", "UAPPROVER2"],
      approvalId: id,
    });
    expect(watch.count).toBe(1);
    expect(h.sim.node("ics1")?.up).toBe(false);
    // Again: the approval is used up.
    const again = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(again.status).toBe("refused");
    expect(watch.count).toBe(1);
  });

  it("a fence device that does not answer: refused at planning, nothing is fenced", async () => {
    h = await harness(referenceLab(QUICK_HA));
    h.sim.state.fence!.reachable = false;
    const plan = await h.plan({ action: "fence", node: "ics1" });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    const failed = plan.checks.filter((c) => !c.ok);
    expect(failed.map((c) => c.name)).toEqual(["fence device"]);
    expect(failed[0]?.detail).toMatch(/does not answer: `stonith -t apcsmart -S .*` from ics2 exited 2/);
  });

  it("a fence device that stops answering after approval: the fence fails and on-call is paged", async () => {
    h = await harness(referenceLab(QUICK_HA));
    const id = await h.approve({ action: "fence", node: "ics1" });
    const hold = holdCommand(h.sim, { argv: ["stonith", "-t", "apcsmart", "-T"] });
    const running = executeApproved(h.deps, id, { jobId: `exec-${id}` });
    await hold.held();
    h.sim.state.fence!.reachable = false;
    hold.release();
    const outcome = await running;
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("Fencing ics1 failed; it is not known to be off");
    expect(outcome.details).toContain("ics1 still answers over SSH");
    expect(hold.count).toBe(1);
    // The page: a message mentioning on-call.
    expect(allText(h.notifier)).toContain("<@UADMIN1> <!subteam^SONCALL1> page");
  });

  it("a node that does not go down after the fence: failed, paged, not fenced again", async () => {
    h = await harness(referenceLab(QUICK_HA), { settings: { fenceVerifyTimeoutMs: 800 } });
    const id = await h.approve({ action: "fence", node: "ics1" });
    h.sim.state.fence!.ineffective = ["ics1"];
    const watch = watchCommands(h.sim, { argv: ["stonith", "-t", "apcsmart", "-T"] });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe(
      "ics1 did not go down: the fence command succeeded but the node still answers",
    );
    expect(watch.count).toBe(1);
    expect(h.sim.node("ics1")?.up).toBe(true);
  });

  it("refuses to fence the last healthy node, and never fences from the node itself", async () => {
    h = await harness(referenceLab(QUICK_HA));
    h.sim.nodeDown("ics2");
    const plan = await h.plan({ action: "fence", node: "ics1" });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    const failed = Object.fromEntries(plan.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
    expect(failed["not the last healthy node"]).toMatch(/fencing ics1 would leave nothing running/);
    expect(failed["fence from"]).toBe("no surviving peer can run the fence");
  });
});

describe("fence with a fence agent (secrets on stdin)", () => {
  it("passes the password on stdin only: never in argv, the plan, the card or the journal", async () => {
    const spec = modernLab({
      ...QUICK_HA,
      fence: { type: "fence_ipmilan", login: "admin", password: PASSWORD, reachable: true },
    });
    h = await harness(spec, { secretEnv: { XENOPS_SIM_FENCE_PASSWORD: PASSWORD } });
    const plan = await h.plan({ action: "fence", node: "hv2" });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    const step = plan.plan.steps[0];
    expect(step?.argv).toEqual(["fence_ipmilan"]);
    expect(step?.description).toContain("passwd=[redacted]");
    const id = await h.approve({ action: "fence", node: "hv2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    const fenceCall = h.calls.find(
      (c) => c.argv[0] === "fence_ipmilan" && c.stdin?.includes("action=reboot"),
    );
    expect(fenceCall?.stdin).toBe(
      `action=reboot\nlogin=admin\nlanplus=1\nipaddr=198.51.100.2\npasswd=${PASSWORD}\n`,
    );
    expect(h.calls.every((c) => !c.argv.join(" ").includes(PASSWORD))).toBe(true);
    expect(allText(h.notifier)).not.toContain(PASSWORD);
    expect(JSON.stringify(await h.deps.approvals.get(id))).not.toContain(PASSWORD);
    expect(JSON.stringify(await h.deps.approvals.journal(id))).not.toContain(PASSWORD);
  });

  it("a wrong password is a device that does not answer (refused at planning)", async () => {
    const spec = modernLab({
      ...QUICK_HA,
      fence: { type: "fence_ipmilan", login: "admin", password: PASSWORD, reachable: true },
    });
    h = await harness(spec, { secretEnv: { XENOPS_SIM_FENCE_PASSWORD: "wrong" } });
    const plan = await h.plan({ action: "fence", node: "hv2" });
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    const dev = plan.checks.find((c) => c.name === "fence device");
    expect(dev?.ok).toBe(false);
    expect(dev?.detail).not.toContain("wrong");
  });
});

describe("fence with Pacemaker's stonith_admin", () => {
  it("fences with stonith_admin --reboot and verifies through the HA view", async () => {
    const spec = modernLab(QUICK_HA);
    h = await harness(spec, {
      cluster: {
        toolstack: { hypervisor: "xl", drbd: 9, ha: "pacemaker", fence: { method: "stonith_admin" } },
      },
    });
    const plan = await h.plan({ action: "fence", node: "hv2" });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.plan.steps[0]?.argv).toEqual(["stonith_admin", "--reboot", "hv2"]);
    const id = await h.approve({ action: "fence", node: "hv2" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.details.join("\n")).toMatch(
      /pacemaker on hv1 sees hv2 (offline|unclean)|fence history on hv1 records the fence of hv2/,
    );
  });
});
