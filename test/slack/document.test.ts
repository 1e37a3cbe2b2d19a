import { describe, expect, it } from "vitest";
import {
  code,
  date,
  em,
  emoji,
  group,
  type MessageDocument,
  markup,
  pre,
  strong,
  user,
} from "../../src/message/document";
import { renderSlack, SLACK_LIMITS, toMrkdwn } from "../../src/slack/render/document";

describe("inline parts as mrkdwn", () => {
  it("escapes literal text and builds mentions, dates and emphasis as tokens", () => {
    expect(
      toMrkdwn([
        "a & <b> ",
        strong("x ", em("y")),
        " ",
        user("U0ALICE"),
        " ",
        group("S0OPS"),
        " ",
        code("xm list <x>"),
        " ",
        emoji("gear"),
        " ",
        date("2024-03-04T10:00:01Z"),
      ]),
    ).toBe(
      "a &amp; &lt;b&gt; *x _y_* <@U0ALICE> <!subteam^S0OPS> `xm list &lt;x&gt;` :gear: <!date^1709546401^{date_short_pretty} {time_secs}|2024-03-04 10:00:01 UTC>",
    );
  });

  it("keeps caller markup as given and defuses fences inside verbatim lines", () => {
    expect(toMrkdwn([markup("*bold* <@U1>")])).toBe("*bold* <@U1>");
    expect(toMrkdwn(["x\n", pre(["a < b", "```oops```"])])).toBe("x\n```\na &lt; b\n'''oops'''\n```");
  });
});

describe("renderSlack", () => {
  const doc: MessageDocument = {
    summary: [user("U0ALICE"), " ", "hello & bye"],
    blocks: [
      { kind: "heading", text: "H".repeat(200) },
      { kind: "section", text: ["x".repeat(4000)], id: "s1" },
      { kind: "section", fields: Array.from({ length: 12 }, (_, i) => [`f${i}`]) },
      { kind: "context", items: [["a"], [strong("b")]] },
      { kind: "divider" },
      {
        kind: "actions",
        id: "acts",
        buttons: [
          { label: "Fence ics2", actionId: "xenops:event:fence:0", value: '{"v":1}', style: "danger" },
          { label: "L".repeat(100), actionId: "plain" },
        ],
      },
    ],
  };

  it("produces Block Kit with Slack's limits applied", () => {
    const m = renderSlack(doc);
    expect(m.text).toBe("<@U0ALICE> hello &amp; bye");
    expect(m.document).toBe(doc);
    const [header, long, fields, ctx, divider, actions] = m.blocks ?? [];
    expect(header).toEqual({
      type: "header",
      text: { type: "plain_text", text: `${"H".repeat(149)}…`, emoji: true },
    });
    expect(long).toEqual({
      type: "section",
      text: { type: "mrkdwn", text: `${"x".repeat(SLACK_LIMITS.section - 1)}…` },
      block_id: "s1",
    });
    expect(fields?.type === "section" ? fields.fields : []).toHaveLength(10);
    expect(ctx).toEqual({
      type: "context",
      elements: [
        { type: "mrkdwn", text: "a" },
        { type: "mrkdwn", text: "*b*" },
      ],
    });
    expect(divider).toEqual({ type: "divider" });
    expect(actions).toEqual({
      type: "actions",
      block_id: "acts",
      elements: [
        {
          type: "button",
          text: { type: "plain_text", text: "Fence ics2" },
          action_id: "xenops:event:fence:0",
          value: '{"v":1}',
          style: "danger",
        },
        { type: "button", text: { type: "plain_text", text: `${"L".repeat(74)}…` }, action_id: "plain" },
      ],
    });
  });
});
