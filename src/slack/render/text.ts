/**
 * mrkdwn helpers and Block Kit → plain text (console adapter, file uploads, tests). Buttons render as
 * `[Label]` so a console user sees what Slack would offer.
 */
import type { Block, OutboundMessage, TextObject } from "../../app/types";

/** Slack's three control characters; everything user- or node-supplied goes through this. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function unescapeMrkdwn(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** A mrkdwn code block; a stray ``` in the content would end the block early, so it is defused. */
export function codeBlock(lines: readonly string[]): string {
  return `\`\`\`\n${lines.map((l) => escapeMrkdwn(l).replace(/```/g, "'''")).join("\n")}\n\`\`\``;
}

/** Slack date token that renders in the reader's time zone, with `fallback` for plain text. */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  const fallback = new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${fallback}>`;
}

function inlineToPlain(text: string): string {
  return unescapeMrkdwn(
    text
      .replace(/<!date\^[^|>]*\|([^>]*)>/g, "$1")
      .replace(/<(?:https?|mailto):[^|>]*\|([^>]*)>/g, "$1")
      .replace(/<((?:https?|mailto):[^>]*)>/g, "$1")
      .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name ?? id}`)
      .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name ?? id}`)
      .replace(/<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => name ?? `@${id}`)
      .replace(/<!(here|channel|everyone)>/g, "@$1")
      .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;!?])/gm, "$1$2")
      .replace(/(^|[\s(])_([^_\n]+)_(?=$|[\s).,:;!?])/gm, "$1$2"),
  );
}

/** mrkdwn → plain text: code fences dropped (content kept verbatim), links and dates to their labels. */
export function mrkdwnToPlain(text: string): string {
  const parts = text.split("```");
  const last = parts.length - 1;
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return unescapeMrkdwn(part.replace(/^\n/, "").replace(/\n$/, ""));
      // The newline next to a fence belongs to the fence, not to the surrounding text.
      let outside = part;
      if (i > 0) outside = outside.replace(/^\n/, "");
      if (i < last) outside = outside.replace(/\n$/, "");
      return inlineToPlain(outside);
    })
    .filter((part, i) => i % 2 === 1 || part !== "")
    .join("\n");
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
