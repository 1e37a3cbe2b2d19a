import { describe, expect, it } from "vitest";
import {
  codeBlock,
  escapeMrkdwn,
  mrkdwnToPlain,
  renderPlainText,
  slackDate,
} from "../../src/slack/render/text";

describe("renderPlainText", () => {
  it("renders buttons in brackets, header, sections, fields, context and dividers", () => {
    const text = renderPlainText({
      text: "fallback",
      blocks: [
        { type: "header", text: { type: "plain_text", text: "Approval needed" } },
        { type: "section", text: { type: "mrkdwn", text: "*migrate* web1 → ics2 requested by <@U0ALICE>" } },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*Job*\nj-17" },
            { type: "plain_text", text: "Expires in 10 min" },
          ],
        },
        { type: "divider" },
        {
          type: "context",
          elements: [{ type: "mrkdwn", text: "see <https://wiki.example/runbook|runbook>" }],
        },
        {
          type: "actions",
          elements: [
            {
              type: "button",
              text: { type: "plain_text", text: "Approve" },
              action_id: "xenops:approve",
              style: "primary",
            },
            {
              type: "button",
              text: { type: "plain_text", text: "Deny" },
              action_id: "xenops:deny",
              style: "danger",
            },
          ],
        },
      ],
    });
    expect(text).toBe(
      [
        "Approval needed",
        "===============",
        "migrate web1 → ics2 requested by @U0ALICE",
        "Job",
        "j-17",
        "Expires in 10 min",
        "----",
        "see runbook",
        "[Approve] [Deny]",
      ].join("\n"),
    );
  });

  it("falls back to the message text when there are no blocks", () => {
    expect(renderPlainText({ text: "plain &lt;ok&gt; *bold* _italic_ vm_web_1" })).toBe(
      "plain <ok> bold italic vm_web_1",
    );
  });

  it("keeps code block content verbatim and drops the fences", () => {
    const md = `*Domains*\n${codeBlock(["NAME  ID", "a<b   1", "x```y 2"])}\nafter`;
    expect(mrkdwnToPlain(md)).toBe("Domains\nNAME  ID\na<b   1\nx'''y 2\nafter");
  });

  it("turns Slack date tokens into their fallback", () => {
    expect(mrkdwnToPlain(`taken ${slackDate("2024-05-01T12:34:56Z")}`)).toBe("taken 2024-05-01 12:34:56 UTC");
    expect(slackDate("not a date <x>")).toBe("not a date &lt;x&gt;");
  });

  it("escapes exactly Slack's control characters", () => {
    expect(escapeMrkdwn("a & b < c > d *e*")).toBe("a &amp; b &lt; c &gt; d *e*");
  });
});
