/**
 * mrkdwn helpers and Block Kit → plain text (console adapter, file uploads, tests). Buttons render as
 * `[Label]` so a console user sees what Slack would offer.
 */
import type { Block, OutboundMessage, TextObject } from "../../chat/types";
import { mrkdwnToPlain } from "../../message/mrkdwn";
import { escapeMrkdwn, unescapeMrkdwn, utcTime } from "../../message/text";

// Escaping and mrkdwn reading live with the other message text helpers; Slack-side code keeps
// importing them from here.
export { escapeMrkdwn, mrkdwnToPlain, unescapeMrkdwn };

/** A mrkdwn code block; a stray ``` in the content would end the block early, so it is defused. */
export function codeBlock(lines: readonly string[]): string {
  return `\`\`\`\n${lines.map((l) => escapeMrkdwn(l).replace(/```/g, "'''")).join("\n")}\n\`\`\``;
}

/** Slack date token that renders in the reader's time zone, with `fallback` for plain text. */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${utcTime(ms)}>`;
}

function textOf(t: TextObject): string {
  return t.type === "mrkdwn" ? mrkdwnToPlain(t.text) : t.text;
}

function blockToPlain(block: Block): string {
  switch (block.type) {
    case "header": {
      const title = textOf(block.text);
      return `${title}\n${"=".repeat(Math.min(72, Math.max(3, title.length)))}`;
    }
    case "section":
      return [...(block.text ? [textOf(block.text)] : []), ...(block.fields ?? []).map(textOf)].join("\n");
    case "context":
      return block.elements.map(textOf).join("  ");
    case "divider":
      return "----";
    case "actions":
      return block.elements.map((b) => `[${textOf(b.text)}]`).join(" ");
  }
}

export function renderPlainText(message: OutboundMessage): string {
  if (!message.blocks || message.blocks.length === 0) return mrkdwnToPlain(message.text);
  return message.blocks.map(blockToPlain).join("\n");
}
