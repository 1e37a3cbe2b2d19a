/**
 * Documents as the console prints them: the header underlined, one line per block, emoji by name,
 * buttons in brackets (what `click` matches), people as @ID. Matches what the console printed when it
 * read the Slack blocks, except that literal text is never read as markup.
 */
import type { MessageDocument } from "../message/document";
import { renderTextBlocks, type TextStyle } from "../message/plain";

export const consoleStyle: TextStyle = {
  user: (id) => `@${id}`,
  group: (id) => `@${id}`,
  emoji: (name) => `:${name}:`,
  preLine: (line) => line,
  heading: (text) => `${text}\n${"=".repeat(Math.min(72, Math.max(3, text.length)))}`,
  buttons: (labels) => labels.map((l) => `[${l}]`).join(" "),
  contextSeparator: "  ",
  blockSeparator: "\n",
  divider: "----",
};

export function renderConsole(doc: MessageDocument): string {
  return renderTextBlocks(doc, consoleStyle);
}
