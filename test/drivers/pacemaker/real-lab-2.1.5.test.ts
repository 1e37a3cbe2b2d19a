/**
 * Real Pacemaker 2.1.5 / corosync 3.1.7 output (Debian 12), captured from the real-HA lab on the
 * modern preset (`npm run lab -- --preset modern --ha real`, src/lab/real-ha/pacemaker.ts): hv1 and
 * hv2, apcsmart fence devices, ocf:xenops:Xen guests and ocf:xenops:drbd-primary clones. The
 * sequence is one power loss of hv2: settled, hv2 unclean with its fencing pending, hv2 fenced
 * (offline, history success) with db started on hv1, hv2 rejoining (pending), and crm_mon on the
 * dead hv2 itself (102 Not connected).
 */
import { describe, expect, it } from "vitest";
import {
  cibDriver,
  cibToHaConfig,
  crmMonToHaView,
  pacemakerDriver,
  parseCib,
  parseCrmMonXml,
} from "../../../src/drivers/pacemaker";
import { HaView } from "../../../src/model";
import { fakeRunner, fixture } from "../drbd9/helpers";

const file = (name: string): string => fixture("ha", `lab-pacemaker-2.1.5-${name}.txt`);
const view = (name: string) => {
  const v = crmMonToHaView(parseCrmMonXml(file(`crm_mon-xml-${name}`)), "hv1");
  if (!v) throw new Error(`no view of ${name}`);
  return HaView.parse(v);
};
const placement = (v: HaView) => Object.fromEntries(v.resources.map((r) => [r.id, [r.role, r.runningOn]]));

describe("real Pacemaker 2.1.5 crm_mon XML from the lab", () => {
  it("settled: both members online, a DC, fence devices on the peer, guests at home", () => {
    const crm = parseCrmMonXml(file("crm_mon-xml-settled"));
    expect(crm).toMatchObject({ root: "pacemaker-result", version: "2.25", stack: "corosync" });
    expect(crm.status).toEqual({ code: 0, message: "OK", errors: [] });
    expect(crm.dc).toMatchObject({ present: true, name: "hv2", withQuorum: true });
    const v = view("settled");
    expect(v.nodes).toEqual([
      { name: "hv1", status: "online" },
      { name: "hv2", status: "online" },
    ]);
    expect(placement(v)).toEqual({
      "fence-hv1": ["Started", ["hv2"]],
      "fence-hv2": ["Started", ["hv1"]],
      "drbd-web": ["Started", ["hv1", "hv2"]],
      "drbd-db": ["Started", ["hv1", "hv2"]],
      "vm-web": ["Started", ["hv1"]],
      "vm-db": ["Started", ["hv2"]],
    });
    expect(v.resources.find((r) => r.id === "vm-web")?.agent).toBe("ocf:xenops:Xen");
    expect(v.resources.find((r) => r.id === "fence-hv1")?.agent).toBe("stonith:apcsmart");
    expect(v.fenceHistory).toEqual([]);
  });

  it("power loss: hv2 unclean (offline, still holding its resources as last known), fencing pending", () => {
    const crm = parseCrmMonXml(file("crm_mon-xml-unclean"));
    expect(crm.nodes.find((n) => n.name === "hv2")).toMatchObject({
      online: false,
      unclean: true,
      expectedUp: true,
      status: "unclean",
    });
    const v = view("unclean");
    expect(v.dc).toBe("hv1");
    expect(placement(v)["vm-db"]).toEqual(["Started", ["hv2"]]);
    // 2.1.5 writes a pending event without delegate or completion time (and extended-status="1").
    expect(v.fenceHistory).toEqual([
      { target: "hv2", action: "reboot", status: "pending", delegate: null, completed: null },
    ]);
  });

  it("fenced: hv2 offline, the reboot succeeded by hv1, db started on hv1", () => {
    const v = view("fenced");
    expect(v.nodes).toEqual([
      { name: "hv1", status: "online" },
      { name: "hv2", status: "offline" },
    ]);
    expect(placement(v)).toMatchObject({
      "fence-hv1": ["Stopped", []],
      "vm-web": ["Started", ["hv1"]],
      "vm-db": ["Started", ["hv1"]],
      "drbd-db": ["Started", ["hv1"]],
    });
    expect(v.fenceHistory).toEqual([
      {
        target: "hv2",
        action: "reboot",
        status: "success",
        delegate: "hv1",
        completed: "2026-12-04 18:30:12Z",
      },
    ]);
  });

  it("rejoining: hv2 a member again but pending (unknown) until its controller joins", () => {
    const crm = parseCrmMonXml(file("crm_mon-xml-back"));
    expect(crm.nodes.find((n) => n.name === "hv2")).toMatchObject({
      online: true,
      pending: true,
      status: "unknown",
    });
    expect(placement(view("back"))["vm-db"]).toEqual(["Started", ["hv1"]]);
  });

  it("on the node that lost power: exit 102 and the Not connected document mean running: false", async () => {
    const runner = fakeRunner(
      {
        "crm_mon -1 --output-as=xml --exclude=operations": {
          exitCode: 102,
          stdout: file("crm_mon-xml-down-hv2"),
        },
      },
      "hv2",
    );
    expect(await pacemakerDriver.view(runner)).toMatchObject({ running: false, nodes: [], observer: "hv2" });
    const crm = parseCrmMonXml(file("crm_mon-xml-down-hv2"));
    expect(crm.status).toEqual({
      code: 102,
      message: "Not connected",
      errors: [
        "error: Could not connect to launcher: Connection refused",
        "crm_mon: Connection to cluster failed: Connection refused",
      ],
    });
  });

  it("the CIB names each guest's Xen resource, allow-migrate and its home preference", async () => {
    const guests = [
      { name: "web", configFile: "/etc/xen/web.cfg" },
      { name: "db", configFile: "/etc/xen/db.cfg" },
    ];
    const config = cibToHaConfig(parseCib(file("cibadmin-configuration")), guests, "cibadmin");
    expect(config.guests.map((g) => [g.guest, g.resource, g.agent, g.allowMigrate, g.constraints])).toEqual([
      ["web", "vm-web", "ocf:xenops:Xen", true, [{ id: "location-vm-web", node: "hv1", score: "100" }]],
      ["db", "vm-db", "ocf:xenops:Xen", true, [{ id: "location-vm-db", node: "hv2", score: "100" }]],
    ]);
    const runner = fakeRunner({
      "cibadmin --query --scope configuration": { stdout: file("cibadmin-configuration") },
    });
    expect((await cibDriver.read(runner, { guests })).guests).toHaveLength(2);
  });
});
