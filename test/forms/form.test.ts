/**
 * The `/xen` modal's pure parts: valid choices from the inventory and the stored facts, stale choices
 * dropped, the typed command a form stands for, typed confirmations, and reading Slack's view back.
 */
import { describe, expect, it } from "vitest";
import { InventoryConfig as InventorySchema } from "../../src/config/schema";
import type { Facts, NodeFacts } from "../../src/events/facts";
import { emptyMemory } from "../../src/events/facts";
import {
  buildFormView,
  choicesOf,
  commandText,
  type FormContext,
  type FormValues,
  incidentActionOf,
  incidentFormValues,
  normalize,
  parseAssignments,
  stateOfView,
  validate,
} from "../../src/forms/form";
import { viewText } from "../../src/forms/text";

const key = (c: string) => `SHA256:${c.repeat(43)}`;
const node = (name: string, k: string) => ({
  name,
  host: "127.0.0.1",
  privateKey: { file: "/nonexistent" },
  hostKey: key(k),
});

const inventory = InventorySchema.parse({
  clusters: [
    {
      name: "lab",
      channels: ["C0LAB"],
      toolstack: { hypervisor: "xm", drbd: 8, ha: "none", fence: { method: "none" } },
      nodes: [node("ics1", "A"), node("ics2", "B"), node("ics3", "C")],
      drbd: [
        { name: "internet", minor: 0, nodes: ["ics1", "ics2"] },
        { name: "mail", minor: 1, nodes: ["ics1", "ics3"] },
      ],
      guests: [
        { name: "internet", home: "ics2", drbd: ["internet"] },
        { name: "mail", home: "ics1", drbd: ["mail"] },
        { name: "spare", home: "ics3", drbd: ["mail"] },
      ],
    },
  ],
  roles: { viewer: { users: ["UVIEWER1"] }, operator: { users: ["UOPER1"] } },
});
const cluster = inventory.clusters[0]!;

function nodeFacts(guests: string[] | null, reachable = true): NodeFacts {
  return { reachable, error: null, ha: null, haRunning: null, guests, migrating: [], drbd: null };
}

const facts: Facts = {
  cluster: "lab",
  at: "2026-12-04T18:00:00.000Z",
  nodes: { ics1: nodeFacts(["mail"]), ics2: nodeFacts(["internet"]), ics3: nodeFacts(null, false) },
  haResources: null,
  fences: [],
  memory: emptyMemory(),
};
const ctx: FormContext = { inventory, facts: new Map([["lab", facts]]) };

const values = (v: FormValues) => normalize(v, ctx, "C0LAB");

describe("form choices", () => {
  it("offers as migrate targets only the nodes holding the guest's DRBD resources, not where it runs", () => {
    const v = values({ action: "migrate", guest: "internet" });
    expect(choicesOf("target", v, cluster, facts).map((c) => c.value)).toEqual(["ics1"]);
    // mail runs on ics1; its resource is on ics1 and ics3.
    expect(choicesOf("target", values({ action: "migrate", guest: "mail" }), cluster, facts)).toEqual([
      { value: "ics3", label: "ics3" },
    ]);
  });

  it("offers to migrate only guests seen on one node, to create only guests seen nowhere", () => {
    // ics3's domains are unknown (it does not answer): nothing is concluded, every guest is offered.
    expect(choicesOf("guest", values({ action: "migrate" }), cluster, facts).map((c) => c.value)).toEqual([
      "internet",
      "mail",
      "spare",
    ]);
    const known: Facts = { ...facts, nodes: { ...facts.nodes, ics3: nodeFacts([]) } };
    expect(choicesOf("guest", values({ action: "migrate" }), cluster, known).map((c) => c.value)).toEqual([
      "internet",
      "mail",
    ]);
    expect(choicesOf("guest", values({ action: "create" }), cluster, known).map((c) => c.value)).toEqual([
      "spare",
    ]);
  });

  it("offers to attest off only nodes that did not answer at the last look", () => {
    expect(choicesOf("node", values({ action: "attest-off" }), cluster, facts).map((c) => c.value)).toEqual([
      "ics3",
    ]);
    expect(choicesOf("node", values({ action: "fence" }), cluster, facts)).toHaveLength(3);
  });

  it("drops choices that are no longer valid when an earlier one changes", () => {
    expect(values({ action: "migrate", guest: "internet", target: "ics3" })).toEqual({
      action: "migrate",
      cluster: "lab",
      guest: "internet",
    });
    expect(values({ action: "fence", guest: "internet", node: "ics2", bogus: "x" } as FormValues)).toEqual({
      action: "fence",
      cluster: "lab",
      node: "ics2",
    });
  });
});

describe("form → typed command", () => {
  it("is exactly the text a user would type", () => {
    expect(commandText(values({ action: "migrate", guest: "internet", target: "ics1" }))).toBe(
      "migrate lab internet to ics1",
    );
    expect(
      commandText(
        values({ action: "migrate", guest: "internet", target: "ics1", options: "override-ha dry-run" }),
      ),
    ).toBe("migrate lab internet to ics1 --override-ha --dry-run");
    expect(
      commandText(values({ action: "create", guest: "internet", target: "ics1" }), { dryRun: true }),
    ).toBe("create lab internet on ics1 --dry-run");
    expect(commandText(values({ action: "fence", node: "ics2", override_last_copy: "internet" }))).toBe(
      "fence lab ics2 --override-last-copy internet",
    );
    expect(commandText(values({ action: "drbd-watch", resource: "mail" }))).toBe("drbd watch mail lab");
    expect(commandText(values({ action: "status", subject: "ics2" }))).toBe("status lab ics2");
    expect(commandText(values({ action: "migrate", guest: "internet" }))).toBeNull();
  });

  it("asks for the typed confirmations, saying what to type", () => {
    expect(validate(values({ action: "attest-off", node: "ics3" }))).toEqual({
      confirm: "Type exactly: ics3",
    });
    expect(validate(values({ action: "attest-off", node: "ics3", confirm: "ics3" }))).toEqual({});
    // A dry run changes nothing: no confirmation.
    expect(validate(values({ action: "attest-off", node: "ics3", options: "dry-run" }))).toEqual({});
    expect(validate(values({ action: "fence", node: "ics2" }))).toEqual({});
    expect(
      validate(values({ action: "fence", node: "ics2", override_last_copy: "internet", confirm: "ics2" })),
    ).toEqual({ confirm: "Type exactly: ics2/internet" });
    expect(
      validate(
        values({ action: "fence", node: "ics2", override_last_copy: "internet", confirm: " ics2/internet " }),
      ),
    ).toEqual({});
    expect(validate(values({ action: "migrate", guest: "internet" }))).toEqual({
      target: "Choose the node.",
    });

    // Approving: the request must exist, and its card's confirmation must be typed exactly.
    const approve = values({ action: "approve", request: "JHrVl8Ftr8N7HudZ", confirm: "ics2" });
    expect(commandText(approve)).toBe("approve lab JHrVl8Ftr8N7HudZ ics2");
    expect(validate(approve, { found: true, typed: "ics2/internet" })).toEqual({
      confirm: "Type exactly: ics2/internet",
    });
    expect(
      validate({ ...approve, confirm: "ics2/internet" }, { found: true, typed: "ics2/internet" }),
    ).toEqual({});
    expect(validate(approve, { found: false, typed: null }).request).toMatch(/^No such request here/);
    expect(validate(values({ action: "approve", request: "x y" })).request).toMatch(/8-64 letters/);
    expect(validate(values({ action: "approve" }))).toEqual({
      request: "Type the request ID shown on the approval card.",
    });
  });
});

describe("the modal view", () => {
  it("has dispatching selects, the command it files, and reads its state back", () => {
    const state = {
      channelId: "C0LAB",
      values: values({ action: "migrate", guest: "internet", target: "ics1" }),
    };
    const view = buildFormView(state, ctx);
    expect(view.type).toBe("modal");
    expect(view.callback_id).toBe("xenops-form");
    const blocks = view.blocks as { type: string; block_id?: string; dispatch_action?: boolean }[];
    const inputs = blocks.filter((b) => b.type === "input");
    expect(inputs.every((b) => b.dispatch_action === true)).toBe(true);
    const text = viewText(view);
    expect(text).toContain("Submitting files exactly:* `/xen migrate lab internet to ics1`");
    expect(text).toContain("Move to node (target=): *ics1");
    expect(text).toContain("[Run the preflight]");

    // Slack sends the view back with the user's new selection in state.values.
    const targetBlock = inputs.find((b) => b.block_id?.startsWith("guest."))!.block_id as string;
    const back = stateOfView({
      private_metadata: view.private_metadata as string,
      state: {
        values: {
          [targetBlock]: {
            "xenops-form:guest": { type: "static_select", selected_option: { value: "mail" } },
          },
        },
      },
    });
    expect(back?.channelId).toBe("C0LAB");
    expect(back?.values.guest).toBe("mail");
    expect(values(back?.values ?? {})).toEqual({ action: "migrate", cluster: "lab", guest: "mail" });
    expect(stateOfView({ private_metadata: "{not json" })).toBeNull();
    // A long dry run still leaves readable metadata within Slack's 3,000 characters.
    const long = buildFormView(
      {
        ...state,
        preflight: {
          command: "migrate lab internet to ics1 --dry-run",
          ok: true,
          text: `"quoted"\n${"x".repeat(5_000)}`,
        },
      },
      ctx,
    );
    expect((long.private_metadata as string).length).toBeLessThanOrEqual(3_000);
    expect(stateOfView({ private_metadata: long.private_metadata as string })?.preflight?.ok).toBe(true);
    expect(stateOfView({ private_metadata: JSON.stringify({ channelId: "nope", values: {} }) })).toBeNull();
  });

  it("parses console field=value words", () => {
    expect(
      parseAssignments("action=fence node=ics2 override-last-copy=internet mail confirm=ics2/internet"),
    ).toEqual({
      values: {
        action: "fence",
        node: "ics2",
        override_last_copy: "internet mail",
        confirm: "ics2/internet",
      },
      unknown: [],
    });
    expect(parseAssignments("action=fence colour=red stray").unknown).toEqual(["colour=red", "stray"]);
  });
});

describe("the form an incident's button opens", () => {
  const incident = {
    id: "abcdefgh12345678",
    cluster: "lab",
    actions: [
      { kind: "start_guests" as const, node: "ics3", survivor: "ics1", guests: ["mail", "spare"] },
      { kind: "keep_data" as const, resource: "internet", survivor: "ics1", victim: "ics2" },
      { kind: "keep_data" as const, resource: "internet", survivor: "ics2", victim: "ics1" },
      { kind: "fence" as const, node: "ics3" },
    ],
  };
  const withIncident: FormContext = { ...ctx, incident };
  const open = (v: FormValues, c: FormContext = withIncident) => normalize(v, c, "C0LAB");

  it("is pre-filled with the button's action and stands for it while the stored incident offers it", () => {
    const start = open(incidentFormValues(incident.id, "lab", incident.actions[0]!));
    // Both guests the incident names (ics3's domains are unknown: the preflight checks).
    expect(start).toEqual({
      action: "create",
      cluster: "lab",
      incident: incident.id,
      guest: "mail spare",
      target: "ics1",
    });
    expect(incidentActionOf(start, withIncident)).toEqual(incident.actions[0]);
    // Some of its guests is still the incident's action, for those guests.
    expect(incidentActionOf(open({ ...start, guest: "spare" }), withIncident)).toEqual({
      ...incident.actions[0],
      guests: ["spare"],
    });
    const view = viewText(buildFormView({ channelId: "C0LAB", values: start }, withIncident));
    expect(view).toContain("Submitting requests, as the incident's button:* start mail, spare on ics1");
    expect(view).toContain("From the incident's button: filed as the button files it");
    expect(view).toContain("[Run the preflight]");

    const fence = open(incidentFormValues(incident.id, "lab", incident.actions[3]!));
    expect(incidentActionOf(fence, withIncident)).toEqual({ kind: "fence", node: "ics3" });
  });

  it("takes nothing from the form on trust: no stored incident, another incident or a changed choice is no incident action", () => {
    const start = incidentFormValues(incident.id, "lab", incident.actions[0]!);
    // The stored incident is gone (resolved, expired) or another one: the incident field is dropped and
    // the form names one guest, as a typed command does.
    expect(open(start, ctx)).toEqual({ action: "create", cluster: "lab", guest: "mail" });
    expect(
      open(start, { ...ctx, incident: { ...incident, id: "zzzzzzzz12345678" } }).incident,
    ).toBeUndefined();
    expect(open(start, { ...ctx, incident: { ...incident, cluster: "other" } }).incident).toBeUndefined();
    // Another target, --override-ha, a guest the incident does not name: a typed command of its own.
    const other = open({ ...start, target: "ics3" });
    expect(incidentActionOf(other, withIncident)).toBeNull();
    expect(other.guest).toBe("mail");
    expect(commandText(other)).toBe("create lab mail on ics3");
    const override = open({ ...start, options: "override-ha" });
    expect(incidentActionOf(override, withIncident)).toBeNull();
    expect(commandText(override)).toBe("create lab mail on ics1 --override-ha");
    expect(incidentActionOf(open({ ...start, guest: "internet" }), withIncident)).toBeNull();
    // A fence of a node the incident does not offer to fence.
    expect(
      incidentActionOf(open({ action: "fence", node: "ics2", incident: incident.id }), withIncident),
    ).toBeNull();
  });

  it("recovers a split brain only from its incident, with the victim and resource typed", () => {
    const keep = open(incidentFormValues(incident.id, "lab", incident.actions[1]!));
    expect(keep).toEqual({
      action: "recover",
      cluster: "lab",
      incident: incident.id,
      resource: "internet",
      target: "ics1",
    });
    const a = incidentActionOf(keep, withIncident);
    expect(a).toEqual(incident.actions[1]);
    expect(commandText(keep)).toBeNull();
    const view = viewText(buildFormView({ channelId: "C0LAB", values: keep }, withIncident));
    expect(view).toContain("Keep the data of (target=): *ics1 | ics2");
    expect(view).toContain("Typed confirmation (confirm=): Type exactly: ics2/internet");
    expect(validate(keep, undefined, a)).toEqual({ confirm: "Type exactly: ics2/internet" });
    expect(validate({ ...keep, confirm: "ics1/internet" }, undefined, a)).toEqual({
      confirm: "Type exactly: ics2/internet",
    });
    expect(validate({ ...keep, confirm: "ics2/internet" }, undefined, a)).toEqual({});
    // Keeping ics2's side instead: ics1 is the victim.
    const other = open({ ...keep, target: "ics2" });
    expect(validate(other, undefined, incidentActionOf(other, withIncident)).confirm).toBe(
      "Type exactly: ics1/internet",
    );
    // Without its incident there is no recovery in the form (no typed verb to file).
    expect(open(keep, ctx)).toEqual({ cluster: "lab" });
    expect(viewText(buildFormView({ channelId: "C0LAB", values: {} }, ctx))).not.toContain("recover");
  });
});
