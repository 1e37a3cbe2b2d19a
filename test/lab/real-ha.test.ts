/**
 * The real-HA lab: Debian's heartbeat 3.0.6 on ics1 and ics2, each in its own namespaces, fencing
 * through cluster-glue's real apcsmart plugin over a pty to the emulated Smart-UPS, its resource
 * scripts (drbddisk, contrib/ha/xen-guest) driving the simulated xm/drbdadm. xenops reaches it all
 * over the simulator's SSH servers and parses the real outputs.
 *
 * Root only, with heartbeat/cluster-glue/drbd-utils installed (`node scripts/bootstrap.mjs
 * --real-ha`; skipped with the reason otherwise, see test/support/real-ha.ts): it runs heartbeat's
 * real timing (deadtime 4 s), about 65 s in all.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterConfig } from "../../src/config/schema";
import { runDoctor } from "../../src/doctor/run";
import { heartbeatDriver } from "../../src/drivers/heartbeat";
import {
  classifyHaLog,
  type HaLogEvent,
  parseHaLogLine,
  readAutoFailback,
} from "../../src/drivers/heartbeat/ha-log";
import { parseHaresources } from "../../src/drivers/heartbeat/haresources";
import type { RealHaLab } from "../../src/lab/real-ha/index";
import { referenceLab, type SimulatedCluster } from "../../src/sim";
import type { SshPool } from "../../src/ssh/pool";
import { type RealHaRun, realHaSkipReason, startRealHaRun } from "../support/real-ha";

const DEADTIME = 4;

const skipReason = realHaSkipReason("test/lab/real-ha.test.ts");

async function haLogEvents(ssh: SshPool, node: string): Promise<HaLogEvent[]> {
  const res = await ssh.runner(node).run(["tail", "-n", "400", "/var/log/ha-log"]);
  return res.stdout
    .split("\n")
    .map((l) => parseHaLogLine(l))
    .flatMap((l) => {
      const e = l ? classifyHaLog(l) : null;
      return e ? [e] : [];
    });
}

describe.skipIf(skipReason !== null)("real heartbeat, STONITH through apcsmart, xenops reading it", () => {
  let run: RealHaRun | undefined;
  let sim: SimulatedCluster;
  let ha: RealHaLab;
  let ssh: SshPool;

  beforeAll(async () => {
    run = await startRealHaRun(referenceLab(), DEADTIME);
    ({ sim, ha, ssh } = run);
  }, 90_000);

  afterAll(async () => {
    await run?.close();
  });

  it("xenops reads the real cl_status, /etc/ha.d and stonith of each node over SSH", async () => {
    for (const node of ["ics1", "ics2"]) {
      const r = ssh.runner(node);
      const view = await heartbeatDriver.view(r);
      expect(view.nodes.map((n) => [n.name, n.status]).sort()).toEqual([
        ["ics1", "online"],
        ["ics2", "online"],
      ]);
      // cl_status hbparameter, answered by the running heartbeat from its ha.cf.
      expect(await readAutoFailback(r)).toBe(true);
      // The node's own files (written by the lab into its mount namespace), not the simulator's.
      const haCf = (await r.run(["cat", "/etc/ha.d/ha.cf"])).stdout;
      expect(haCf).toContain("ucast           eth1 10.99.0.2");
      expect(haCf).toContain("stonith_host    ics1 apcsmart /dev/ttyS0 ics2");
      const groups = parseHaresources((await r.run(["cat", "/etc/ha.d/haresources"])).stdout);
      expect(groups.map((g) => [g.node, g.resources.map((x) => x.text)])).toEqual([
        ["ics2", ["drbddisk::internet", "xen-guest::internet"]],
      ]);
      expect((await r.run(["stat", "-c", "%a", "/etc/ha.d/authkeys"])).stdout.trim()).toBe("600");
      // uname stays simulated; heartbeat's programs are the real ones.
      expect((await r.run(["cl_status", "hbstatus"])).stdout).toBe("Heartbeat is running on this machine.\n");
    }
    expect((await ssh.runner("ics2").run(["cl_status", "rscstatus"])).stdout.trim()).toMatch(/^(local|all)$/);
    // One status query of ics1's UPS, from ics2's serial port, through the real plugin.
    const status = ["stonith", "-t", "apcsmart", "-S", "ttydev=/dev/ttyS0", "hostlist=ics1"];
    const before = ha.node("ics1").ups.log.length;
    const ok = await ssh.runner("ics2").run(status, { okExitCodes: [0, 1] });
    expect(ok.exitCode).toBe(0);
    expect(ha.node("ics1").ups.log.slice(before)).toContain("Y");
    expect(ha.node("ics1").ups.output).toBe(true);
    // A UPS that does not answer (`!sim fenceDevice off`): the plugin times out, stonith fails.
    sim.faults.fenceDevice(false);
    try {
      const silent = await ssh
        .runner("ics2")
        .run(status, { okExitCodes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] });
      expect(silent.exitCode).not.toBe(0);
    } finally {
      sim.faults.fenceDevice(true);
    }
  }, 60_000);

  it("/xen doctor checks the real files, DRBD's own drbdadm dump and the real apcsmart plugin", async () => {
    const keyFile = join(ha.dir, "doctor-key");
    writeFileSync(keyFile, sim.inventory().privateKey, { mode: 0o600 });
    const cluster = ClusterConfig.parse(sim.toClusterConfig(keyFile, { channels: ["C0LAB"] }));
    const upsBefore = ha.nodes.map((n) => n.ups.log.length);
    const report = await runDoctor(cluster, { runnerFor: (n) => ssh.runner(n) });
    const status = (id: string) => report.results.filter((r) => r.id === id).map((r) => r.status);
    expect(status("drbd.config")).toEqual(["pass"]);
    // The reference guide's after-sb policy, as drbdadm-83 itself parsed the node's drbd.conf.
    expect(status("drbd.after-sb")).toEqual(["fail"]);
    for (const id of [
      "heartbeat.authkeys",
      "heartbeat.ha-cf",
      "heartbeat.haresources",
      "heartbeat.stonith-hosts",
    ])
      expect(status(id), id).toEqual(["pass"]);
    expect(report.fenceQuery?.ok).toBe(true);
    expect(ha.nodes.some((n, i) => n.ups.log.length > (upsBefore[i] ?? 0))).toBe(true);
  }, 60_000);

  it("a node that loses power is fenced through apcsmart, its guest starts on the survivor, and comes home", async () => {
    expect(sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
    await ha.crash("ics2");

    // heartbeat on ics1: deadtime, STONITH through the UPS on its serial port, then mach_down.
    await ha.waitFor(
      "internet running on ics1",
      () => sim.cluster.guestLocations("internet")[0] === "ics1",
      60_000,
    );
    expect(sim.cluster.guestLocations("internet")).toEqual(["ics1"]);
    expect(ha.node("ics2").ups.log).toEqual(expect.arrayContaining(["S", "@000"]));
    const events = await haLogEvents(ssh, "ics1");
    const kinds = events.map((e) => e.kind);
    const at = (kind: HaLogEvent["kind"]) => kinds.indexOf(kind);
    expect(events).toEqual(
      expect.arrayContaining([
        { kind: "node_dead", node: "ics2" },
        { kind: "stonith_start", node: "ics2", device: "APCSmart" },
        { kind: "stonith_ok", node: "ics2" },
        { kind: "takeover_start", node: "ics2" },
        { kind: "takeover_group", resources: ["drbddisk::internet", "xen-guest::internet"] },
      ]),
    );
    expect(at("node_dead")).toBeLessThan(at("stonith_start"));
    expect(at("stonith_ok")).toBeLessThan(at("takeover_start"));
    expect(at("takeover_start")).toBeLessThan(at("takeover_group"));
    const view = await heartbeatDriver.view(ssh.runner("ics1"));
    expect(view.nodes.find((n) => n.name === "ics2")?.status).toBe("offline");
    expect((await ssh.runner("ics1").run(["cl_status", "rscstatus"])).stdout.trim()).toBe("all");

    // The UPS's reset turns ics2's output off then on again: it boots, heartbeat starts, and
    // auto_failback on hands the group back (xen-guest stop on ics1, start on ics2).
    await ha.waitFor(
      "internet back on ics2",
      () => sim.cluster.guestLocations("internet")[0] === "ics2",
      90_000,
    );
    expect(sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
    const after = await haLogEvents(ssh, "ics1");
    expect(after).toEqual(
      expect.arrayContaining([{ kind: "standby_start", holder: "ics1", which: "foreign" }]),
    );
    const back = await heartbeatDriver.view(ssh.runner("ics1"));
    expect(back.nodes.find((n) => n.name === "ics2")?.status).toBe("online");
  }, 180_000);

  it("`!sim partition` cuts the real heartbeat link: ics1 declares ics2 dead and resets it through the UPS", async () => {
    await ha.waitReady(60_000);
    const upsBefore = ha.node("ics2").ups.log.length;
    sim.faults.partition("ics2");
    await ha.waitFor("ics2's end of the link down", async () => !(await ha.linkUp("ics2")), 10_000);
    expect(await ha.linkUp("ics1")).toBe(true);
    // No heartbeat reaches ics1 any more: after deadtime it fences ics2 through ics2's UPS, as for a
    // dead node (ics2, hearing nothing either, may fence ics1 too: the two-node STONITH race).
    await ha.waitFor(
      "ics1 resetting ics2 through apcsmart",
      () => ha.node("ics2").ups.log.slice(upsBefore).includes("@000"),
      (DEADTIME + 20) * 1000,
    );
    expect(ha.node("ics2").ups.log.slice(upsBefore)).toEqual(expect.arrayContaining(["S", "@000"]));
    // The UPS cuts ics2's power only after its grace delay: until then ics2 still runs.
    await ha.waitFor("ics2's power cut by its UPS", () => !ha.node("ics2").ups.output, 30_000);
    // heal plugs the cable back in: the link comes up, both run heartbeat again and internet goes
    // home (ics2 may have reset ics1 too: each node's power cycle runs its course first).
    sim.faults.heal();
    await ha.waitFor("ics2's end of the link up", () => ha.linkUp("ics2"), 10_000);
    await ha.waitFor(
      "internet on ics2 only, both nodes powered",
      () => ha.nodes.every((n) => n.ups.output) && sim.cluster.guestLocations("internet").join() === "ics2",
      120_000,
    );
    await ha.waitReady(90_000);
    expect(sim.cluster.guestLocations("internet")).toEqual(["ics2"]);
  }, 240_000);
});
