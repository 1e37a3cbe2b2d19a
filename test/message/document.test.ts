import { describe, expect, it } from "vitest";
import type { Block } from "../../src/chat/types";
import {
  fromBlocks,
  group,
  join,
  joinAll,
  markup,
  oncallParts,
  user,
  userOrText,
} from "../../src/message/document";
import { toBlock } from "../../src/slack/render/document";

describe("document builders", () => {
  it("mentions are structured parts, never chat markup", () => {
    expect(userOrText("U0ALICE")).toEqual({ kind: "user", id: "U0ALICE" });
    expect(userOrText("system")).toBe("system");
    expect(oncallParts({ users: ["U1"], groups: ["S1"] })).toEqual([group("S1"), " ", user("U1")]);
    expect(oncallParts({})).toEqual([]);
  });

  it("join and joinAll put separators between parts and non-empty lists", () => {
    expect(join(["a", "b", "c"], ", ")).toEqual(["a", ", ", "b", ", ", "c"]);
    expect(joinAll([["a"], [], ["b", "c"]], " · ")).toEqual(["a", " · ", "b", "c"]);
  });

  it("fromBlocks keeps Block Kit built by callers, and Slack gets the same blocks back", () => {
    const blocks: Block[] = [
      { type: "section", text: { type: "mrkdwn", text: "*ics1* <@U1>" }, block_id: "b1" },
      { type: "context", elements: [{ type: "mrkdwn", text: "✋ by <@U2>" }] },
      { type: "divider" },
      {
        type: "actions",
        block_id: "xenops-oncall-1",
        elements: [
          {
            type: "button",
            text: { type: "plain_text", text: "Acknowledge" },
            action_id: "xenops:oncall:ack",
            value: "{}",
            style: "primary",
          },
        ],
      },
      { type: "header", text: { type: "plain_text", text: "Head", emoji: true } },
    ];
    const doc = fromBlocks(blocks);
    expect(doc[0]).toEqual({ kind: "section", text: [markup("*ics1* <@U1>")], id: "b1" });
    expect(doc.map(toBlock)).toEqual(blocks);
  });
});
