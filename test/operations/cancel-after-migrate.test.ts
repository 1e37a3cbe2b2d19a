/**
 * Cancel between the steps of a migration: before the migrate command it stops and undoes; once the
 * guest has moved, the unit's tail (demote the source, dual-primary off) is past the point of no
 * return: stopping there would leave the resource Primary on both nodes with two primaries allowed.
 */
import { afterEach, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { referenceLab } from "../../src/sim";
import { holdCommand } from "../../src/sim/hooks";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("a cancel after the guest moved finishes the unit's tail: one Primary, no page", async () => {
  h = await harness(referenceLab({ timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } }));
  const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
  const hold = holdCommand(h.sim, { argv: (a) => a[1] === "migrate" }, "after");
  const cancel = new AbortController();
  const run = executeApproved(h.deps, id, { jobId: `exec-${id}`, signal: cancel.signal });
  await hold.held();
  cancel.abort();
  hold.release();
  const outcome = await run;

  expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
  expect(h.sim.resource("internet")?.local.ics2?.role).toBe("Secondary");
  expect(h.sim.resource("internet")?.local.ics1?.role).toBe("Primary");
  expect(h.calls.some((c) => c.node === "ics2" && c.argv.join(" ") === "drbdadm secondary internet")).toBe(
    true,
  );
  expect(outcome.status).toBe("succeeded");
  if (outcome.status !== "succeeded") return;
  expect(outcome.details).toContain(
    "cancel was asked for past the point of no return: it finished and verified",
  );
});
