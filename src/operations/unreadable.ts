/**
 * Unreadable output behind a refusal. A snapshot part that could not be parsed (or whose command
 * failed with output) keeps its raw lines in its PartError; a refusal caused by such a part shows
 * the first lines on the card and attaches all of them, so the operator sees exactly what the node
 * printed instead of a guess. Pure, except attachRawOutput (one upload through the notifier).
 */

import { sentLength } from "../approval/card";
import type { PreflightCheck } from "../approval/types";
import type { MessageRef, Notifier } from "../chat/types";
import { context, type DocBlock, em, type Inline, pre, section, strong } from "../message/document";
import { truncate } from "../message/text";
import type { ClusterState, NodeState, PartError } from "../model";

/** Raw lines shown on the card per unreadable part; the attachment has them all. */
export const RAW_LINES_ON_CARD = 20;
/** Unreadable parts shown on one card (the attachment lists every one). */
const PARTS_ON_CARD = 4;
const SECTION_MAX = 2_900;
const LINE_MAX = 300;

const PART_LABELS: Record<string, string> = {
  domains: "domain list (xm/xl list)",
  xenInfo: "Xen info (xm/xl info)",
  drbd: "DRBD status",
  ha: "HA view",
  haConfig: "HA configuration",
  startup: "xendomains start-up settings",
};

export interface UnreadableOutput {
  node: string;
  /** The snapshot part (`domains`, `drbd`, ...). */
  part: string;
  code: string;
  message: string;
  /** The output as read (capped by the snapshot). */
  raw: string[];
}

/**
 * Every part of these nodes (all nodes when omitted) that failed with output kept: each NodeState
 * field `xxxError` carrying `raw`, so parts added later are covered without a change here.
 */
export function unreadableParts(state: ClusterState, nodes?: readonly string[]): UnreadableOutput[] {
  const out: UnreadableOutput[] = [];
  for (const node of state.nodes) {
    if (nodes && !nodes.includes(node.name)) continue;
    for (const [key, value] of Object.entries(node as NodeState & Record<string, unknown>)) {
      if (!key.endsWith("Error") || key === "error" || !isPartError(value) || !value.raw) continue;
      out.push({
        node: node.name,
        part: key.slice(0, -"Error".length),
        code: value.code,
        message: value.message,
        raw: value.raw,
      });
    }
  }
  return out;
}

function isPartError(value: unknown): value is PartError {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as PartError).code === "string" &&
    typeof (value as PartError).message === "string"
  );
}

/**
 * The unreadable parts a refusal is about: those of the nodes its failed checks name, plus the nodes
 * the request itself names. A node whose output is fine contributes nothing.
 */
export function unreadableForRefusal(
  state: ClusterState,
  checks: readonly PreflightCheck[],
  focusNodes: readonly string[] = [],
): UnreadableOutput[] {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return [];
  const text = failed.map((c) => `${c.name} ${c.detail}`).join("\n");
  const named = state.nodes
    .map((n) => n.name)
    .filter((name) => focusNodes.includes(name) || mentions(text, name));
  return unreadableParts(state, named);
}

function mentions(text: string, word: string): boolean {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^A-Za-z0-9_.-])${escaped}($|[^A-Za-z0-9_-])`).test(text);
}

function label(part: string): string {
  return PART_LABELS[part] ?? part;
}

/** Card sections: per unreadable part, what failed and its first RAW_LINES_ON_CARD lines. */
export function unreadableBlocks(items: readonly UnreadableOutput[]): DocBlock[] {
  if (items.length === 0) return [];
  const blocks = items.slice(0, PARTS_ON_CARD).map((u) => {
    const head: Inline[] = [
      strong(`Unreadable output: ${label(u.part)} on ${u.node}`),
      ` (${u.code}: ${truncate(u.message, 300)})`,
    ];
    const shown = u.raw.slice(0, RAW_LINES_ON_CARD).map((l) => truncate(l, LINE_MAX));
    const more =
      u.raw.length > RAW_LINES_ON_CARD
        ? `First ${RAW_LINES_ON_CARD} of ${u.raw.length} lines; all of them are in the attached file.`
        : "As read; also in the attached file.";
    let body: Inline[] = [...head, "\n", pre(shown.length > 0 ? shown : ["(empty output)"]), "\n", em(more)];
    // Keep within one section (as Slack counts it): drop lines from the end rather than cut the code block open.
    while (sentLength(...body) > SECTION_MAX && shown.length > 1) {
      shown.pop();
      body = [
        ...head,
        "\n",
        pre([...shown, "…"]),
        "\n",
        em(`Cut to fit; all ${u.raw.length} lines are in the attached file.`),
      ];
    }
    return section(...body);
  });
  if (items.length > PARTS_ON_CARD)
    blocks.push(
      context(
        `${items.length - PARTS_ON_CARD} more unreadable output${items.length - PARTS_ON_CARD === 1 ? "" : "s"} in the attached file.`,
      ),
    );
  return blocks;
}

/** Plain text of every unreadable part with all its lines (the attached file). */
export function unreadableFileText(items: readonly UnreadableOutput[]): string {
  return items
    .map((u) =>
      [
        `=== ${u.node}: ${label(u.part)} (${u.code}: ${u.message})`,
        `=== ${u.raw.length} line${u.raw.length === 1 ? "" : "s"} as read${u.raw.length === 0 ? " (empty output)" : ""}`,
        ...u.raw,
        "",
      ].join("\n"),
    )
    .join("\n");
}

/** Attaches every raw line to the card's thread; false when the notifier cannot upload or it failed. */
export async function attachRawOutput(
  notifier: Notifier,
  ref: MessageRef | null,
  items: readonly UnreadableOutput[],
  title: string,
): Promise<boolean> {
  if (items.length === 0 || !ref || !notifier.upload) return false;
  const lines = items.reduce((n, u) => n + u.raw.length, 0);
  await notifier.upload(ref.channel, {
    filename: "unreadable-output.txt",
    title: `${title}: unreadable output (${lines} line${lines === 1 ? "" : "s"})`,
    content: unreadableFileText(items),
    threadTs: ref.ts,
  });
  return true;
}
