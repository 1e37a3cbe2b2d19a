/**
 * The `/xen` modal (operations from a phone), front-end independent: which fields an action has, which
 * choices are valid (from the inventory and the last stored facts, never SSH), the modal view, the
 * typed command a filled form stands for, and the checks of typed confirmations on submit.
 *
 * Submitting never acts by itself: the form is turned into the exact text of the typed command and
 * goes through the same command core (same parsing, role check and idempotency).
 */
import { createHash } from "node:crypto";
import type { FormField, FormPreflight, FormState, FormValues } from "../chat/types";
import type { ClusterConfig, InventoryConfig } from "../config/schema";
import { describeAction } from "../events/actions";
import type { Facts } from "../events/facts";
import type { IncidentAction } from "../events/types";

export const FORM_CALLBACK_ID = "xenops-form";
/** Prefix of the modal's own action ids (selects with dispatch_action, the preflight button). */
export const FORM_ACTION_PREFIX = "xenops-form:";
export const FORM_PREFLIGHT_ACTION = `${FORM_ACTION_PREFIX}preflight`;

export const FORM_ACTIONS = [
  { id: "status", label: "Status" },
  { id: "migrate", label: "Migrate a guest" },
  { id: "create", label: "Start (create) a guest" },
  { id: "fence", label: "Fence a node" },
  { id: "evacuate", label: "Evacuate a node" },
  { id: "attest-off", label: "Attest a node is off" },
  { id: "drbd-watch", label: "Watch a DRBD resync" },
  { id: "approve", label: "Approve a request (typed confirmation)" },
  // Only from a split-brain incident's button: its recovery has no typed verb.
  { id: "recover", label: "Recover a split brain (keep one side's data)" },
] as const;
export type FormAction = (typeof FORM_ACTIONS)[number]["id"];

/** Risky actions: they have a dry run, shown in the modal before submitting. */
const RISKY: ReadonlySet<FormAction> = new Set([
  "migrate",
  "create",
  "fence",
  "evacuate",
  "attest-off",
  "recover",
]);

const FIELDS = new Set<string>([
  "action",
  "cluster",
  "subject",
  "guest",
  "target",
  "node",
  "resource",
  "override_last_copy",
  "options",
  "request",
  "confirm",
  "incident",
]);

export function isFormField(name: string): name is FormField {
  return FIELDS.has(name);
}

export interface Choice {
  value: string;
  label: string;
}

export interface FormContext {
  inventory: InventoryConfig;
  /** Last stored facts per cluster (the events monitor's); null when none yet. */
  facts: ReadonlyMap<string, Facts | null>;
  /**
   * The open incident whose button opened the form, as stored (its id and the actions its message offers
   * now); null or absent when there is none or it no longer offers anything.
   */
  incident?: { id: string; cluster: string; actions: readonly IncidentAction[] } | null;
}

/** The fields a form for `action` shows, in order. */
export function fieldsOf(action: FormAction | undefined): FormField[] {
  switch (action) {
    case "status":
      return ["subject"];
    case "migrate":
      return ["guest", "target", "options"];
    case "create":
      return ["guest", "target", "options"];
    case "fence":
      return ["node", "override_last_copy", "options", "confirm"];
    case "evacuate":
      return ["node", "options"];
    case "attest-off":
      return ["node", "options", "confirm"];
    case "drbd-watch":
      return ["resource"];
    case "approve":
      return ["request", "confirm"];
    case "recover":
      return ["resource", "target", "options", "confirm"];
    default:
      return [];
  }
}

/** Fields typed rather than chosen. */
const TEXT_FIELDS: ReadonlySet<FormField> = new Set(["confirm", "request"]);
/** An approval request's id, as on its card. */
const REQUEST_ID = /^[A-Za-z0-9_-]{8,64}$/;
/** An incident's id, as in its buttons. */
const INCIDENT_ID = /^[A-Za-z0-9_-]{8,32}$/;

export function clustersIn(inventory: InventoryConfig, channelId: string): ClusterConfig[] {
  return inventory.clusters.filter((c) => c.channels.includes(channelId));
}

function words(v: string | undefined): string[] {
  return (v ?? "").split(/\s+/).filter(Boolean);
}

function holders(cluster: ClusterConfig, resource: string): string[] {
  const r = cluster.drbd.find((x) => x.name === resource);
  return r?.nodes ?? cluster.nodes.map((n) => n.name);
}

/** Nodes that hold every DRBD resource of the guest (every node for a guest without DRBD disks). */
function guestHolders(cluster: ClusterConfig, guest: string): string[] {
  const g = cluster.guests.find((x) => x.name === guest);
  const all = cluster.nodes.map((n) => n.name);
  if (!g) return [];
  return all.filter((n) => g.drbd.every((r) => holders(cluster, r).includes(n)));
}

/** Where the stored facts last saw the guest; null when a node's domains are unknown. */
function runsOn(facts: Facts | null, guest: string): string[] | null {
  if (!facts) return null;
  const out: string[] = [];
  for (const [node, f] of Object.entries(facts.nodes)) {
    if (f.guests === null) return null;
    if (f.guests.includes(guest) || f.migrating.includes(guest)) out.push(node);
  }
  return out;
}

/** The valid choices of a field, given what is chosen so far. */
export function choicesOf(
  field: FormField,
  values: FormValues,
  cluster: ClusterConfig | null,
  facts: Facts | null,
  offered: readonly IncidentAction[] = [],
): Choice[] {
  if (field === "action")
    return FORM_ACTIONS.filter((a) => a.id !== "recover" || offered.some((o) => o.kind === "keep_data")).map(
      (a) => ({ value: a.id, label: a.label }),
    );
  if (!cluster) return [];
  const nodes = cluster.nodes.map((n) => n.name);
  const action = values.action as FormAction | undefined;
  switch (field) {
    case "subject":
      return [
        ...nodes.map((n) => ({ value: n, label: `node ${n}` })),
        ...cluster.guests.map((g) => ({ value: g.name, label: `guest ${g.name}` })),
      ];
    case "guest":
      return cluster.guests
        .filter((g) => {
          // The guests the incident names are offered as its button offers them; the preflight checks.
          if (offeredGuests(action, offered).has(g.name)) return true;
          const on = runsOn(facts, g.name);
          // Migrate: a guest that runs on exactly one node; create: one seen running nowhere.
          if (on === null) return true;
          return action === "migrate" ? on.length === 1 : on.length === 0;
        })
        .map((g) => ({ value: g.name, label: g.name }));
    case "target": {
      if (action === "recover") {
        // Keep the data of a side the split-brain incident offers to keep.
        const keep = offered.flatMap((o) =>
          o.kind === "keep_data" && o.resource === values.resource ? [o.survivor] : [],
        );
        return nodes
          .filter((n) => keep.includes(n))
          .map((n) => ({ value: n, label: `${n} (keep its data)` }));
      }
      const guests = words(values.guest);
      const guest = guests[0];
      if (!guest) return [];
      // Nodes seen running one of them are no target; a node whose domains are unknown is left to the
      // preflight.
      const on = facts
        ? Object.entries(facts.nodes)
            .filter(([, f]) => guests.some((g) => f.guests?.includes(g) || f.migrating.includes(g)))
            .map(([n]) => n)
        : [];
      // The node the incident's button names for these guests is offered as the button offers it.
      const named = offered.flatMap((o) =>
        (action === "create" && o.kind === "start_guests") || (action === "migrate" && o.kind === "failback")
          ? guests.every((g) => o.guests.includes(g))
            ? [o.kind === "start_guests" ? o.survivor : o.node]
            : []
          : [],
      );
      const home = guests.length === 1 ? cluster.guests.find((g) => g.name === guest)?.home : undefined;
      return nodes
        .filter(
          (n) =>
            named.includes(n) ||
            (guests.every((g) => guestHolders(cluster, g).includes(n)) && !on.includes(n)),
        )
        .map((n) => ({ value: n, label: n === home ? `${n} (home)` : n }));
    }
    case "node": {
      if (action !== "attest-off" || !facts) return nodes.map((n) => ({ value: n, label: n }));
      // Attesting a node off is refused while it answers: offer the ones that did not at the last look.
      return nodes
        .filter((n) => facts.nodes[n]?.reachable !== true)
        .map((n) => ({ value: n, label: `${n} (not answering)` }));
    }
    case "resource":
      return cluster.drbd
        .filter(
          (r) => action !== "recover" || offered.some((o) => o.kind === "keep_data" && o.resource === r.name),
        )
        .map((r) => ({ value: r.name, label: r.name }));
    case "override_last_copy": {
      const node = values.node;
      if (!node) return [];
      return cluster.drbd
        .filter((r) => holders(cluster, r.name).includes(node))
        .map((r) => ({ value: r.name, label: `${r.name} may lose its only UpToDate copy` }));
    }
    case "options": {
      const out: Choice[] = [];
      if (action && RISKY.has(action)) out.push({ value: "dry-run", label: "Dry run only (nothing runs)" });
      if (action === "migrate" || action === "create" || action === "evacuate")
        out.push({ value: "override-ha", label: "Bypass the HA manager (--override-ha)" });
      return out;
    }
    default:
      return [];
  }
}

/** Drops choices that are no longer valid (another action, cluster or guest was chosen). */
export function normalize(values: FormValues, ctx: FormContext, channelId: string): FormValues {
  const here = clustersIn(ctx.inventory, channelId);
  const out: FormValues = {};
  const action = FORM_ACTIONS.find((a) => a.id === values.action)?.id;
  if (action) out.action = action;
  const cluster =
    here.find((c) => c.name === values.cluster) ?? (here.length === 1 ? (here[0] ?? null) : null);
  if (cluster) out.cluster = cluster.name;
  const facts = cluster ? (ctx.facts.get(cluster.name) ?? null) : null;
  // The incident stays only while it is the stored one, open, of this cluster.
  const offered = offeredBy(values, ctx);
  if (offered && values.incident) out.incident = values.incident;
  else if (action === "recover") delete out.action;
  for (const field of fieldsOf(out.action as FormAction | undefined)) {
    const v = values[field];
    if (v === undefined || v === "") continue;
    if (TEXT_FIELDS.has(field)) {
      out[field] = v.trim().slice(0, 200);
      continue;
    }
    const valid = new Set(choicesOf(field, out, cluster, facts, offered ?? []).map((c) => c.value));
    const kept = [...new Set(words(v).filter((w) => valid.has(w)))];
    const multi =
      field === "options" ||
      field === "override_last_copy" ||
      (field === "guest" && offeredGuests(out.action as FormAction, offered ?? []).size > 0);
    const first = kept[0];
    if (first !== undefined) out[field] = multi ? kept.join(" ") : first;
  }
  // Several guests only as the incident's button asks for them; a typed command names one.
  const guests = words(out.guest);
  if (guests.length > 1 && !incidentActionOf(out, ctx)) out.guest = guests[0] as string;
  return out;
}

/** The actions of the form's incident (as stored), or null when the form has none that holds. */
function offeredBy(values: FormValues, ctx: FormContext): readonly IncidentAction[] | null {
  const inc = ctx.incident;
  if (!inc || !values.incident || !INCIDENT_ID.test(values.incident) || inc.id !== values.incident)
    return null;
  if (values.cluster !== undefined && values.cluster !== inc.cluster) return null;
  return inc.actions;
}

/** Guests an incident's start or failback offers for this form action. */
function offeredGuests(action: FormAction | undefined, offered: readonly IncidentAction[]): Set<string> {
  const kind = action === "create" ? "start_guests" : action === "migrate" ? "failback" : null;
  return new Set(offered.flatMap((o) => (o.kind === kind && "guests" in o ? o.guests : [])));
}

/**
 * The incident action the form stands for: one its incident offers now (as stored), for some of its
 * guests; null when the form is not (or no longer) that, e.g. another target or `--override-ha` was
 * chosen, which makes it a typed command of its own.
 */
export function incidentActionOf(values: FormValues, ctx: FormContext): IncidentAction | null {
  const offered = offeredBy(values, ctx);
  if (!offered || !values.cluster || ctx.incident?.cluster !== values.cluster) return null;
  if (words(values.options).includes("override-ha") || values.override_last_copy) return null;
  const guests = words(values.guest);
  const some = (list: readonly string[]) => guests.length > 0 && guests.every((g) => list.includes(g));
  for (const o of offered) {
    if (values.action === "fence" && o.kind === "fence" && o.node === values.node) return o;
    if (
      values.action === "create" &&
      o.kind === "start_guests" &&
      o.survivor === values.target &&
      some(o.guests)
    )
      return { ...o, guests };
    if (values.action === "migrate" && o.kind === "failback" && o.node === values.target && some(o.guests))
      return { ...o, guests };
    if (
      values.action === "recover" &&
      o.kind === "keep_data" &&
      o.resource === values.resource &&
      o.survivor === values.target
    )
      return o;
  }
  return null;
}

/** The form an incident's button opens: its action, pre-filled (the form checks it against the incident). */
export function incidentFormValues(incidentId: string, cluster: string, a: IncidentAction): FormValues {
  const base = { cluster, incident: incidentId };
  switch (a.kind) {
    case "fence":
      return { ...base, action: "fence", node: a.node };
    case "start_guests":
      return { ...base, action: "create", guest: a.guests.join(" "), target: a.survivor };
    case "failback":
      return { ...base, action: "migrate", guest: a.guests.join(" "), target: a.node };
    case "keep_data":
      return { ...base, action: "recover", resource: a.resource, target: a.survivor };
  }
}

/** What the preflight of the form is for: its dry-run command, or its incident action. */
export function preflightKey(values: FormValues, ctx: FormContext): string | null {
  const a = incidentActionOf(values, ctx);
  if (a) return `incident ${values.incident}: ${describeAction(a)}`;
  return commandText(values, { dryRun: true });
}

/** The fields still to be chosen before the form can be submitted. */
export function missing(values: FormValues): FormField[] {
  const action = values.action as FormAction | undefined;
  if (!action) return ["action"];
  const out: FormField[] = values.cluster ? [] : ["cluster"];
  const required: Record<FormAction, FormField[]> = {
    status: [],
    migrate: ["guest", "target"],
    create: ["guest", "target"],
    fence: ["node"],
    evacuate: ["node"],
    "attest-off": ["node"],
    "drbd-watch": ["resource"],
    approve: ["request"],
    recover: ["resource", "target"],
  };
  for (const f of required[action]) if (!values[f]) out.push(f);
  return out;
}

/**
 * The typed command the form stands for (text after `/xen`), the same text a user would type; null
 * while something is missing. `dryRun` forces `--dry-run` (the preflight).
 */
export function commandText(values: FormValues, opts: { dryRun?: boolean } = {}): string | null {
  if (missing(values).length > 0) return null;
  const c = values.cluster as string;
  const opt = new Set(words(values.options));
  const flags: string[] = [];
  if (opt.has("override-ha")) flags.push("--override-ha");
  if (opts.dryRun || opt.has("dry-run")) flags.push("--dry-run");
  const tail = flags.length ? ` ${flags.join(" ")}` : "";
  switch (values.action as FormAction) {
    case "status":
      return `status ${c}${values.subject ? ` ${values.subject}` : ""}`;
    case "migrate":
      return `migrate ${c} ${values.guest} to ${values.target}${tail}`;
    case "create":
      return `create ${c} ${values.guest} on ${values.target}${tail}`;
    case "fence": {
      const over = words(values.override_last_copy);
      return `fence ${c} ${values.node}${over.length ? ` --override-last-copy ${over.join(" ")}` : ""}${tail}`;
    }
    case "evacuate":
      return `evacuate ${c} ${values.node}${tail}`;
    case "attest-off":
      return `attest-off ${c} ${values.node}${tail}`;
    case "drbd-watch":
      return `drbd watch ${values.resource} ${c}`;
    case "approve":
      return `approve ${c} ${values.request}${values.confirm ? ` ${words(values.confirm).join(" ")}` : ""}`;
    case "recover":
      // No typed verb: filed only as the split-brain incident's button (incidentActionOf).
      return null;
  }
}

export function isRisky(values: FormValues): boolean {
  return RISKY.has(values.action as FormAction);
}

/**
 * What must be typed into `confirm`, or null when the form needs none. `approvalTyped` is what the
 * approval request named in the form asks for (looked up by the form core).
 */
export function expectedConfirmation(
  values: FormValues,
  approvalTyped?: string | null,
  incident?: IncidentAction | null,
): string | null {
  if (values.action === "approve") return approvalTyped ?? null;
  if (words(values.options).includes("dry-run")) return null;
  // Discarding a side's data: the requester types the victim and the resource, as the approver will.
  if (incident?.kind === "keep_data") return `${incident.victim}/${incident.resource}`;
  if (values.action === "attest-off" && values.node) return values.node;
  if (values.action === "fence" && values.node) {
    const over = words(values.override_last_copy);
    if (over.length > 0) return over.map((r) => `${values.node}/${r}`).join(" ");
  }
  return null;
}

/** Errors per field for `response_action: errors`: each says exactly what to do or type. */
export function validate(
  values: FormValues,
  approval?: { found: boolean; typed: string | null },
  incident?: IncidentAction | null,
): Partial<Record<FormField, string>> {
  const errors: Partial<Record<FormField, string>> = {};
  for (const f of missing(values))
    errors[f] =
      f === "request"
        ? "Type the request ID shown on the approval card."
        : `Choose the ${f === "target" ? "node" : f}.`;
  if (values.action === "approve" && values.request) {
    if (!REQUEST_ID.test(values.request))
      errors.request = "A request ID is 8-64 letters, digits, '-' or '_', as on the approval card.";
    else if (approval && !approval.found)
      errors.request = "No such request here; copy the ID from the approval card (Request `…`).";
  }
  if (values.action === "recover" && missing(values).length === 0 && !incident)
    errors.target = "The split-brain incident no longer offers this; see its message.";
  const expected = expectedConfirmation(values, approval?.typed, incident);
  if (expected !== null && words(values.confirm).join(" ") !== expected)
    errors.confirm = `Type exactly: ${expected}`;
  return errors;
}

export type { FormField, FormPreflight, FormState, FormValues };

// ---- the Slack modal view ----

type Json = Record<string, unknown>;

const plain = (text: string): Json => ({ type: "plain_text", text: text.slice(0, 150), emoji: true });
const option = (c: Choice): Json => ({ text: plain(c.label.slice(0, 75)), value: c.value });

function fieldLabel(field: FormField, action: FormAction | undefined): string {
  switch (field) {
    case "action":
      return "Action";
    case "cluster":
      return "Cluster";
    case "subject":
      return "Node or guest (optional)";
    case "guest":
      return "Guest";
    case "target":
      return action === "migrate"
        ? "Move to node"
        : action === "recover"
          ? "Keep the data of"
          : "Start on node";
    case "node":
      return action === "fence"
        ? "Node to fence"
        : action === "evacuate"
          ? "Node to empty"
          : "Node checked off";
    case "resource":
      return "DRBD resource";
    case "override_last_copy":
      return "Fence even if it holds the only UpToDate copy of";
    case "options":
      return "Options";
    case "request":
      return "Request ID (on the approval card)";
    case "confirm":
      return "Typed confirmation";
    case "incident":
      return "Incident";
  }
}

/** A short digest of the choices: block ids change with them, so Slack drops a stale selection. */
function digest(choices: readonly Choice[]): string {
  return createHash("sha256")
    .update(choices.map((c) => c.value).join(","))
    .digest("hex")
    .slice(0, 6);
}

function selectBlock(
  field: FormField,
  label: string,
  choices: readonly Choice[],
  values: FormValues,
  opts: { optional?: boolean; multi?: boolean },
): Json {
  const chosen = words(values[field]);
  const initial = choices.filter((c) => chosen.includes(c.value)).map(option);
  const element: Json = opts.multi
    ? { type: "checkboxes", options: choices.slice(0, 10).map(option) }
    : { type: "static_select", placeholder: plain("Choose…"), options: choices.slice(0, 100).map(option) };
  element.action_id = `${FORM_ACTION_PREFIX}${field}`;
  if (initial.length > 0) {
    if (opts.multi) element.initial_options = initial;
    else element.initial_option = initial[0];
  }
  return {
    type: "input",
    block_id: `${field}.${digest(choices)}`,
    label: plain(label),
    optional: opts.optional === true,
    dispatch_action: true,
    element,
  };
}

const section = (text: string): Json => ({
  type: "section",
  text: { type: "mrkdwn", text: text.slice(0, 2_900) },
});
const context = (text: string): Json => ({
  type: "context",
  elements: [{ type: "mrkdwn", text: text.slice(0, 2_000) }],
});

/** One line per node from the stored facts: the state the choices were built on. */
export function factsLine(facts: Facts | null): string {
  if (!facts)
    return "No stored state yet: every choice of the inventory is offered; the preflight checks them.";
  const nodes = Object.entries(facts.nodes).map(([n, f]) => {
    const state = f.reachable ? (f.ha?.status === "offline" ? "dead per HA" : "up") : "not answering";
    const guests = f.guests === null ? "guests unknown" : f.guests.length ? f.guests.join(", ") : "no guests";
    return `${n}: ${state}, ${guests}`;
  });
  return `Last seen ${facts.at}: ${nodes.join("; ")}`;
}

export interface BuiltForm {
  state: FormState;
  view: Json;
}

/** The modal for this state. */
export function buildFormView(state: FormState, ctx: FormContext): Json {
  const { values } = state;
  const action = values.action as FormAction | undefined;
  const here = clustersIn(ctx.inventory, state.channelId);
  const cluster = here.find((c) => c.name === values.cluster) ?? null;
  const facts = cluster ? (ctx.facts.get(cluster.name) ?? null) : null;
  const offered = offeredBy(values, ctx) ?? [];
  const matched = incidentActionOf(values, ctx);
  const blocks: Json[] = [];
  blocks.push(selectBlock("action", "Action", choicesOf("action", values, null, null, offered), values, {}));
  if (here.length === 0) {
    blocks.push(section("No cluster answers in the channel this was opened from."));
  } else if (here.length > 1) {
    const choices = here.map((c) => ({ value: c.name, label: c.name }));
    blocks.push(selectBlock("cluster", "Cluster", choices, values, {}));
  } else if (cluster) {
    blocks.push(context(`Cluster *${cluster.name}*`));
  }
  if (action && cluster) {
    blocks.push(context(factsLine(facts)));
    if (values.incident && offered.length > 0)
      blocks.push(
        context(
          matched
            ? "From the incident's button: filed as the button files it (the incident's offer, your role and maintenance checked again)."
            : "Changed from what the incident offers: this files the typed command below, in the channel.",
        ),
      );
    for (const field of fieldsOf(action)) {
      if (field === "request" || (field === "confirm" && action === "approve")) {
        // Approving: the request's id and the confirmation its card asks for, both typed.
        blocks.push({
          type: "input",
          block_id: field,
          label: plain(fieldLabel(field, action)),
          optional: field === "confirm",
          hint: plain(
            field === "request"
              ? "The ID after Request on the card, e.g. JHrVl8Ftr8N7HudZ."
              : "Only if the card asks for one, e.g. ics2/internet (checked when you submit).",
          ),
          element: {
            type: "plain_text_input",
            action_id: `${FORM_ACTION_PREFIX}${field}`,
            ...(values[field] ? { initial_value: values[field] } : {}),
          },
        });
        continue;
      }
      if (field === "confirm") {
        const expected = expectedConfirmation(values, null, matched);
        if (expected === null) continue;
        blocks.push({
          type: "input",
          block_id: "confirm",
          label: plain(fieldLabel("confirm", action)),
          hint: plain(`Type exactly: ${expected}`),
          element: {
            type: "plain_text_input",
            action_id: `${FORM_ACTION_PREFIX}confirm`,
            ...(values.confirm ? { initial_value: values.confirm } : {}),
          },
        });
        continue;
      }
      const choices = choicesOf(field, values, cluster, facts, offered);
      if (choices.length === 0) {
        if (field === "target" && !values.guest) continue;
        if (field === "override_last_copy" || field === "options") continue;
        blocks.push(section(`*${fieldLabel(field, action)}*: no valid choice in the stored state.`));
        continue;
      }
      const multi =
        field === "options" ||
        field === "override_last_copy" ||
        (field === "guest" && offeredGuests(action, offered).size > 0);
      const optional = multi || field === "subject";
      blocks.push(selectBlock(field, fieldLabel(field, action), choices, values, { optional, multi }));
    }
  }
  const command = commandText(values);
  if (command || matched) {
    blocks.push(
      section(
        matched
          ? `*Submitting requests, as the incident's button:* ${describeAction(matched)}`
          : `*Submitting files exactly:* \`/xen ${command}\``,
      ),
    );
    if (isRisky(values)) {
      const key = preflightKey(values, ctx);
      const pf = state.preflight && state.preflight.command === key ? state.preflight : null;
      if (pf) {
        const icon = pf.ok === null ? "⏳" : pf.ok ? "✅" : "⛔";
        blocks.push(section(`${icon} *Preflight* (dry run, read-only)\n${pf.text}`));
      }
      blocks.push({
        type: "actions",
        block_id: "preflight",
        elements: [
          {
            type: "button",
            action_id: FORM_PREFLIGHT_ACTION,
            text: plain(pf ? "Run the preflight again" : "Run the preflight"),
            value: "preflight",
          },
        ],
      });
    }
  } else if (action) {
    blocks.push(context(`Still to choose: ${missing(values).join(", ")}.`));
  }
  const meta: FormState = { channelId: state.channelId, values, preflight: state.preflight ?? null };
  return {
    type: "modal",
    callback_id: FORM_CALLBACK_ID,
    title: plain("xenops"),
    // Typed fields do not update the view: submit is offered once an action is chosen, and checked then.
    ...(action && cluster ? { submit: plain(isRisky(values) ? "Request" : "Submit") } : {}),
    close: plain("Cancel"),
    private_metadata: metadata(meta),
    blocks,
  };
}

/** Slack keeps at most 3,000 characters of private_metadata: the preflight's text is cut to fit. */
const METADATA_MAX = 3_000;

function metadata(meta: FormState): string {
  let json = JSON.stringify(meta);
  let pf = meta.preflight;
  while (json.length > METADATA_MAX && pf && pf.text.length > 0) {
    pf = { ...pf, text: pf.text.slice(0, Math.max(0, pf.text.length - (json.length - METADATA_MAX) - 16)) };
    json = JSON.stringify({ ...meta, preflight: pf });
  }
  return json;
}

// ---- reading a view back (Slack's view payload) ----

interface SlackStateValue {
  type?: string;
  value?: string | null;
  selected_option?: { value?: string } | null;
  selected_options?: { value?: string }[];
}

/** The form state of a view Slack sent back: private_metadata, overlaid with the inputs' values. */
export function stateOfView(view: {
  private_metadata?: string;
  state?: { values?: Record<string, Record<string, SlackStateValue>> };
}): FormState | null {
  let meta: Partial<FormState>;
  try {
    meta = JSON.parse(view.private_metadata ?? "") as Partial<FormState>;
  } catch {
    return null;
  }
  if (typeof meta.channelId !== "string" || !/^[CGD][A-Z0-9]{2,}$/.test(meta.channelId)) return null;
  const values: FormValues = {};
  for (const [k, v] of Object.entries(meta.values ?? {}))
    if (isFormField(k) && typeof v === "string") values[k] = v.slice(0, 200);
  for (const [blockId, actions] of Object.entries(view.state?.values ?? {})) {
    const field = blockId.split(".")[0] ?? "";
    if (!isFormField(field)) continue;
    for (const v of Object.values(actions)) {
      if (v.type === "checkboxes" || v.selected_options)
        values[field] = (v.selected_options ?? []).map((o) => o.value ?? "").join(" ");
      else if (v.selected_option !== undefined) values[field] = v.selected_option?.value ?? "";
      else if (v.type === "plain_text_input") values[field] = v.value ?? "";
    }
  }
  const pf = meta.preflight;
  const preflight =
    pf && typeof pf.command === "string" && typeof pf.text === "string"
      ? { command: pf.command, ok: typeof pf.ok === "boolean" ? pf.ok : null, text: pf.text }
      : null;
  return { channelId: meta.channelId, values, preflight };
}

/** `field=value` words (console lines, prefilled buttons) into form values; unknown fields are errors. */
export function parseAssignments(text: string): { values: FormValues; unknown: string[] } {
  const values: FormValues = {};
  const unknown: string[] = [];
  let last: FormField | null = null;
  for (const token of words(text)) {
    const m = /^([a-z_-]+)=(.*)$/.exec(token);
    if (!m) {
      // `options=dry-run override-ha`: a bare word continues the previous multi-valued field.
      if (last === "options" || last === "override_last_copy" || last === "confirm")
        values[last] = `${values[last] ?? ""} ${token}`.trim();
      else unknown.push(token);
      continue;
    }
    const key = (m[1] ?? "").replace(/-/g, "_");
    if (!isFormField(key)) {
      unknown.push(token);
      continue;
    }
    values[key] = m[2] ?? "";
    last = key;
  }
  return { values, unknown };
}
