/**
 * The cluster manager's guests and xendomains' boot-time start, read by takeSnapshot over real SSH
 * from the simulated labs (haresources and /etc/default/xendomains on the reference lab, the CIB on
 * the modern one), and the status warnings they lead to, down to the status card.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { takeSnapshot } from "../../src/cluster/snapshot";
import { renderStatusCard } from "../../src/cluster/status-card";
import { ClusterConfig } from "../../src/config/schema";
import { driversFor } from "../../src/drivers/registry";
import type { ClusterState, NodeState } from "../../src/model";
import {
  ManualClock,
  modernLab,
  referenceLab,
  type SimClusterSpecInput,
  type SimulatedCluster,
  startSimulatedCluster,
} from "../../src/sim";
import { SshPool } from "../../src/ssh/pool";

const logger = pino({ level: "silent" });

let sim: SimulatedCluster | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function snapshot(
  spec: SimClusterSpecInput,
): Promise<{ lab: SimulatedCluster; take(): Promise<ClusterState> }> {
  sim = await startSimulatedCluster(spec, { clock: new ManualClock(Date.UTC(2024, 2, 4, 10)) });
  const lab = sim;
  const config = ClusterConfig.parse(lab.toClusterConfig("/dev/null", { commandTimeoutMs: 2_000 }));
  const inv = lab.inventory();
  return {
    lab,
    async take() {
      const pool = new SshPool({
        nodes: inv.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          port: n.port,
          user: n.user,
          privateKey: inv.privateKey,
          hostKeyPin: n.hostKey,
        })),
        logger,
      });
      try {
        return await takeSnapshot(config, {
          runnerFor: (node) => pool.runner(node),
          drivers: driversFor(config.toolstack),
          logger,
        });
      } finally {
        await pool.close();
      }
    },
  };
}

function node(state: ClusterState, name: string): NodeState {
  const n = state.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no ${name}`);
  return n;
}

const cardText = (state: ClusterState) => JSON.stringify(renderStatusCard(state).main.blocks);

describe("HA configuration and xendomains in the snapshot", () => {
  it("reference lab: haresources manages internet; /etc/xen/auto empty, no restore: no warning", async () => {
    const { take } = await snapshot(referenceLab());
    const state = await take();
    for (const name of ["ics1", "ics2"]) {
      const n = node(state, name);
      expect(n.haConfigError).toBeNull();
      expect(n.haConfig?.source).toBe("/etc/ha.d/haresources");
      expect(n.haConfig?.guests).toEqual([
        {
          guest: "internet",
          resource: "xendomains::internet",
          agent: "xendomains",
          preferredNode: "ics2",
          group: ["drbddisk::internet", "xendomains::internet"],
          allowMigrate: null,
          constraints: [],
        },
      ]);
      expect(n.startupError).toBeNull();
      expect(n.startup).toEqual({
        configFile: "/etc/default/xendomains",
        autoDir: "/etc/xen/auto",
        auto: [],
        restore: false,
        save: "",
      });
    }
    expect(state.warnings.filter((w) => w.kind.startsWith("guest_autostart"))).toEqual([]);
  });

  it("warns when xendomains would start internet on both nodes behind heartbeat, and on XENDOMAINS_RESTORE", async () => {
    const { lab, take } = await snapshot(referenceLab());
    lab.faults.autostart("ics1", "internet", true);
    lab.faults.autostart("ics2", "internet", true);
    lab.faults.xendomainsRestore("ics1", true);
    const state = await take();
    expect(node(state, "ics1").startup?.auto).toEqual([
      { name: "internet", target: "/etc/xen/internet", guest: "internet" },
    ]);
    const w = state.warnings.filter((x) => x.kind.startsWith("guest_autostart"));
    expect(w.map((x) => [x.kind, x.node, x.guest])).toEqual([
      ["guest_autostart_two_nodes", null, "internet"],
      ["guest_autostart_ha_managed", "ics1", "internet"],
      ["guest_autostart_ha_managed", "ics2", "internet"],
      ["guest_autostart_ha_managed", "ics1", null],
    ]);
    expect(w[0]?.message).toBe(
      "internet is in /etc/xen/auto/internet on ics1 and /etc/xen/auto/internet on ics2: xendomains starts it on every one of them at boot (two writers on one disk)",
    );
    expect(w[1]?.message).toMatch(
      /^internet is in \/etc\/xen\/auto\/internet on ics1, but heartbeat manages it \(xendomains::internet in \/etc\/ha\.d\/haresources\).*remove \/etc\/xen\/auto\/internet$/,
    );
    expect(w[3]?.message).toMatch(/XENDOMAINS_RESTORE=true, XENDOMAINS_SAVE=\/var\/lib\/xen\/save/);
    // The status card shows them.
    const card = cardText(state);
    expect(card).toContain("xendomains starts it on every one of them at boot");
    expect(card).toContain("set XENDOMAINS_RESTORE=false and XENDOMAINS_SAVE=");
    // And what each node starts at boot, in its own block.
    expect(card).toContain(
      "Boot (xendomains): /etc/xen/auto: internet · restores the guests saved in /var/lib/xen/save (XENDOMAINS_RESTORE=true)",
    );

    // Back to the guide's configuration: no warning.
    lab.faults.autostart("ics1", "internet", false);
    lab.faults.autostart("ics2", "internet", false);
    lab.faults.xendomainsRestore("ics1", false);
    expect((await take()).warnings.filter((x) => x.kind.startsWith("guest_autostart"))).toEqual([]);
  });

  it("an unmanaged guest linked on its home node only is fine; on two nodes it is not", async () => {
    const spec = referenceLab();
    const { lab, take } = await snapshot({
      ...spec,
      guests: (spec.guests ?? []).map((g) => ({ ...g, haManaged: false })),
    });
    const first = await take();
    expect(node(first, "ics1").haConfig?.guests).toEqual([]);
    expect(node(first, "ics2").startup?.auto.map((a) => a.guest)).toEqual(["internet"]);
    expect(first.warnings.filter((x) => x.kind.startsWith("guest_autostart"))).toEqual([]);
    lab.faults.autostart("ics1", "internet", true);
    expect((await take()).warnings.map((x) => x.kind)).toContain("guest_autostart_two_nodes");
  });

  it("modern lab: the CIB's Xen primitives, allow-migrate and cli-* constraints (cibadmin --query)", async () => {
    const { lab, take } = await snapshot(modernLab());
    lab.cluster.state.ha.locations = [
      { id: "cli-ban-vm-db-on-hv1", rsc: "vm-db", node: "hv1", score: "-INFINITY" },
    ];
    const state = await take();
    const cfg = node(state, "hv1").haConfig;
    expect(cfg?.stack).toBe("pacemaker");
    expect(cfg?.source).toBe("cibadmin --query --scope configuration");
    expect(cfg?.guests.map((g) => [g.guest, g.resource, g.agent, g.allowMigrate])).toEqual([
      ["web", "vm-web", "ocf:heartbeat:Xen", true],
      ["db", "vm-db", "ocf:heartbeat:Xen", true],
    ]);
    expect(cfg?.guests[1]?.constraints).toEqual([
      { id: "location-vm-db-hv2-50", node: "hv2", score: "50" },
      { id: "cli-ban-vm-db-on-hv1", node: "hv1", score: "-INFINITY" },
    ]);
    expect(node(state, "hv2").startup?.auto).toEqual([]);
  });

  it("an unreadable haresources is unknown (with its error), not 'manages nothing'", async () => {
    const { lab, take } = await snapshot(referenceLab());
    lab.faults.unreachable("ics1");
    const state = await take();
    expect(node(state, "ics1").haConfig).toBeNull();
    expect(node(state, "ics1").haConfigError?.code).toMatch(/^ssh_/);
    expect(node(state, "ics2").haConfig?.guests.map((g) => g.guest)).toEqual(["internet"]);
  });
});
