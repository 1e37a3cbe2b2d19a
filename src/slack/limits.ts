/**
 * Slack's message limits and the guard that fits every outbound message to them before it is sent
 * (SlackSender calls `fitMessage` on every post, edit and ephemeral reply). What does not fit is cut at a
 * line, with a note in place, and returned as `overflow` for the sender to attach in the thread, so a
 * long card is never rejected and never loses its content. `smallerForm` is the card's last resort after
 * a rejection: a plain-text summary and the buttons that matter.
 */
import type { Block, ButtonElement, OutboundMessage, TextObject } from "../chat/types";
import { mrkdwnToPlain } from "./render/text";

/** Block Kit's documented limits for messages (api.slack.com/reference/block-kit). */
export const SLACK_LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3_000,
  sectionFields: 10,
  sectionFieldText: 2_000,
  headerText: 150,
  contextElements: 10,
  /** A context element's text object: Slack documents no lower limit than a text object's 3000; 2000 is safe. */
  contextText: 2_000,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2_000,
  actionId: 255,
  blockId: 255,
  /** chat.postMessage's top-level `text` (Slack truncates beyond it). */
  messageText: 40_000,
} as const;

/**
 * Total size of the serialized `blocks` JSON. Slack answers `msg_blocks_too_long` for messages around
 * 12,000 characters of blocks even when every block is within its documented limit (an approval card of
 * 14.0k was rejected); it documents no exact figure, so xenops keeps a margin under what was observed.
 */
export const BLOCKS_JSON_BUDGET = 11_000;

/** What the guard puts where it cut something. */
export const CUT_NOTE = "… (cut: the full text is attached in the thread)";
const CUT_NOTE_EPHEMERAL = "… (cut: too long for Slack)";

export interface FitResult {
  message: OutboundMessage;
  /** Plain text of every part that was cut or left out, in order; empty when the message fit as it was. */
  overflow: string[];
}

export interface FitOptions {
  /** Total blocks budget (default BLOCKS_JSON_BUDGET). */
  budget?: number;
  /** No thread to attach to (ephemeral replies): the note says so instead. */
  noAttachment?: boolean;
}

/**
 * Cuts mrkdwn to at most `max` characters at a line break when there is one near, never inside an
 * entity (`&lt;`) or a `<...>` link, closing an open code block, and ends it with `note`.
 */
export function cutMrkdwn(text: string, max: number, note = CUT_NOTE): string {
  if (text.length <= max) return text;
  // Room for the note, a newline, and a closing fence.
  let end = Math.max(0, max - note.length - 5);
  const nl = text.lastIndexOf("\n", end);
  if (nl > end * 0.7) end = nl;
  let head = text.slice(0, end);
  const amp = head.lastIndexOf("&");
  if (amp >= 0 && !head.slice(amp).includes(";")) head = head.slice(0, amp);
  const lt = head.lastIndexOf("<");
  if (lt >= 0 && !head.slice(lt).includes(">")) head = head.slice(0, lt);
  const fences = head.split("```").length - 1;
  return `${head}${fences % 2 === 1 ? "\n```" : ""}\n${note}`.slice(0, max);
}

function cutPlain(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function textOf(t: TextObject): string {
  return t.type === "mrkdwn" ? mrkdwnToPlain(t.text) : t.text;
}

/** The readable text of a block (for the overflow file). */
export function blockText(block: Block): string {
  switch (block.type) {
    case "header":
      return block.text.text;
    case "section":
      return [...(block.text ? [textOf(block.text)] : []), ...(block.fields ?? []).map(textOf)].join("\n");
    case "context":
      return block.elements.map(textOf).join(" · ");
    case "actions":
      return `[${block.elements.map((e) => e.text.text).join("] [")}]`;
    case "divider":
      return "";
  }
}

function fitText(t: TextObject, max: number, note: string, overflow: string[]): TextObject {
  if (t.text.length <= max) return t;
  overflow.push(textOf(t));
  return { ...t, text: t.type === "mrkdwn" ? cutMrkdwn(t.text, max, note) : cutPlain(t.text, max) };
}

function fitButton(b: ButtonElement): ButtonElement | null {
  // A value or action_id cut short would act on something else: such a button is left out instead.
  if ((b.value?.length ?? 0) > SLACK_LIMITS.buttonValue || b.action_id.length > SLACK_LIMITS.actionId)
    return null;
  return b.text.text.length <= SLACK_LIMITS.buttonText
    ? b
    : { ...b, text: { ...b.text, text: cutPlain(b.text.text, SLACK_LIMITS.buttonText) } };
}

function fitBlockId<B extends Block>(block: B): B {
  if (block.block_id === undefined || block.block_id.length <= SLACK_LIMITS.blockId) return block;
  const { block_id: _dropped, ...rest } = block;
  return rest as B;
}

/** One block within its own documented limits; null when nothing of it can be sent. */
function fitBlock(block: Block, note: string, overflow: string[]): Block | null {
  const b = fitBlockId(block);
  switch (b.type) {
    case "header":
      return { ...b, text: fitText(b.text, SLACK_LIMITS.headerText, note, overflow) };
    case "section": {
      const out: Block = { ...b };
      if (b.text) out.text = fitText(b.text, SLACK_LIMITS.sectionText, note, overflow);
      if (b.fields) {
        if (b.fields.length > SLACK_LIMITS.sectionFields)
          overflow.push(b.fields.slice(SLACK_LIMITS.sectionFields).map(textOf).join("\n"));
        out.fields = b.fields
          .slice(0, SLACK_LIMITS.sectionFields)
          .map((f) => fitText(f, SLACK_LIMITS.sectionFieldText, note, overflow));
      }
      return out;
    }
    case "context": {
      if (b.elements.length > SLACK_LIMITS.contextElements)
        overflow.push(b.elements.slice(SLACK_LIMITS.contextElements).map(textOf).join(" · "));
      return {
        ...b,
        elements: b.elements
          .slice(0, SLACK_LIMITS.contextElements)
          .map((e) => fitText(e, SLACK_LIMITS.contextText, note, overflow)),
      };
    }
    case "actions": {
      const elements = b.elements
        .slice(0, SLACK_LIMITS.actionsElements)
        .map(fitButton)
        .filter((e): e is ButtonElement => e !== null);
      return elements.length > 0 ? { ...b, elements } : null;
    }
    case "divider":
      return b;
  }
}

export function blocksSize(blocks: readonly Block[]): number {
  return JSON.stringify(blocks).length;
}

/** The longest text of a block that can be shortened (section text or a context element). */
function shrinkable(block: Block): number {
  if (block.type === "section") return block.text?.text.length ?? 0;
  if (block.type === "context") return Math.max(0, ...block.elements.map((e) => e.text.length));
  return 0;
}

/**
 * Fits a message to Slack: every block within its documented limits, at most 50 blocks, the blocks'
 * JSON within the budget (the longest texts are cut first, then whole blocks other than the header and
 * the buttons are left out), and the top-level text within 40,000 characters.
 */
export function fitMessage(message: OutboundMessage, options: FitOptions = {}): FitResult {
  const budget = options.budget ?? BLOCKS_JSON_BUDGET;
  const note = options.noAttachment ? CUT_NOTE_EPHEMERAL : CUT_NOTE;
  const overflow: string[] = [];
  const text =
    message.text.length > SLACK_LIMITS.messageText
      ? cutPlain(message.text, SLACK_LIMITS.messageText)
      : message.text;
  if (!message.blocks) return { message: text === message.text ? message : { ...message, text }, overflow };

  let blocks = message.blocks.map((b) => fitBlock(b, note, overflow)).filter((b): b is Block => b !== null);

  // Too many blocks: the header, the first blocks and every actions block stay; the rest of the middle
  // goes to the thread with a note where it was.
  const max = SLACK_LIMITS.blocksPerMessage;
  if (blocks.length > max) {
    const actions = blocks.filter((b) => b.type === "actions");
    const others = blocks.filter((b) => b.type !== "actions");
    const keep = Math.max(1, max - actions.length - 1);
    overflow.push(...others.slice(keep).map(blockText));
    blocks = [
      ...others.slice(0, keep),
      { type: "context", elements: [{ type: "mrkdwn", text: note }] },
      ...actions.slice(0, max - keep - 1),
    ];
  }

  // Over the total budget: shorten the longest text, repeatedly; when nothing long is left, drop the
  // largest block that is neither the header nor buttons.
  for (let guard = 0; guard < 200 && blocksSize(blocks) > budget; guard += 1) {
    const excess = blocksSize(blocks) - budget;
    let longest = -1;
    for (let i = 0; i < blocks.length; i += 1) {
      const block = blocks[i];
      if (
        block &&
        shrinkable(block) > 400 &&
        (longest < 0 || shrinkable(block) > shrinkable(blocks[longest] as Block))
      )
        longest = i;
    }
    const target = longest >= 0 ? blocks[longest] : undefined;
    if (target) {
      // JSON escaping makes the serialized text somewhat longer than the text itself: cut a little more.
      const room = Math.max(300, shrinkable(target) - excess - 100);
      blocks[longest] = shrinkBlock(target, room, note, overflow);
      continue;
    }
    let drop = -1;
    for (let i = 0; i < blocks.length; i += 1) {
      const block = blocks[i];
      if (!block || block.type === "header" || block.type === "actions") continue;
      if (drop < 0 || JSON.stringify(block).length > JSON.stringify(blocks[drop]).length) drop = i;
    }
    if (drop < 0) break;
    overflow.push(blockText(blocks[drop] as Block));
    blocks.splice(drop, 1, { type: "context", elements: [{ type: "mrkdwn", text: note }] });
    // Several dropped blocks leave one note.
    blocks = blocks.filter((b, i) => !(isNote(b, note) && i > 0 && isNote(blocks[i - 1] as Block, note)));
  }
  if (overflow.length === 0 && text === message.text) return { message, overflow };
  return { message: { ...message, text, blocks }, overflow };
}

function isNote(block: Block, note: string): boolean {
  return block.type === "context" && block.elements.length === 1 && block.elements[0]?.text === note;
}

function shrinkBlock(block: Block, max: number, note: string, overflow: string[]): Block {
  if (block.type === "section" && block.text)
    return { ...block, text: fitText(block.text, max, note, overflow) };
  if (block.type === "context")
    return { ...block, elements: block.elements.map((e) => fitText(e, max, note, overflow)) };
  return block;
}

/**
 * The last form of a card Slack refused: its fallback text as one section, a line saying why, and its
 * buttons (within limits), so whoever must act still can.
 */
export function smallerForm(message: OutboundMessage, reason: string): OutboundMessage {
  const buttons = (message.blocks ?? [])
    .filter((b): b is Extract<Block, { type: "actions" }> => b.type === "actions")
    .map((b) => fitBlock(b, CUT_NOTE, []))
    .filter((b): b is Block => b !== null)
    .slice(0, 3);
  const summary = cutMrkdwn(message.text || "(no text)", SLACK_LIMITS.sectionText - 200);
  return {
    ...message,
    text: cutPlain(message.text, 3_000),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: summary } },
      {
        type: "context",
        elements: [
          {
            type: "mrkdwn",
            text: `⚠️ Slack refused the full message (\`${reason.replace(/[^a-z0-9_]/gi, "")}\`); its text is attached in the thread.`,
          },
        ],
      },
      ...buttons,
    ],
  };
}

/** Everything readable in a message, for the file attached when it had to be cut or refused. */
export function messagePlainText(message: OutboundMessage): string {
  if (!message.blocks || message.blocks.length === 0) return mrkdwnToPlain(message.text);
  return message.blocks
    .map(blockText)
    .filter((t) => t.length > 0)
    .join("\n\n");
}
