/**
 * examples/oncall.txt end to end in the lab (real SSH to the simulated nodes, the whole runtime, the
 * console, the lab's fake PagerDuty), with heartbeat's deadtime, the monitor's interval and the
 * on-call timers shortened: the page, the re-notification and escalation while nobody acknowledges,
 * the acknowledge click, and the resolve.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { StaticGroupDirectory } from "../../src/chat/authz";
import { ConsoleNotifier } from "../../src/console/notifier";
import { ConsoleSession } from "../../src/console/session";
import { labDirectives } from "../../src/lab/directives";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { createDeps } from "../../src/runtime/deps";
import { referenceLab } from "../../src/sim";
import { testRedisUrl, uniquePrefix } from "../support/redis";

describe("examples/oncall.txt", () => {
  it("dead node → page → re-notified, escalated → acknowledged from Slack → resolved", {
    timeout: 120_000,
  }, async () => {
    let out = "";
    const write = (t: string) => {
      out += t;
    };
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      spec: referenceLab({
        ha: { deadtimeMs: 2_000, autoTakeover: false, autoFailback: false, takeoverMs: 1_000 },
      }),
      commandTimeoutMs: 3_000,
      oncall: { print: write, renotifyAfter: "2s", escalateAfter: "4s" },
    });
    try {
      const cluster = lab.inventory.clusters[0];
      if (!cluster) throw new Error("no lab cluster");
      cluster.monitor = { intervalMs: 1_000 };
      // The example waits out the reference lab's 30 s deadtime and 20 s / 40 s timers; these are shorter.
      const script = (await readFile("examples/oncall.txt", "utf8"))
        .replace(/^!sleep 45$/gm, "!sleep 10")
        .replace(/^!sleep 40$/m, "!sleep 20");
      expect(script.match(/^!sleep 10$/gm)).toHaveLength(2);
      const notifier = new ConsoleNotifier(write);
      let session: ConsoleSession | undefined;
      const deps = await createDeps({
        inventory: lab.inventory,
        logger: silentLogger(),
        redisUrl: lab.redisUrl,
        queuePrefix: uniquePrefix("lab-oncall"),
        secretEnv: {},
        notifier,
        groups: new StaticGroupDirectory(),
        onEnqueued: (job) => session?.trackJob(job.jobId),
        events: { removeSchedulersOnStop: true },
      });
      session = new ConsoleSession({
        core: deps.core,
        notifier,
        channel: "C0LAB",
        write,
        waitForJob: (id, ms) => deps.jobs.waitForJob(id, ms),
        sessionId: "oncall",
        directive: labDirectives(lab.sim),
      });
      try {
        await deps.startWorkers().ready();
        for (const line of script.split("\n")) await session.line(line);
        await session.settle(30_000);
      } finally {
        await deps.close();
      }
      const pager = out.split("\n").filter((l) => l.startsWith("pager: "));
      expect(pager.map((l) => l.split(" ")[1])).toEqual(["trigger", "acknowledge", "resolve"]);
      expect(pager[0]).toContain('"lab: ics2 is dead according to heartbeat on ics1"');
      // One dedup key throughout.
      expect(new Set(pager.map((l) => l.split(" ")[2])).size).toBe(1);
      expect(out).toMatch(/🔔 @UADMIN1 Not acknowledged after 2 s: ics2 is dead/);
      expect(out).toMatch(/📣 @UAPPROVER1 Escalated \(step 1\): nobody acknowledged in 4 s/);
      expect(out).toContain("[Acknowledge] [Snooze 1h] [Snooze 4h]");
      expect(out).toMatch(/✋ Acknowledged by @UADMIN1 /);
      expect(out).toContain("✅ RESOLVED · lab · ics2 is dead according to heartbeat on ics1");
      // Nothing was re-notified or escalated after the acknowledgement.
      const afterAck = out.slice(out.indexOf("UADMIN1: click Acknowledge"));
      expect(afterAck).not.toMatch(/Not acknowledged after|Escalated/);
      expect(session.errors).toBe(0);
    } finally {
      await lab.close();
    }
  });
});
