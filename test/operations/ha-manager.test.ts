/**
 * Go through the cluster manager: starting, migrating or evacuating a guest that heartbeat or Pacemaker
 * manages is refused with the manager's own command, unless `--override-ha` was typed; the override
 * travels with the plan (approval card, re-plan at execution) and the execution then runs. An
 * unreadable HA configuration is "unknown" and refuses the same way.
 */
import { afterEach, describe, expect, it } from "vitest";
import { migrateCommand } from "../../commands/migrate";
import type { PreflightCheck } from "../../src/approval/types";
import type { CommandContext } from "../../src/chat/spec";
import { executeApproved } from "../../src/operations/executor";
import { operationSpecOf, requestOfPlan } from "../../src/operations/plan";
import type { PlanOutcome } from "../../src/operations/types";
import { OperationSpec } from "../../src/queue/schema";
import { modernLab, referenceLab } from "../../src/sim";
import { setTamper } from "../../src/sim/tamper";
import { type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const fast = { timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } };

function checks(outcome: PlanOutcome): PreflightCheck[] {
  return outcome.ok ? outcome.plan.checks : outcome.checks;
}
function failed(outcome: PlanOutcome): Record<string, string> {
  return Object.fromEntries(
    checks(outcome)
      .filter((c) => !c.ok)
      .map((c) => [c.name, c.detail]),
  );
}
function haCheck(outcome: PlanOutcome, name = "ha manager"): PreflightCheck | undefined {
  return checks(outcome).find((c) => c.name === name);
}

describe("heartbeat (haresources manages internet)", () => {
  it("refuses a hand migration and gives heartbeat's commands, on the right nodes", async () => {
    h = await harness(referenceLab(fast), { haManaged: true });
    const outcome = await h.plan({ action: "migrate", guest: "internet", target: "ics1" });
    expect(outcome.ok).toBe(false);
    // Everything else passes: only the cluster manager stands in the way.
    expect(Object.keys(failed(outcome))).toEqual(["ha manager"]);
    expect(failed(outcome)["ha manager"]).toBe(
      "heartbeat manages internet (xendomains::internet in /etc/ha.d/haresources on ics1): xenops does not migrate it by hand. " +
        "Let heartbeat move it: on ics1 run `/usr/share/heartbeat/hb_takeover foreign` (or on ics2: `/usr/share/heartbeat/hb_standby local`); " +
        "heartbeat moves the whole group (drbddisk::internet xendomains::internet), stopping the guest and starting it there: not a live migration. " +
        "If heartbeat cannot act, add `--override-ha`",
    );
  });

  it("with --override-ha: the check says OVERRIDE, the summary says it bypasses the HA manager, and it runs", async () => {
    h = await harness(referenceLab(fast), { haManaged: true });
    const request = { action: "migrate", guest: "internet", target: "ics1", overrides: ["ha"] } as const;
    const outcome = await h.plan({ ...request, overrides: [...request.overrides] });
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    const check = haCheck(outcome);
    expect(check?.ok).toBe(true);
    expect(check?.detail).toMatch(
      /^OVERRIDE \(--override-ha\): heartbeat manages internet \(xendomains::internet in \/etc\/ha\.d\/haresources on ics1\); this hand migrate bypasses heartbeat/,
    );
    expect(outcome.plan.summary).toBe(
      "Live-migrate internet from ics2 to ics1, bypassing the HA manager (--override-ha)",
    );
    expect(outcome.plan.params.overrides).toEqual(["ha"]);
    // The override survives the round trip through the plan and the job payload.
    const again = requestOfPlan(outcome.plan);
    expect(again).toEqual({
      action: "migrate",
      cluster: "lab",
      guest: "internet",
      target: "ics1",
      overrides: ["ha"],
    });
    if (!again) return;
    expect(OperationSpec.parse(operationSpecOf(again))).toEqual({
      action: "migrate",
      guest: "internet",
      target: "ics1",
      overrides: ["ha"],
    });

    // Approved, the execution plans again (with the override) and moves the guest.
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1", overrides: ["ha"] });
    const card = JSON.stringify(h.notifier.posts.at(-1));
    expect(card).toContain("bypassing the HA manager (--override-ha)");
    expect(card).toContain("OVERRIDE (--override-ha)");
    const result = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(result.status).toBe("succeeded");
    expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
  });

  it("refuses a hand start (create) with hb_takeover on the node asked for", async () => {
    h = await harness(
      referenceLab({
        ...fast,
        guests: [
          { name: "internet", memoryMiB: 3070, vcpus: 2, drbd: ["internet"], home: "ics2", runningOn: null },
        ],
      }),
      {
        haManaged: true,
      },
    );
    const refused = await h.plan({ action: "create", guest: "internet", node: "ics2" });
    expect(failed(refused)["ha manager"]).toMatch(
      /^heartbeat manages internet .*xenops does not start it by hand\. Let heartbeat start it: on ics2 run `\/usr\/share\/heartbeat\/hb_takeover local`/,
    );
    const ok = await h.plan({ action: "create", guest: "internet", node: "ics2", overrides: ["ha"] });
    expect(haCheck(ok)?.detail).toMatch(/^OVERRIDE/);
    expect(ok.ok).toBe(true);
  });

  it("refuses an evacuation per guest with hb_standby on the node", async () => {
    h = await harness(referenceLab(fast), { haManaged: true });
    const outcome = await h.plan({ action: "evacuate", node: "ics2" });
    expect(failed(outcome)["internet: ha manager"]).toMatch(
      /Put ics2 in standby with heartbeat: on ics2 run `\/usr\/share\/heartbeat\/hb_standby all`/,
    );
    const ok = await h.plan({ action: "evacuate", node: "ics2", overrides: ["ha"] });
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.plan.summary).toMatch(/bypassing the HA manager/);
  });

  it("an unreadable haresources is unknown: refused, unless overridden", async () => {
    h = await harness(referenceLab(fast), { haManaged: true });
    for (const node of ["ics1", "ics2"])
      setTamper(h.sim, node, ["cat", "/etc/ha.d/haresources"], { kind: "fail" });
    const outcome = await h.plan({ action: "migrate", guest: "internet", target: "ics1" });
    expect(failed(outcome)["ha manager"]).toMatch(
      /^whether heartbeat manages internet is unknown \(ics1: .*; ics2: .*\); a guest it manages must be moved through it/,
    );
    const ok = await h.plan({ action: "migrate", guest: "internet", target: "ics1", overrides: ["ha"] });
    expect(haCheck(ok)?.detail).toMatch(
      /^OVERRIDE \(--override-ha\): whether heartbeat manages internet is unknown/,
    );
  });

  it("says when heartbeat runs nowhere (it cannot act, so the override is the way)", async () => {
    h = await harness(referenceLab(fast), { haManaged: true });
    for (const n of h.sim.state.nodes) n.haRunning = false;
    const outcome = await h.plan({ action: "migrate", guest: "internet", target: "ics1" });
    expect(failed(outcome)["ha manager"]).toMatch(
      /^heartbeat manages internet \(xendomains::internet in \/etc\/ha\.d\/haresources on ics1\), but heartbeat runs on no node \(ics1, ics2 read\): xenops does not migrate it by hand\./,
    );
  });

  it("a guest haresources does not list is migrated without a word about the override", async () => {
    h = await harness(referenceLab(fast));
    const outcome = await h.plan({ action: "migrate", guest: "internet", target: "ics1" });
    expect(outcome.ok).toBe(true);
    expect(haCheck(outcome)).toEqual({
      name: "ha manager",
      ok: true,
      detail: "heartbeat does not manage internet (/etc/ha.d/haresources read on ics1, ics2)",
    });
    if (outcome.ok) expect(outcome.plan.summary).toBe("Live-migrate internet from ics2 to ics1");
  });
});

describe("Pacemaker (a Xen primitive per guest)", () => {
  it("refuses with crm_resource --move and --clear; allow-migrate decides whether that is live", async () => {
    h = await harness(modernLab(fast), { haManaged: true });
    h.sim.state.ha.locations = [
      { id: "cli-ban-vm-web-on-hv2", rsc: "vm-web", node: "hv2", score: "-INFINITY" },
    ];
    const outcome = await h.plan({ action: "migrate", guest: "web", target: "hv2" });
    expect(failed(outcome)["ha manager"]).toBe(
      "Pacemaker manages web (vm-web in cibadmin --query --scope configuration on hv1): xenops does not migrate it by hand. " +
        "Let Pacemaker move it: `crm_resource --move --resource vm-web --node hv2`; Pacemaker live-migrates it (allow-migrate=true); " +
        "then, once it runs there, `crm_resource --clear --resource vm-web`; constraints on it now: cli-ban-vm-web-on-hv2 (hv2 -INFINITY). " +
        "If Pacemaker cannot act, add `--override-ha`",
    );
  });
});

describe("the commands take --override-ha", () => {
  it("migrate parses it into the operation's overrides", () => {
    const cluster = {
      name: "lab",
      nodes: [{ name: "ics1" }, { name: "ics2" }],
      guests: [{ name: "internet" }],
    };
    const ctx = { clustersHere: [cluster] } as unknown as CommandContext;
    expect(migrateCommand.flags).toContain("--override-ha");
    expect(
      migrateCommand.parse(
        { positionals: ["internet", "to", "ics1"], flags: new Set(["--override-ha"]) },
        ctx,
      ),
    ).toEqual({
      cluster: "lab",
      operation: { action: "migrate", guest: "internet", target: "ics1", overrides: ["ha"] },
      dryRun: false,
    });
    expect(
      migrateCommand.parse({ positionals: ["internet", "ics1"], flags: new Set() }, ctx).operation,
    ).toEqual({
      action: "migrate",
      guest: "internet",
      target: "ics1",
    });
  });
});
