/**
 * examples/takeover.txt on the real heartbeat (`--ha real`), end to end: the whole runtime and the
 * console against Debian's heartbeat 3 in the lab's node namespaces, with heartbeat's real timing
 * (deadtime 4 s instead of 30, the UPS at a quarter of its delays). ics2 loses power; heartbeat on
 * ics1 fences it through the real apcsmart plugin and starts internet there; xenops posts the failover
 * with the STONITH lines from heartbeat's own log; the UPS powers ics2 back on, auto_failback
 * migrates internet home, and xenops posts that too.
 *
 * Root and the Debian packages only (test/support/real-ha.ts says why it skips otherwise); about 60 s.
 * The example's pauses become waits for what they wait for, so heartbeat's timing decides, not a clock.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { ConsoleNotifier } from "../../src/console/notifier";
import { ConsoleSession } from "../../src/console/session";
import { labDirectives } from "../../src/lab/directives";
import { startLab } from "../../src/lab/lab";
import { realHaTiming } from "../../src/lab/real-ha/config";
import { silentLogger } from "../../src/log";
import { createDeps } from "../../src/runtime/deps";
import { passThroughFor, setPassThrough } from "../../src/sim/passthrough";
import { realHaSkipReason, TEST_POWER } from "../support/real-ha";
import { testRedisUrl, uniquePrefix } from "../support/redis";

const skipReason = realHaSkipReason("test/lab/real-ha-takeover-example.test.ts");

/** The failover as xenops tells it in the incident's thread. */
const TAKEOVER = /heartbeat started internet on ics1 after ics2 died/;

describe.skipIf(skipReason !== null)("examples/takeover.txt on the real heartbeat", () => {
  it("heartbeat fences ics2 through apcsmart and takes over; xenops posts it with heartbeat's STONITH lines; the failback too", {
    timeout: 240_000,
  }, async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      ha: "real",
      haTiming: realHaTiming(4),
      haPower: TEST_POWER,
      commandTimeoutMs: 5_000,
    });
    try {
      const realHa = lab.realHa;
      if (!realHa) throw new Error("the lab did not start the real heartbeat");
      const inventory = {
        ...lab.inventory,
        clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor: { intervalMs: 1_000 } })),
      };
      let out = "";
      const write = (t: string) => {
        out += t;
      };
      // Counts the monitor's reads of heartbeat's real log (the pass-through to the node's files).
      const inner = passThroughFor(lab.sim.cluster);
      if (!inner) throw new Error("the real heartbeat's pass-through is not set");
      let haLogReads = 0;
      setPassThrough(lab.sim.cluster, (node, argv, io) => {
        const run = inner(node, argv, io);
        if (run && argv.includes("/var/log/ha-log"))
          void run.then(() => {
            haLogReads++;
          });
        return run;
      });
      // Each of the example's pauses, in order, waits for what it gives time to.
      const pauses: { what: string; done: () => boolean; timeoutMs: number }[] = [
        // Three monitor passes over both nodes have read heartbeat's log: the baseline (a first read
        // replays the log silently) is done and stored, so the takeover is news to the next one.
        { what: "the monitor's baseline", done: () => haLogReads >= 6, timeoutMs: 30_000 },
        {
          what: "xenops posting heartbeat's takeover",
          done: () => TAKEOVER.test(out),
          timeoutMs: 60_000,
        },
        {
          what: "xenops posting heartbeat's failback",
          done: () => out.includes("heartbeat migrated internet back to ics2"),
          timeoutMs: 120_000,
        },
      ];
      const example = await readFile(new URL("../../examples/takeover.txt", import.meta.url), "utf8");
      expect(example.match(/^!sleep \d+$/gm)).toHaveLength(pauses.length);
      const notifier = new ConsoleNotifier(write);
      let session: ConsoleSession | undefined;
      const deps = await createDeps({
        inventory,
        logger: silentLogger(),
        redisUrl: lab.redisUrl,
        queuePrefix: uniquePrefix("lab-real-takeover"),
        secretEnv: {},
        notifier,
        groups: new StaticGroupDirectory(),
        onEnqueued: (job) => session?.trackJob(job.jobId),
        sshOptions: { reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } },
        // Follow-ups are not paced (a minute apart by default): the shortened sequence (ics2 is back
        // about 20 s after it died) must not leave the takeover or the failback held back.
        events: { removeSchedulersOnStop: true, incidentPolicy: { followUpIntervalMs: 0 } },
      });
      session = new ConsoleSession({
        core: deps.core,
        notifier,
        channel: "C0LAB",
        write,
        waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
        sessionId: "real-takeover",
        directive: labDirectives(lab.sim, realHa),
      });
      let problems: unknown[] = [];
      try {
        await deps.startWorkers().ready();
        for (const line of example.split("\n")) {
          if (/^!sleep \d+$/.test(line)) {
            const pause = pauses.shift();
            if (pause)
              await realHa.waitFor(pause.what, pause.done, pause.timeoutMs).catch((err: Error) => {
                throw new Error(`${err.message}; the console's last output:\n${out.slice(-4000)}`);
              });
            continue;
          }
          await session.line(line);
        }
        problems = (await session.settle(30_000)).problems;
      } finally {
        await deps.close();
      }
      expect(problems).toEqual([]);

      // heartbeat itself fenced ics2: the real apcsmart plugin switched the UPS (S, then @000).
      expect(realHa.node("ics2").ups.log).toEqual(expect.arrayContaining(["S", "@000"]));
      const messages = out.split(/^--- /m);
      // One incident for ics2, which says what heartbeat did instead of asking for a fence.
      expect(out).toContain(
        "ics2 is dead according to heartbeat on ics1: heartbeat reset it through APCSmart and started internet on ics1",
      );
      expect(out).not.toContain("[Fence ics2]");
      // The failover, with the fence evidence read from the real /var/log/ha-log on ics1.
      const takeover = messages.find((m) => TAKEOVER.test(m) && m.includes("mach_down takeover complete"));
      expect(takeover).toBeDefined();
      expect(takeover).toContain("heartbeat reports ics2 reset through APCSmart (power not verified)");
      expect(takeover).toMatch(/ics1 heartbeat: \[\d+\]: info: Resetting node ics2 with \[APCSmart\]/);
      expect(takeover).toMatch(/ics1 heartbeat: \[\d+\]: info: node ics2 now reset\./);
      expect(takeover).toContain("Acquiring resource group: ics2 drbddisk::internet xen-guest::internet");
      // ics2 back: auto_failback gives internet back, posted; xenops offers no failback of its own.
      const failback = messages.find((m) => m.includes("heartbeat migrated internet back to ics2"));
      expect(failback).toContain("Releasing resource group: ics2 drbddisk::internet xen-guest::internet");
      expect(out).not.toContain("[Fail back to ics2]");
      expect(lab.sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
      // The simulator took no part: heartbeat's STONITH went through the UPS, not the simulator's fence.
      expect(lab.sim.cluster.fenceLog).toEqual([]);
    } finally {
      await lab.close();
    }
  });
});
