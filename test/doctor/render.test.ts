/**
 * The doctor's card as a neutral document: Slack gets the blocks it always got, the console and plain
 * text the same content without Slack markup.
 */
import { describe, expect, it } from "vitest";
import { renderConsole } from "../../src/console/render";
import { doctorDocument, renderDoctorCard } from "../../src/doctor/render";
import type { DoctorReport } from "../../src/doctor/types";
import { renderPlain } from "../../src/message/plain";
import { expectNoSlackMarkup } from "../support/markup";

const report: DoctorReport = {
  cluster: "lab",
  readAt: 0,
  counts: { fail: 1, warn: 1, pass: 2 },
  fenceQuery: {
    from: "ics1",
    target: "ics2",
    shown: "fence_ipmilan -a 10.0.0.2 -o status",
    ok: true,
    detail: "Status: ON",
  },
  results: [
    {
      id: "drbd.after-sb",
      area: "drbd",
      subject: "internet",
      status: "fail",
      summary: "after-sb-0pri is <unset> & risky",
      evidence: [{ node: "ics1", lines: ["net {", "}"] }],
      fix: "set `after-sb-0pri disconnect;`",
    },
    {
      id: "heartbeat.deadtime",
      area: "heartbeat",
      subject: null,
      status: "warn",
      summary: "deadtime is short",
      evidence: [],
      fix: null,
    },
    { id: "xen.a", area: "xen", subject: null, status: "pass", summary: "ok", evidence: [], fix: null },
    { id: "nodes.b", area: "nodes", subject: null, status: "pass", summary: "ok", evidence: [], fix: null },
  ],
};

const mrkdwn = (text: string) => ({ type: "mrkdwn", text });

describe("doctor card", () => {
  it("renders the same Slack blocks as when it was written as Block Kit", () => {
    const card = renderDoctorCard(report);
    expect(card.main.text).toBe("Doctor of lab :x: fails: 1 failing, 1 warning, 2 passing check(s)");
    expect(card.main.blocks).toEqual([
      {
        type: "section",
        text: mrkdwn("Doctor of lab :x: *fails*: 1 failing, 1 warning, 2 passing check(s)"),
      },
      { type: "section", text: mrkdwn("*DRBD*") },
      {
        type: "section",
        text: mrkdwn(
          ":x: `drbd.after-sb` (internet): after-sb-0pri is &lt;unset&gt; &amp; risky\n```\nics1: net {\nics1: }\n```\n*Fix:* set `after-sb-0pri disconnect;`",
        ),
      },
      { type: "section", text: mrkdwn("*HEARTBEAT*") },
      { type: "section", text: mrkdwn(":warning: `heartbeat.deadtime`: deadtime is short") },
      { type: "context", elements: [mrkdwn(":white_check_mark: Passing: xen 1 · nodes 1")] },
      {
        type: "context",
        elements: [
          mrkdwn(
            "The doctor queried the fence device once (`fence_ipmilan -a 10.0.0.2 -o status` from ics1); status and the monitor never do.",
          ),
        ],
      },
    ]);
    expect(card.main.document).toEqual(doctorDocument(report).document);
    expect(card.detailText).toBeNull();
  });

  it("shows the same content in the console and as plain text, without Slack markup", () => {
    const { document } = doctorDocument(report);
    const text = renderConsole(document);
    expect(text.split("\n")).toEqual([
      "Doctor of lab :x: fails: 1 failing, 1 warning, 2 passing check(s)",
      "DRBD",
      ":x: `drbd.after-sb` (internet): after-sb-0pri is <unset> & risky",
      "ics1: net {",
      "ics1: }",
      "Fix: set `after-sb-0pri disconnect;`",
      "HEARTBEAT",
      ":warning: `heartbeat.deadtime`: deadtime is short",
      ":white_check_mark: Passing: xen 1 · nodes 1",
      "The doctor queried the fence device once (`fence_ipmilan -a 10.0.0.2 -o status` from ics1); status and the monitor never do.",
    ]);
    expectNoSlackMarkup(text);

    const plain = renderPlain(document);
    expect(plain).toContain("Doctor of lab ❌ fails: 1 failing, 1 warning, 2 passing check(s)");
    expect(plain).toContain(
      "❌ `drbd.after-sb` (internet): after-sb-0pri is <unset> & risky\n    ics1: net {",
    );
    expect(plain).toContain("Fix: set `after-sb-0pri disconnect;`");
    expect(plain).toContain("✅ Passing: xen 1 · nodes 1");
    expectNoSlackMarkup(plain);
  });

  it("says in every front end when the evidence was shortened", () => {
    const lines = Array.from({ length: 10 }, (_, i) => `line ${i}`);
    const long: DoctorReport = {
      ...report,
      results: [{ ...report.results[0]!, evidence: [{ node: "ics2", lines }] }],
    };
    const { document, truncated } = doctorDocument(long);
    expect(truncated).toBe(true);
    for (const text of [renderConsole(document), renderPlain(document)]) {
      expect(text).toContain("ics2: … 4 more line(s) in the attached report");
      expect(text).toContain("Evidence shortened: the full report is attached in the thread.");
      expectNoSlackMarkup(text);
    }
  });
});
