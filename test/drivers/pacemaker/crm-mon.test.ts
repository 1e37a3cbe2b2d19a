import { describe, expect, it } from "vitest";
import {
  crmMonToHaView,
  nodeStatus,
  normalizeAgent,
  normalizeRole,
  parseCrmMonXml,
  parsers,
} from "../../../src/drivers/pacemaker";
import { ParseError } from "../../../src/errors";
import { HaView } from "../../../src/model";
import { fixture } from "../drbd9/helpers";

function view(text: string) {
  const v = crmMonToHaView(parseCrmMonXml(text), "node01");
  if (!v) throw new Error("no view");
  HaView.parse(v);
  return v;
}

const SAP_RESOURCES = [
  { id: "test-stop", agent: "ocf:heartbeat:Dummy", runningOn: [], failed: false },
  { id: "test", agent: "ocf:heartbeat:Dummy", runningOn: ["node02"], role: "Started", failed: false },
  { id: "stonith-sbd", agent: "stonith:external/sbd", runningOn: ["node01"], role: "Started", failed: false },
  {
    id: "rsc_ip_PRD_HDB00",
    agent: "ocf:heartbeat:IPaddr2",
    runningOn: ["node01"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_SAPHana_PRD_HDB00",
    agent: "ocf:suse:SAPHana",
    runningOn: ["node01"],
    role: "Promoted",
    failed: false,
  },
  {
    id: "rsc_SAPHana_PRD_HDB00",
    agent: "ocf:suse:SAPHana",
    runningOn: ["node02"],
    role: "Unpromoted",
    failed: false,
  },
  {
    id: "rsc_SAPHanaTopology_PRD_HDB00",
    agent: "ocf:suse:SAPHanaTopology",
    runningOn: ["node01", "node02"],
    role: "Started",
    failed: false,
  },
  {
    id: "clusterfs",
    agent: "ocf:heartbeat:Filesystem",
    runningOn: ["node01", "node02"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_ip_HA1_ASCS00",
    agent: "ocf:heartbeat:IPaddr2",
    runningOn: ["node01"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_fs_HA1_ASCS00",
    agent: "ocf:heartbeat:Filesystem",
    runningOn: ["node01"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_sap_HA1_ASCS00",
    agent: "ocf:heartbeat:SAPInstance",
    runningOn: ["node01"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_ip_HA1_ERS10",
    agent: "ocf:heartbeat:IPaddr2",
    runningOn: ["node02"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_fs_HA1_ERS10",
    agent: "ocf:heartbeat:Filesystem",
    runningOn: ["node02"],
    role: "Started",
    failed: false,
  },
  {
    id: "rsc_sap_HA1_ERS10",
    agent: "ocf:heartbeat:SAPInstance",
    runningOn: ["node02"],
    role: "Started",
    failed: false,
  },
];

describe("crm_mon XML", () => {
  it("reads <crm_mon version=2.0.0> with Master/Slave roles (trento, Apache-2.0)", () => {
    const text = fixture("ha", "crm_mon-xml-2.0.0-trento-saphana-msl.txt");
    const crm = parseCrmMonXml(text);
    expect(crm).toMatchObject({
      root: "crm_mon",
      version: "2.0.0",
      status: null,
      stack: "corosync",
      dc: { present: true, name: "node01", id: "1084783375", withQuorum: true },
    });
    // The raw roles are Master/Slave; both instances sit in the msl clone.
    expect(crm.resources.filter((r) => r.id === "rsc_SAPHana_PRD_HDB00")).toMatchObject([
      { role: "Promoted", parents: [{ kind: "clone", id: "msl_SAPHana_PRD_HDB00" }], nodes: ["node01"] },
      { role: "Unpromoted", parents: [{ kind: "clone", id: "msl_SAPHana_PRD_HDB00" }], nodes: ["node02"] },
    ]);
    const v = view(text);
    expect(v).toMatchObject({ stack: "pacemaker", observer: "node01", running: true, dc: "node01" });
    expect(v.nodes).toEqual([
      { name: "node01", status: "online" },
      { name: "node02", status: "online" },
    ]);
    expect(v.resources).toEqual(SAP_RESOURCES.map((r) => ({ role: "Stopped", ...r })));
    expect(v.fenceHistory).toEqual([]);
    expect(v.localResources).toBeNull();
  });

  it("reads the 3.0.2 variant with Promoted/Unpromoted to the same view", () => {
    const v = view(fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt"));
    expect(v.resources).toEqual(SAP_RESOURCES.map((r) => ({ role: "Stopped", ...r })));
    expect(v.dc).toBe("node01");
  });

  it("reads Pacemaker 1.1 --as-xml: standby, unclean, failed member, failures, fence history", () => {
    const text = fixture("ha", "handmade-crm_mon-1.1.18-as-xml-xen-drbd-standby-unclean.txt");
    const crm = parseCrmMonXml(text);
    expect(crm.version).toBe("1.1.18");
    expect(crm.failures).toEqual([
      {
        opKey: "vm_mail_monitor_10000",
        node: "xen1",
        task: "monitor",
        exitStatus: "not running",
        exitReason: null,
        exitCode: 7,
        status: "complete",
        lastRcChange: "Tue May 14 10:44:51 2024",
      },
    ]);
    const v = view(text);
    expect(v.dc).toBe("xen1");
    expect(v.nodes).toEqual([
      { name: "xen1", status: "online" },
      { name: "xen2", status: "standby" },
      { name: "xen3", status: "unclean" },
    ]);
    expect(v.resources).toEqual([
      {
        id: "st_ipmi_xen3",
        agent: "stonith:external/ipmi",
        runningOn: ["xen1"],
        role: "Started",
        failed: false,
      },
      // The unallocated clone slot (Stopped) is dropped: the primitive runs.
      { id: "drbd_internet", agent: "ocf:linbit:drbd", runningOn: ["xen1"], role: "Promoted", failed: false },
      { id: "vm_internet", agent: "ocf:heartbeat:Xen", runningOn: ["xen1"], role: "Started", failed: false },
      { id: "ip_mail", agent: "ocf:heartbeat:IPaddr2", runningOn: ["xen1"], role: "Started", failed: false },
      { id: "vm_mail", agent: "ocf:heartbeat:Xen", runningOn: ["xen1"], role: "Started", failed: true },
    ]);
    expect(crm.resources.find((r) => r.id === "vm_mail")?.parents).toEqual([{ kind: "group", id: "g_mail" }]);
    expect(v.fenceHistory).toEqual([
      {
        target: "xen3",
        action: "reboot",
        status: "failed",
        delegate: "xen1",
        completed: "Tue May 14 10:43:30 2024",
      },
      { target: "xen3", action: "reboot", status: "pending", delegate: null, completed: null },
    ]);
  });

  it("accepts leading blank lines before the XML declaration and keeps line numbers", () => {
    const crm = parseCrmMonXml(
      '\n\n<?xml version="1.0"?>\n<crm_mon version="2.0.1">\n<nodes>\n<node name="a" online="true"/>\n</nodes>\n</crm_mon>\n',
    );
    expect(crm.nodes.map((n) => n.name)).toEqual(["a"]);
    expect(() =>
      parseCrmMonXml('\n\n<crm_mon>\n<nodes>\n<node name="a" online="maybe"/>\n</nodes>\n</crm_mon>'),
    ).toThrow(expect.objectContaining({ line: 5 }));
  });

  it("reads the not-connected error document as running: false", () => {
    const crm = parseCrmMonXml(fixture("ha", "handmade-crm_mon-not-connected.txt"));
    expect(crm.status).toEqual({
      code: 102,
      message: "Not connected",
      errors: ["crm_mon: Error: cluster is not available on this node"],
    });
    expect(crmMonToHaView(crm, "xen1")).toEqual({
      stack: "pacemaker",
      observer: "xen1",
      running: false,
      dc: null,
      nodes: [],
      resources: [],
      localResources: null,
      fenceHistory: [],
    });
  });

  it("gives no view for another crm_mon error", () => {
    const crm = parseCrmMonXml(
      '<pacemaker-result api-version="2.3"><status code="105" message="No such object"/></pacemaker-result>',
    );
    expect(crmMonToHaView(crm, "xen1")).toBeNull();
  });

  it("reads the modern fence_event status and the group-by-node layout", () => {
    const xml = `<pacemaker-result api-version="2.30" request="crm_mon -1 --output-as=xml --group-by-node">
  <summary><current_dc present="false"/></summary>
  <nodes>
    <node name="xen1" id="1" online="true" standby="false" standby_onfail="false" maintenance="true" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="false" resources_running="1" type="member">
      <resource id="vm1" resource_agent="ocf:heartbeat:Xen" role="Started" active="true" failed="false" nodes_running_on="1"/>
    </node>
    <node name="xen2" id="2" online="true" standby="false" standby_onfail="true" pending="false" unclean="false" type="member"/>
    <node name="xen3" id="3" online="false" standby="true" pending="false" unclean="false" type="member"/>
    <node name="xen4" id="4" online="false" pending="true" unclean="false" type="member"/>
    <node name="xen5" id="5" pending="false" unclean="false" type="member"/>
  </nodes>
  <resources/>
  <fence_history status="0">
    <fence_event target="xen3" action="off" client="stonith_admin.1" origin="xen1" status="failed" exit-reason="timed out" delegate="xen2" completed="2024-05-14 10:43:30.000000 +02:00"/>
  </fence_history>
  <status code="0" message="OK"/>
</pacemaker-result>`;
    const v = view(xml);
    expect(v.dc).toBeNull();
    expect(v.nodes).toEqual([
      // maintenance: still an online member.
      { name: "xen1", status: "online" },
      { name: "xen2", status: "standby" },
      // OFFLINE (standby) reads offline, as crm_mon prints it.
      { name: "xen3", status: "offline" },
      { name: "xen4", status: "unknown" },
      // No online attribute: not known.
      { name: "xen5", status: "unknown" },
    ]);
    expect(v.resources).toEqual([
      { id: "vm1", agent: "ocf:heartbeat:Xen", runningOn: ["xen1"], role: "Started", failed: false },
    ]);
    expect(v.fenceHistory).toEqual([
      {
        target: "xen3",
        action: "off",
        status: "failed",
        delegate: "xen2",
        completed: "2024-05-14 10:43:30.000000 +02:00",
      },
    ]);
  });

  it("merges instances and keeps failed instances that run nowhere", () => {
    const xml = `<crm_mon version="2.0.1"><nodes/><resources>
  <clone id="c" multi_state="false" unique="false" managed="true" failed="false">
    <resource id="r" resource_agent="ocf::pacemaker:Dummy" role="Started" active="true" failed="false"><node name="a" id="1" cached="false"/></resource>
    <resource id="r" resource_agent="ocf::pacemaker:Dummy" role="Started" active="true" failed="false"><node name="b" id="2" cached="false"/></resource>
    <resource id="r" resource_agent="ocf::pacemaker:Dummy" role="Stopped" active="false" failed="true"/>
    <resource id="r" resource_agent="ocf::pacemaker:Dummy" role="Stopped" active="false" failed="false"/>
  </clone>
  <bundle id="b" type="docker" image="x" unique="false" managed="true" failed="false">
    <replica id="0"><resource id="b-ip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" failed="false"><node name="a" id="1" cached="true"/></resource></replica>
  </bundle>
</resources></crm_mon>`;
    const crm = parseCrmMonXml(xml);
    expect(crm.resources.find((r) => r.id === "b-ip")?.parents).toEqual([
      { kind: "bundle", id: "b" },
      { kind: "replica", id: "0" },
    ]);
    expect(view(xml).resources).toEqual([
      { id: "r", agent: "ocf:pacemaker:Dummy", runningOn: ["a", "b"], role: "Started", failed: false },
      { id: "r", agent: "ocf:pacemaker:Dummy", runningOn: [], role: "Stopped", failed: true },
      { id: "b-ip", agent: "ocf:heartbeat:IPaddr2", runningOn: ["a"], role: "Started", failed: false },
    ]);
  });

  it("normalizes roles, agents and node flags", () => {
    expect(normalizeRole("Master")).toBe("Promoted");
    expect(normalizeRole("Slave")).toBe("Unpromoted");
    expect(normalizeRole("Started")).toBe("Started");
    expect(normalizeRole(null)).toBeNull();
    expect(normalizeAgent("ocf::linbit:drbd")).toBe("ocf:linbit:drbd");
    expect(normalizeAgent("stonith:external/ipmi")).toBe("stonith:external/ipmi");
    expect(normalizeAgent("systemd:haproxy")).toBe("systemd:haproxy");
    const base = { online: true, standby: false, standbyOnFail: false, pending: false, unclean: false };
    expect(nodeStatus(base)).toBe("online");
    expect(nodeStatus({ ...base, online: false, unclean: true })).toBe("unclean");
    expect(nodeStatus({ ...base, online: null })).toBe("unknown");
  });

  it.each([
    ["malformed XML", '<crm_mon version="2.0.1">\n  <nodes>\n</crm_mon>', 3],
    ["malformed XML after blank lines", '\n\n<?xml version="1.0"?>\n<crm_mon>\n<nodes>\n</crm_mon>', 6],
    ["another document", "<cib/>", 1],
    ["a non-boolean flag", '<crm_mon>\n<nodes>\n<node name="a" online="yes"/>\n</nodes>\n</crm_mon>', 3],
    [
      "an unknown element among resources",
      '<crm_mon>\n<resources>\n<set id="s"/>\n</resources>\n</crm_mon>',
      3,
    ],
    [
      "a resource without id",
      '<crm_mon>\n<resources>\n<resource role="Started"/>\n</resources>\n</crm_mon>',
      3,
    ],
    ["a status without code", '<pacemaker-result>\n  <status message="OK"/>\n</pacemaker-result>', 2],
    ["crm_mon text output", "Cluster Summary:\n  * Stack: corosync\n", 1],
    ["empty input", "", 0],
  ])("rejects %s", (_what, text, line) => {
    let err: unknown;
    try {
      parseCrmMonXml(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParseError);
    expect(err).toMatchObject({ kind: "crm-mon-xml", line });
  });

  it("is registered as the crm-mon-xml kind with JSON-friendly output", () => {
    const entry = parsers.find((p) => p.kind === "crm-mon-xml");
    const out = entry?.parse(fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt")) as {
      crmMon: unknown;
      view: { dc: string };
    };
    expect(out.view.dc).toBe("node01");
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});
