import { describe, expect, it } from "vitest";
import { type IncidentView, incidentDocument } from "../../src/events/render";
import type { ClusterEvent } from "../../src/events/types";
import { type CardState, jobCardDocument } from "../../src/job-cards/card";
import { date, em, emoji, type MessageDocument, markup, pre, strong, user } from "../../src/message/document";
import { renderPlain, renderPlainSummary } from "../../src/message/plain";

describe("plain text renderer (e-mail, webhook)", () => {
  it("underlines the title, separates blocks, indents verbatim lines and lists buttons", () => {
    const doc: MessageDocument = {
      summary: [user("U1"), " ", strong("Done"), " & ok"],
      blocks: [
        { kind: "heading", text: "Title" },
        {
          kind: "section",
          text: [emoji("warning"), " ", strong("a"), " ", em("b"), "\n", pre(["x < y", "```z```"])],
        },
        { kind: "section", fields: [["f1"], ["f2"]] },
        {
          kind: "context",
          items: [
            ["at ", date("2024-03-04T10:00:01.500Z")],
            ["by ", user("U1")],
          ],
        },
        { kind: "divider" },
        {
          kind: "actions",
          buttons: [
            { label: "Fence ics2", actionId: "x" },
            { label: "Keep", actionId: "y" },
          ],
        },
      ],
    };
    expect(renderPlain(doc)).toBe(
      [
        "Title",
        "=====",
        "",
        "⚠️ a b",
        "    x < y",
        "    '''z'''",
        "",
        "f1",
        "f2",
        "",
        "at 2024-03-04 10:00:01 UTC · by @U1",
        "",
        "----",
        "",
        "Actions (in chat): Fence ics2 · Keep",
        "",
      ].join("\n"),
    );
    expect(renderPlainSummary(doc)).toBe("@U1 Done & ok");
  });

  it("uses display names when given, reads caller markup as text with emoji as characters", () => {
    const doc: MessageDocument = {
      summary: ["x"],
      blocks: [{ kind: "section", text: [markup(":lock: *Past* <@U2> the point"), " by ", user("U1")] }],
    };
    const names: Record<string, string> = { U1: "alice" };
    expect(renderPlain(doc, { names: (id) => names[id] })).toBe("🔒 Past @U2 the point by @alice\n");
  });

  it("renders a job card", () => {
    const s: CardState = {
      phase: "done",
      title: "Status of lab",
      jobId: "status:lab:1",
      jobNumber: 4,
      requestedBy: "U0ALICE",
      cancellable: true,
      createdAt: 0,
      startedAt: Date.parse("2024-03-04T10:00:00Z"),
      endedAt: Date.parse("2024-03-04T10:00:02Z"),
      step: null,
      activity: null,
      summary: "all nodes answer",
      body: [],
      notes: [],
      output: ["ics1 up", "ics2 up"],
      pointOfNoReturn: null,
      cancelledBy: null,
    };
    const doc = jobCardDocument(s, { now: Date.parse("2024-03-04T10:00:05Z") });
    expect(renderPlain(doc)).toBe(
      [
        "Status of lab · job 4",
        "✅ Done in 2.0s: all nodes answer",
        "",
        "    ics1 up",
        "    ics2 up",
        "",
        "job 4 · requested by @U0ALICE · started 2024-03-04 10:00:00 UTC",
        "",
      ].join("\n"),
    );
    expect(renderPlainSummary(doc)).toBe("Status of lab (job 4): Done in 2.0s: all nodes answer");
  });

  it("renders an incident with its evidence, counters and on-call", () => {
    const event: ClusterEvent = {
      cluster: "lab",
      kind: "node_dead" as ClusterEvent["kind"],
      family: "node" as ClusterEvent["family"],
      severity: "critical",
      subject: null,
      node: "ics2",
      title: "ics2 is dead",
      evidence: ["cl_status: dead"],
      source: "poll" as ClusterEvent["source"],
      at: "2024-03-04T10:00:00Z",
      actions: [{ kind: "fence", node: "ics2" }],
    };
    const view: IncidentView = {
      id: "abcdefgh12345678",
      cluster: "lab",
      status: "open",
      severity: "critical",
      current: event,
      openedAt: "2024-03-04T10:00:00Z",
      lastAt: "2024-03-04T10:00:00Z",
      resolvedAt: null,
      resolution: null,
      count: 1,
      flaps: 0,
      paged: true,
    };
    const doc = incidentDocument(view, { oncall: { users: ["UADMIN1"], groups: [] } } as never);
    expect(renderPlain(doc)).toBe(
      [
        "🔴 CRITICAL · lab · ics2 is dead",
        "================================",
        "",
        "ics2 is dead",
        "",
        "Evidence",
        "    cl_status: dead",
        "",
        "opened 2024-03-04 10:00:00 UTC · source poll · on-call: @UADMIN1",
        "",
        "Actions (in chat): Fence ics2",
        "",
      ].join("\n"),
    );
    expect(renderPlainSummary(doc)).toBe("@UADMIN1 CRITICAL: lab: ics2 is dead");
  });
});
