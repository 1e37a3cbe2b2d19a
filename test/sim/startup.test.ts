/**
 * The simulated nodes' configuration files: haresources (reference), /etc/default/xendomains and
 * /etc/xen/auto (both), the CIB through cibadmin (modern), and the lab directives that change them.
 */
import { describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import { createFaults, modernLab, referenceLab, type SimulatedCluster } from "../../src/sim";
import { lab, out, run } from "./helpers";

describe("haresources", () => {
  it("lists each HA group on its preferred node, the domain on a continuation line, identical on both nodes", async () => {
    const sim = lab(referenceLab());
    const text = await out(sim, "ics1", "cat /etc/ha.d/haresources");
    expect(text).toMatch(/^#\n#\tThis is a list of resources/);
    expect(text.endsWith("ics2 drbddisk::internet \\\n\txendomains::internet\n")).toBe(true);
    expect(await out(sim, "ics2", "cat /etc/ha.d/haresources")).toBe(text);
  });

  it("has no line for a guest heartbeat does not manage; Pacemaker nodes have no haresources", async () => {
    const spec = referenceLab();
    const sim = lab({ ...spec, guests: (spec.guests ?? []).map((g) => ({ ...g, haManaged: false })) });
    expect(await out(sim, "ics1", "cat /etc/ha.d/haresources")).not.toMatch(/^ics/m);
    expect((await run(lab(modernLab()), "hv1", "cat /etc/ha.d/haresources")).stderr).toBe(
      "cat: /etc/ha.d/haresources: No such file or directory\n",
    );
  });
});

describe("xendomains", () => {
  it("/etc/default/xendomains as the HA guides want it; /etc/xen/auto empty for managed guests", async () => {
    const sim = lab(referenceLab());
    const defaults = await out(sim, "ics2", "cat /etc/default/xendomains");
    expect(defaults).toMatch(/^XENDOMAINS_RESTORE=false$/m);
    expect(defaults).toMatch(/^XENDOMAINS_SAVE=$/m);
    expect(defaults).toMatch(/^XENDOMAINS_AUTO=\/etc\/xen\/auto$/m);
    expect(await out(sim, "ics2", "ls -l /etc/xen/auto")).toBe("total 0\n");
    expect(await run(sim, "ics2", "cat /etc/xen/auto")).toMatchObject({
      exitCode: 1,
      stderr: "cat: /etc/xen/auto: Is a directory\n",
    });
  });

  it("lab directives link a guest and turn XENDOMAINS_RESTORE on and off", async () => {
    const sim = lab(referenceLab());
    const directive = labDirectives({
      cluster: sim,
      faults: createFaults(sim),
    } as unknown as SimulatedCluster);
    expect(await directive("!sim autostart ics1 internet on")).toBe(
      "lab: internet is linked in ics1's /etc/xen/auto (xendomains starts it there at boot)",
    );
    expect(await out(sim, "ics1", "ls -l /etc/xen/auto")).toBe(
      "total 0\nlrwxrwxrwx 1 root root 17 2008-12-13 10:00 internet -> /etc/xen/internet\n",
    );
    expect(await out(sim, "ics1", "ls /etc/xen/auto")).toBe("internet\n");
    expect(await out(sim, "ics2", "ls -l /etc/xen/auto")).toBe("total 0\n");
    await directive("!sim autostart ics1 internet off");
    expect(await out(sim, "ics1", "ls -l /etc/xen/auto")).toBe("total 0\n");

    await directive("!sim xendomainsRestore ics2 on");
    expect(await out(sim, "ics2", "cat /etc/default/xendomains")).toMatch(
      /^XENDOMAINS_SAVE=\/var\/lib\/xen\/save$[\s\S]*^XENDOMAINS_RESTORE=true$/m,
    );
    await expect(directive("!sim autostart ics1 internet maybe")).rejects.toThrow(/usage: !sim autostart/);
    await expect(directive("!sim autostart ics1 nosuchguest on")).rejects.toThrow(
      /unknown guest nosuchguest/,
    );
  });

  it("an unmanaged guest is linked on its home node", async () => {
    const spec = modernLab();
    const sim = lab({ ...spec, guests: (spec.guests ?? []).map((g) => ({ ...g, haManaged: false })) });
    expect(await out(sim, "hv1", "ls -l /etc/xen/auto")).toMatch(/ web\.cfg -> \/etc\/xen\/web\.cfg\n$/);
    expect(await out(sim, "hv2", "ls -l /etc/xen/auto")).toMatch(/ db\.cfg -> \/etc\/xen\/db\.cfg\n$/);
  });
});

describe("cibadmin", () => {
  it("answers --query (whole CIB or --scope configuration) and nothing that writes", async () => {
    const sim = lab(modernLab());
    const conf = await out(sim, "hv1", "cibadmin --query --scope configuration");
    expect(conf).toMatch(/^<configuration>\n/);
    expect(conf).toContain('<primitive id="vm-web" class="ocf" provider="heartbeat" type="Xen">');
    expect(conf).toContain(
      '<nvpair id="vm-web-instance_attributes-xmfile" name="xmfile" value="/etc/xen/web.cfg"/>',
    );
    expect(await out(sim, "hv1", "cibadmin -Q")).toMatch(
      /^<cib [^>]*>\n {2}<configuration>[\s\S]*<status\/>\n<\/cib>\n$/,
    );
    const write = await run(sim, "hv1", "cibadmin --replace --xml-file x.xml");
    expect(write.exitCode).toBe(64);
    expect((await run(lab(referenceLab()), "ics1", "cibadmin -Q")).exitCode).toBe(127);
  });

  it("cannot connect where Pacemaker does not run", async () => {
    const sim = lab(modernLab());
    const node = sim.node("hv2");
    if (node) node.haRunning = false;
    expect(await run(sim, "hv2", "cibadmin -Q")).toEqual({
      stdout: "",
      stderr:
        "Could not connect to the CIB: Transport endpoint is not connected\nInit failed, could not perform requested operations\n",
      exitCode: 102,
    });
  });
});
