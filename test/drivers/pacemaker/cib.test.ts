/** The CIB's guests: Xen/VirtualDomain primitives, allow-migrate, location constraints; crm_mon fallback. */
import { describe, expect, it } from "vitest";
import {
  cibToHaConfig,
  crmMonResourcesToHaConfig,
  crmMonToHaView,
  parseCib,
  parseCrmMonXml,
} from "../../../src/drivers/pacemaker";
import { ParseError } from "../../../src/errors";
import { fixture } from "../drbd9/helpers";

const GUESTS = [
  { name: "web", configFile: "/etc/xen/web.cfg" },
  { name: "mail", configFile: "/etc/xen/mail.cfg" },
  { name: "db", configFile: "/etc/xen/db.cfg" },
  { name: "dns" },
];

describe("parseCib", () => {
  const cib = parseCib(fixture("ha", "handmade-cib-2.1-xen-virtualdomain-cli-constraints.txt"));

  it("lists primitives with agents, parameters, meta attributes and enclosing collectives", () => {
    expect(cib.primitives.map((p) => [p.id, p.agent, p.parents])).toEqual([
      ["fence-hv1", "stonith:fence_ipmilan", []],
      ["drbd-web", "ocf:linbit:drbd", ["drbd-web-clone"]],
      ["vm-web", "ocf:heartbeat:Xen", []],
      ["ip-mail", "ocf:heartbeat:IPaddr2", ["g-mail"]],
      ["mail_vm", "ocf:heartbeat:VirtualDomain", ["g-mail"]],
      ["db", "ocf:heartbeat:Xen", []],
    ]);
    expect(cib.primitives[2]?.params).toEqual({ xmfile: "/etc/xen/web.cfg" });
    expect(cib.primitives[2]?.meta).toEqual({ "allow-migrate": "true" });
    expect(cib.defaults).toEqual({ "allow-migrate": "true" });
    // Rule-based locations pin nothing to a node.
    expect(cib.locations.map((l) => l.id)).toEqual(["cli-prefer-vm-web", "cli-ban-g-mail-on-hv1"]);
  });

  it("maps guests by xmfile, config path, template; allow-migrate per resource, else rsc_defaults", () => {
    const cfg = cibToHaConfig(cib, GUESTS, "cibadmin --query");
    expect(cfg.guests.map((g) => [g.guest, g.resource, g.agent, g.allowMigrate])).toEqual([
      ["web", "vm-web", "ocf:heartbeat:Xen", true],
      ["mail", "mail_vm", "ocf:heartbeat:VirtualDomain", true],
      ["db", "db", "ocf:heartbeat:Xen", false],
    ]);
    expect(cfg.guests[0]?.constraints).toEqual([{ id: "cli-prefer-vm-web", node: "hv2", score: "INFINITY" }]);
    // A ban on the group applies to the guest in it.
    expect(cfg.guests[1]?.constraints).toEqual([
      { id: "cli-ban-g-mail-on-hv1", node: "hv1", score: "-INFINITY" },
    ]);
  });

  it("reads a bare <configuration> (cibadmin --scope configuration) and refuses other roots", () => {
    const text =
      '<configuration><resources><primitive id="vm-dns" class="ocf" provider="heartbeat" type="Xen"/></resources></configuration>';
    expect(cibToHaConfig(parseCib(text), GUESTS, "x").guests.map((g) => [g.guest, g.allowMigrate])).toEqual([
      ["dns", null],
    ]);
    expect(() => parseCib("<crm_mon/>")).toThrow(ParseError);
    expect(() =>
      parseCib('<configuration><resources><primitive id="x" template="nope"/></resources></configuration>'),
    ).toThrow(/unknown template/);
  });
});

describe("crmMonResourcesToHaConfig", () => {
  it("names the Xen primitives of crm_mon XML by id (no parameters there)", () => {
    const view = crmMonToHaView(
      parseCrmMonXml(fixture("ha", "handmade-crm_mon-1.1.18-as-xml-xen-drbd-standby-unclean.txt")),
      "-",
    );
    const cfg = crmMonResourcesToHaConfig(view?.resources ?? [], [{ name: "internet" }, { name: "mail" }]);
    expect(cfg.guests.map((g) => [g.guest, g.resource, g.agent, g.allowMigrate])).toEqual([
      ["internet", "vm_internet", "ocf:heartbeat:Xen", null],
      ["mail", "vm_mail", "ocf:heartbeat:Xen", null],
    ]);
  });
});
