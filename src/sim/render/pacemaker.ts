/**
 * `crm_mon -1 --output-as=xml` of Pacemaker 2.1.9 (api-version 2.38), following
 * lib/pengine/pe_output.c, lib/pengine/native.c and lib/fencing/st_output.c of that release: XML
 * output includes every section, so node_history and (when there are events) fence_history appear.
 *
 * Resources of a simulated Xen/DRBD cluster: one fence device per node (stonith:fence_ipmilan, run
 * by another node), one promotable ocf:linbit:drbd clone per DRBD resource, one ocf:heartbeat:Xen
 * primitive per guest.
 */
import type { SimNode } from "../model";
import type { Simulation } from "../simulation";
import { ctime, pcmkTimestamp, xmlAttr } from "./format";

export const PACEMAKER_VERSION = "2.1.9-49aab998399";
const FEATURE_SET = "3.19.6";
const API_VERSION = "2.38";

interface NodeView {
  node: SimNode;
  id: number;
  online: boolean;
  unclean: boolean;
}

interface Primitive {
  id: string;
  agent: string;
  role: string;
  on: NodeView[];
}

type ResourceItem =
  | { kind: "primitive"; rsc: Primitive }
  | { kind: "clone"; id: string; instances: Primitive[] };

function attrs(pairs: [string, string | number | boolean][]): string {
  return pairs.map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`).join("");
}

function primitiveXml(p: Primitive, indent: string): string {
  const head = `${indent}<resource${attrs([
    ["id", p.id],
    ["resource_agent", p.agent],
    ["role", p.role],
    ["active", p.on.length > 0],
    ["orphaned", false],
    ["blocked", false],
    ["maintenance", false],
    ["managed", true],
    ["failed", false],
    ["failure_ignored", false],
    ["nodes_running_on", p.on.length],
  ])}`;
  if (p.on.length === 0) return `${head}/>\n`;
  const kids = p.on
    .map(
      (n) =>
        `${indent}  <node${attrs([
          ["name", n.node.name],
          ["id", n.id],
          ["cached", true],
        ])}/>\n`,
    )
    .join("");
  return `${head}>\n${kids}${indent}</resource>\n`;
}

/** Runs `fn` for each resource the cluster would report, as `observer` sees the cluster. */
function clusterResources(sim: Simulation, views: NodeView[]): ResourceItem[] {
  // Indexed once per document: a 100-node cluster has 100 views and 700 resources to place on them.
  const onlineByName = new Map<string, NodeView>();
  for (const v of views) if (v.online && !onlineByName.has(v.node.name)) onlineByName.set(v.node.name, v);
  const online = (name: string): NodeView | undefined => onlineByName.get(name);
  const items: ResourceItem[] = [];
  // Fence devices run anywhere but on their own target: the next node in order.
  views.forEach((v, i) => {
    let runner: NodeView | undefined;
    for (let k = 1; k < views.length && !runner; k++) {
      const x = views[(i + k) % views.length] as NodeView;
      if (x.online) runner = x;
    }
    items.push({
      kind: "primitive",
      rsc: {
        id: `fence-${v.node.name}`,
        agent: "stonith:fence_ipmilan",
        role: runner ? "Started" : "Stopped",
        on: runner ? [runner] : [],
      },
    });
  });
  const used = new Set(sim.state.ha.groups.flatMap((g) => g.drbd));
  for (const r of sim.state.drbd.filter((x) => used.has(x.name))) {
    const instances: Primitive[] = [];
    const stopped: Primitive[] = [];
    for (const n of r.nodes) {
      const view = online(n);
      const role = r.local[n]?.role === "Primary" ? "Promoted" : "Unpromoted";
      const p: Primitive = {
        id: `drbd-${r.name}`,
        agent: "ocf:linbit:drbd",
        role: view ? role : "Stopped",
        on: view ? [view] : [],
      };
      (view ? instances : stopped).push(p);
    }
    // crm_mon lists promoted instances first, then unpromoted, then stopped.
    instances.sort((a, b) => (a.role === b.role ? 0 : a.role === "Promoted" ? -1 : 1));
    items.push({ kind: "clone", id: `drbd-${r.name}-clone`, instances: [...instances, ...stopped] });
  }
  // Which online views hold a domain of each guest (under any of its names), in view order.
  const hosting = new Map<string, NodeView[]>();
  for (const v of views) {
    if (!v.online) continue;
    for (const d of v.node.domains) {
      if (d.guest === null) continue;
      const list = hosting.get(d.guest) ?? [];
      if (list.at(-1) !== v) list.push(v);
      hosting.set(d.guest, list);
    }
  }
  for (const g of sim.state.ha.groups) {
    // The receiving end of a migration is not "running" the resource yet.
    const m = sim.migrationOf(g.guest);
    const on = (hosting.get(g.guest) ?? []).filter((v) => !(m && m.to === v.node.name));
    items.push({
      kind: "primitive",
      rsc: { id: `vm-${g.guest}`, agent: "ocf:heartbeat:Xen", role: on.length ? "Started" : "Stopped", on },
    });
  }
  return items;
}

export interface CrmMonSections {
  /** crm_mon's --fence-history level; 0 (or the fencing section excluded) leaves fence_history out. */
  fenceHistory: number;
  /** The `operations` section: node_history. */
  operations: boolean;
}

export function renderCrmMonXml(
  sim: Simulation,
  observer: SimNode,
  request: string,
  sections: CrmMonSections = { fenceHistory: 1, operations: true },
): string {
  const { fenceHistory, operations } = sections;
  const now = sim.now();
  const views: NodeView[] = sim.state.nodes.map((n, i) => {
    const m = sim.memberStatus(observer.name, n.name);
    // Until deadtime passes, the others have not noticed a silent node.
    const online = n === observer ? true : m.alive;
    // A member lost without being fenced is UNCLEAN until fencing confirms it is down.
    const unclean = !online && !m.fencedSinceDown && n.downSince !== null && !m.alive;
    return { node: n, id: i + 1, online, unclean };
  });
  const dc = views.find((v) => v.online) ?? views[0];
  const items = clusterResources(sim, views);
  const primitives = items.flatMap((i) => (i.kind === "primitive" ? [i.rsc] : i.instances));
  const running = new Map<NodeView, Primitive[]>();
  for (const p of primitives)
    for (const v of p.on) {
      const list = running.get(v) ?? [];
      if (list.at(-1) !== p) list.push(p);
      running.set(v, list);
    }
  const runningOn = (v: NodeView): Primitive[] => running.get(v) ?? [];

  let x = `<pacemaker-result api-version="${API_VERSION}" request="${xmlAttr(request)}">\n`;
  x += "  <summary>\n";
  x += '    <stack type="corosync" pacemakerd-state="running"/>\n';
  x += `    <current_dc${attrs([
    ["present", true],
    ["version", PACEMAKER_VERSION],
    ["name", dc?.node.name ?? observer.name],
    ["id", dc?.id ?? 1],
    ["with_quorum", true],
    ["mixed_version", false],
  ])}/>\n`;
  x += `    <last_update${attrs([
    ["time", ctime(now)],
    ["origin", observer.name],
  ])}/>\n`;
  x += `    <last_change${attrs([
    ["time", ctime(sim.state.ha.lastChange)],
    ["user", "root"],
    ["client", "crm_resource"],
    ["origin", dc?.node.name ?? observer.name],
  ])}/>\n`;
  x += `    <nodes_configured number="${views.length}"/>\n`;
  x += `    <resources_configured number="${primitives.length}" disabled="0" blocked="0"/>\n`;
  x +=
    '    <cluster_options stonith-enabled="true" symmetric-cluster="true" no-quorum-policy="stop" maintenance-mode="false"' +
    ' stop-all-resources="false" stonith-timeout-ms="60000" priority-fencing-delay-ms="0"/>\n';
  x += "  </summary>\n";

  x += "  <nodes>\n";
  for (const v of views) {
    x += `    <node${attrs([
      ["name", v.node.name],
      ["id", v.id],
      ["online", v.online],
      ["standby", false],
      ["standby_onfail", false],
      ["maintenance", false],
      ["pending", false],
      ["unclean", v.unclean],
      ["health", "green"],
      ["feature_set", FEATURE_SET],
      ["shutdown", false],
      ["expected_up", v.online || v.unclean],
      ["is_dc", v === dc],
      ["resources_running", runningOn(v).length],
      ["type", "member"],
    ])}/>\n`;
  }
  x += "  </nodes>\n";

  x += "  <resources>\n";
  for (const item of items) {
    if (item.kind === "primitive") {
      x += primitiveXml(item.rsc, "    ");
      continue;
    }
    x += `    <clone${attrs([
      ["id", item.id],
      ["multi_state", true],
      ["unique", false],
      ["maintenance", false],
      ["managed", true],
      ["disabled", false],
      ["failed", false],
      ["failure_ignored", false],
    ])}>\n`;
    for (const p of item.instances) x += primitiveXml(p, "      ");
    x += "    </clone>\n";
  }
  x += "  </resources>\n";

  // Operation history: a start and a recurring monitor for everything active on each node.
  const histories = operations ? views.filter((v) => v.online && runningOn(v).length > 0) : [];
  if (histories.length > 0) {
    x += "  <node_history>\n";
    for (const v of histories) {
      x += `    <node name="${xmlAttr(v.node.name)}">\n`;
      runningOn(v).forEach((p, i) => {
        const call = 10 + 2 * i + v.id;
        const changed = ctime(sim.state.ha.lastChange);
        const monitor = p.agent.startsWith("stonith:") ? 60000 : p.role === "Promoted" ? 29000 : 31000;
        const startTask = p.role === "Promoted" ? "promote" : "start";
        x += `      <resource_history id="${xmlAttr(p.id)}" orphan="false" migration-threshold="1000000">\n`;
        x += `        <operation_history call="${call}" task="${startTask}" rc="0" rc_text="ok" last-rc-change="${changed}" exec-time="${
          40 + ((v.id * 37 + i * 11) % 900)
        }ms" queue-time="0ms"/>\n`;
        const rc = p.role === "Promoted" ? 8 : 0;
        x += `        <operation_history call="${call + 1}" task="monitor" rc="${rc}" rc_text="${rc === 8 ? "promoted" : "ok"}" interval="${monitor}ms" last-rc-change="${changed}" exec-time="${
          20 + ((v.id * 13 + i * 7) % 80)
        }ms" queue-time="0ms"/>\n`;
        x += "      </resource_history>\n";
      });
      x += "    </node>\n";
    }
    x += "  </node_history>\n";
  }

  const history = sim.state.ha.fenceHistory;
  if (fenceHistory > 0 && history.length > 0) {
    x += "  <fence_history>\n";
    // stonith_admin --history lists the newest first.
    for (const f of [...history].reverse()) {
      const a: [string, string | number | boolean][] = [
        ["action", f.action],
        ["target", f.target],
        ["client", f.client],
        ["origin", f.origin],
        ["status", f.status],
      ];
      if (f.status === "failed" && f.exitReason) a.push(["exit-reason", f.exitReason]);
      if (f.delegate) a.push(["delegate", f.delegate]);
      if (f.completedAt !== null && f.status !== "pending")
        a.push(["completed", pcmkTimestamp(f.completedAt)]);
      x += `    <fence_event${attrs(a)}/>\n`;
    }
    x += "  </fence_history>\n";
  }
  x += '  <status code="0" message="OK"/>\n';
  x += "</pacemaker-result>\n";
  return x;
}

/** crm_mon's answer to a bad option value in XML mode: the error in a document of its own, status 64. */
export function renderCrmMonUsageError(request: string, message: string): string {
  return (
    `<pacemaker-result api-version="${API_VERSION}" request="${xmlAttr(request)}">\n` +
    '  <status code="64" message="Incorrect usage">\n' +
    "    <errors>\n" +
    `      <error>${xmlAttr(message)}</error>\n` +
    "    </errors>\n" +
    "  </status>\n" +
    "</pacemaker-result>\n"
  );
}
