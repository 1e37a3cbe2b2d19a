/** haresources: heartbeat's syntax (comments, continuations, `::` arguments) and the guests it manages. */
import { describe, expect, it } from "vitest";
import { haresourcesToHaConfig, parseHaresources } from "../../../src/drivers/heartbeat";
import { parserFor } from "../../../src/drivers/registry";
import { ParseError } from "../../../src/errors";
import { fixture } from "../drbd9/helpers";

const GUESTS = [
  { name: "internet", configFile: "/etc/xen/internet" },
  { name: "intranet", configFile: "/etc/xen/intranet.cfg" },
  { name: "wiki", configFile: "/etc/xen/wiki.cfg" },
  { name: "backup", configFile: "/etc/xen/backup.cfg" },
];

describe("parseHaresources", () => {
  const groups = parseHaresources(fixture("ha", "handmade-haresources-xen-drbd-continuation.txt"));

  it("joins continuation lines, drops comments (whole-line and trailing), keeps file order", () => {
    expect(groups.map((g) => [g.line, g.node, g.resources.map((r) => r.text)])).toEqual([
      [13, "ics2", ["drbddisk::internet", "xendomains::internet"]],
      [
        17,
        "ics1",
        [
          "192.0.2.81/24/eth0",
          "drbddisk::intranet",
          "drbddisk::intranet-data",
          "xen-guest::/etc/xen/intranet.cfg",
        ],
      ],
      [20, "ics1", ["drbddisk::wiki", "Xen::wiki", "MailTo::root@example.org::wiki"]],
      [21, "ics2", ["drbddisk::backup", "Filesystem::/dev/drbd3::/srv/backup::ext3", "nfs-kernel-server"]],
    ]);
  });

  it("splits script and arguments; a bare address is IPaddr", () => {
    expect(groups[1]?.resources[0]).toEqual({
      text: "192.0.2.81/24/eth0",
      script: "IPaddr",
      args: ["192.0.2.81/24/eth0"],
    });
    expect(groups[2]?.resources[2]).toEqual({
      text: "MailTo::root@example.org::wiki",
      script: "MailTo",
      args: ["root@example.org", "wiki"],
    });
  });

  it("maps Xen resources to guests by name or config path, never drbddisk/MailTo/Filesystem", () => {
    const cfg = haresourcesToHaConfig(groups, GUESTS);
    expect(cfg.stack).toBe("heartbeat");
    expect(cfg.source).toBe("/etc/ha.d/haresources");
    expect(cfg.guests.map((g) => [g.guest, g.resource, g.preferredNode])).toEqual([
      ["internet", "xendomains::internet", "ics2"],
      ["intranet", "xen-guest::/etc/xen/intranet.cfg", "ics1"],
      ["wiki", "Xen::wiki", "ics1"],
    ]);
    expect(cfg.guests[0]?.group).toEqual(["drbddisk::internet", "xendomains::internet"]);
    // backup's group has its DRBD disk and file system, but nothing starts a domain.
    expect(cfg.guests.some((g) => g.guest === "backup")).toBe(false);
  });

  it("a comment ends a line even after a backslash; an empty file has no groups", () => {
    expect(
      parseHaresources("ics1 drbddisk::a \\ # not continued\nics2 drbddisk::b\n").map((g) => g.node),
    ).toEqual(["ics1", "ics2"]);
    expect(parseHaresources("# nothing\n\n")).toEqual([]);
  });

  it("refuses a node without resources and a bad node name, with the line", () => {
    expect(() => parseHaresources("# c\nics1\n")).toThrow(ParseError);
    expect(() => parseHaresources("\n\n::bad drbddisk::x\n")).toThrow(
      expect.objectContaining({ line: 3 }) as unknown as Error,
    );
  });

  it("is a parser kind (xenops parse haresources)", () => {
    expect(parserFor("haresources")?.parse("ics1 xendomains::a\n")).toEqual([
      { line: 1, node: "ics1", resources: [{ text: "xendomains::a", script: "xendomains", args: ["a"] }] },
    ]);
  });
});
