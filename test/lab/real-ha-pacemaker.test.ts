/**
 * The real-HA lab on the modern preset: corosync 3 and Pacemaker 2.1 on hv1 and hv2, each in its own
 * namespaces, fencing through Pacemaker's fencer running cluster-glue's apcsmart plugin over a pty
 * to the emulated Smart-UPS, guests and disks through the lab's OCF agents (ocf:xenops:Xen,
 * ocf:xenops:drbd-primary) over the simulated xl/drbdadm. xenops reaches it all over the
 * simulator's SSH servers and reads the real crm_mon, cibadmin and stonith_admin.
 *
 * Root only, with corosync/pacemaker/pacemaker-cli-utils/cluster-glue installed (`node
 * scripts/bootstrap.mjs --real-ha`; skipped with the reason otherwise, see test/support/real-ha.ts).
 * It runs corosync with a 2 s token and the UPS at a quarter of its delays: about 75 s in all.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { takeSnapshot } from "../../src/cluster/snapshot";
import { type ClusterConfig, ClusterConfig as ClusterConfigSchema } from "../../src/config/schema";
import { stonithAdminDriver } from "../../src/drivers/fence";
import { cibDriver, pacemakerDriver } from "../../src/drivers/pacemaker";
import { driversFor } from "../../src/drivers/registry";
import type { RealHaLab } from "../../src/lab/real-ha/index";
import { silentLogger } from "../../src/log";
import type { ClusterState, HaView } from "../../src/model";
import { modernLab, type SimulatedCluster } from "../../src/sim";
import type { SshPool } from "../../src/ssh/pool";
import { type RealHaRun, realHaSkipReason, startRealHaRun } from "../support/real-ha";

const logger = silentLogger();
/** corosync's token timeout, seconds. */
const TOKEN = 2;

const skipReason = realHaSkipReason("test/lab/real-ha-pacemaker.test.ts", "pacemaker");

const statusOf = (v: HaView | null | undefined, node: string) =>
  v?.nodes.find((n) => n.name === node)?.status;
const runningOn = (v: HaView | null | undefined, id: string) =>
  v?.resources.find((r) => r.id === id)?.runningOn;

describe.skipIf(skipReason !== null)("real Pacemaker, fencing through apcsmart, xenops reading it", () => {
  let run: RealHaRun | undefined;
  let sim: SimulatedCluster;
  let ha: RealHaLab;
  let ssh: SshPool;
  let cluster: ClusterConfig;
  const snapshot = (): Promise<ClusterState> =>
    takeSnapshot(cluster, {
      runnerFor: (n) => ssh.runner(n),
      drivers: driversFor(cluster.toolstack),
      logger,
    });

  beforeAll(async () => {
    run = await startRealHaRun(modernLab(), TOKEN);
    ({ sim, ha, ssh } = run);
    const keyFile = join(ha.dir, "xenops-key");
    writeFileSync(keyFile, sim.inventory().privateKey, { mode: 0o600 });
    const config = sim.toClusterConfig(keyFile, { channels: ["C0LAB"] });
    cluster = ClusterConfigSchema.parse({
      ...config,
      toolstack: { ...config.toolstack, fence: { method: "stonith_admin" } },
    });
  }, 90_000);

  afterAll(async () => {
    await run?.close();
  });

  it("xenops reads the real crm_mon, CIB, corosync.conf and fencer of each node over SSH", async () => {
    for (const node of ["hv1", "hv2"]) {
      const r = ssh.runner(node);
      const view = await pacemakerDriver.view(r);
      expect(view.running).toBe(true);
      expect(view.dc).toMatch(/^hv[12]$/);
      expect(view.nodes).toEqual([
        { name: "hv1", status: "online" },
        { name: "hv2", status: "online" },
      ]);
      expect(runningOn(view, "vm-web")).toEqual(["hv1"]);
      expect(runningOn(view, "vm-db")).toEqual(["hv2"]);
      // Each UPS powers one node and sits on the other's serial port.
      expect(runningOn(view, "fence-hv1")).toEqual(["hv2"]);
      expect(runningOn(view, "fence-hv2")).toEqual(["hv1"]);
      const conf = await cibDriver.read(r, {
        guests: cluster.guests.map((g) => ({ name: g.name, configFile: g.configFile })),
      });
      expect(conf.guests.map((g) => [g.guest, g.resource, g.allowMigrate])).toEqual([
        ["web", "vm-web", true],
        ["db", "vm-db", true],
      ]);
      const corosync = (await r.run(["cat", "/etc/corosync/corosync.conf"])).stdout;
      expect(corosync).toContain("two_node: 1");
      expect(corosync).toContain(`token: ${TOKEN * 1000}`);
    }
    const installed = (await ssh.runner("hv1").run(["stonith_admin", "--list-installed"])).stdout;
    expect(installed.split("\n")).toContain("apcsmart");
    expect((await ssh.runner("hv1").run(["stonith_admin", "--list-registered"])).stdout).toContain(
      "fence-hv2",
    );
    const locate = await ssh.runner("hv2").run(["crm_resource", "--locate", "--resource", "vm-db"]);
    expect(locate.stdout.trim()).toBe("resource vm-db is running on: hv2");
    // uname stays simulated; the cluster's programs are the real ones.
    expect((await ssh.runner("hv1").run(["uname", "-n"])).stdout.trim()).toBe("hv1");
  }, 60_000);

  it("crm_resource --move migrates a guest live through ocf:xenops:Xen (migrate_to, migrate_from)", async () => {
    expect(sim.cluster.guestLocations("web")).toEqual(["hv1"]);
    await ssh.runner("hv1").run(["crm_resource", "--move", "--resource", "vm-web", "--node", "hv2"]);
    const conf = await cibDriver.read(ssh.runner("hv1"), {
      guests: [{ name: "web", configFile: "/etc/xen/web.cfg" }],
    });
    expect(conf.guests[0]?.constraints).toEqual(
      expect.arrayContaining([{ id: "cli-prefer-vm-web", node: "hv2", score: "INFINITY" }]),
    );
    await ha.waitFor(
      "vm-web started on hv2",
      async () => {
        const v = await pacemakerDriver.view(ssh.runner("hv2")).catch(() => null);
        return (
          runningOn(v, "vm-web")?.join() === "hv2" &&
          v?.resources.find((r) => r.id === "vm-web")?.role === "Started"
        );
      },
      60_000,
    );
    expect(sim.cluster.guestLocations("web")).toEqual(["hv2"]);
    // Pacemaker's own record: a migration (migrate_to on hv1, migrate_from on hv2, then the source's
    // clean-up stop), never a start on hv2.
    const log = async (node: string) =>
      (await ha.exec(node, ["cat", "/var/log/pacemaker/pacemaker.log"])).stdout;
    expect(await log("hv1")).toMatch(/Result of migrate_to operation for vm-web on hv1: ok/);
    const hv2Log = await log("hv2");
    expect(hv2Log).toMatch(/Result of migrate_from operation for vm-web on hv2: ok/);
    expect(hv2Log).not.toMatch(/Result of start operation for vm-web on hv2/);
    const cleared = await ssh.runner("hv1").run(["crm_resource", "--clear", "--resource", "vm-web"]);
    expect(cleared.stdout).toContain("cli-prefer-vm-web");
  }, 90_000);

  it("a node that loses power is fenced through apcsmart, its guest starts on the survivor, and it returns", async () => {
    expect(sim.cluster.guestLocations("db")).toEqual(["hv2"]);
    const upsBefore = ha.node("hv2").ups.log.length;
    await ha.crash("hv2");

    // corosync loses hv2 after its token; Pacemaker fences it through the UPS on hv1's serial port,
    // then starts db (after its DRBD clone) on hv1.
    await ha.waitFor("db running on hv1", () => sim.cluster.guestLocations("db")[0] === "hv1", 60_000);
    expect(sim.cluster.guestLocations("db")).toEqual(["hv1"]);
    expect(ha.node("hv2").ups.log.slice(upsBefore)).toEqual(expect.arrayContaining(["S", "@000"]));

    const during = await snapshot();
    const hv1 = during.nodes.find((n) => n.name === "hv1");
    const view = hv1?.ha;
    expect(view?.running).toBe(true);
    expect(view?.dc).toBe("hv1");
    // Offline once fenced (unclean before: the fixtures' sequence, test/drivers/pacemaker/real-lab-2.1.5).
    expect(["offline", "unclean"]).toContain(statusOf(view, "hv2"));
    expect(view?.fenceHistory).toEqual([
      expect.objectContaining({ target: "hv2", action: "reboot", status: "success", delegate: "hv1" }),
    ]);
    expect(runningOn(view, "vm-db")).toEqual(["hv1"]);

    // The UPS's reset turns hv2 back on: it boots, corosync and Pacemaker start and it rejoins.
    // Stickiness keeps db on hv1 (no automatic failback, as the modern preset's policy).
    await ha.waitFor(
      "hv2 online again",
      async () =>
        statusOf(await pacemakerDriver.view(ssh.runner("hv1")).catch(() => null), "hv2") === "online",
      60_000,
    );
    // Its DRBD clone instances start again once its disks are UpToDate (ocf:xenops:drbd-primary).
    await ha.waitFor(
      "hv2's DRBD clone instances started",
      async () => {
        const v = await pacemakerDriver.view(ssh.runner("hv1")).catch(() => null);
        return ["drbd-web", "drbd-db"].every((id) => runningOn(v, id)?.includes("hv2"));
      },
      60_000,
    );
    const after = await snapshot();
    for (const n of after.nodes) {
      expect(n.reachable, n.name).toBe(true);
      expect(n.ha?.running, n.name).toBe(true);
      expect(statusOf(n.ha, "hv2"), n.name).toBe("online");
      expect(runningOn(n.ha, "vm-db"), n.name).toEqual(["hv1"]);
    }
  }, 120_000);

  it("xenops' stonith_admin fence driver reboots a node through Pacemaker's fencer and the UPS", async () => {
    const argv = stonithAdminDriver().fence("hv2", "reboot").argv;
    const upsBefore = ha.node("hv2").ups.log.length;
    const res = await ssh.runner("hv1").run(argv, { timeoutMs: 60_000 });
    expect(res.exitCode).toBe(0);
    expect(ha.node("hv2").ups.log.slice(upsBefore)).toEqual(expect.arrayContaining(["S", "@000"]));
    const view = await pacemakerDriver.view(ssh.runner("hv1"));
    expect(view.fenceHistory.filter((f) => f.target === "hv2" && f.status === "success")).toHaveLength(2);
    await ha.waitFor(
      "hv2 online after the reboot",
      async () =>
        statusOf(await pacemakerDriver.view(ssh.runner("hv1")).catch(() => null), "hv2") === "online",
      // The UPS's grace and off time, the boot, then corosync and Pacemaker joining: well under a
      // minute on an idle machine, more beside a busy suite.
      120_000,
    );
  }, 180_000);
});
