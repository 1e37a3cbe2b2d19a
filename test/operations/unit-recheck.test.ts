/**
 * A multi-guest plan (evacuate) was checked once, before its first guest moved. Each later guest's
 * disks are read again right before its unit starts: a resource that lost its connection meanwhile is
 * never promoted on the target (its data may be stale) nor migrated onto.
 */
import { afterEach, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { execInProcess } from "../../src/sim";
import { holdCommand } from "../../src/sim/hooks";
import { quoteArgv } from "../../src/ssh/quote";
import { type Harness, harness } from "./harness";
import { twoGuestLab } from "./labs";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

it("evacuate: a later guest whose disk disconnected after approval is not promoted or moved", async () => {
  h = await harness(twoGuestLab());
  const id = await h.approve({ action: "evacuate", node: "ics2" });
  // While the first guest moves, mail's replication link goes away (ics1's copy stops following).
  const hold = holdCommand(h.sim, { argv: (a) => a[1] === "migrate" && a.includes("internet") }, "after");
  const run = executeApproved(h.deps, id, { jobId: `exec-${id}` });
  await hold.held();
  const res = await execInProcess(h.sim, "ics2", quoteArgv(["drbdadm", "disconnect", "mail"]));
  expect(res.exitCode).toBe(0);
  hold.release();
  const outcome = await run;

  expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
  // Nothing of mail's unit ran on ics1's stale copy.
  expect(h.calls.some((c) => c.node === "ics1" && c.argv.join(" ") === "drbdadm primary mail")).toBe(false);
  expect(h.calls.some((c) => c.argv[1] === "migrate" && c.argv.includes("mail"))).toBe(false);
  expect(h.sim.resource("mail")?.local.ics1?.role).toBe("Secondary");
  expect(h.sim.guestLocations("mail")).toEqual(["ics2"]);
  expect(outcome.status).toBe("failed");
  if (outcome.status !== "failed") return;
  expect(outcome.summary).toBe("mail was not moved: it still runs on ics2 only");
  expect(outcome.details.join("\n")).toMatch(/mail.*(StandAlone|not Connected)/);
  expect(outcome.details).toContain("moved before the failure: internet");
});
