/**
 * Cluster events end to end in the lab (real SSH to the simulated nodes, the whole runtime,
 * the console): killing ics2 posts one "node dead" incident mentioning on-call with a Fence button;
 * the fence of a silent node through a device that cannot read power back is not verified; once two
 * approvers attest it off its guest can be started on ics1; an injected split brain on `internet` is
 * detected, recovered through the recovery card (typed confirmation of the victim) and ends
 * UpToDate/UpToDate with the survivor's data. Heartbeat's deadtime and the poll interval are
 * shortened so this takes seconds, not minutes.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { ConsoleNotifier } from "../../src/console/notifier";
import { ConsoleSession } from "../../src/console/session";
import { labDirectives } from "../../src/lab/directives";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { createDeps } from "../../src/runtime/deps";
import { formCoreOf } from "../../src/runtime/forms";
import { referenceLab } from "../../src/sim";
import { withoutHaGuests } from "../operations/harness";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const SCRIPT = `
!sleep 2
!sim nodeDown ics2
!sleep 7
UOPER1: click Fence ics2
UOPER1: submit
!wait
UAPPROVER1: click Approve
UAPPROVER2: click Approve
!wait
UAPPROVER1: /xen attest-off ics2
!wait
UAPPROVER2: /xen approve {approval} ics2
!wait
UOPER1: click Start its guests on ics1
UOPER1: submit
!wait
UAPPROVER1: click Approve
!wait
!sim nodeUp ics2
!sleep 4
!sim splitBrain internet
!sleep 3
UAPPROVER1: click Keep ics1's data
UAPPROVER1: submit confirm=ics2/internet
!wait
UAPPROVER2: /xen approve {approval} ics2/internet
!wait
!sleep 3
`;

describe("cluster events in the lab", () => {
  it("node death → fence → start on the survivor; split brain → recovery card → UpToDate/UpToDate", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      // heartbeat does not own internet here (no haresources group): xenops' guided fence and start
      // are the way back. A guest heartbeat manages is started through heartbeat, never by hand.
      spec: withoutHaGuests(
        referenceLab({
          ha: { deadtimeMs: 3_000, autoTakeover: false, autoFailback: false, takeoverMs: 1_000 },
          timing: { migrationMsPerGiB: 500, shutdownMs: 1_000, rebootMs: 600_000 },
        }),
      ),
      commandTimeoutMs: 3_000,
    });
    const dir = await mkdtemp(join(tmpdir(), "xenops-events-"));
    try {
      const inventory = {
        ...lab.inventory,
        clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor: { intervalMs: 1_000 } })),
      };
      const script = join(dir, "events.txt");
      await writeFile(script, SCRIPT);
      const discards = lab.sim.faults.watchCommands({
        node: "ics2",
        argv: ["drbdadm", "--", "--discard-my-data", "connect"],
      });
      let out = "";
      const write = (t: string) => {
        out += t;
      };
      // runConsole's building blocks, with the operations' verification waits shortened.
      const notifier = new ConsoleNotifier(write);
      let session: ConsoleSession | undefined;
      const deps = await createDeps({
        inventory,
        logger: silentLogger(),
        redisUrl: lab.redisUrl,
        queuePrefix: uniquePrefix("lab-events"),
        secretEnv: {},
        notifier,
        groups: new StaticGroupDirectory(),
        onEnqueued: (job) => session?.trackJob(job.jobId),
        // A node that comes back is seen within a second (the pool's reconnect backoff is 30 s by default).
        sshOptions: { reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } },
        operations: { migrateVerifyTimeoutMs: 5_000, fenceVerifyTimeoutMs: 10_000, probeTimeoutMs: 2_000 },
        events: { removeSchedulersOnStop: true },
      });
      session = new ConsoleSession({
        core: deps.core,
        notifier,
        channel: "C0LAB",
        write,
        waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
        sessionId: "events",
        directive: labDirectives(lab.sim),
        // Incident buttons open the form pre-filled (with its dry run); `submit` files the request.
        forms: formCoreOf(deps),
      });
      let problems: unknown[] = [];
      try {
        await deps.startWorkers().ready();
        for (const line of (await readFile(script, "utf8")).split("\n")) await session.line(line);
        problems = (await session.settle(60_000)).problems;
      } finally {
        await deps.close();
      }
      const messages = out.split(/^--- /m);
      const incident = (m: string) => /^new message \S+ in C0LAB\n/.test(m);

      // One incident for the dead node, paged, with a Fence button; later verified fenced, with the offer.
      const nodeIncidents = messages.filter(
        (m) => incident(m) && m.includes("· lab · ics2 does not answer over SSH"),
      );
      expect(nodeIncidents).toHaveLength(1);
      expect(out).toMatch(
        /CRITICAL · lab · ics2 is dead according to heartbeat on ics1[\s\S]*on-call: @UADMIN1[\s\S]*\[Fence ics2\]/,
      );
      // ics2 was silent before the fence and the APC Smart-UPS cannot read an outlet's power: the
      // fence is not verified, no start is offered; two approvers attest it off, then it is.
      expect(out).toContain("ics2: fence reported success; power-off not verified");
      expect(out).toContain("ics2: fence command succeeded but the node is NOT verified off");
      expect(out.indexOf("[Start its guests on ics1]")).toBeGreaterThan(
        out.indexOf("ics2 was attested off by hand (not fenced by xenops)"),
      );
      expect(out).toContain("ics2 is attested off by <@UAPPROVER1> and <@UAPPROVER2>");
      // The split brain: its own incident with the recovery card, then the recovery in its thread.
      expect(out).toMatch(
        /CRITICAL · lab · SPLIT-BRAIN on internet[\s\S]*Who wrote last: ics1 runs internet[\s\S]*\[Keep ics1's data\] \[Keep ics2's data\]/,
      );
      expect(out).toContain("approving needs the typed confirmation `ics2/internet`");
      expect(out).toContain("$ drbdadm -- --discard-my-data connect internet");
      expect(out).toContain("Split brain of internet recovered: ics1's data kept");
      expect(out).toMatch(/RESOLVED · lab · SPLIT-BRAIN on internet/);
      expect(session.errors).toBe(0);
      // Each button opened the form with its dry run; the request was filed from it, as the button files it.
      expect(out).toMatch(
        /filed fence ics2 \(as the incident's button\)[^\n]*\n\s*Queued as job \d+: planning to fence ics2/,
      );
      expect(out).toMatch(/✅ \*Preflight\* \(dry run, read-only\)\n\s*🧪 Dry run: Start internet on ics1/);
      expect(out).toContain("filed start internet on ics1 (as the incident's button)");
      expect(out).toContain(
        "filed recover internet keeping ics1's data (discarding ics2's) (as the incident's button)",
      );
      // The start counts the attested peer as running nothing (proven off), says so, and verifies.
      expect(out).toContain("✅ Done: Start internet on ics1");
      expect(out).toMatch(/ics2 attested off by <@UAPPROVER1>, <@UAPPROVER2> at /);
      expect(out).toContain("internet runs on ics1 only (checked on every node; ics2 proven off)");
      expect(problems).toEqual([]);

      // The cluster itself: internet runs on ics1, UpToDate/UpToDate, ics2 discarded its side.
      const sim = lab.sim.cluster;
      sim.sync();
      expect(sim.guestLocations("internet")).toEqual(["ics1"]);
      const r = sim.resource("internet");
      expect(r?.connected).toBe(true);
      expect(r?.resync).toBeNull();
      expect(r?.local.ics1).toMatchObject({ role: "Primary", disk: "UpToDate", splitBrain: false });
      expect(r?.local.ics2).toMatchObject({ role: "Secondary", disk: "UpToDate", splitBrain: false });
      expect(discards.count).toBe(1);
      discards.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
      await lab.close();
    }
  });
});
