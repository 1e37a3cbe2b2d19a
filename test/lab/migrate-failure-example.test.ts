/**
 * examples/migrate-failure.txt end to end in the lab (real SSH to the simulated nodes, the whole
 * runtime, the console): a migration whose `xm migrate` exits 1 although the guest arrived is reported
 * "moved despite an error" with the source demoted; the dry run counts the ballooned memory; a migration
 * that breaks off midway leaves the guest on its source with the promotion undone.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { referenceLab } from "../../src/sim";
import { testRedisUrl } from "../support/redis";
import { runLabScript } from "./run-script";

describe("examples/migrate-failure.txt", () => {
  it("arrived despite the error → demoted, one Primary, 'moved despite an error'; broke off → undone", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({
      redisUrl: testRedisUrl(),
      logger: silentLogger(),
      spec: referenceLab({ timing: { migrationMsPerGiB: 300, shutdownMs: 1_000, rebootMs: 60_000 } }),
      commandTimeoutMs: 3_000,
    });
    try {
      const script = await readFile("examples/migrate-failure.txt", "utf8");
      expect(script).toContain("!sim failMigration internet arrived");
      const { out, problems } = await runLabScript(lab, script, {
        sessionId: "migrate-failure",
        deps: { operations: { migrateVerifyTimeoutMs: 5_000, probeTimeoutMs: 2_000 } },
      });
      expect(problems).toEqual([]);
      expect(out).toContain("lab: the next migration of internet arrives, but its migrate command fails");
      expect(out).toMatch(/⚠️ Done despite an error: Live-migrate internet from ics2 to ics1/);
      expect(out).toContain("Result: internet moved despite an error: it runs on ics1 only (verified)");
      expect(out).toContain("• output: Error: (104, 'Connection reset by peer')");
      expect(out).toContain("• ran: drbdadm secondary internet on ics2");
      expect(out).toContain("• internet: Primary on ics1 only (read back on every node)");
      expect(out).toContain(
        "⚠️ Warning: the migrate command on ics2 reported an error (exit 1), but internet arrived on ics1",
      );
      expect(out).toContain("internet needs 2048 MiB (what it uses now on ics1 per the domain list)");
      expect(out).toContain("Result: internet was not moved: it still runs on ics1 only");
      expect(out).toContain("• undone: promotion of internet on ics2 (drbdadm secondary internet on ics2)");
      const sim = lab.sim.cluster;
      sim.sync();
      expect(sim.guestLocations("internet")).toEqual(["ics1"]);
      const r = sim.resource("internet");
      expect([r?.local.ics1?.role, r?.local.ics2?.role]).toEqual(["Primary", "Secondary"]);
    } finally {
      await lab.close();
    }
  });
});
