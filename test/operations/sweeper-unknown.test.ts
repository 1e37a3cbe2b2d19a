/**
 * The orphan sweep's page must not turn "cannot be read" into "not Primary": a node whose DRBD state
 * is unknown is named as unknown, never left out of "Primary on ...".
 */
import type { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { sweepOrphanedExecutions } from "../../src/operations/sweeper";
import { referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("a node that cannot be read is reported unknown on the sweep's page, not as 'not Primary'", async () => {
  h = await harness(referenceLab({ timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } }));
  const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
  expect(await h.deps.approvals.claimExecution(id, `exec-${id}`)).toBe("claimed");
  await h.deps.approvals.stepStarted(id, 0);
  await h.deps.runnerFor(h.cluster.name, "ics1").run(["drbdadm", "primary", "internet"]);
  // Redis lost the journal; and ics2 (Primary too) does not answer when the sweep looks.
  const engine = h.deps.approvals as unknown as { redis: Redis; keys: { exec: (id: string) => string } };
  await engine.redis.del(engine.keys.exec(id));
  createFaults(h.sim).unreachable("ics2");

  const reports = await sweepOrphanedExecutions(h.deps, { clusters: [h.cluster.name] });
  expect(reports.map((r) => r.outcome.status)).toEqual(["uncertain"]);
  const outcome = reports[0]?.outcome;
  const details = outcome && "details" in outcome ? outcome.details : [];
  const line = details.find((d) => d.startsWith("DRBD internet:"));
  expect(line).toBe("DRBD internet: Primary on ics1; unknown on ics2 (cannot be read)");
});
