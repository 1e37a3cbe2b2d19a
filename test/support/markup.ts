/** Checks that a text rendering of a document (console, plain text) carries no Slack markup. */
import { expect } from "vitest";

export function expectNoSlackMarkup(text: string): void {
  // Mentions, dates and other <…> tokens.
  expect(text).not.toMatch(/<[@!#][^>]*>/);
  expect(text).not.toContain("<@U");
  // mrkdwn escaping.
  expect(text).not.toMatch(/&(lt|gt|amp);/);
  // *bold* and _italic_ as Slack writes them.
  expect(text).not.toMatch(/(^|[\s(])\*[^*\s][^*\n]*\*(?=$|[\s).,:;!?])/m);
  expect(text).not.toMatch(/(^|[\s(])_[^_\s][^_\n]*_(?=$|[\s).,:;!?])/m);
  // Code fences.
  expect(text).not.toContain("```");
}
