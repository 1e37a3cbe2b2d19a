/**
 * examples/takeover.txt end to end in the lab (real SSH to the simulated nodes, the whole runtime,
 * the console): ics2 loses power; heartbeat on ics1 resets it through the APC and takes its group
 * over; xenops posts the takeover with heartbeat's STONITH lines; ics2 comes back and heartbeat's
 * auto_failback live-migrates internet home, which is posted too. heartbeat's deadtime, the reboot,
 * the poll interval and the script's pauses are shortened so this takes seconds, not minutes.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { referenceLab } from "../../src/sim";
import { runLabScript } from "../lab/run-script";
import { testRedisUrl } from "../support/redis";

/** The example's pauses, scaled to the shortened timings. */
const PAUSES: Record<string, string> = { "5": "1", "45": "6", "85": "14" };

describe("examples/takeover.txt in the lab console", () => {
  it("heartbeat fences and takes over, xenops posts it with the STONITH evidence; auto failback is posted", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      spec: referenceLab({
        ha: { deadtimeMs: 3_000, takeoverMs: 1_000 },
        timing: { migrationMsPerGiB: 500, shutdownMs: 1_000, rebootMs: 5_000 },
      }),
      commandTimeoutMs: 3_000,
    });
    try {
      const inventory = {
        ...lab.inventory,
        clusters: lab.inventory.clusters.map((c) => ({ ...c, monitor: { intervalMs: 1_000 } })),
      };
      const example = await readFile(new URL("../../examples/takeover.txt", import.meta.url), "utf8");
      const script = example.replace(/^!sleep (\d+)$/gm, (_, s: string) => `!sleep ${PAUSES[s] ?? s}`);
      const { out, problems } = await runLabScript(lab, script, {
        sessionId: "takeover",
        deps: {
          inventory,
          sshOptions: { reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } },
          events: { removeSchedulersOnStop: true },
        },
        settleMs: 30_000,
      });
      expect(problems).toEqual([]);
      const messages = out.split(/^--- /m);
      const parents = messages.filter(
        (m) => /^new message \S+ in C0LAB\n/.test(m) && !m.includes("Status of lab"),
      );
      // One incident for ics2, which says what heartbeat did instead of asking for a fence.
      expect(parents).toHaveLength(1);
      expect(out).toContain(
        "CRITICAL · lab · ics2 is dead according to heartbeat on ics1: heartbeat reset it through APCSmart and started internet on ics1",
      );
      expect(out).not.toContain("[Fence ics2]");
      expect(out).not.toContain("Fence ics2 before starting its guests elsewhere");
      // The takeover, in the thread, with heartbeat's STONITH lines as the fence evidence.
      const takeover = messages.find((m) => m.includes("heartbeat started internet on ics1 after ics2 died"));
      expect(takeover).toBeDefined();
      expect(takeover).toContain("heartbeat reports ics2 reset through APCSmart (power not verified)");
      expect(takeover).toMatch(/heartbeat\[\d+\]: \S+ info: Resetting node ics2 with \[APCSmart\]/);
      expect(takeover).toMatch(/heartbeat\[\d+\]: \S+ info: node ics2 now reset\./);
      // ics2 back: heartbeat's auto_failback moves internet home, no failback offered by xenops.
      expect(out).toContain("heartbeat migrated internet back to ics2");
      expect(out).not.toContain("[Fail back to ics2]");
      expect(lab.sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
      expect(lab.sim.cluster.fenceLog.map((f) => [f.target, f.client])).toEqual([["ics2", "heartbeat"]]);
    } finally {
      await lab.close();
    }
  });
});
