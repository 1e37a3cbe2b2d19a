/**
 * The shared HA corpus (/work/shared/fixtures/ha; mostly GPL, read in place, never copied). Every
 * file is parsed with exact expectations (crm-mon-xml; the XML blocks of the CTS transcripts) or
 * excluded with the reason. There is no cl_status sample in the corpus (SOURCES.md "Known gaps"):
 * the cl-status kind is covered by the hand-written fixtures only. Without the shared directory:
 * skipped with the reason printed, or failing under CI.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { type CrmMon, crmMonToHaView, parseCrmMonXml } from "../../../src/drivers/pacemaker";
import { HaView } from "../../../src/model";
import { describeSharedCorpus, sharedCorpusDir } from "../../support/fixtures";
import { extractXml, splitCtsTranscript } from "../../support/transcript";

const DIR = sharedCorpusDir("ha");

const TEXT =
  "crm_mon text output: not a supported kind (only crm_mon XML is parsed; text is for humans and changes between releases)";
const SUMMARY = "crm_simulate scheduler summary (crm_mon-style text): not a supported kind";
const LOG = "cluster log lines: not a status output of any kind here";
const EXCLUDED: Record<string, string> = {
  "crm_mon-1.1.7-openais-banner-failed-actions.txt": TEXT,
  "crm_mon-2.0.1-sle15-active-resources-no-trailing-newline.txt": TEXT,
  "crm_status-1.1.12-probe-failed-elided.txt": `crm status: ${TEXT}`,
  "crm_simulate-summary-1.1.18-classic-stonith-unclean.txt": SUMMARY,
  "crm_simulate-summary-1.1.18-classic-xen-drbd-failover.txt": SUMMARY,
  "crm_simulate-summary-remote-node-unclean-fenced.txt": SUMMARY,
  "crm_simulate-summary-stonith-unclean-online-failed.txt": SUMMARY,
  "crm_simulate-summary-two-drbd-promotable-sbd.txt": SUMMARY,
  "crm_simulate-summary-xen-drbd-failover.txt": SUMMARY,
  "log-crmsh-history-stonith-ansi-colored.txt": LOG,
  "log-crmsh-history-transition-ansi.txt": LOG,
  "log-hb_report-events-rfc3339-timestamps.txt": LOG,
  "log-hb_report-events-xen-node-lost-fenced.txt": LOG,
  "log-pacemaker-1.1.7-openais-xen-dc-failover-stonith-libvirt.txt": LOG,
  "log-pacemaker-2.0-unicode-garbage.txt": LOG,
  "lrmadmin-heartbeat-lrm-rscexec-transcript.txt":
    "cluster-glue lrmadmin transcript: LRM resource agent runs, not cl_status or crm_mon",
};

function viewOf(crm: CrmMon): HaView {
  const v = crmMonToHaView(crm, "-");
  if (!v) throw new Error(`no view (status ${crm.status?.code})`);
  return HaView.parse(v);
}

const brief = (v: HaView) =>
  v.resources.map((r) => `${r.id}:${r.role}@${r.runningOn.join("+")}${r.failed ? "!" : ""}`);

const SAP = [
  "test-stop:Stopped@",
  "test:Started@node02",
  "stonith-sbd:Started@node01",
  "rsc_ip_PRD_HDB00:Started@node01",
  "rsc_SAPHana_PRD_HDB00:Promoted@node01",
  "rsc_SAPHana_PRD_HDB00:Unpromoted@node02",
  "rsc_SAPHanaTopology_PRD_HDB00:Started@node01+node02",
  "clusterfs:Started@node01+node02",
  "rsc_ip_HA1_ASCS00:Started@node01",
  "rsc_fs_HA1_ASCS00:Started@node01",
  "rsc_sap_HA1_ASCS00:Started@node01",
  "rsc_ip_HA1_ERS10:Started@node02",
  "rsc_fs_HA1_ERS10:Started@node02",
  "rsc_sap_HA1_ERS10:Started@node02",
];

const XML_FILES: Record<string, (crm: CrmMon) => void> = {
  "crm_mon-xml-2.0.0-hawk-failures-not-installed.txt": (crm) => {
    const v = viewOf(crm);
    expect(v.dc).toBe("Hawk3-1");
    expect(v.nodes).toEqual([
      { name: "Hawk3-1", status: "online" },
      { name: "Hawk3-2", status: "online" },
    ]);
    expect(brief(v)).toEqual(["d1:Started@Hawk3-1", "vip1:Started@Hawk3-2"]);
    expect(crm.failures.map((f) => [f.opKey, f.node, f.exitStatus, f.exitCode])).toEqual([
      ["ddd_start_0", "Hawk3-2", "not installed", 5],
      ["ddd_start_0", "Hawk3-1", "not installed", 5],
    ]);
    expect(crm.failures[0]?.exitReason).toBe("Setup problem: couldn't find command: /usr/bin/safe_mysqld");
    expect(v.fenceHistory).toEqual([]);
  },
  "crm_mon-xml-2.0.0-trento-saphana-msl.txt": (crm) => {
    const v = viewOf(crm);
    expect(crm.version).toBe("2.0.0");
    expect(v.dc).toBe("node01");
    expect(brief(v)).toEqual(SAP);
  },
  "crm_mon-xml-3.0.2-trento-saphana-promoted.txt": (crm) => {
    const v = viewOf(crm);
    expect(crm.version).toBe("3.0.2");
    expect(brief(v)).toEqual(SAP);
  },
  "crm_mon-xml-2.0.1-hawk-3node-fence-history.txt": (crm) => {
    const v = viewOf(crm);
    expect(v.dc).toBe("webui");
    expect(v.nodes.map((n) => `${n.name}:${n.status}`)).toEqual([
      "node1:online",
      "node2:online",
      "webui:online",
    ]);
    // Group-by-node layout: running resources come from the <node> elements.
    expect(crm.resources.filter((r) => r.listedUnder !== null)).toHaveLength(11);
    expect(brief(v)).toEqual([
      "dlm:Started@node1+node2+webui",
      "clusterfs:Started@node1+node2+webui",
      "DRBD:Unpromoted@node2",
      "DRBD:Promoted@webui",
      "proxy:Started@webui",
      "proxy-vip:Started@webui",
      "stonith-sbd:Started@webui",
      "server-instance:Stopped@",
    ]);
    expect(v.fenceHistory).toEqual([
      {
        target: "node1",
        action: "reboot",
        status: "success",
        delegate: "webui",
        completed: "Fri Mar  8 10:49:39 2019",
      },
      {
        target: "node1",
        action: "reboot",
        status: "success",
        delegate: "webui",
        completed: "Fri Mar  8 10:49:39 2019",
      },
    ]);
  },
  "crm_mon-xml-2.0.1-hawk-group-by-node-drbd-master.txt": (crm) => {
    const v = viewOf(crm);
    expect(v.nodes).toEqual([{ name: "webui", status: "online" }]);
    expect(brief(v)).toEqual([
      "proxy-vip:Started@webui",
      "proxy:Started@webui",
      "dlm:Started@webui",
      "clusterfs:Started@webui",
      "stonith-sbd:Started@webui",
      "DRBD:Promoted@webui",
      "server-instance:Started@webui",
    ]);
  },
  "crm_mon-xml-pcs-all-resources-stopped.txt": (crm) => {
    const v = viewOf(crm);
    expect(crm).toMatchObject({ root: "pacemaker-result", version: "2.30", stack: "unknown" });
    expect(v.dc).toBeNull();
    expect(v.nodes).toEqual([]);
    expect(v.resources).toHaveLength(16);
    expect(v.resources.every((r) => r.role === "Stopped" && r.runningOn.length === 0 && !r.failed)).toBe(
      true,
    );
    expect(crm.resources.find((r) => r.id === "R3")?.parents).toEqual([
      { kind: "clone", id: "G1-clone" },
      { kind: "group", id: "G1:0" },
    ]);
    expect(crm.resources.find((r) => r.id === "B1-docker-3")?.parents).toEqual([
      { kind: "bundle", id: "B1" },
      { kind: "replica", id: "3" },
    ]);
  },
  "crm_mon-xml-pcs-minimal-no-dc.txt": (crm) => {
    const v = viewOf(crm);
    expect(crm.status).toEqual({ code: 0, message: "OK", errors: [] });
    expect(v).toMatchObject({ running: true, dc: null, nodes: [], resources: [] });
  },
};

const CTS_FILES: Record<string, { tests: number; xml: number; check: (views: Map<string, HaView>) => void }> =
  {
    "crm_mon-pacemaker-2.0.4-cts-regression-text-and-xml.txt": {
      tests: 20,
      xml: 7,
      check: (views) => {
        const v = views.get("XML output");
        // The harness blanked the DC's name.
        expect(v?.dc).toBeNull();
        expect(v?.nodes.map((n) => `${n.name}:${n.status}`)).toEqual([
          "cluster01:online",
          "cluster02:online",
          "httpd-bundle-0:offline",
          "httpd-bundle-1:offline",
          "httpd-bundle-2:offline",
        ]);
        expect(v ? brief(v).slice(0, 5) : []).toEqual([
          "ping:Started@cluster02+cluster01",
          "Fencing:Started@cluster01",
          "dummy:Started@cluster02",
          "inactive-dummy:Stopped@",
          "inactive-clone:Stopped@",
        ]);
        expect(views.get("XML output without the node section")?.nodes).toEqual([]);
        expect(
          views.get("XML output of partially active resources")?.nodes.every((n) => n.status === "online"),
        ).toBe(true);
      },
    },
    "crm_mon-pacemaker-cts-regression-text-and-xml.txt": {
      tests: 80,
      xml: 30,
      check: (views) => {
        const basic = views.get("Basic output (XML)");
        expect(basic?.dc).toBe("cluster02");
        expect(basic?.nodes.map((n) => `${n.name}:${n.status}`)).toEqual([
          "cluster01:online",
          "cluster02:online",
          "httpd-bundle-0:online",
          "httpd-bundle-1:online",
          "httpd-bundle-2:offline",
        ]);
        expect(basic ? brief(basic) : []).toEqual([
          "ping:Started@cluster02+cluster01",
          "Fencing:Started@cluster01",
          "dummy:Started@cluster02",
          "inactive-dhcpd:Stopped@",
          "inactive-dummy-1:Stopped@",
          "inactive-dummy-2:Stopped@",
          "httpd-bundle-ip-192.168.122.131:Started@cluster01",
          "httpd:Started@httpd-bundle-0+httpd-bundle-1",
          "httpd-bundle-docker-0:Started@cluster01",
          "httpd-bundle-0:Started@cluster01",
          "httpd-bundle-ip-192.168.122.132:Started@cluster02",
          "httpd-bundle-docker-1:Started@cluster02",
          "httpd-bundle-1:Started@cluster02",
          "httpd-bundle-ip-192.168.122.133:Stopped@",
          "httpd-bundle-docker-2:Stopped@",
          "httpd-bundle-2:Stopped@",
          "Public-IP:Started@cluster02",
          "Email:Started@cluster02",
          "mysql-proxy:Started@cluster02+cluster01",
          "promotable-rsc:Promoted@cluster02",
          "promotable-rsc:Unpromoted@cluster01",
        ]);
        // --group-by-node lists the same state in another layout.
        const grouped = views.get("Output grouped by node (XML)");
        const canon = (v: HaView | undefined) =>
          (v?.resources ?? []).map((r) => `${r.id}:${r.role}@${[...r.runningOn].sort().join("+")}`).sort();
        expect(canon(grouped)).toEqual(canon(basic));
        expect(views.get("Output without node section (XML)")?.nodes).toEqual([]);
        expect(views.get("Output filtered by resource that doesn't exist (XML)")?.resources).toEqual([]);
        const partial = views.get("Output of partially active resources (XML)");
        expect(
          partial?.resources.filter((r) => r.failed).map((r) => `${r.id}@${r.runningOn.join("+")}`),
        ).toEqual(["httpd@httpd-bundle-0+httpd-bundle-1", "dummy-2@cluster02"]);
        const offline = views.get("Output of active unmanaged resource on offline node (XML)");
        expect(offline?.nodes).toEqual([
          { name: "cluster01", status: "online" },
          { name: "cluster02", status: "offline" },
        ]);
        expect(offline ? brief(offline) : []).toEqual([
          "Fencing:Started@cluster01",
          "rsc1:Started@cluster01",
          "rsc2:Started@cluster02",
        ]);
      },
    },
  };

describeSharedCorpus("ha")("shared HA corpus", () => {
  const files = existsSync(DIR) ? readdirSync(DIR).sort() : [];

  it("covers every file: parsed with expectations, or excluded with a reason", () => {
    const known = { ...XML_FILES, ...CTS_FILES, ...EXCLUDED };
    for (const f of files) expect(f in known, f).toBe(true);
    for (const f of Object.keys(known)) expect(files, f).toContain(f);
  });

  for (const [file, check] of Object.entries(XML_FILES)) {
    it(`parses ${file}`, () => {
      check(parseCrmMonXml(readFileSync(path.join(DIR, file), "utf8")));
    });
  }

  for (const [file, { tests, xml, check }] of Object.entries(CTS_FILES)) {
    it(`parses every XML block of ${file}`, () => {
      const all = splitCtsTranscript(readFileSync(path.join(DIR, file), "utf8"));
      expect(all).toHaveLength(tests);
      expect(all.every((t) => t.result === "OK" && t.exitCode === 0)).toBe(true);
      const views = new Map<string, HaView>();
      for (const t of all) {
        const doc = extractXml(t.body);
        // Blocks without XML are crm_mon text output: excluded, see TEXT.
        if (doc === null) continue;
        views.set(t.name, viewOf(parseCrmMonXml(doc)));
      }
      expect(views.size).toBe(xml);
      check(views);
    });
  }
});
