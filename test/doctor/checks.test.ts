/**
 * Every doctor check over real-format input: the reference lab's own configuration (as drbdadm dump,
 * cat, brctl... print it), with single lines changed for the passing, warning and failing cases.
 */
import { describe, expect, it } from "vitest";
import { runChecks } from "../../src/doctor/run";
import { type DoctorFacts, READ } from "../../src/doctor/types";
import { parseDrbdDump } from "../../src/drivers/drbd-conf";
import { modernLab, referenceLab } from "../../src/sim";
import { editConfigFile } from "../../src/sim/config-files";
import { simFile } from "../../src/sim/startup";
import { find, labFacts, readOf, withRead } from "./helpers";

const ref = () => labFacts(referenceLab());
const modern = () => labFacts(modernLab());

/** Both nodes' dump with `from` replaced by `to`. */
function dumpBoth(f: DoctorFacts, from: string | RegExp, to: string): DoctorFacts {
  for (const n of ["ics1", "ics2"])
    withRead(f, n, READ.drbdDump, readOf(f, n, READ.drbdDump).replace(from, to));
  return f;
}

const DRBD83_PROC = "version: 8.3.11 (api:88/proto:86-96)\nsrcversion: 41C52C8CD882E47FB5AF767\n";
const DRBD83_V =
  "DRBDADM_BUILDTAG=GIT-hash:\\ 0de839cee13a4160eed6037c4bddd066645e23c5\\ build\\ by\\ root@host,\\ 2011-07-19\\ 13:43:10\nDRBDADM_API_VERSION=88\nDRBD_KERNEL_VERSION_CODE=0x08030b\nDRBDADM_VERSION_CODE=0x08030b\nDRBDADM_VERSION=8.3.11\n";

describe("doctor: DRBD", () => {
  it("parses drbdadm dump (8.3 layout) with common folded in", () => {
    const conf = parseDrbdDump(`# /etc/drbd.conf
common {
    protocol               C;
    syncer {
        rate             33M;
    }
}

# resource r0 on alice: not ignored, not stacked
resource r0 {
    on alice {
        device           /dev/drbd0;
        disk             /dev/sda7;
        address          ipv4 10.1.1.31:7789;
        meta-disk        internal;
    }
    on bob {
        device           minor 0;
        disk             /dev/sda7;
        address          ipv4 10.1.1.32:7789;
        meta-disk        internal;
    }
    net {
        allow-two-primaries;
        after-sb-0pri    discard-zero-changes;
    }
    handlers {
        split-brain      "/usr/lib/drbd/notify-split-brain.sh root";
    }
}
`);
    const r = conf.resources[0]!;
    expect(r.protocol).toBe("C");
    expect(r.sections.syncer?.rate).toBe("33M");
    expect(r.sections.net).toEqual({ "allow-two-primaries": "", "after-sb-0pri": "discard-zero-changes" });
    expect(r.hosts.map((h) => [h.name, h.minor, h.address])).toEqual([
      ["alice", 0, "10.1.1.31:7789"],
      ["bob", 0, "10.1.1.32:7789"],
    ]);
    expect(() => parseDrbdDump("resource r0 {\n  net { allow-two-primaries }\n")).toThrow(/drbd-conf/);
  });

  it("drbd.config: pass when drbdadm reads its configuration, fail on its parse error", async () => {
    expect(find(await ref(), "drbd.config").status).toBe("pass");
    const f = withRead(
      await ref(),
      "ics2",
      READ.drbdDump,
      "",
      10,
      "/etc/drbd.conf:31: Parse error: 'protocol | on | disk | net' expected,\n\tbut got 'nte'\n",
    );
    const r = find(f, "drbd.config");
    expect(r.status).toBe("fail");
    expect(r.evidence.find((e) => e.node === "ics2")?.lines.join("\n")).toMatch(/Parse error/);
  });

  it("drbd.after-sb: the reference guide's discard-least-changes fails with the exact fix; disconnect passes", async () => {
    const r = find(await ref(), "drbd.after-sb", "internet");
    expect(r.status).toBe("fail");
    expect(r.summary).toMatch(/ics1: after-sb-0pri discard-least-changes/);
    expect(r.fix).toMatch(/`after-sb-0pri disconnect;`/);
    const fixed = dumpBoth(
      dumpBoth(await ref(), "discard-least-changes", "disconnect"),
      "discard-secondary",
      "disconnect",
    );
    expect(find(fixed, "drbd.after-sb", "internet").status).toBe("pass");
    // call-pri-lost-after-sb needs its handler.
    const noHandler = dumpBoth(
      dumpBoth(fixed, "after-sb-1pri    disconnect", "after-sb-1pri    call-pri-lost-after-sb"),
      /\s*pri-lost-after-sb "[^"]*";/,
      "",
    );
    expect(find(noHandler, "drbd.after-sb", "internet").summary).toMatch(/no pri-lost-after-sb handler/);
  });

  it("drbd.dual-primary: fail when the inventory expects live migration, warn without fencing, pass with it", async () => {
    expect(find(await ref(), "drbd.dual-primary", "internet").status).toBe("warn");
    const fenced = dumpBoth(
      await ref(),
      "        allow-two-primaries;\n",
      "        allow-two-primaries;\n        fencing          resource-and-stonith;\n",
    );
    dumpBoth(
      fenced,
      "    handlers {\n",
      '    handlers {\n        outdate-peer     "/usr/lib/heartbeat/drbd-peer-outdater -t 5";\n',
    );
    expect(find(fenced, "drbd.dual-primary", "internet").status).toBe("pass");
    const single = dumpBoth(await ref(), "        allow-two-primaries;\n", "");
    const r = find(single, "drbd.dual-primary", "internet");
    expect(r.status).toBe("fail");
    expect(r.fix).toMatch(/allow-two-primaries;/);
  });

  it("drbd.rr-conflict: pass unset, warn unless disconnect", async () => {
    expect(find(await ref(), "drbd.rr-conflict", "internet").status).toBe("pass");
    const f = dumpBoth(
      await ref(),
      "        after-sb-2pri    disconnect;\n",
      "        after-sb-2pri    disconnect;\n        rr-conflict      violently;\n",
    );
    expect(find(f, "drbd.rr-conflict", "internet").status).toBe("warn");
    const d = dumpBoth(
      await ref(),
      "        after-sb-2pri    disconnect;\n",
      "        after-sb-2pri    disconnect;\n        rr-conflict      disconnect;\n",
    );
    expect(find(d, "drbd.rr-conflict", "internet").status).toBe("pass");
  });

  it("drbd.sync-rate: 10M on 1 Gbit passes, 100M warns, 100M on 10 Gbit passes", async () => {
    expect(find(await ref(), "drbd.sync-rate", "internet").status).toBe("pass");
    const fast = dumpBoth(await ref(), "rate             10M;", "rate             100M;");
    const r = find(fast, "drbd.sync-rate", "internet");
    expect(r.status).toBe("warn");
    expect(r.fix).toMatch(/rate 37M/);
    withRead(fast, "ics1", READ.linkSpeed, "10000\n");
    withRead(fast, "ics2", READ.linkSpeed, "10000\n");
    expect(find(fast, "drbd.sync-rate", "internet").status).toBe("pass");
  });

  it("drbd.peers: fail when the nodes' `on` sections differ or the address is not local", async () => {
    expect(find(await ref(), "drbd.peers", "internet").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics2",
      READ.drbdDump,
      readOf(f, "ics2", READ.drbdDump).replace("192.0.2.1:7788", "192.0.2.11:7788"),
    );
    const r = find(f, "drbd.peers", "internet");
    expect(r.status).toBe("fail");
    expect(r.summary).toMatch(/differ/);
    const g = await ref();
    withRead(
      g,
      "ics1",
      READ.ipAddr,
      "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 203.0.113.1/24 brd 203.0.113.255 scope global eth0\n",
    );
    expect(find(g, "drbd.peers", "internet").summary).toMatch(
      /ics1 has no interface with its DRBD address 192.0.2.1/,
    );
  });

  it("drbd.identical: pass alike; fail when net options differ (DRBD will not connect), warn for syncer", async () => {
    expect(find(await ref(), "drbd.identical", "internet").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics2",
      READ.drbdDump,
      readOf(f, "ics2", READ.drbdDump).replace("rate             10M;", "rate             20M;"),
    );
    expect(find(f, "drbd.identical", "internet").status).toBe("warn");
    withRead(
      f,
      "ics2",
      READ.drbdDump,
      readOf(f, "ics2", READ.drbdDump).replace("discard-least-changes", "disconnect"),
    );
    const r = find(f, "drbd.identical", "internet");
    expect(r.status).toBe("fail");
    expect(r.summary).toMatch(/the net, syncer options differ/);
    expect(r.evidence.find((e) => e.node === "ics2")?.lines).toContain("net after-sb-0pri disconnect");
    // A differing shared-secret is told, never shown.
    const secret = dumpBoth(
      await ref(),
      "        allow-two-primaries;\n",
      '        allow-two-primaries;\n        shared-secret    "ics-secret-1";\n',
    );
    withRead(
      secret,
      "ics2",
      READ.drbdDump,
      readOf(secret, "ics2", READ.drbdDump).replace("ics-secret-1", "ics-secret-2"),
    );
    const s = find(secret, "drbd.identical", "internet");
    expect(s.status).toBe("fail");
    expect(JSON.stringify(s)).not.toMatch(/ics-secret/);
    expect(s.evidence[0]!.lines[0]).toMatch(/^net shared-secret \[redacted [0-9a-f]{6}\]$/);
  });

  it("drbd.disk-size: warn when the backing disks differ", async () => {
    expect(find(await ref(), "drbd.disk-size", "internet").status).toBe("pass");
    const f = withRead(await ref(), "ics2", READ.backingSize("internet"), "21474836480\n");
    expect(find(f, "drbd.disk-size", "internet").status).toBe("warn");
  });

  it("drbd.version: pass when module and tools match, warn on another release, fail on another series", async () => {
    expect(find(await ref(), "drbd.version").status).toBe("pass");
    const minor = await ref();
    for (const n of ["ics1", "ics2"])
      withRead(
        withRead(minor, n, READ.procDrbd, DRBD83_PROC),
        n,
        READ.drbdVersion,
        DRBD83_V.replace(/8\.3\.11/, "8.3.7"),
      );
    expect(find(minor, "drbd.version").status).toBe("warn");
    const f = withRead(await ref(), "ics1", READ.drbdVersion, DRBD83_V);
    const r = find(f, "drbd.version");
    expect(r.status).toBe("fail");
    expect(r.summary).toBe("ics1: module 8.2.6, drbd-utils 8.3.11");
    expect(find(await modern(), "drbd.version").status).toBe("pass");
  });
});

describe("doctor: Xen", () => {
  it("xen.relocation: pass on the guide's xend-config.sxp, fail when closed or open to all", async () => {
    expect(find(await ref(), "xen.relocation").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics2",
      READ.xenConfig,
      readOf(f, "ics2", READ.xenConfig).replace(
        "(xend-relocation-server yes)",
        "(xend-relocation-server no)",
      ),
    );
    expect(find(f, "xen.relocation").summary).toMatch(/ics2: relocation server off/);
    const g = await ref();
    withRead(g, "ics2", READ.xenConfig, readOf(g, "ics2", READ.xenConfig).replace(" ^ics1$", ""));
    const r = find(g, "xen.relocation");
    expect(r.status).toBe("fail");
    expect(r.fix).toMatch(/\^ics1\$/);
    const h = await ref();
    withRead(
      h,
      "ics1",
      READ.xenConfig,
      readOf(h, "ics1", READ.xenConfig).replace(
        /\(xend-relocation-hosts-allow '[^']*'\)/,
        "(xend-relocation-hosts-allow '')",
      ),
    );
    expect(find(h, "xen.relocation").summary).toMatch(/empty/);
    const a = await ref();
    withRead(
      a,
      "ics1",
      READ.xenConfig,
      readOf(a, "ics1", READ.xenConfig).replace(
        "(xend-relocation-address '')",
        "(xend-relocation-address '10.0.0.1')",
      ),
    );
    expect(find(a, "xen.relocation").summary).toMatch(
      /ics1: xend-relocation-address 10.0.0.1 is not one of its addresses/,
    );
    withRead(
      a,
      "ics1",
      READ.xenConfig,
      readOf(a, "ics1", READ.xenConfig).replace("'10.0.0.1'", "'192.0.2.1'"),
    );
    expect(find(a, "xen.relocation").status).toBe("pass");
  });

  it("xen.network-script: fail when the custom script is missing on a node", async () => {
    expect(find(await ref(), "xen.network-script").status).toBe("pass");
    const f = withRead(await ref(), "ics2", READ.networkScript, "", 1);
    expect(find(f, "xen.network-script").summary).toMatch(
      /ics2: network script network-bridge-vlan is missing/,
    );
  });

  it("xen.guest-config / guest-disks / bridges: pass, then fail on a differing, raw-disk, unknown-bridge config", async () => {
    const f = await ref();
    for (const id of ["xen.guest-config", "xen.guest-disks", "xen.bridges"])
      expect(find(f, id, "internet").status).toBe("pass");
    const sim = await labFacts(referenceLab(), (s) => {
      const cur = simFile(s, "ics1", "/etc/xen/internet");
      editConfigFile(
        s,
        "ics1",
        "/etc/xen/internet",
        { content: cur ?? "", mode: "644" },
        {
          op: "set",
          content: (cur ?? "")
            .replace("'drbd:internet,xvda,w'", "'phy:/dev/vg0/internet,xvda,w'")
            .replace("bridge=xenbr10", "bridge=xenbr20"),
        },
      );
    });
    expect(find(sim, "xen.guest-config", "internet").status).toBe("fail");
    expect(find(sim, "xen.guest-disks", "internet").summary).toMatch(
      /phy:\/dev\/vg0\/internet,xvda,w' is not on DRBD/,
    );
    expect(find(sim, "xen.bridges", "internet").summary).toMatch(/ics1: bridge xenbr20 does not exist/);
    const gone = withRead(
      await ref(),
      "ics2",
      READ.guestSha("internet"),
      "",
      1,
      "sha256sum: /etc/xen/internet: No such file or directory\n",
    );
    expect(find(gone, "xen.guest-config", "internet").summary).toMatch(/missing on ics2/);
  });

  it("xen.xl-conf (xl): alike passes, a differing default bridge warns and is the bridge vifs fall back to", async () => {
    const f = await modern();
    expect(find(f, "xen.xl-conf").status).toBe("pass");
    expect(runChecks(f).results.some((r) => r.id === "xen.relocation")).toBe(false);
    withRead(
      f,
      "hv2",
      READ.xenConfig,
      readOf(f, "hv2", READ.xenConfig).replace('vif.default.bridge="xenbr0"', 'vif.default.bridge="xenbr1"'),
    );
    expect(find(f, "xen.xl-conf").status).toBe("warn");
    withRead(
      f,
      "hv2",
      READ.guestConfig("web"),
      readOf(f, "hv2", READ.guestConfig("web")).replace(/, ?bridge=xenbr0/, ""),
    );
    expect(find(f, "xen.bridges", "web").summary).toBe("web: hv2: bridge xenbr1 does not exist");
  });

  it("xen.version: pass alike, warn on another release, fail on another minor", async () => {
    expect(find(await ref(), "xen.version").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics2",
      READ.xenInfo,
      readOf(f, "ics2", READ.xenInfo).replace(/xen_extra\s*:\s*\S+/, "xen_extra              : .4-1"),
    );
    expect(find(f, "xen.version").status).toBe("warn");
    withRead(
      f,
      "ics2",
      READ.xenInfo,
      readOf(f, "ics2", READ.xenInfo).replace(/xen_minor\s*:\s*\d+/, "xen_minor              : 2"),
    );
    expect(find(f, "xen.version").status).toBe("fail");
  });
});

describe("doctor: start-up and HA", () => {
  it("startup.xendomains: pass as shipped; fail for a managed guest in /etc/xen/auto or RESTORE=true", async () => {
    expect(find(await ref(), "startup.xendomains").status).toBe("pass");
    const f = withRead(
      await ref(),
      "ics1",
      READ.autoDir,
      "total 0\nlrwxrwxrwx 1 root root 17 2008-12-13 10:00 internet -> /etc/xen/internet\n",
    );
    const r = find(f, "startup.xendomains");
    expect(r.status).toBe("fail");
    expect(r.fix).toBe("on ics1: `rm /etc/xen/auto/internet`");
    const g = await ref();
    withRead(
      g,
      "ics2",
      READ.xendomains,
      readOf(g, "ics2", READ.xendomains)
        .replace("XENDOMAINS_RESTORE=false", "XENDOMAINS_RESTORE=true")
        .replace("XENDOMAINS_SAVE=\n", "XENDOMAINS_SAVE=/var/lib/xen/save\n"),
    );
    expect(find(g, "startup.xendomains").summary).toMatch(/XENDOMAINS_RESTORE=true/);
    const both = await ref();
    for (const n of ["ics1", "ics2"])
      withRead(
        both,
        n,
        READ.autoDir,
        "total 0\nlrwxrwxrwx 1 root root 17 Dec 13  2008 internet -> /etc/xen/internet\n",
      );
    expect(find(both, "startup.xendomains").summary).toMatch(
      /internet is auto-started on ics1 and ics2: two writers/,
    );
  });

  it("heartbeat.ha-cf: pass; warn on initdead too short; fail when a node line is missing", async () => {
    expect(find(await ref(), "heartbeat.ha-cf").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics1",
      READ.haCf,
      readOf(f, "ics1", READ.haCf).replace("initdead        120", "initdead        30"),
    );
    expect(find(f, "heartbeat.ha-cf").status).toBe("warn");
    withRead(f, "ics2", READ.haCf, readOf(f, "ics2", READ.haCf).replace("node            ics2\n", ""));
    const r = find(f, "heartbeat.ha-cf");
    expect(r.status).toBe("fail");
    expect(r.summary).toMatch(/ics2: its name \(uname -n: ics2\) is not a `node` line/);
  });

  it("heartbeat.stonith-hosts: fail when no stonith_host line can reset a node", async () => {
    expect(find(await ref(), "heartbeat.stonith-hosts").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics1",
      READ.haCf,
      readOf(f, "ics1", READ.haCf).replace("stonith_host ics2 apcsmart /dev/ttyS0 ics1\n", ""),
    );
    expect(find(f, "heartbeat.stonith-hosts").summary).toMatch(/reset ics1/);
  });

  it("heartbeat.haresources and authkeys: identical files and mode 600 pass; differing files or 644 fail", async () => {
    const f = await ref();
    expect(find(f, "heartbeat.haresources").status).toBe("pass");
    expect(find(f, "heartbeat.authkeys").status).toBe("pass");
    withRead(f, "ics2", READ.haresources, "ics1 drbddisk::internet xendomains::internet\n");
    withRead(f, "ics2", READ.authkeysMode, "644\n");
    expect(find(f, "heartbeat.haresources").status).toBe("fail");
    expect(find(f, "heartbeat.authkeys").summary).toMatch(/ics2: 644/);
  });

  it("pacemaker: crm_verify, stonith and two-node quorum pass on the modern lab and fail when broken", async () => {
    const f = await modern();
    for (const id of ["pacemaker.crm-verify", "pacemaker.stonith", "pacemaker.quorum"])
      expect(find(f, id).status).toBe("pass");
    withRead(
      f,
      "hv1",
      READ.crmVerify,
      "",
      1,
      "   error: unpack_resources:\tResource start-up disabled since no STONITH resources have been defined\nErrors found during check: config not valid\n",
    );
    expect(find(f, "pacemaker.crm-verify").status).toBe("fail");
    withRead(
      f,
      "hv1",
      READ.cib,
      readOf(f, "hv1", READ.cib).replace(
        'name="stonith-enabled" value="true"',
        'name="stonith-enabled" value="false"',
      ),
    );
    // The CIB is read from one node (the first that gives it): hv1's copy is the one checked.
    expect(f.nodes.find((n) => n.node === "hv2")?.reads[READ.cib]).toBeUndefined();
    expect(find(f, "pacemaker.stonith").summary).toMatch(/stonith-enabled is false/);
    withRead(
      f,
      "hv2",
      READ.corosync,
      readOf(f, "hv2", READ.corosync).replace("    two_node: 1\n", "    two_node: 1\n    wait_for_all: 0\n"),
    );
    expect(find(f, "pacemaker.quorum").status).toBe("warn");
    withRead(f, "hv1", READ.corosync, readOf(f, "hv1", READ.corosync).replace("    two_node: 1\n", ""));
    expect(find(f, "pacemaker.quorum").status).toBe("fail");
  });
});

describe("doctor: fencing and nodes", () => {
  it("fencing: the device is queried once, by the doctor; a missing program fails, a silent device fails", async () => {
    const f = await ref();
    expect(find(f, "fencing.method").status).toBe("pass");
    const d = find(f, "fencing.device");
    expect(d.status).toBe("pass");
    expect(f.fence?.shown).toBe("stonith -t apcsmart -S ttydev=/dev/ttyS0 hostlist=ics1 ics2");
    withRead(f, "ics2", READ.fenceCommand, "", 1);
    expect(find(f, "fencing.method").summary).toBe("stonith is not installed on ics2");
    const down = await labFacts(
      referenceLab({ fence: { type: "apcsmart", ttydev: "/dev/ttyS0", reachable: false } }),
    );
    expect(find(down, "fencing.device").status).toBe("fail");
    expect(find({ ...(await ref()), fence: null }, "fencing.device").status).toBe("warn");
    const none = await ref();
    none.cluster = { ...none.cluster, toolstack: { ...none.cluster.toolstack, fence: { method: "none" } } };
    expect(find(none, "fencing.method").status).toBe("fail");
  });

  it("nodes.reachable: a node that cannot be read warns, and the other node is still checked", async () => {
    expect(find(await ref(), "nodes.reachable").status).toBe("pass");
    const f = await labFacts(referenceLab(), (sim) => sim.nodeDown("ics2"));
    const r = find(f, "nodes.reachable");
    expect(r.status).toBe("warn");
    expect(r.evidence).toEqual([{ node: "ics2", lines: ["(unreachable: ics2: connection refused)"] }]);
    expect(find(f, "drbd.after-sb", "internet").evidence.map((e) => e.node)).toEqual(["ics1"]);
  });

  it("nodes.hosts: fail when a node is missing from /etc/hosts", async () => {
    expect(find(await ref(), "nodes.hosts").status).toBe("pass");
    const f = withRead(
      await ref(),
      "ics1",
      READ.hosts,
      "127.0.0.1\tlocalhost\n203.0.113.1\tics1.example.net\tics1\n",
    );
    expect(find(f, "nodes.hosts").summary).toBe("ics1: /etc/hosts does not name ics2");
  });

  it("nodes.clock: corrects for the round trip; warns over a second, fails over 30 s", async () => {
    const f = await ref();
    expect(find(f, "nodes.clock").status).toBe("pass");
    const c = f.nodes[1]!.clock!;
    f.nodes[1]!.clock = { ...c, remoteMs: c.remoteMs + 5_000 };
    expect(find(f, "nodes.clock").status).toBe("warn");
    f.nodes[1]!.clock = { ...c, remoteMs: c.remoteMs + 120_000 };
    expect(find(f, "nodes.clock").summary).toMatch(/120\.0 s apart/);
    expect(find(f, "nodes.clock").status).toBe("fail");
    // A skew smaller than the round trips cannot be told from latency.
    f.nodes[1]!.clock = { sentAt: c.sentAt, receivedAt: c.sentAt + 4_000, remoteMs: c.remoteMs + 1_500 };
    expect(find(f, "nodes.clock").status).toBe("pass");
  });

  it("nodes.replication-link: fail when the DRBD interface is down", async () => {
    expect(find(await ref(), "nodes.replication-link").status).toBe("pass");
    const f = await ref();
    withRead(
      f,
      "ics2",
      READ.ipLink,
      readOf(f, "ics2", READ.ipLink).replace(
        "3: eth1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc pfifo_fast state UP",
        "3: eth1: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc pfifo_fast state DOWN",
      ),
    );
    expect(find(f, "nodes.replication-link").summary).toBe("ics2: eth1, which carries DRBD, is down");
  });

  it("orders failures first, by area, and the modern lab passes everything", async () => {
    const report = runChecks(await ref());
    expect(report.results[0]!.status).toBe("fail");
    expect(report.counts).toEqual({ fail: 1, warn: 1, pass: report.results.length - 2 });
    expect(runChecks(await modern()).counts.fail).toBe(0);
  });
});
