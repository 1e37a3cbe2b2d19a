/**
 * A migrate command that fails (non-zero exit, timeout) on the simulator: the guest is located on every
 * node first. Arrived on the target anyway → the source is demoted, allow-two-primaries goes off again,
 * one Primary per resource is verified and the card says "moved despite an error". Still on the source
 * → the promotion is undone. On both nodes, on neither, or unknown → on-call is paged and nothing more
 * runs (counted with the simulator's command watch).
 */
import { afterEach, describe, expect, it } from "vitest";
import { executeApproved } from "../../src/operations/executor";
import { modernLab, referenceLab } from "../../src/sim";
import { createFaults } from "../../src/sim/faults";
import { holdCommand, watchCommands } from "../../src/sim/hooks";
import { allText, type Harness, harness } from "./harness";

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const fast = { timing: { migrationMsPerGiB: 150, shutdownMs: 100, rebootMs: 60_000 } };

/** Commands that change something (everything but the probes and the DRBD version query). */
const MUTATING = (argv: readonly string[]): boolean =>
  (argv[0] === "drbdadm" &&
    ["primary", "secondary", "net-options", "connect", "disconnect"].includes(argv[1] ?? "")) ||
  ((argv[0] === "xm" || argv[0] === "xl") &&
    ["migrate", "create", "destroy", "shutdown", "mem-set"].includes(argv[1] ?? ""));

function primaries(h: Harness, resource: string): string[] {
  const r = h.sim.resource(resource);
  return Object.entries(r?.local ?? {})
    .filter(([, l]) => l?.role === "Primary")
    .map(([n]) => n)
    .sort();
}

function cardOf(h: Harness): string {
  return JSON.stringify(h.notifier.current(h.notifier.posts[0]?.ref.ts ?? "")?.blocks ?? []);
}

describe("a migrate command that fails although the guest arrived", () => {
  it("xm: demotes the source, verifies one Primary and reports 'moved despite an error'", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    createFaults(h.sim).failMigration("internet", 0.5, { arrived: true });
    const watch = watchCommands(h.sim, { argv: MUTATING });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    watch.stop();
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.summary).toBe("internet moved despite an error: it runs on ics1 only (verified)");
    expect(outcome.warning).toMatch(
      /the migrate command on ics2 reported an error \(exit 1\), but internet arrived on ics1/,
    );
    // The error output is shown.
    expect(outcome.details).toContain("output: Error: (104, 'Connection reset by peer')");
    expect(outcome.details).toContain("internet: Primary on ics1 only (read back on every node)");
    expect(h.sim.guestLocations("internet")).toEqual(["ics1"]);
    expect(primaries(h, "internet")).toEqual(["ics1"]);
    expect(watch.seen.map((a) => a.join(" "))).toEqual([
      "drbdadm primary internet",
      "xm migrate --live internet ics1",
      "drbdadm secondary internet",
    ]);
    const journal = await h.deps.approvals.journal(id);
    expect(journal?.finished?.outcome).toBe("ok");
    expect(journal?.steps.map((s) => s.status)).toEqual(["done", "failed", "done"]);
    const card = cardOf(h);
    expect(card).toContain("Done despite an error");
    expect(card).toContain("moved despite an error");
    expect(card).toContain("Warning:");
    expect(allText(h.notifier)).not.toContain("page:");
  });

  it("xl/DRBD 9: allow-two-primaries turned on for the migration goes off again", async () => {
    const spec = modernLab(fast);
    for (const r of spec.drbd ?? []) r.allowTwoPrimaries = false;
    h = await harness(spec);
    const id = await h.approve({ action: "migrate", guest: "web", target: "hv2" });
    createFaults(h.sim).failMigration("web", 0.5, { arrived: true });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.summary).toContain("moved despite an error");
    expect(outcome.details).toContain("output: ** Migration failed during final handshake **");
    expect(h.sim.guestLocations("web")).toEqual(["hv2"]);
    expect(primaries(h, "web")).toEqual(["hv2"]);
    expect(h.sim.resource("web")?.allowTwoPrimaries).toBe(false);
    expect(outcome.details.filter((d) => d.startsWith("ran: "))).toEqual([
      "ran: drbdadm secondary web on hv1",
      "ran: drbdadm net-options --allow-two-primaries=no web on hv2",
      "ran: drbdadm net-options --allow-two-primaries=no web on hv1",
    ]);
  });

  it("a migrate command that times out while the guest moves: located, then settled the same way", async () => {
    h = await harness(
      referenceLab({ timing: { migrationMsPerGiB: 600, shutdownMs: 100, rebootMs: 60_000 } }),
      {
        settings: { migrateBaseTimeoutMs: 200, migratePerGiBTimeoutMs: 1 },
      },
    );
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("succeeded");
    if (outcome.status !== "succeeded") return;
    expect(outcome.details[0]).toMatch(/step 2 .* timed out/);
    expect(outcome.warning).toMatch(/the migrate command on ics2 timed out, but internet arrived on ics1/);
    expect(primaries(h, "internet")).toEqual(["ics1"]);
    // Never retried.
    expect(h.calls.filter((c) => c.argv[1] === "migrate")).toHaveLength(1);
  });

  it("evacuate: the guest that arrived despite the error is settled, the ones after it are not attempted", async () => {
    h = await harness(
      referenceLab({
        ...fast,
        nodes: [
          { name: "ics1", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
          { name: "ics2", memoryMiB: 8191, dom0MemoryMiB: 512, cpus: 2, cpuMhz: 2992 },
        ],
        guests: [
          {
            name: "internet",
            memoryMiB: 3070,
            vcpus: 2,
            drbd: ["internet"],
            home: "ics2",
            runningOn: "ics2",
          },
          { name: "mail", memoryMiB: 2048, vcpus: 1, drbd: ["mail"], home: "ics2", runningOn: "ics2" },
        ],
        drbd: [
          { name: "internet", minor: 0, nodes: ["ics1", "ics2"], sizeMiB: 40960, allowTwoPrimaries: true },
          { name: "mail", minor: 1, nodes: ["ics1", "ics2"], sizeMiB: 10240, allowTwoPrimaries: true },
        ],
      }),
    );
    const id = await h.approve({ action: "evacuate", node: "ics2" });
    createFaults(h.sim).failMigration("internet", 0.5, { arrived: true });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(false);
    expect(outcome.summary).toBe("internet moved to ics1 despite an error; stopped before the other guests");
    expect(outcome.details).toContain("not attempted: mail");
    expect(primaries(h, "internet")).toEqual(["ics1"]);
    expect(h.sim.guestLocations("mail")).toEqual(["ics2"]);
    expect(h.calls.filter((c) => c.argv[1] === "migrate").map((c) => c.argv[3])).toEqual(["internet"]);
  });
});

describe("a migrate command that fails with the guest on both nodes, on neither, or unknown", () => {
  /** Runs the migration with the migrate command held after it ran; `meanwhile` changes the cluster. */
  async function failWhileHeld(h: Harness, meanwhile: (h: Harness) => void) {
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    createFaults(h.sim).failMigration("internet", 0.5, { arrived: true });
    const hold = holdCommand(h.sim, { argv: ["xm", "migrate"] }, "after");
    const watch = watchCommands(h.sim, { argv: MUTATING });
    const running = executeApproved(h.deps, id, { jobId: `exec-${id}` });
    await hold.held();
    meanwhile(h);
    hold.release();
    const outcome = await running;
    watch.stop();
    return { outcome, commands: watch.seen.map((a) => a.join(" ")) };
  }

  it("on both nodes: pages at once and runs nothing after the migrate (no demote, no undo)", async () => {
    h = await harness(referenceLab(fast));
    const { outcome, commands } = await failWhileHeld(h, (x) => {
      // Someone starts it again on the source while both sides are Primary.
      expect(x.sim.createGuest("ics2", "internet").ok).toBe(true);
    });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("internet runs on ics1 and ics2: look now");
    expect(commands).toEqual(["drbdadm primary internet", "xm migrate --live internet ics1"]);
    expect(primaries(h, "internet")).toEqual(["ics1", "ics2"]);
    expect(allText(h.notifier)).toMatch(
      /page: Live-migrate internet from ics2 to ics1: internet runs on ics1 and ics2/,
    );
  });

  it("on neither node: pages and runs nothing after the migrate", async () => {
    h = await harness(referenceLab(fast));
    const { outcome, commands } = await failWhileHeld(h, (x) => {
      const dom = x.sim.findGuestDomain("ics1", "internet");
      if (!dom) throw new Error("internet did not arrive on ics1");
      x.sim.destroyDomain("ics1", dom);
    });
    expect(outcome.status).toBe("failed");
    if (outcome.status !== "failed") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toBe("internet runs nowhere: look now");
    expect(commands).toEqual(["drbdadm primary internet", "xm migrate --live internet ics1"]);
    expect(primaries(h, "internet")).toEqual(["ics1", "ics2"]);
  });

  it("a node that cannot be read: uncertain, pages, and runs nothing after the migrate", async () => {
    h = await harness(referenceLab(fast), { settings: { migrateVerifyTimeoutMs: 500 } });
    const { outcome, commands } = await failWhileHeld(h, (x) => {
      x.sim.node("ics1")!.reachability = "unreachable";
    });
    expect(outcome.status).toBe("uncertain");
    if (outcome.status !== "uncertain") return;
    expect(outcome.page).toBe(true);
    expect(outcome.summary).toMatch(/unknown on ics1: look now$/);
    expect(commands).toEqual(["drbdadm primary internet", "xm migrate --live internet ics1"]);
  });
});

describe("a migrate command that fails with the guest still on its source", () => {
  it("undoes the promotion on the target and reports failed, without paging", async () => {
    h = await harness(referenceLab(fast));
    const id = await h.approve({ action: "migrate", guest: "internet", target: "ics1" });
    createFaults(h.sim).failMigration("internet", 0.5);
    const watch = watchCommands(h.sim, { argv: MUTATING });
    const outcome = await executeApproved(h.deps, id, { jobId: `exec-${id}` });
    watch.stop();
    expect(outcome).toMatchObject({
      status: "failed",
      page: false,
      summary: "internet was not moved: it still runs on ics2 only",
    });
    expect(watch.seen.map((a) => `${a.join(" ")}`)).toEqual([
      "drbdadm primary internet",
      "xm migrate --live internet ics1",
      "drbdadm secondary internet",
    ]);
    expect(primaries(h, "internet")).toEqual(["ics2"]);
    expect(h.sim.guestLocations("internet")).toEqual(["ics2"]);
  });
});
