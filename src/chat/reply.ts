/**
 * Replies built as neutral documents (src/message/document.ts): Slack gets the text (and blocks, when the
 * document has any) rendered from it, text front ends print the document itself.
 */
import type { MessageDocument } from "../message/document";
import { renderSlack } from "../slack/render/document";
import type { Reply } from "./types";

export function documentReply(doc: MessageDocument): Reply {
  const m = renderSlack(doc);
  return { text: m.text, ...(m.blocks ? { blocks: m.blocks } : {}), document: doc };
}
