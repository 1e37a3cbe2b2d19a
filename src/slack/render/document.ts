/**
 * A neutral message document (src/message/document.ts) as Slack Block Kit with mrkdwn. Slack's limits
 * are applied here, measured on the mrkdwn as sent: a header is cut at 150 characters, a section's text
 * and a context element at 2,900, a field at 1,900, a button label at 75, the fallback text at 3,000.
 * The document travels along (`document`) so the console can print it without reading Slack markup.
 */
import type { Block, ButtonElement, OutboundMessage, TextObject } from "../../chat/types";
import type { DocBlock, DocButton, Inline, MessageDocument } from "../../message/document";
import { escapeMrkdwn, groupMention, truncate, userMention } from "../../message/text";
import { codeBlock, slackDate } from "./text";

export const SLACK_LIMITS = {
  header: 150,
  section: 2_900,
  field: 1_900,
  context: 2_900,
  button: 75,
  fallback: 3_000,
  /** A message without blocks: its text is the whole message. */
  text: 40_000,
} as const;

/** Inline parts as mrkdwn. */
export function toMrkdwn(parts: readonly Inline[]): string {
  return parts.map(inlineToMrkdwn).join("");
}

function inlineToMrkdwn(part: Inline): string {
  if (typeof part === "string") return escapeMrkdwn(part);
  switch (part.kind) {
    case "strong":
      return `*${toMrkdwn(part.parts)}*`;
    case "em":
      return `_${toMrkdwn(part.parts)}_`;
    case "code":
      return `\`${escapeMrkdwn(part.text)}\``;
    case "pre":
      return codeBlock(part.lines);
    case "user":
      return userMention(part.id);
    case "group":
      return groupMention(part.id);
    case "date":
      return slackDate(part.iso);
    case "emoji":
      return `:${part.name}:`;
    case "markup":
      return part.text;
  }
}

function mrkdwn(parts: readonly Inline[], max: number): TextObject {
  return { type: "mrkdwn", text: truncate(toMrkdwn(parts), max) };
}

export function toButton(x: DocButton): ButtonElement {
  return {
    type: "button",
    text: { type: "plain_text", text: truncate(x.label, SLACK_LIMITS.button) },
    action_id: x.actionId,
    ...(x.value !== undefined ? { value: x.value } : {}),
    ...(x.style ? { style: x.style } : {}),
  };
}

export function toBlock(b: DocBlock): Block {
  const id = b.id !== undefined ? { block_id: b.id } : {};
  switch (b.kind) {
    case "heading":
      return {
        type: "header",
        text: { type: "plain_text", text: truncate(b.text, SLACK_LIMITS.header), emoji: true },
        ...id,
      };
    case "section":
      return {
        type: "section",
        ...(b.text ? { text: mrkdwn(b.text, SLACK_LIMITS.section) } : {}),
        ...(b.fields ? { fields: b.fields.slice(0, 10).map((f) => mrkdwn(f, SLACK_LIMITS.field)) } : {}),
        ...id,
      };
    case "context":
      return { type: "context", elements: b.items.map((i) => mrkdwn(i, SLACK_LIMITS.context)), ...id };
    case "divider":
      return { type: "divider", ...id };
    case "actions":
      return { type: "actions", elements: b.buttons.map(toButton), ...id };
  }
}

/**
 * The document as a Slack message (blocks and fallback text), carrying the document itself. A document
 * without blocks is a text message: its summary is the whole text.
 */
export function renderSlack(doc: MessageDocument): OutboundMessage {
  if (doc.blocks.length === 0)
    return { text: truncate(toMrkdwn(doc.summary), SLACK_LIMITS.text), document: doc };
  return {
    text: truncate(toMrkdwn(doc.summary), SLACK_LIMITS.fallback),
    blocks: doc.blocks.map(toBlock),
    document: doc,
  };
}
