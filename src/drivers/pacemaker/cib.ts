/**
 * The Pacemaker CIB's configuration (`cibadmin --query --scope configuration`, or the whole
 * `cibadmin --query` document), as far as guests go: the primitives of class ocf:*:Xen and
 * ocf:*:VirtualDomain, the guest each one starts (its `xmfile`/`name` or `config` parameter, else the
 * resource id), its `allow-migrate` meta attribute (or the rsc_defaults one), and the location
 * constraints on it (`cli-prefer-*` left by `crm_resource --move`, `cli-ban-*` by `--ban`).
 *
 * Resources nest as group, clone, master (Pacemaker 1.x promotable) and bundle; a primitive may take
 * its class and attributes from a `<template>`.
 */
import { ParseError } from "../../errors";
import type { HaConfig, HaLocationConstraint, HaManagedGuest, HaResource } from "../../model";
import { type GuestRef, guestOf } from "../guest-match";
import { child, childrenNamed, memoParse, parseXml, type XmlElement } from "./xml";

export const CIB_KIND = "cib-xml";
export const CIBADMIN_QUERY = ["cibadmin", "--query", "--scope", "configuration"] as const;

export interface CibPrimitive {
  id: string;
  /** `ocf:heartbeat:Xen`, `stonith:fence_ipmilan`, ... */
  agent: string;
  params: Record<string, string>;
  meta: Record<string, string>;
  /** Enclosing groups/clones/bundles, outermost first. */
  parents: string[];
  line: number;
}

export interface Cib {
  primitives: CibPrimitive[];
  /** rsc_defaults meta attributes. */
  defaults: Record<string, string>;
  locations: (HaLocationConstraint & { rsc: string })[];
}

function nvpairs(el: XmlElement | undefined, set: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of childrenNamed(el, set))
    for (const nv of childrenNamed(s, "nvpair")) {
      const name = nv.attrs.name;
      // The first set wins, like Pacemaker's unpacking without rules.
      if (name !== undefined && !(name in out)) out[name] = nv.attrs.value ?? "";
    }
  return out;
}

function agentOf(el: XmlElement): string | null {
  const { class: cls, provider, type } = el.attrs;
  if (!cls || !type) return null;
  return provider ? `${cls}:${provider}:${type}` : `${cls}:${type}`;
}

const COLLECTIVES = new Set(["group", "clone", "master", "bundle"]);

/** The CIB's configuration; every node prints the same one, so it is remembered (memoParse). */
export function parseCib(text: string): Cib {
  return memoParse(CIB_KIND, text, parseCibOnce);
}

function parseCibOnce(text: string): Cib {
  const root = parseXml(CIB_KIND, text);
  const config = root.name === "cib" ? child(root, "configuration") : root;
  if (config?.name !== "configuration")
    throw new ParseError(CIB_KIND, root.line, `expected <cib> or <configuration>, got <${root.name}>`);
  const resources = child(config, "resources");
  const templates = new Map(childrenNamed(resources, "template").map((t) => [t.attrs.id ?? "", t]));
  const primitives: CibPrimitive[] = [];
  const walk = (el: XmlElement, parents: string[]): void => {
    if (el.name === "primitive") {
      const id = el.attrs.id;
      if (!id) throw new ParseError(CIB_KIND, el.line, "<primitive> without id");
      const tpl = el.attrs.template ? templates.get(el.attrs.template) : undefined;
      if (el.attrs.template && !tpl)
        throw new ParseError(CIB_KIND, el.line, `primitive ${id} uses unknown template ${el.attrs.template}`);
      const agent = agentOf(el) ?? (tpl ? agentOf(tpl) : null);
      if (!agent) throw new ParseError(CIB_KIND, el.line, `primitive ${id} has no class or type`);
      primitives.push({
        id,
        agent,
        params: { ...nvpairs(tpl, "instance_attributes"), ...nvpairs(el, "instance_attributes") },
        meta: { ...nvpairs(tpl, "meta_attributes"), ...nvpairs(el, "meta_attributes") },
        parents,
        line: el.line,
      });
      return;
    }
    if (COLLECTIVES.has(el.name)) for (const c of el.children) walk(c, [...parents, el.attrs.id ?? el.name]);
  };
  for (const c of resources?.children ?? []) walk(c, []);
  const locations = childrenNamed(child(config, "constraints"), "rsc_location").flatMap((l) => {
    const { id, rsc, node, score } = l.attrs;
    // Rule-based locations name no node: they do not pin a guest to one.
    if (!id || !rsc || !node) return [];
    return [{ id, rsc, node, score: score ?? l.attrs["score-attribute"] ?? "0" }];
  });
  return { primitives, defaults: nvpairs(child(config, "rsc_defaults"), "meta_attributes"), locations };
}

const GUEST_AGENT = /^ocf:[^:]+:(Xen|VirtualDomain)$/;
const ID_PREFIX = /^(vm|xen|domu|guest|kvm|res|rsc|p)[-_]/i;

function truthy(v: string | undefined): boolean | null {
  if (v === undefined) return null;
  return /^(true|yes|on|1|y)$/i.test(v.trim());
}

/** The guest a Xen/VirtualDomain resource runs, from its parameters, else its id. */
function guestOfPrimitive(
  id: string,
  params: Record<string, string>,
  guests: readonly GuestRef[],
): string | null {
  for (const key of ["name", "xmfile", "config"]) {
    const v = params[key];
    const g = v ? guestOf(v, guests) : null;
    if (g) return g;
  }
  return guestOf(id, guests) ?? guestOf(id.replace(ID_PREFIX, ""), guests);
}

export function cibToHaConfig(cib: Cib, guests: readonly GuestRef[], source: string): HaConfig {
  const out: HaManagedGuest[] = [];
  const seen = new Set<string>();
  // Positions of the location constraints naming each resource or collective.
  const locationsOf = new Map<string, number[]>();
  cib.locations.forEach((l, i) => {
    const list = locationsOf.get(l.rsc);
    if (list) list.push(i);
    else locationsOf.set(l.rsc, [i]);
  });
  for (const p of cib.primitives) {
    if (!GUEST_AGENT.test(p.agent)) continue;
    const guest = guestOfPrimitive(p.id, p.params, guests);
    if (!guest || seen.has(guest)) continue;
    seen.add(guest);
    // Constraints may name the primitive or any collective around it, in the CIB's order.
    const names = new Set([p.id, ...p.parents]);
    const mine = [...new Set([...names].flatMap((n) => locationsOf.get(n) ?? []))].sort((a, b) => a - b);
    out.push({
      guest,
      resource: p.id,
      agent: p.agent,
      preferredNode: null,
      group: [p.id],
      allowMigrate: truthy(p.meta["allow-migrate"] ?? cib.defaults["allow-migrate"]),
      constraints: mine.flatMap((i) => {
        const l = cib.locations[i];
        return l ? [{ id: l.id, node: l.node, score: l.score }] : [];
      }),
    });
  }
  return { stack: "pacemaker", source, guests: out };
}

/**
 * From crm_mon's resources alone (no parameters, no meta attributes, no constraints): the Xen and
 * VirtualDomain primitives by id. What is known when the CIB cannot be queried.
 */
export function crmMonResourcesToHaConfig(
  resources: readonly HaResource[],
  guests: readonly GuestRef[],
): HaConfig {
  const out: HaManagedGuest[] = [];
  for (const r of resources) {
    if (!r.agent || !GUEST_AGENT.test(r.agent)) continue;
    const guest = guestOfPrimitive(r.id, {}, guests);
    if (!guest || out.some((m) => m.guest === guest)) continue;
    out.push({
      guest,
      resource: r.id,
      agent: r.agent,
      preferredNode: null,
      group: [r.id],
      allowMigrate: null,
      constraints: [],
    });
  }
  return { stack: "pacemaker", source: "crm_mon", guests: out };
}
