/**
 * A reset of a live node whose power-off is shorter than heartbeat's deadtime (the reference cluster:
 * the UPS cuts power for about 10 s, heartbeat waits 30 s). heartbeat on the peer calls it online the
 * whole time and the device cannot read one outlet's power back, so it is never "off by every view";
 * the reset is verified by SSH failing after the fence and the node coming back with a new boot id.
 */
import { afterEach, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { referenceLab } from "../../src/sim";
import { watchCommands } from "../../src/sim/hooks";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

// Deadtime far longer than the power-off window: heartbeat never declares ics1 dead.
const slowHa = {
  ha: { deadtimeMs: 60_000, autoTakeover: false, autoFailback: false, takeoverMs: 100 },
  timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 1_500 },
};

it("a reset of a live node, back before heartbeat noticed: verified by its new boot id, no off-proof", async () => {
  h = await harness(referenceLab(slowHa), { settings: { fenceVerifyTimeoutMs: 15_000 } });
  const bootBefore = h.sim.node("ics1")?.bootId;
  const id = await h.approve({ action: "fence", node: "ics1" });
  const watch = watchCommands(h.sim, { argv: ["stonith", "-t", "apcsmart", "-T"] });
  const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
  expect(outcome.status).toBe("succeeded");
  if (outcome.status !== "succeeded") return;
  const bootAfter = h.sim.node("ics1")?.bootId;
  expect(bootAfter).not.toBe(bootBefore);
  expect(outcome.summary).toBe("ics1 was reset and runs again (verified by its new boot id)");
  expect(outcome.fenceReset).toBe(true);
  expect(outcome.details).toContain(
    `ics1 was reset: SSH failed after the fence and it came back with a new boot id (was ${bootBefore}, now ${bootAfter})`,
  );
  // heartbeat on ics2 never declared ics1 dead (its deadtime never ran out while ics1 was off).
  expect(h.sim.node("ics1")?.deadDeclared ?? false).toBe(false);
  expect((h.sim.node("ics2")?.haLog ?? []).join("\n")).not.toContain("node ics1: is dead");
  expect(outcome.details.join("\n")).not.toMatch(/sees ics1 (offline|unclean)/);
  // It runs again: nothing may count it as off.
  expect(await h.offProofs.get(h.cluster.name, "ics1")).toBeNull();
  expect(h.sim.node("ics1")?.up).toBe(true);
  expect(watch.count).toBe(1);
  // The boot id was read right before the fence and kept for crash recovery.
  expect((await h.offProofs.beforeFence(id))?.bootIdBefore).toBe(bootBefore);
});

it("a fence that did not reset the node: SSH never fails, same boot id, not verified", async () => {
  h = await harness(referenceLab(slowHa), { settings: { fenceVerifyTimeoutMs: 800 } });
  const bootBefore = h.sim.node("ics1")?.bootId;
  const id = await h.approve({ action: "fence", node: "ics1" });
  h.sim.state.fence!.ineffective = ["ics1"];
  const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
  expect(outcome.status).toBe("failed");
  expect(h.sim.node("ics1")?.bootId).toBe(bootBefore);
  expect(await h.offProofs.get(h.cluster.name, "ics1")).toBeNull();
});
