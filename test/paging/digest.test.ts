/**
 * The on-call digest as a neutral document: Slack gets the blocks it always got, the console and plain
 * text the same content without Slack markup.
 */
import { describe, expect, it } from "vitest";
import { renderConsole } from "../../src/console/render";
import { renderPlain } from "../../src/message/plain";
import { type DigestOpen, type DigestPage, digestDocument, renderDigest } from "../../src/paging/digest";
import { expectNoSlackMarkup } from "../support/markup";

const pages: DigestPage[] = [
  {
    title: "r0 <split> & brain",
    pagedAt: "2024-05-01T09:00:00Z",
    ack: { by: "U0ALICE", at: "2024-05-01T09:07:00Z" },
    snoozes: 2,
    renotified: true,
    escalated: 1,
    resolvedAt: "2024-05-01T11:30:00Z",
  },
  {
    title: "ics2 dead",
    pagedAt: "2024-05-01T10:00:00Z",
    ack: null,
    snoozes: 0,
    renotified: false,
    escalated: 0,
    resolvedAt: null,
  },
];
const open: DigestOpen[] = [
  { title: "ics2 dead", severity: "critical", openedAt: "2024-05-01T10:00:00Z", ackedBy: null },
  { title: "r1 <sync>", severity: "warning", openedAt: "2024-05-01T10:00:00Z", ackedBy: "U0BOB" },
];
const SINCE = "2024-05-01T08:00:00Z";
const at = (unix: number, utc: string) => `<!date^${unix}^{date_short_pretty} {time_secs}|${utc}>`;

describe("on-call digest", () => {
  it("renders the same Slack blocks as when it was written as Block Kit", () => {
    const m = renderDigest("lab", SINCE, pages, open);
    expect(m.text).toBe("On-call digest for lab: 2 pages in 24 h, 2 open");
    expect(m.blocks).toEqual([
      {
        type: "header",
        text: { type: "plain_text", text: "🗓️ On-call digest · lab · last 24 h", emoji: true },
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: [
            `*2* pages since ${at(1714550400, "2024-05-01 08:00:00 UTC")}: 1 acknowledged, 1 not.`,
            `• ${at(1714554000, "2024-05-01 09:00:00 UTC")} r0 &lt;split&gt; &amp; brain: acknowledged by <@U0ALICE> after 7 min, snoozed 2×, re-notified, escalated 1×, resolved after 2 h 30 min`,
            `• ${at(1714557600, "2024-05-01 10:00:00 UTC")} ics2 dead: *never acknowledged*, still open`,
          ].join("\n"),
        },
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: [
            "*Open now* (2)",
            `🔴 ics2 dead (since ${at(1714557600, "2024-05-01 10:00:00 UTC")})`,
            `🟠 r1 &lt;sync&gt; (since ${at(1714557600, "2024-05-01 10:00:00 UTC")}, acknowledged by <@U0BOB>)`,
          ].join("\n"),
        },
      },
    ]);
    expect(m.document).toEqual(digestDocument("lab", SINCE, pages, open));
  });

  it("shows the same content in the console and as plain text, without Slack markup", () => {
    const doc = digestDocument("lab", SINCE, pages, open);
    const text = renderConsole(doc);
    expect(text).toContain("2 pages since 2024-05-01 08:00:00 UTC: 1 acknowledged, 1 not.");
    expect(text).toContain(
      "• 2024-05-01 09:00:00 UTC r0 <split> & brain: acknowledged by @U0ALICE after 7 min, snoozed 2×",
    );
    expect(text).toContain("ics2 dead: never acknowledged, still open");
    expect(text).toContain("🟠 r1 <sync> (since 2024-05-01 10:00:00 UTC, acknowledged by @U0BOB)");
    expectNoSlackMarkup(text);
    const plain = renderPlain(doc);
    expect(plain).toContain("🗓️ On-call digest · lab · last 24 h\n===");
    expect(plain).toContain("Open now (2)\n🔴 ics2 dead (since 2024-05-01 10:00:00 UTC)");
    expectNoSlackMarkup(plain);
  });

  it("lists at most 25 pages and says how many more there were", () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ ...pages[1]!, title: `page ${i}` }));
    const doc = digestDocument("lab", SINCE, many, []);
    const text = renderConsole(doc);
    expect(text).toContain("page 24: never acknowledged");
    expect(text).not.toContain("page 25:");
    expect(text).toContain("…and 5 more");
    expect(text).toContain("Nothing is open now.");
    expect(renderConsole(digestDocument("lab", SINCE, [], []))).toContain(
      "Nobody was paged since 2024-05-01 08:00:00 UTC.",
    );
  });
});
