import { describe, expect, it } from "vitest";
import type { OutboundMessage } from "../../src/chat/types";
import { renderConsole } from "../../src/console/render";
import { type IncidentView, renderFollowUp, renderIncident, renderStorm } from "../../src/events/render";
import type { ClusterEvent } from "../../src/events/types";
import { type CardState, renderJobCard } from "../../src/job-cards/card";
import { code, fromBlocks, section, strong, user } from "../../src/message/document";
import { renderPlainText } from "../../src/slack/render/text";

/** What the console printed before documents: the Slack blocks read back as text. */
function fromSlackBlocks(m: OutboundMessage): string {
  return renderPlainText({ text: m.text, ...(m.blocks ? { blocks: m.blocks } : {}) });
}

function consoleText(m: OutboundMessage): string {
  if (!m.document) throw new Error("no document");
  return renderConsole(m.document);
}

const now = 1_700_000_075_300;
const card: CardState = {
  phase: "queued",
  title: "Migrate web1 & db <prod>",
  jobId: "operation-execute:abcdef0123456789",
  jobNumber: 12,
  requestedBy: "U0ALICE",
  cancellable: true,
  createdAt: now - 80_000,
  startedAt: null,
  endedAt: null,
  step: null,
  activity: null,
  summary: null,
  body: [],
  notes: [],
  output: [],
  pointOfNoReturn: null,
  cancelledBy: null,
};

const cards: CardState[] = [
  card,
  { ...card, activity: "waiting for *ics1*" },
  {
    ...card,
    phase: "running",
    startedAt: now - 65_000,
    step: { index: 2, total: 3, text: "Migrating" },
    activity: "`xm migrate --live web1 ics2`",
    output: Array.from({ length: 12 }, (_, i) => `out ${i} <${"x".repeat(i * 30)}>`),
    notes: [":lock: Past the point of no return (the guest is moving)."],
    body: [
      section(strong("ics1"), " · ", code("[██░░]  50.0%")),
      ...fromBlocks([{ type: "context", elements: [{ type: "mrkdwn", text: "*ics2*: behind" }] }]),
    ],
  },
  {
    ...card,
    phase: "done",
    requestedBy: "system",
    startedAt: now - 5_000,
    endedAt: now,
    summary: "web1 runs on ics2",
  },
  { ...card, phase: "failed", startedAt: now - 5_000, endedAt: now, summary: "x &amp; y" },
  { ...card, phase: "cancelled", cancelledBy: "U0BOB", endedAt: now },
];

const event: ClusterEvent = {
  cluster: "lab",
  kind: "node_dead" as ClusterEvent["kind"],
  family: "node" as ClusterEvent["family"],
  severity: "critical",
  subject: null,
  node: "ics2",
  title: "ics2 is dead according to heartbeat on ics1",
  detail: "cl_status says dead & <silent>",
  evidence: ["cl_status nodestatus ics2: dead", "```odd```", "a & b <c>"],
  source: "poll" as ClusterEvent["source"],
  at: "2024-03-04T10:00:00Z",
  actions: [
    { kind: "fence", node: "ics2" },
    { kind: "start_guests", node: "ics2", survivor: "ics1", guests: ["internet"] },
  ],
};
const view: IncidentView = {
  id: "abcdefgh12345678",
  cluster: "lab",
  status: "open",
  severity: "critical",
  current: event,
  openedAt: "2024-03-04T10:00:00Z",
  lastAt: "2024-03-04T10:05:00Z",
  resolvedAt: null,
  resolution: null,
  count: 3,
  flaps: 1,
  paged: true,
};
const inventory = { oncall: { users: ["UADMIN1"], groups: ["S0OPS"], renotifyAfter: "20s" } } as never;

const incidents: OutboundMessage[] = [
  renderIncident(view, inventory),
  renderIncident(
    {
      ...view,
      oncall: { ackedBy: "UADMIN1", ackedAt: "2024-03-04T10:07:00Z" },
      silencedUntil: "2024-03-04T12:00:00Z",
    },
    inventory,
  ),
  renderIncident(
    {
      ...view,
      status: "resolved",
      resolvedAt: "2024-03-04T10:30:00Z",
      resolution: { title: "ics2 is back", evidence: [] },
      peakTitle: "ics2 dead",
    },
    inventory,
  ),
  renderIncident(
    {
      ...view,
      severity: "warning",
      current: {
        ...event,
        title: "Split brain on internet",
        actions: [{ kind: "keep_data", resource: "internet", survivor: "ics1", victim: "ics2" }],
        splitBrain: [
          {
            node: "ics1",
            role: "Primary",
            disk: "UpToDate",
            connection: "StandAlone",
            outOfSyncKiB: 2048,
            runs: ["internet"],
            disconnectedSince: "2024-03-04T09:59:00Z",
          },
          {
            node: "ics2",
            role: "Secondary",
            disk: "UpToDate",
            connection: "StandAlone",
            outOfSyncKiB: null,
            runs: [],
          },
        ] as never,
      },
    },
    inventory,
  ),
  renderFollowUp(
    {
      icon: "🔁",
      title: "flapped & <again>",
      detail: "down, then up",
      evidence: ["e1", "e2"],
      mention: [user("UADMIN1")],
      buttons: { incidentId: view.id, cluster: "lab", actions: event.actions ?? [] },
    },
    "1.2",
  ),
  renderStorm(
    {
      channel: "C1",
      startedAt: "2024-03-04T10:00:00Z",
      total: 4,
      lines: [
        { id: "a", text: "ics2 dead & <gone>", severity: "critical", resolved: false },
        { id: "b", text: "internet degraded", severity: "warning", resolved: true },
      ],
      paged: true,
    },
    inventory,
  ),
];

describe("console renderer", () => {
  it("prints job cards as the console printed their Slack blocks", () => {
    for (const s of cards)
      expect(consoleText(renderJobCard(s, { now }))).toBe(fromSlackBlocks(renderJobCard(s, { now })));
  });

  it("prints incidents, follow-ups and storms as the console printed their Slack blocks", () => {
    for (const m of incidents) expect(consoleText(m)).toBe(fromSlackBlocks(m));
  });

  it("shows people as @ID, times in UTC, output verbatim and buttons in brackets", () => {
    const running = consoleText(renderJobCard(cards[2] as CardState, { now }));
    expect(running).toContain(
      "Migrate web1 & db <prod> · job 12\n:gear: Running · step 2 of 3: Migrating (1m05s)",
    );
    expect(running).toContain("last 8 of 12 lines\nout 4 <");
    expect(running).toContain("job 12 · requested by @U0ALICE · started 2023-11-14 22:13:30 UTC");
    expect(running).toContain("[Cancel]");
    const incident = consoleText(incidents[0] as OutboundMessage);
    expect(incident).toContain(
      "Evidence\ncl_status nodestatus ics2: dead\n'''odd'''\na & b <c>\nopened 2024-03-04 10:00:00 UTC",
    );
    expect(incident).toContain("on-call: @S0OPS @UADMIN1");
    expect(incident).toContain("[Fence ics2] [Start its guests on ics1]");
  });
});
