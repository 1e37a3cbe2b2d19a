/**
 * Documents as plain text. `renderTextBlocks` walks a document for any text front end; `renderPlain`
 * is the one for e-mail and webhooks: a title underlined, blank lines between blocks, verbatim lines
 * indented, times in UTC, emoji as characters, and the buttons listed by name (they only work in chat).
 */
import type { DocBlock, Inline, MessageDocument } from "./document";
import { mrkdwnToPlain } from "./mrkdwn";
import { truncate, utcTime } from "./text";

export interface TextStyle {
  /** A user or group ID as text (e.g. "@U0ALICE", or a display name from a directory). */
  user(id: string): string;
  group(id: string): string;
  emoji(name: string): string;
  /** Caller-written mrkdwn, once read as text (e.g. to turn `:name:` emoji into characters). */
  markupText?(text: string): string;
  /** How one verbatim line is shown (as is, indented…). */
  preLine(line: string): string;
  heading(text: string): string;
  buttons(labels: readonly string[]): string;
  /** Between the items of a context block. */
  contextSeparator: string;
  /** Between blocks. */
  blockSeparator: string;
  divider: string;
}

/** Headlines and button labels are kept as short as in chat, so every front end shows the same words. */
const HEADING_MAX = 150;
const BUTTON_MAX = 75;

type Segment = { text: string } | { pre: readonly string[] };

function segments(parts: readonly Inline[], style: TextStyle, out: Segment[] = []): Segment[] {
  const text = (t: string) => {
    const last = out.at(-1);
    if (last && "text" in last) last.text += t;
    else out.push({ text: t });
  };
  for (const part of parts) {
    if (typeof part === "string") {
      text(part);
      continue;
    }
    switch (part.kind) {
      case "strong":
      case "em":
        segments(part.parts, style, out);
        break;
      case "code":
        text(`\`${part.text}\``);
        break;
      case "pre":
        out.push({ pre: part.lines });
        break;
      case "user":
        text(style.user(part.id));
        break;
      case "group":
        text(style.group(part.id));
        break;
      case "date": {
        const ms = Date.parse(part.iso);
        text(Number.isNaN(ms) ? part.iso : utcTime(ms));
        break;
      }
      case "emoji":
        text(style.emoji(part.name));
        break;
      case "markup":
        text(style.markupText ? style.markupText(mrkdwnToPlain(part.text)) : mrkdwnToPlain(part.text));
        break;
    }
  }
  return out;
}

/** Inline parts as text; a block of verbatim lines always stands on its own lines. */
export function inlineText(parts: readonly Inline[], style: TextStyle): string {
  const segs = segments(parts, style);
  const out: string[] = [];
  segs.forEach((seg, i) => {
    if ("pre" in seg) {
      // A stray ``` would end a chat code block early; chat shows it as ''' and so does text.
      out.push(seg.pre.map((l) => style.preLine(l.replace(/```/g, "'''"))).join("\n"));
      return;
    }
    // The newline next to verbatim lines belongs to them, not to the text around them.
    let t = seg.text;
    if (i > 0) t = t.replace(/^\n/, "");
    if (i < segs.length - 1) t = t.replace(/\n$/, "");
    if (t !== "") out.push(t);
  });
  return out.join("\n");
}

function blockText(b: DocBlock, style: TextStyle): string {
  switch (b.kind) {
    case "heading":
      return style.heading(truncate(b.text, HEADING_MAX));
    case "section":
      return [...(b.text ? [b.text] : []), ...(b.fields ?? [])].map((t) => inlineText(t, style)).join("\n");
    case "context":
      return b.items.map((i) => inlineText(i, style)).join(style.contextSeparator);
    case "divider":
      return style.divider;
    case "actions":
      return style.buttons(b.buttons.map((x) => truncate(x.label, BUTTON_MAX)));
  }
}

/** The document's blocks as text in `style`; the summary when it has none. */
export function renderTextBlocks(doc: MessageDocument, style: TextStyle): string {
  if (doc.blocks.length === 0) return inlineText(doc.summary, style);
  return doc.blocks.map((b) => blockText(b, style)).join(style.blockSeparator);
}

/** The emoji the renderers use, as characters; others are left out of plain text. */
const EMOJI: Record<string, string> = {
  hourglass_flowing_sand: "⏳",
  gear: "⚙️",
  white_check_mark: "✅",
  x: "❌",
  warning: "⚠️",
  no_entry_sign: "🚫",
  lock: "🔒",
  rotating_light: "🚨",
  link: "🔗",
  arrow_forward: "▶️",
  wrench: "🔧",
  stethoscope: "🩺",
  large_green_circle: "🟢",
  red_circle: "🔴",
  information_source: "ℹ️",
  grey_question: "❔",
  clipboard: "📋",
};

function underline(text: string): string {
  return `${text}\n${"=".repeat(Math.min(72, Math.max(3, text.length)))}`;
}

export interface PlainOptions {
  /** Display names for user and group IDs (a directory lookup); "@ID" otherwise. */
  names?: (id: string) => string | undefined;
}

export function plainStyle(options: PlainOptions = {}): TextStyle {
  const name = (id: string) => `@${options.names?.(id) ?? id}`;
  return {
    user: name,
    group: name,
    emoji: (n) => EMOJI[n] ?? "",
    markupText: (t) => t.replace(/:([a-z_]+):/g, (m, n: string) => EMOJI[n] ?? m),
    preLine: (l) => `    ${l}`,
    heading: underline,
    buttons: (labels) => `Actions (in chat): ${labels.join(" · ")}`,
    contextSeparator: " · ",
    blockSeparator: "\n\n",
    divider: "----",
  };
}

/** The document as plain text for an e-mail body or a webhook payload. */
export function renderPlain(doc: MessageDocument, options: PlainOptions = {}): string {
  return `${renderTextBlocks(doc, plainStyle(options)).replace(/ +$/gm, "")}\n`;
}

/** The one-line summary as plain text (an e-mail subject, a webhook title). */
export function renderPlainSummary(doc: MessageDocument, options: PlainOptions = {}): string {
  return inlineText(doc.summary, plainStyle(options)).replace(/\s+/g, " ").trim();
}
