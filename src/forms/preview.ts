/** The text of a card's blocks, for places that show it without Block Kit (the modal's preflight). */
import type { OutboundMessage } from "../chat/types";

const MAX = 2_600;

export function previewOf(message: OutboundMessage): string {
  const lines: string[] = [];
  for (const b of message.blocks ?? []) {
    if (b.type === "header" || (b.type === "section" && b.text)) lines.push(b.text?.text ?? "");
    else if (b.type === "section" && b.fields) lines.push(b.fields.map((f) => f.text).join("\n"));
    else if (b.type === "context") lines.push(b.elements.map((e) => e.text).join(" "));
  }
  const text = lines.length > 0 ? lines.join("\n") : message.text;
  return text.length > MAX ? `${text.slice(0, MAX)}\n… (the full card is in the channel)` : text;
}
