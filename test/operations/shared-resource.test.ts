/**
 * Two guests on one DRBD resource (an LVM volume group on a DRBD device, say). Live-migrating one of
 * them alone would end with the resource Primary on both nodes and dual-primary still on: the source
 * cannot be demoted while the other guest keeps it open. The preflight refuses and names the other guest.
 */
import { afterEach, expect, it } from "vitest";
import type { PreflightCheck } from "../../src/approval/types";
import { referenceLab } from "../../src/sim";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const shared = () =>
  referenceLab({
    nodes: [
      { name: "ics1", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
      { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
    ],
    guests: [
      { name: "web", memoryMiB: 1024, vcpus: 1, drbd: ["vg0"], home: "ics2", runningOn: "ics2" },
      { name: "db", memoryMiB: 1024, vcpus: 1, drbd: ["vg0"], home: "ics2", runningOn: "ics2" },
    ],
    drbd: [{ name: "vg0", minor: 0, nodes: ["ics1", "ics2"], sizeMiB: 40960, allowTwoPrimaries: true }],
  });

it("migrating one guest of a resource another guest on the source still uses is refused", async () => {
  h = await harness(shared());
  const plan = await h.plan({ action: "migrate", guest: "web", target: "ics1" });
  expect(plan.ok).toBe(false);
  const checks: PreflightCheck[] = plan.ok ? plan.plan.checks : plan.checks;
  const failed = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  expect(failed.join("\n")).toMatch(/vg0.*db/);
});

it("evacuating their node one guest at a time is refused for the same reason", async () => {
  h = await harness(shared());
  const plan = await h.plan({ action: "evacuate", node: "ics2" });
  expect(plan.ok).toBe(false);
  const checks: PreflightCheck[] = plan.ok ? plan.plan.checks : plan.checks;
  const failed = checks.filter((c) => !c.ok).map((c) => c.name);
  expect(failed).toEqual(["db: drbd vg0 shared", "web: drbd vg0 shared"]);
});
