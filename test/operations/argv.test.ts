/** The mutation builders: exact argv per toolstack and DRBD version, and hostile values refused. */
import { describe, expect, it } from "vitest";
import { atLeast84, drbdadmCommands, parseDrbdVersion } from "../../src/drivers/drbdadm";
import { drbdCommands, hypervisorCommands } from "../../src/drivers/registry";
import { xlCommands, xmCommands } from "../../src/drivers/xen/commands";

const v = (text: string) => parseDrbdVersion(`version: ${text} (api:88/proto:86-96)\n`);

describe("hypervisor commands", () => {
  it("xm migrates with --live; xl migrates live by default", () => {
    expect(xmCommands.migrateLive("internet", "ics1")).toEqual([
      "xm",
      "migrate",
      "--live",
      "internet",
      "ics1",
    ]);
    expect(xlCommands.migrateLive("web", "hv2")).toEqual(["xl", "migrate", "web", "hv2"]);
    expect(xmCommands.create("/etc/xen/internet")).toEqual(["xm", "create", "/etc/xen/internet"]);
    expect(xlCommands.create("/etc/xen/web.cfg")).toEqual(["xl", "create", "/etc/xen/web.cfg"]);
    expect(xmCommands.shutdown("internet")).toEqual(["xm", "shutdown", "internet"]);
    expect(xlCommands.destroy("web")).toEqual(["xl", "destroy", "web"]);
    expect(hypervisorCommands.xm).toBe(xmCommands);
  });

  it("refuses values that are options, several words, or paths that climb", () => {
    expect(() => xmCommands.migrateLive("--help", "ics1")).toThrow(/leading '-'/);
    expect(() => xmCommands.migrateLive("internet", "ics1 ics2")).toThrow(/one word/);
    expect(() => xmCommands.migrateLive("internet;reboot", "ics1")).toThrow(/one word/);
    expect(() => xmCommands.migrateLive("$(reboot)", "ics1")).toThrow(/one word/);
    expect(() => xmCommands.create("relative.cfg")).toThrow(/absolute path/);
    expect(() => xmCommands.create("/etc/xen/../shadow")).toThrow(/absolute path/);
  });
});

describe("DRBD commands by version", () => {
  it("reads the module version from /proc/drbd", () => {
    expect(parseDrbdVersion("version: 8.2.6 (api:88/proto:86-88)\nGIT-hash: x\n")).toEqual({
      major: 8,
      minor: 2,
      patch: 6,
      text: "8.2.6",
    });
    expect(parseDrbdVersion("version: 9.2.8 (api:2/proto:86-122)\n")).toMatchObject({ major: 9, minor: 2 });
    expect(() => parseDrbdVersion("nothing here")).toThrow(/no `version/);
  });

  it("role changes never use --force", () => {
    const d = drbdCommands[8];
    expect(d.primary("r0")).toEqual(["drbdadm", "primary", "r0"]);
    expect(d.secondary("r0")).toEqual(["drbdadm", "secondary", "r0"]);
    expect(d.connect("r0")).toEqual(["drbdadm", "connect", "r0"]);
    expect(d.disconnect("r0")).toEqual(["drbdadm", "disconnect", "r0"]);
  });

  it("discard-my-data: `drbdadm -- --discard-my-data connect` up to 8.3, `drbdadm connect --discard-my-data` from 8.4", () => {
    const d = drbdadmCommands(8);
    expect(d.connectDiscardMyData("r0", v("8.2.6"))).toEqual([
      "drbdadm",
      "--",
      "--discard-my-data",
      "connect",
      "r0",
    ]);
    expect(d.connectDiscardMyData("r0", v("8.3.13"))).toEqual([
      "drbdadm",
      "--",
      "--discard-my-data",
      "connect",
      "r0",
    ]);
    expect(d.connectDiscardMyData("r0", v("8.4.11"))).toEqual([
      "drbdadm",
      "connect",
      "--discard-my-data",
      "r0",
    ]);
    expect(drbdCommands[9].connectDiscardMyData("r0", v("9.2.8"))).toEqual([
      "drbdadm",
      "connect",
      "--discard-my-data",
      "r0",
    ]);
  });

  it("allow-two-primaries at run time only from 8.4", () => {
    const d = drbdadmCommands(8);
    expect(d.allowTwoPrimaries("r0", true, v("8.3.13"))).toBeNull();
    expect(d.allowTwoPrimaries("r0", true, v("8.4.3"))).toEqual([
      "drbdadm",
      "net-options",
      "--allow-two-primaries=yes",
      "r0",
    ]);
    expect(drbdCommands[9].allowTwoPrimaries("r0", false, v("9.1.0"))).toEqual([
      "drbdadm",
      "net-options",
      "--allow-two-primaries=no",
      "r0",
    ]);
    expect(atLeast84(v("8.4.0"))).toBe(true);
    expect(atLeast84(v("8.3.9"))).toBe(false);
  });

  it("refuses hostile resource names", () => {
    expect(() => drbdCommands[8].primary("--force")).toThrow(/leading '-'/);
    expect(() => drbdCommands[9].primary("all r0")).toThrow(/one word/);
  });
});
