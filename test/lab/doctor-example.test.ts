/**
 * examples/doctor.txt end to end in the lab (real SSH to the simulated nodes, queue, worker, console):
 * the reference guide's configuration has its own findings, and every line the script breaks is caught.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { startLab } from "../../src/lab/lab";
import { silentLogger } from "../../src/log";
import { testRedisUrl } from "../support/redis";
import { runLabScript } from "./run-script";

describe("examples/doctor.txt", () => {
  it("the guide's after-sb policy fails; each broken line is caught with its fix", {
    timeout: 120_000,
  }, async () => {
    const lab = await startLab({ redisUrl: testRedisUrl(), logger: silentLogger(), commandTimeoutMs: 5_000 });
    try {
      const script = await readFile("examples/doctor.txt", "utf8");
      const { out, problems, session } = await runLabScript(lab, script, { sessionId: "doctor" });
      expect(session.errors).toBe(0);
      expect(problems).toEqual([]);
      const cards = out.split(/^--- /m).filter((m) => m.includes("Doctor of lab"));
      const [first, second] = [cards.at(-2) ?? "", cards.at(-1) ?? ""];
      expect(first).toContain("Doctor of lab :x: fails: 1 failing, 1 warning");
      expect(first).toContain("ics1: after-sb-0pri    discard-least-changes;");
      expect(first).toContain("`after-sb-0pri disconnect;`");
      expect(first).toContain("The doctor queried the fence device once (`stonith -t apcsmart -S");
      for (const id of [
        "drbd.after-sb",
        "drbd.identical",
        "xen.bridges",
        "xen.guest-config",
        "xen.relocation",
        "startup.xendomains",
        "heartbeat.authkeys",
        "nodes.hosts",
        "nodes.replication-link",
        "nodes.clock",
      ])
        expect(second).toContain(`:x: \`${id}\``);
      expect(second).toContain(
        "Fix: in /etc/xen/xend-config.sxp on ics2: add `^ics1$` to (xend-relocation-hosts-allow '...')",
      );
      expect(second).toContain("Fix: on ics1: `rm /etc/xen/auto/internet`");
      expect(second).toContain("`ip link set eth1 up` on ics2");
    } finally {
      await lab.close();
    }
  });
});
