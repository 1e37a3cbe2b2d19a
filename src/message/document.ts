/**
 * A chat message independent of any front end: the job card, incident, approval and operation card
 * renderers build one, and each front end turns it into its own format (Slack Block Kit in src/slack/render/document.ts, the
 * console's text in src/console/render.ts, plain text for e-mail or a webhook in ./plain.ts). A new
 * chat front end is one more renderer of this type.
 *
 * Text is a list of inline parts. Plain strings are literal text (each renderer escapes what its
 * format needs); people, groups and times are structured parts, never `<@U…>` strings. `markup` carries
 * Slack mrkdwn that callers of the older string APIs (job card notes, activity lines, body blocks)
 * still pass in; renderers other than Slack read it as mrkdwn.
 */
import type { Block, TextObject } from "../chat/types";

export type Inline =
  | string
  | { kind: "strong"; parts: Inline[] }
  | { kind: "em"; parts: Inline[] }
  /** Inline code (a command, an id). */
  | { kind: "code"; text: string }
  /** A block of verbatim lines (output, evidence); starts and ends its own line. */
  | { kind: "pre"; lines: readonly string[] }
  /** A chat user, by the front end's user ID. */
  | { kind: "user"; id: string }
  /** A user group (Slack's subteam). */
  | { kind: "group"; id: string }
  /** A point in time (ISO 8601); chat shows it in the reader's time zone. */
  | { kind: "date"; iso: string }
  /** A named emoji (`hourglass_flowing_sand`); Slack shows the picture, text front ends the name or a character. */
  | { kind: "emoji"; name: string }
  /** Slack mrkdwn from a caller, kept as given. */
  | { kind: "markup"; text: string };

export interface DocButton {
  label: string;
  /** What the click handler is registered for; front ends must send it back unchanged. */
  actionId: string;
  value?: string;
  style?: "primary" | "danger";
}

export type DocBlock =
  /** A title line: plain text only (Slack's header allows no markup). */
  | { kind: "heading"; text: string; id?: string }
  | { kind: "section"; text?: Inline[]; fields?: Inline[][]; id?: string }
  /** Small print: each item is shown side by side. */
  | { kind: "context"; items: Inline[][]; id?: string }
  | { kind: "divider"; id?: string }
  | { kind: "actions"; buttons: DocButton[]; id?: string };

export interface MessageDocument {
  /** The one-line version (notifications, screen readers, previews). */
  summary: Inline[];
  blocks: DocBlock[];
}

// ---- builders ----

export const strong = (...parts: Inline[]): Inline => ({ kind: "strong", parts });
export const em = (...parts: Inline[]): Inline => ({ kind: "em", parts });
export const code = (text: string): Inline => ({ kind: "code", text });
export const pre = (lines: readonly string[]): Inline => ({ kind: "pre", lines });
export const user = (id: string): Inline => ({ kind: "user", id });
export const group = (id: string): Inline => ({ kind: "group", id });
export const date = (iso: string): Inline => ({ kind: "date", iso });
export const emoji = (name: string): Inline => ({ kind: "emoji", name });
export const markup = (text: string): Inline => ({ kind: "markup", text });

/** A Slack user ID becomes a mention; anything else ("system", a name) stays text. */
export function userOrText(id: string): Inline {
  return /^[UW][A-Z0-9]{2,}$/.test(id) ? user(id) : id;
}

/** The on-call's groups, then users; empty when none is configured. */
export function oncallParts(who: { users?: readonly string[]; groups?: readonly string[] }): Inline[] {
  return join([...(who.groups ?? []).map(group), ...(who.users ?? []).map(user)], " ");
}

/** Parts with `sep` between them. */
export function join(parts: readonly Inline[], sep: Inline): Inline[] {
  const out: Inline[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(sep);
    out.push(p);
  });
  return out;
}

/** Lists of parts with `sep` between the lists (empty lists skipped). */
export function joinAll(lists: readonly (readonly Inline[])[], sep: Inline): Inline[] {
  const out: Inline[] = [];
  for (const list of lists) {
    if (list.length === 0) continue;
    if (out.length > 0) out.push(sep);
    out.push(...list);
  }
  return out;
}

export function section(...text: Inline[]): DocBlock {
  return { kind: "section", text };
}

export function context(...text: Inline[]): DocBlock {
  return { kind: "context", items: [text] };
}

// ---- Block Kit from older callers ----

function inlineOf(t: TextObject): Inline[] {
  // plain_text is literal; mrkdwn is markup as the caller wrote it.
  return [t.type === "mrkdwn" ? markup(t.text) : t.text];
}

/**
 * Blocks that callers still build as Block Kit (job-specific card bodies, the on-call buttons) as
 * document blocks, so every front end shows them.
 */
export function fromBlocks(blocks: readonly Block[]): DocBlock[] {
  return blocks.map(fromBlock);
}

export function fromBlock(b: Block): DocBlock {
  const id = b.block_id !== undefined ? { id: b.block_id } : {};
  switch (b.type) {
    case "header":
      return { kind: "heading", text: b.text.text, ...id };
    case "section":
      return {
        kind: "section",
        ...(b.text ? { text: inlineOf(b.text) } : {}),
        ...(b.fields ? { fields: b.fields.map(inlineOf) } : {}),
        ...id,
      };
    case "context":
      return { kind: "context", items: b.elements.map(inlineOf), ...id };
    case "divider":
      return { kind: "divider", ...id };
    case "actions":
      return {
        kind: "actions",
        buttons: b.elements.map((e) => ({
          label: e.text.text,
          actionId: e.action_id,
          ...(e.value !== undefined ? { value: e.value } : {}),
          ...(e.style ? { style: e.style } : {}),
        })),
        ...id,
      };
  }
}
