/**
 * Pacemaker `crm_mon` XML, in its three shapes:
 * - `crm_mon --as-xml` / `crm_mon --output-as=xml` before 2.0.3: `<crm_mon version="1.1.x|2.0.x">`;
 * - 2.0.3 and later: `<pacemaker-result api-version="..." request="...">` ending in
 *   `<status code="0" message="OK"/>` (a failed request carries only the status, e.g. code 102 "Not
 *   connected" when the cluster does not run on the node).
 * Both hold <summary> (stack, current_dc), <nodes>, <resources>, and optionally <failures> and
 * <fence_history>. Resources nest as clone > (group >) resource, group > resource and
 * bundle > replica > resource; with --group-by-node, resources active on a node are listed inside
 * its <node> element and <resources> keeps the rest.
 *
 * Normalization to HaView:
 * - node status follows crm_mon's own text (pe_output.c node_text_status): unclean → unclean;
 *   pending → unknown; online="false" → offline; standby (or standby on-fail) → standby; otherwise
 *   online (maintenance and shutting-down nodes are still online members). A node without an
 *   online attribute is unknown.
 * - resources: one entry per primitive id and role, running on the union of the nodes of its
 *   instances (clone instances of one role merge; a promotable clone gives a Promoted entry and an
 *   Unpromoted entry). Instances not running anywhere are dropped when the same primitive runs
 *   somewhere, unless failed (they are unallocated clone slots); a primitive running nowhere gives
 *   one entry per role, e.g. Stopped.
 * - roles: Master/Slave (Pacemaker < 2.1) are read as their new names Promoted/Unpromoted.
 * - agents: `ocf::heartbeat:IPaddr2` (Pacemaker < 2.0.4) is written `ocf:heartbeat:IPaddr2`.
 * - failed: the primitive's failed="true"; failed operations (<failures>) are kept in the typed
 *   result only.
 * - dc: current_dc's name when present="true", else null.
 */
import { ParseError } from "../../errors";
import type { FenceEvent, HaNodeStatus, HaResource, HaView } from "../../model";
import { child, childrenNamed, memoParse, parseXml, type XmlElement } from "./xml";

export const CRM_MON_XML_KIND = "crm-mon-xml";

/** pacemaker-result status code of a crm_mon that could not reach the cluster (CRM_EX_DISCONNECT). */
export const CRM_EX_DISCONNECT = 102;

export interface CrmMonStatus {
  code: number;
  message: string | null;
  errors: string[];
}

export interface CrmMonDc {
  present: boolean;
  name: string | null;
  id: string | null;
  version: string | null;
  withQuorum: boolean | null;
}

export interface CrmMonNode {
  name: string;
  id: string | null;
  /** member, remote, guest, ... */
  type: string | null;
  online: boolean | null;
  standby: boolean | null;
  standbyOnFail: boolean | null;
  maintenance: boolean | null;
  pending: boolean | null;
  unclean: boolean | null;
  shutdown: boolean | null;
  expectedUp: boolean | null;
  isDc: boolean | null;
  resourcesRunning: number | null;
  status: HaNodeStatus;
}

export interface CrmMonParent {
  kind: "clone" | "group" | "bundle" | "replica";
  id: string;
}

/** One primitive instance as listed. */
export interface CrmMonResource {
  id: string;
  agent: string | null;
  role: string | null;
  targetRole: string | null;
  active: boolean | null;
  orphaned: boolean | null;
  blocked: boolean | null;
  managed: boolean | null;
  failed: boolean | null;
  failureIgnored: boolean | null;
  nodes: string[];
  /** Enclosing collective resources, outermost first. */
  parents: CrmMonParent[];
  /** The <node> it was listed under (--group-by-node), or null when listed under <resources>. */
  listedUnder: string | null;
}

export interface CrmMonFailure {
  opKey: string | null;
  node: string | null;
  task: string | null;
  exitStatus: string | null;
  exitReason: string | null;
  exitCode: number | null;
  status: string | null;
  lastRcChange: string | null;
}

export interface CrmMon {
  root: "crm_mon" | "pacemaker-result";
  /** crm_mon's version attribute, or pacemaker-result's api-version. */
  version: string | null;
  request: string | null;
  /** pacemaker-result only. */
  status: CrmMonStatus | null;
  stack: string | null;
  /** null when the summary was not printed. */
  dc: CrmMonDc | null;
  lastUpdate: string | null;
  nodes: CrmMonNode[];
  resources: CrmMonResource[];
  failures: CrmMonFailure[];
  fenceHistory: FenceEvent[];
}

/** Stands for the update's time in the remembered result; no XML attribute can hold U+FFFE. */
const LAST_UPDATE_TIME = "\uFFFExenops-last-update\uFFFE";

/** An attribute on one line, without entities: what reads the same without a parser. */
const PLAIN_ATTRIBUTE = /\s+([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"<&\n\r]*)"|'([^'<&\n\r]*)')/y;

/**
 * The attributes of `<last_update .../>` when it is a self-closing element of plain, distinct ones;
 * otherwise null. Only then may it be replaced before parsing: a malformed one must fail as it is.
 */
function plainLastUpdate(element: string): Map<string, string> | null {
  const attributes = new Map<string, string>();
  let at = "<last_update".length;
  for (;;) {
    PLAIN_ATTRIBUTE.lastIndex = at;
    const a = PLAIN_ATTRIBUTE.exec(element);
    if (!a) break;
    const name = a[1] as string;
    if (attributes.has(name)) return null;
    attributes.set(name, a[2] ?? a[3] ?? "");
    at = PLAIN_ATTRIBUTE.lastIndex;
  }
  return /^\s*\/>$/.test(element.slice(at)) ? attributes : null;
}

/**
 * crm_mon's XML. Remembered per document (memoParse) less its `<last_update>` element, which says when
 * and where crm_mon ran: the origin differs between nodes and the time between runs, and nothing else
 * does while the cluster stands still. The element is parsed as `<last_update time="PLACEHOLDER"/>`
 * and the time read from this document is put in its place, so a status that has not changed is
 * parsed once, not once per snapshot. An element that would not read back the same way without a parser
 * (entities, more than one line, not self-closing, malformed) is hashed and parsed as it is.
 */
export function parseCrmMonXml(text: string): CrmMon {
  const m = /<last_update\b[^>]*>/.exec(text.slice(0, 4_096));
  const element = m?.[0];
  const attributes = element === undefined ? null : plainLastUpdate(element);
  if (m === null || element === undefined || attributes === null)
    return memoParse(CRM_MON_XML_KIND, text, parseCrmMonXmlOnce);
  const start = m.index;
  const end = start + element.length;
  const parsed = memoParse(
    CRM_MON_XML_KIND,
    text,
    (t) => {
      try {
        return parseCrmMonXmlOnce(
          `${t.slice(0, start)}<last_update time="${LAST_UPDATE_TIME}"/>${t.slice(end)}`,
        );
      } catch (err) {
        // A document that cannot be read is reported as it is, not with the placeholder in it.
        if (err instanceof ParseError) parseCrmMonXmlOnce(t);
        throw err;
      }
    },
    { start, end },
  );
  if (parsed.lastUpdate !== LAST_UPDATE_TIME) return parsed;
  return { ...parsed, lastUpdate: attributes.get("time") ?? null };
}

function parseCrmMonXmlOnce(text: string): CrmMon {
  const root = parseXml(CRM_MON_XML_KIND, text);
  if (root.name !== "crm_mon" && root.name !== "pacemaker-result") {
    throw new ParseError(
      CRM_MON_XML_KIND,
      root.line,
      `expected <crm_mon> or <pacemaker-result>, got <${root.name}>`,
    );
  }
  const a = new Attrs(root);
  const statusEl = child(root, "status");
  const status: CrmMonStatus | null = statusEl
    ? {
        code: new Attrs(statusEl).int("code") ?? fail(statusEl, "status without code"),
        message: statusEl.attrs.message ?? null,
        errors: childrenNamed(child(statusEl, "errors"), "error").map((e) => e.text),
      }
    : null;
  const summary = child(root, "summary");
  const dcEl = summary ? child(summary, "current_dc") : undefined;
  const dcAttrs = dcEl ? new Attrs(dcEl) : null;
  const dc: CrmMonDc | null = dcAttrs
    ? {
        present: dcAttrs.bool("present") ?? false,
        name: dcAttrs.str("name"),
        id: dcAttrs.str("id"),
        version: dcAttrs.str("version"),
        withQuorum: dcAttrs.bool("with_quorum"),
      }
    : null;

  const resources: CrmMonResource[] = [];
  const nodes = childrenNamed(child(root, "nodes"), "node").map((n) => {
    const node = toNode(n);
    for (const c of n.children) collectResources(c, [], node.name, resources);
    return node;
  });
  for (const c of child(root, "resources")?.children ?? []) collectResources(c, [], null, resources);

  return {
    root: root.name,
    version: a.str(root.name === "crm_mon" ? "version" : "api-version"),
    request: a.str("request"),
    status,
    stack: summary ? (child(summary, "stack")?.attrs.type ?? null) : null,
    dc,
    lastUpdate: summary ? (child(summary, "last_update")?.attrs.time ?? null) : null,
    nodes,
    resources,
    failures: childrenNamed(child(root, "failures"), "failure").map((f) => {
      const fa = new Attrs(f);
      return {
        opKey: fa.str("op_key"),
        node: fa.str("node"),
        task: fa.str("task"),
        exitStatus: fa.str("exitstatus"),
        exitReason: fa.str("exitreason"),
        exitCode: fa.int("exitcode"),
        status: fa.str("status"),
        lastRcChange: fa.str("last-rc-change"),
      };
    }),
    fenceHistory: childrenNamed(child(root, "fence_history"), "fence_event").map((e) => {
      const ea = new Attrs(e);
      return {
        target: ea.str("target") ?? fail(e, "fence_event without target"),
        action: ea.str("action") ?? fail(e, "fence_event without action"),
        // `state` before Pacemaker 2.0.3, `status` since.
        status: ea.str("status") ?? ea.str("state") ?? "unknown",
        delegate: ea.str("delegate"),
        completed: ea.str("completed"),
      };
    }),
  };
}

function fail(el: XmlElement, message: string): never {
  throw new ParseError(CRM_MON_XML_KIND, el.line, message);
}

/** Typed attribute access; a malformed value is a ParseError at the element's line. */
class Attrs {
  constructor(private readonly el: XmlElement) {}
  str(name: string): string | null {
    return this.el.attrs[name] ?? null;
  }
  bool(name: string): boolean | null {
    const v = this.el.attrs[name];
    if (v === undefined) return null;
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    return fail(this.el, `<${this.el.name}> ${name}="${v}" is not a boolean`);
  }
  int(name: string): number | null {
    const v = this.el.attrs[name];
    if (v === undefined) return null;
    if (!/^-?\d+$/.test(v)) fail(this.el, `<${this.el.name}> ${name}="${v}" is not an integer`);
    return Number(v);
  }
}

function toNode(el: XmlElement): CrmMonNode {
  const a = new Attrs(el);
  const node = {
    name: a.str("name") ?? fail(el, "<node> without name"),
    id: a.str("id"),
    type: a.str("type"),
    online: a.bool("online"),
    standby: a.bool("standby"),
    standbyOnFail: a.bool("standby_onfail"),
    maintenance: a.bool("maintenance"),
    pending: a.bool("pending"),
    unclean: a.bool("unclean"),
    shutdown: a.bool("shutdown"),
    expectedUp: a.bool("expected_up"),
    isDc: a.bool("is_dc"),
    resourcesRunning: a.int("resources_running"),
  };
  return { ...node, status: nodeStatus(node) };
}

export function nodeStatus(n: {
  online: boolean | null;
  standby: boolean | null;
  standbyOnFail: boolean | null;
  pending: boolean | null;
  unclean: boolean | null;
}): HaNodeStatus {
  if (n.unclean) return "unclean";
  if (n.pending) return "unknown";
  if (n.online === null) return "unknown";
  if (!n.online) return "offline";
  if (n.standby || n.standbyOnFail) return "standby";
  return "online";
}

const ROLE_NAMES: Record<string, string> = { Master: "Promoted", Slave: "Unpromoted" };

export function normalizeRole(role: string | null): string | null {
  return role === null ? null : (ROLE_NAMES[role] ?? role);
}

/** `ocf::heartbeat:IPaddr2` → `ocf:heartbeat:IPaddr2`; other agents unchanged. */
export function normalizeAgent(agent: string | null): string | null {
  return agent === null ? null : agent.replace(/^([^:]+)::/, "$1:");
}

const COLLECTIVES = new Set(["clone", "group", "bundle", "replica"]);

function collectResources(
  el: XmlElement,
  parents: CrmMonParent[],
  listedUnder: string | null,
  out: CrmMonResource[],
): void {
  if (el.name === "resource") {
    const a = new Attrs(el);
    const nodes = childrenNamed(el, "node").map((n) => n.attrs.name ?? fail(n, "<node> without name"));
    const active = a.bool("active");
    // Listed under a node (group-by-node) means active there, even where no <node> child says so.
    if (listedUnder !== null && active !== false && !nodes.includes(listedUnder)) nodes.push(listedUnder);
    out.push({
      id: a.str("id") ?? fail(el, "<resource> without id"),
      agent: normalizeAgent(a.str("resource_agent")),
      role: normalizeRole(a.str("role")),
      targetRole: a.str("target_role"),
      active,
      orphaned: a.bool("orphaned"),
      blocked: a.bool("blocked"),
      managed: a.bool("managed"),
      failed: a.bool("failed"),
      failureIgnored: a.bool("failure_ignored"),
      nodes,
      parents,
      listedUnder,
    });
    return;
  }
  if (COLLECTIVES.has(el.name)) {
    const id = el.attrs.id ?? fail(el, `<${el.name}> without id`);
    const kind = el.name as CrmMonParent["kind"];
    for (const c of el.children) collectResources(c, [...parents, { kind, id }], listedUnder, out);
    return;
  }
  // Inside <node> (group-by-node) other children are not resources; inside <resources> an unknown
  // element could hide resources, so it is an error.
  if (listedUnder === null) fail(el, `unexpected <${el.name}> among resources`);
}

function toHaResources(list: readonly CrmMonResource[]): HaResource[] {
  const groups = new Map<string, HaResource>();
  for (const r of list) {
    const key = `${r.id}\u0000${r.role ?? ""}`;
    const g = groups.get(key) ?? { id: r.id, agent: r.agent, runningOn: [], role: r.role, failed: false };
    groups.set(key, g);
    g.agent ??= r.agent;
    g.failed ||= r.failed === true;
    for (const n of r.nodes) if (!g.runningOn.includes(n)) g.runningOn.push(n);
  }
  const all = [...groups.values()];
  const runsSomewhere = new Set(all.filter((g) => g.runningOn.length > 0).map((g) => g.id));
  return all.filter((g) => g.runningOn.length > 0 || g.failed || !runsSomewhere.has(g.id));
}

/**
 * The normalized view, or null when crm_mon reported an error other than "not connected" (the
 * state is then not known). "Not connected" means Pacemaker does not run on the observer.
 */
export function crmMonToHaView(crm: CrmMon, observer: string): HaView | null {
  const base: HaView = {
    stack: "pacemaker",
    observer,
    running: true,
    dc: null,
    nodes: [],
    resources: [],
    localResources: null,
    fenceHistory: [],
  };
  if (crm.status && crm.status.code !== 0) {
    return crm.status.code === CRM_EX_DISCONNECT ? { ...base, running: false } : null;
  }
  return {
    ...base,
    dc: crm.dc?.present ? crm.dc.name : null,
    nodes: crm.nodes.map((n) => ({ name: n.name, status: n.status })),
    resources: toHaResources(crm.resources),
    fenceHistory: crm.fenceHistory,
  };
}
