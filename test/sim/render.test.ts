/**
 * Exact output for known states. The numbers come from the labs' fixed seeds; the layouts are the
 * real tools' format strings (see the comments in src/sim/render/*.ts).
 */
import { describe, expect, it } from "vitest";
import { modernLab, referenceLab } from "../../src/sim";
import { syncProgress826 } from "../../src/sim/render/drbd8";
import { lab, out, run } from "./helpers";

describe("xm / xl", () => {
  it("xm list: Xen 3.0.3 columns, sorted by name", async () => {
    const sim = lab(referenceLab());
    expect(await out(sim, "ics2", "xm list")).toBe(
      "Name                                      ID Mem(MiB) VCPUs State   Time(s)\n" +
        "Domain-0                                   0      512     2 r-----  18775.2\n" +
        "internet                                  11     3070     2 -b----  69285.2\n",
    );
  });

  it("xm list: header is '%-40s %3s %8s %5s %5s %9s'", async () => {
    const header = (await out(lab(referenceLab()), "ics1", "xm list")).split("\n")[0];
    const expected = `${"Name".padEnd(40)} ${"ID".padStart(3)} ${"Mem(MiB)".padStart(8)} ${"VCPUs".padStart(5)} ${"State".padStart(5)} ${"Time(s)".padStart(9)}`;
    expect(header).toBe(expected);
  });

  it("xl list: libxl columns with tabs in the header, sorted by domain ID", async () => {
    const sim = lab(modernLab());
    expect(await out(sim, "hv1", "xl list")).toBe(
      "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
        "Domain-0                                     0  2048    16     r-----   32370.5\n" +
        "web                                          8  4096     2     -b----  153276.0\n",
    );
  });

  it("xm info: '%-23s: value' in XendNode ITEM_ORDER", async () => {
    const text = await out(lab(referenceLab()), "ics2", "xm info");
    const keys = text
      .trimEnd()
      .split("\n")
      .map((l) => l.slice(0, 23).trimEnd());
    expect(keys).toEqual([
      "system",
      "host",
      "release",
      "version",
      "machine",
      "nr_cpus",
      "nr_nodes",
      "sockets_per_node",
      "cores_per_socket",
      "threads_per_core",
      "cpu_mhz",
      "hw_caps",
      "total_memory",
      "free_memory",
      "xen_major",
      "xen_minor",
      "xen_extra",
      "xen_caps",
      "xen_pagesize",
      "platform_params",
      "xen_changeset",
      "cc_compiler",
      "cc_compile_by",
      "cc_compile_domain",
      "cc_compile_date",
      "xend_config_format",
    ]);
    expect(text).toContain("host                   : ics2\n");
    // 4095 total - 512 dom0 - 3070 internet - Xen's own (41 + 2 per domain).
    expect(text).toContain("free_memory            : 468\n");
  });

  it("xl info reports the 4.17 key set including xen_version", async () => {
    const text = await out(lab(modernLab()), "hv1", "xl info");
    expect(text.startsWith("host                   : hv1\n")).toBe(true);
    expect(text).toContain("xen_version            : 4.17.3\n");
    expect(text).toContain("xen_changeset          : \n");
    expect(text.endsWith("xend_config_format     : 4\n")).toBe(true);
  });
});

describe("/proc/drbd (DRBD 8.2.6)", () => {
  it("Connected Primary/Secondary with proc_details=1 LRU lines", async () => {
    expect(await out(lab(referenceLab()), "ics2", "cat /proc/drbd")).toBe(
      "version: 8.2.6 (api:88/proto:86-88)\n" +
        "GIT-hash: 3e69822d3bb4920a8c1bfdf7d647169eba7d2eb4 build by root@ics2, 2008-07-16 08:47:59\n" +
        " 0: cs:Connected st:Primary/Secondary ds:UpToDate/UpToDate C r---\n" +
        "    ns:3520997 nr:0 dw:1419796 dr:985231 al:641 bm:26 lo:0 pe:0 ua:0 ap:0 oos:0\n" +
        "\tresync: used:0/61 hits:0 misses:0 starving:0 dirty:0 changed:0\n" +
        "\tact_log: used:34/127 hits:354949 misses:641 starving:0 dirty:0 changed:641\n",
    );
  });

  it("SyncTarget with the progress bar, sync'ed, finish and speed lines", async () => {
    const sim = lab(referenceLab());
    sim.startResync("internet", "ics2", 2 * 1024 * 1024);
    sim.tick(30000);
    const text = await out(sim, "ics1", "cat /proc/drbd");
    expect(text.split("\n").slice(2, 6).join("\n")).toBe(
      " 0: cs:SyncTarget st:Secondary/Primary ds:Inconsistent/UpToDate C r---\n" +
        "    ns:0 nr:1522919 dw:1440869 dr:6841989 al:681 bm:29 lo:0 pe:2 ua:0 ap:0 oos:1789952\n" +
        "\t[=>..................] sync'ed: 14.9% (1789952/2097152)K\n" +
        "\tfinish: 0:02:54 speed: 10,240 (10,240) K/sec",
    );
  });

  it("StandAlone after a split brain: no protocol letter, peer Unknown/DUnknown (proc_details=0)", async () => {
    const sim = lab(referenceLab({ drbdProcDetails: 0 }));
    sim.splitBrain("internet");
    expect(await out(sim, "ics1", "cat /proc/drbd")).toBe(
      "version: 8.2.6 (api:88/proto:86-88)\n" +
        "GIT-hash: 3e69822d3bb4920a8c1bfdf7d647169eba7d2eb4 build by root@ics1, 2008-07-16 08:47:59\n" +
        " 0: cs:StandAlone st:Primary/Unknown ds:UpToDate/DUnknown   r---\n" +
        "    ns:0 nr:1215479 dw:1133429 dr:6841989 al:681 bm:29 lo:0 pe:0 ua:0 ap:0 oos:4096\n",
    );
  });

  it("a gap in the minors prints one empty line, as drbd_seq_show's `hole`", async () => {
    const spec = referenceLab({ drbdProcDetails: 0 });
    spec.drbd = [...(spec.drbd ?? []), { name: "mail", minor: 3, nodes: ["ics1", "ics2"], sizeMiB: 1024 }];
    const lines = (await out(lab(spec), "ics1", "cat /proc/drbd")).split("\n");
    expect(lines[2]?.startsWith(" 0: cs:Connected")).toBe(true);
    expect(lines[4]).toBe("");
    expect(lines[5]?.startsWith(" 3: cs:Connected st:Secondary/Secondary")).toBe(true);
  });

  it("uses the kernel's integer per-mille arithmetic, MiB above 4 GiB, 8.2.6 speed grouping", () => {
    const big = syncProgress826({
      source: true,
      totalKiB: 8 * 1024 * 1024,
      leftKiB: 6 * 1024 * 1024,
      rateKiBps: 61440,
      elapsedMs: 34000,
    });
    expect(big).toBe(
      "\t[====>...............] sync'ed: 25.1% (6144/8192)M\n\tfinish: 0:01:42 speed: 61,440 (61,680) K/sec\n",
    );
    const slow = syncProgress826({
      source: true,
      totalKiB: 4096,
      leftKiB: 2048,
      rateKiBps: 800,
      elapsedMs: 2500,
    });
    // Below 4 MiB, `bits_left >> 10` is 0: the kernel reports 100% from the start.
    expect(slow).toBe(
      "\t[===================>] sync'ed:100.0% (2048/4096)K\n\tfinish: 0:00:02 speed: 800 (1,024) K/sec\n",
    );
  });

  it("DRBD 9 /proc/drbd only identifies the module", async () => {
    const text = await out(lab(modernLab()), "hv1", "cat /proc/drbd");
    expect(text).toMatch(
      /^version: 9\.2\.8 \(api:2\/proto:86-122\)\nGIT-hash: [0-9a-f]{40} build by root@hv1, .+\nTransports \(api:21\): tcp \(9\.2\.8\)\n$/,
    );
  });
});

describe("DRBD 9 status", () => {
  it("drbdadm status text, as wrap_printf lays it out", async () => {
    expect(await out(lab(modernLab()), "hv1", "drbdadm status")).toBe(
      "db role:Secondary\n" +
        "  disk:UpToDate open:no\n" +
        "  hv2 role:Primary\n" +
        "    peer-disk:UpToDate\n" +
        "\n" +
        "web role:Primary\n" +
        "  disk:UpToDate open:yes\n" +
        "  hv2 role:Secondary\n" +
        "    peer-disk:UpToDate\n" +
        "\n",
    );
  });

  it("drbdadm status while syncing and with the peer gone", async () => {
    const sim = lab(modernLab());
    sim.startResync("web", "hv1", 1024 * 1024);
    sim.tick(20000);
    expect(await out(sim, "hv2", "drbdsetup status web")).toBe(
      "web role:Secondary\n  disk:Inconsistent open:no\n  hv1 role:Primary\n    replication:SyncTarget peer-disk:UpToDate done:19.53\n\n",
    );
    sim.nodeDown("hv1");
    expect(await out(sim, "hv2", "drbdsetup status web")).toBe(
      "web role:Secondary\n  disk:Inconsistent open:no\n  hv1 connection:Connecting\n\n",
    );
  });

  it("drbdsetup status --json keeps drbdsetup's hand-written layout", async () => {
    const sim = lab(modernLab());
    sim.nodeDown("hv2");
    const text = await out(sim, "hv1", "drbdsetup status --json db");
    expect(text.startsWith('[\n{\n  "name": "db",\n  "node-id": 0,\n  "role": "Secondary",\n')).toBe(true);
    expect(text).toContain('      "connection-state": "Connecting", \n');
    expect(text).toContain(
      '          "replication-state": "Off",\n          "peer-disk-state": "DUnknown",\n',
    );
    expect(text).toContain('          "established": false\n        } ],\n      "peer_devices": [\n');
    expect(text.endsWith("        } ]\n    } ]\n}\n]\n\n")).toBe(true);
    const parsed = JSON.parse(text) as Array<{ devices: Array<{ size: number }> }>;
    expect(parsed[0]?.devices[0]?.size).toBe(100 * 1024 * 1024);
  });

  it("drbdsetup status --json reports sync details while resyncing", async () => {
    const sim = lab(modernLab());
    sim.startResync("web", "hv1", 1024 * 1024);
    sim.tick(20000);
    const [web] = JSON.parse(await out(sim, "hv1", "drbdsetup status --json web")) as Array<{
      connections: Array<{ peer_devices: Array<Record<string, unknown>> }>;
    }>;
    const pd = web?.connections[0]?.peer_devices[0];
    expect(pd?.["replication-state"]).toBe("SyncSource");
    expect(pd?.["has-sync-details"]).toBe(true);
    expect(pd?.["percent-resync-done"]).toBe(19.53);
    expect(pd?.["out-of-sync"]).toBe(1048576 - 204800);
    expect(pd?.["rs-total"]).toBe(2 * 1048576);
  });

  it("unknown resource: `NAME: No such resource`, exit 10", async () => {
    const r = await run(lab(modernLab()), "hv1", "drbdsetup status nope");
    expect(r).toEqual({ stdout: "", stderr: "nope: No such resource\n", exitCode: 10 });
  });
});

describe("crm_mon XML", () => {
  it("has the pacemaker-result 2.x shape", async () => {
    const text = await out(lab(modernLab()), "hv1", "crm_mon -1 --output-as=xml");
    expect(
      text.startsWith(
        '<pacemaker-result api-version="2.38" request="crm_mon -1 --output-as=xml">\n  <summary>\n',
      ),
    ).toBe(true);
    expect(text).toContain('    <stack type="corosync" pacemakerd-state="running"/>\n');
    expect(text).toContain(
      '    <node name="hv2" id="2" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" health="green" feature_set="3.19.6" shutdown="false" expected_up="true" is_dc="false" resources_running="4" type="member"/>\n',
    );
    expect(text).toContain(
      '    <resource id="vm-db" resource_agent="ocf:heartbeat:Xen" role="Started" active="true"',
    );
    expect(text).not.toContain("<fence_history>");
    expect(text.endsWith('  <status code="0" message="OK"/>\n</pacemaker-result>\n')).toBe(true);
  });

  it("lists fence events newest first, in st_output.c attribute order", async () => {
    const sim = lab(modernLab());
    sim.fence("hv2", "reset", { client: "stonith_admin.4242", origin: "hv1", viaFencer: true });
    const text = await out(sim, "hv1", "crm_mon -1 --output-as=xml");
    expect(text).toContain(
      '  <fence_history>\n    <fence_event action="reboot" target="hv2" client="stonith_admin.4242" origin="hv1" status="success" delegate="hv1" completed="2024-03-04 10:00:00.000000 +00:00"/>\n  </fence_history>\n',
    );
    expect(await out(sim, "hv1", "crm_mon -1 --output-as=xml --fence-history=0")).not.toContain(
      "fence_history",
    );
  });

  it("leaves out the sections --exclude names, and refuses an unknown one as crm_mon does", async () => {
    const sim = lab(modernLab());
    sim.fence("hv2", "reset", { client: "stonith_admin.4242", origin: "hv1", viaFencer: true });
    const all = await out(sim, "hv1", "crm_mon -1 --output-as=xml");
    expect(all).toContain("  <node_history>\n");
    const lean = await out(sim, "hv1", "crm_mon -1 --output-as=xml --exclude=operations");
    expect(lean).not.toContain("node_history");
    expect(lean).toContain("<fence_history>");
    // The document is the full one less the operations section (and the request it echoes).
    const without = all.replace(/ {2}<node_history>\n[\s\S]*? {2}<\/node_history>\n/, "");
    expect(lean.replace(" --exclude=operations", "")).toBe(without);
    expect(await out(sim, "hv1", "crm_mon -1 --output-as=xml --exclude=fencing")).not.toContain(
      "fence_history",
    );
    const back = await out(sim, "hv1", "crm_mon -1 --output-as=xml --exclude=all --include=operations");
    expect(back).toContain("<node_history>");

    const refused = await run(sim, "hv1", "crm_mon -1 --output-as=xml --exclude=node_history");
    expect(refused.exitCode).toBe(64);
    expect(refused.stdout).toBe(
      '<pacemaker-result api-version="2.38" request="crm_mon -1 --output-as=xml --exclude=node_history">\n' +
        '  <status code="64" message="Incorrect usage">\n    <errors>\n' +
        "      <error>crm_mon: --exclude options: all, attributes, bans, counts, dc, failcounts, failures, fencing, fencing-failed, fencing-pending, fencing-succeeded, maint-mode, nodes, none, operations, options, resources, stack, summary, tickets, times</error>\n" +
        "    </errors>\n  </status>\n</pacemaker-result>\n",
    );
  });
});
