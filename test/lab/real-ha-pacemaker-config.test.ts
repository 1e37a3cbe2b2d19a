/**
 * The Pacemaker real-HA lab's configuration as written (no root, no Pacemaker needed): corosync.conf
 * for two nodes on the replication link, and the CIB read back with xenops' own CIB parser.
 */
import { describe, expect, it } from "vitest";
import { cibToHaConfig, parseCib } from "../../src/drivers/pacemaker";
import { renderCib, renderCorosyncConf } from "../../src/lab/real-ha/pacemaker-config";
import type { SimHaGroup } from "../../src/sim/model";

const NODES = [
  { name: "hv1", address: "10.99.0.1" },
  { name: "hv2", address: "10.99.0.2" },
];
const group = (guest: string, home: string): SimHaGroup => ({
  id: guest,
  guest,
  home,
  owner: home,
  drbd: [guest],
});

describe("real-HA Pacemaker configuration", () => {
  it("corosync.conf: knet, the token timeout, both nodes with ids and link addresses, two_node", () => {
    const text = renderCorosyncConf("modern", NODES, { tokenMs: 2000 });
    const lines = text.split("\n").map((l) => l.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        "cluster_name: modern",
        "transport: knet",
        "token: 2000",
        "two_node: 1",
        "provider: corosync_votequorum",
        "logfile: /var/log/corosync/corosync.log",
      ]),
    );
    expect(text).toMatch(/name: hv1\n\s+nodeid: 1\n\s+ring0_addr: 10\.99\.0\.1/);
    expect(text).toMatch(/name: hv2\n\s+nodeid: 2\n\s+ring0_addr: 10\.99\.0\.2/);
  });

  it("CIB: apcsmart per node banned from its own target, DRBD clones before Xen guests at home", () => {
    const xml = renderCib(
      "modern",
      ["hv1", "hv2"],
      [
        { group: group("web", "hv1"), configFile: "/etc/xen/web.cfg" },
        { group: group("db", "hv2"), configFile: "/etc/xen/db.cfg" },
      ],
      { stonithTimeout: "60s", dcDeadtime: "5s" },
    );
    const cib = parseCib(xml);
    const byId = Object.fromEntries(cib.primitives.map((p) => [p.id, p]));
    expect(byId["fence-hv1"]).toMatchObject({
      agent: "stonith:apcsmart",
      params: { ttydev: "/dev/ttyS0", hostlist: "hv1", pcmk_host_list: "hv1" },
    });
    expect(byId["drbd-web"]?.agent).toBe("ocf:xenops:drbd-primary");
    expect(byId["vm-db"]).toMatchObject({
      agent: "ocf:xenops:Xen",
      params: { name: "db", xmfile: "/etc/xen/db.cfg" },
      meta: { "allow-migrate": "true" },
    });
    expect(cib.locations.map((l) => [l.rsc, l.node, l.score])).toEqual([
      ["fence-hv1", "hv1", "-INFINITY"],
      ["fence-hv2", "hv2", "-INFINITY"],
      ["vm-web", "hv1", "100"],
      ["vm-db", "hv2", "100"],
    ]);
    expect(xml).toContain(
      '<rsc_order id="order-drbd-db-vm-db" first="drbd-db-clone" then="vm-db" kind="Mandatory"/>',
    );
    expect(xml).toContain('name="stonith-enabled" value="true"');
    const config = cibToHaConfig(cib, [{ name: "web", configFile: "/etc/xen/web.cfg" }], "cibadmin");
    expect(config.guests.map((g) => [g.guest, g.resource, g.allowMigrate])).toEqual([
      ["web", "vm-web", true],
    ]);
  });
});
