/**
 * Reading Slack mrkdwn as plain text: what text front ends do with markup that callers still write
 * in mrkdwn (the `markup` parts of a document, Block Kit built by hand).
 */
import { unescapeMrkdwn } from "./text";

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
