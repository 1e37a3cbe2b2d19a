/**
 * The simulator's configuration files and the read-only commands over them: drbdadm dump in drbdadm's
 * layout, lab edits (`!sim config`) seen by cat, sha256sum, stat, test, ip and drbdadm alike.
 */
import { describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import { modernLab, referenceLab, type SimulatedCluster, Simulation } from "../../src/sim";
import { out, run } from "./helpers";

function lab() {
  const sim = new Simulation(referenceLab());
  const directive = labDirectives({ cluster: sim } as SimulatedCluster);
  return { sim, directive };
}

describe("simulated configuration files", () => {
  it("drbdadm dump: drbdadm's layout (ipv4, padded options, quoted handlers, hosts first)", async () => {
    const { sim } = lab();
    const dump = await out(sim, "ics1", "drbdadm dump");
    expect(dump).toMatch(/^# \/etc\/drbd\.conf\n/);
    expect(dump).toContain(
      "# resource internet on ics1: not ignored, not stacked\nresource internet {\n    on ics1 {\n",
    );
    expect(dump).toContain("        address          ipv4 192.0.2.1:7788;\n");
    expect(dump).toContain('        pri-lost-after-sb "echo o > /proc/sysrq-trigger ; halt -f";\n');
    expect(dump).toContain("        after-sb-0pri    discard-least-changes;\n");
    expect(await out(sim, "ics1", "drbdadm -V")).toContain("DRBDADM_VERSION=8.2.6\n");
    const nine = new Simulation(modernLab());
    expect(await out(nine, "hv1", "drbdadm dump")).toContain(
      "# defined at /etc/drbd.d/web.res:1\nresource web {",
    );
  });

  it("!sim config replace/set/mode/delete/reset: every command sees the edit; bad edits are refused", async () => {
    const { sim, directive } = lab();
    expect(
      await directive(
        '!sim config ics2 /etc/drbd.conf replace "after-sb-0pri discard-least-changes" "after-sb-0pri disconnect"',
      ),
    ).toBe('lab: ics2:/etc/drbd.conf: "after-sb-0pri discard-least-changes" → "after-sb-0pri disconnect"');
    expect(await out(sim, "ics2", "drbdadm dump")).toContain("after-sb-0pri    disconnect;");
    expect(await out(sim, "ics1", "drbdadm dump")).toContain("after-sb-0pri    discard-least-changes;");
    await expect(directive('!sim config ics2 /etc/drbd.conf replace "no such line" "x"')).rejects.toThrow(
      /is not in ics2:\/etc\/drbd.conf/,
    );

    await directive('!sim config ics1 /etc/drbd.conf append "resource broken {"');
    const broken = await run(sim, "ics1", "drbdadm dump");
    expect(broken.exitCode).toBe(10);
    expect(broken.stderr).toMatch(/^\/etc\/drbd\.conf:\d+: Parse error: missing '\}' at the end/);
    await directive("!sim config ics1 /etc/drbd.conf reset");
    expect((await run(sim, "ics1", "drbdadm dump")).exitCode).toBe(0);

    await directive('!sim config ics1 /etc/hosts set "127.0.0.1\\tlocalhost\\n203.0.113.1\\tics1"');
    expect(await out(sim, "ics1", "cat /etc/hosts")).toBe("127.0.0.1\tlocalhost\n203.0.113.1\tics1\n");

    expect(await out(sim, "ics1", "stat -c %a /etc/ha.d/authkeys")).toBe("600\n");
    await directive("!sim config ics1 /etc/ha.d/authkeys mode 644");
    expect(await out(sim, "ics1", "stat -c %a /etc/ha.d/authkeys")).toBe("644\n");

    const before = await out(sim, "ics2", "sha256sum /etc/xen/internet");
    await directive("!sim config ics2 /etc/xen/internet delete");
    expect((await run(sim, "ics2", "test -f /etc/xen/internet")).exitCode).toBe(1);
    expect((await run(sim, "ics2", "sha256sum /etc/xen/internet")).stderr).toBe(
      "sha256sum: /etc/xen/internet: No such file or directory\n",
    );
    await directive("!sim config ics2 /etc/xen/internet reset");
    expect(await out(sim, "ics2", "sha256sum /etc/xen/internet")).toBe(before);

    await directive("!sim config ics2 /sys/class/net/eth1/operstate set down");
    expect(await out(sim, "ics2", "ip -o link show")).toMatch(
      /^3: eth1: <BROADCAST,MULTICAST> .* state DOWN /m,
    );
    await expect(directive("!sim config ics9 /etc/hosts set x")).rejects.toThrow(/unknown node ics9/);
    await expect(directive("!sim config ics1 /etc/hosts frobnicate")).rejects.toThrow(/usage: !sim config/);
  });

  it("command -v names installed programs only; brctl and ip list the bridges", async () => {
    const { sim } = lab();
    expect(await out(sim, "ics1", "command -v stonith")).toBe("/usr/sbin/stonith\n");
    expect((await run(sim, "ics1", "command -v fence_ipmilan")).exitCode).toBe(1);
    expect(await out(sim, "ics1", "brctl show")).toMatch(
      /^bridge name\tbridge id\t\tSTP enabled\tinterfaces\nxenbr0\t/,
    );
    const modern = new Simulation(modernLab());
    expect(await out(modern, "hv1", "ip -o link show type bridge")).toMatch(/^\d+: xenbr0: </);
  });
});
