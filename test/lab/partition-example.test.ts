/**
 * examples/partition.txt end to end in the lab (real SSH to the simulated nodes, the whole runtime,
 * the console), with heartbeat's deadtime shortened: a partitioned node is not proven off, so the start
 * of its guest on the survivor is refused; an ineffective fence through a device that cannot read power
 * back is "power-off not verified"; once two approvers attest the node off, the start goes ahead.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { referenceLab } from "../../src/sim";
import { testRedisUrl } from "../support/redis";
import { runLabScript } from "./run-script";

describe("examples/partition.txt", () => {
  it("partition → create refused; ineffective fence → not verified; attest-off → create allowed", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      spec: referenceLab({
        ha: { deadtimeMs: 2_000, autoTakeover: false, autoFailback: false, takeoverMs: 1_000 },
      }),
      commandTimeoutMs: 3_000,
    });
    try {
      // The example waits out the reference lab's 30 s deadtime; this lab's is 2 s.
      const script = (await readFile("examples/partition.txt", "utf8")).replace(/^!sleep 35$/m, "!sleep 3");
      expect(script).toContain("!sleep 3\n");
      const { out, problems, session } = await runLabScript(lab, script, {
        sessionId: "partition",
        deps: {
          operations: { migrateVerifyTimeoutMs: 5_000, fenceVerifyTimeoutMs: 5_000, probeTimeoutMs: 2_000 },
        },
      });
      const refusals = out.split(/^--- /m).filter((m) => m.includes("⛔ Refused: Start internet on ics1"));
      // Refused twice (after the partition, after the unverified fence), both times for want of a proof.
      expect(refusals).toHaveLength(2);
      for (const r of refusals)
        expect(r).toContain(
          "✗ not running: cannot tell whether internet runs on ics2: ics2 is not proven off (ics2 does not answer over SSH (ssh_connect_failed); heartbeat on ics1 declares it dead, which only says it went silent): fence it with `/xen fence ics2`, or `/xen attest-off ics2` once someone has checked it is powered off",
        );
      expect(out).toContain("Result: ics2: fence reported success; power-off not verified");
      expect(out).toContain(
        "ics2 does not count as off: once someone has checked it is powered off, attest it with `/xen attest-off ics2`",
      );
      expect(out).toContain("Result: ics2 is attested off by <@UAPPROVER1> and <@UAPPROVER2>");
      expect(out).toMatch(/✓ off-proof ics2: ics2 attested off by <@UAPPROVER1>, <@UAPPROVER2> at /);
      expect(out).toContain("✅ Done: Start internet on ics1");
      expect(out).toContain("internet runs on ics1 only (checked on every node; ics2 proven off)");
      expect(session.errors).toBe(0);
      expect(problems).toEqual([]);
      const sim = lab.sim.cluster;
      sim.sync();
      expect(sim.guestLocations("internet")).toEqual(["ics1"]);
    } finally {
      await lab.close();
    }
  });
});
