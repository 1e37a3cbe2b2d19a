/**
 * What on-call paging adds to an incident's message: who acknowledged or snoozed it and when, and the
 * Acknowledge / Snooze buttons while it is open, critical and something re-pages (a paging service, a
 * re-notification or an escalation is configured). Pure, like the rest of the incident rendering.
 */
import type { Block, ButtonElement } from "../app/types";
import type { InventoryConfig } from "../config/schema";
import type { IncidentView } from "../events/render";
import { userMention } from "../message/text";
import { slackDate } from "../slack/render/text";

export const ONCALL_ACTION_PREFIX = "xenops:oncall:";

/** On-call marks kept on the incident record. */
export interface OncallMark {
  ackedBy?: string;
  ackedAt?: string;
  snoozedBy?: string;
  snoozedUntil?: string;
}

export type OncallButton = { a: "ack" } | { a: "snooze"; h: 1 | 4 };

/** Whether anything pages again for this cluster's incidents (so acknowledging means something). */
export function pageable(
  inventory: Pick<InventoryConfig, "oncall"> & Partial<Pick<InventoryConfig, "clusters">>,
  cluster: string,
): boolean {
  const oncall = inventory.oncall;
  return (
    oncall.renotifyAfter !== undefined ||
    (oncall.escalation?.length ?? 0) > 0 ||
    (inventory.clusters ?? []).some((c) => c.name === cluster && c.paging !== undefined)
  );
}

function button(view: IncidentView, text: string, b: OncallButton, primary: boolean): ButtonElement {
  return {
    type: "button",
    text: { type: "plain_text", text },
    action_id: `${ONCALL_ACTION_PREFIX}${b.a}${b.a === "snooze" ? b.h : ""}`,
    value: JSON.stringify({ v: 1, i: view.id, c: view.cluster, ...b }),
    ...(primary ? { style: "primary" as const } : {}),
  };
}

export function oncallBlocks(
  view: IncidentView & { oncall?: OncallMark | null },
  inventory: Pick<InventoryConfig, "oncall"> & Partial<Pick<InventoryConfig, "clusters">>,
): Block[] {
  const mark = view.oncall ?? null;
  const resolved = view.status === "resolved";
  const lines: string[] = [];
  if (mark?.ackedBy && mark.ackedAt)
    lines.push(`✋ Acknowledged by ${userMention(mark.ackedBy)} ${slackDate(mark.ackedAt)}`);
  else if (mark?.snoozedBy && mark.snoozedUntil && !resolved)
    lines.push(`💤 Snoozed by ${userMention(mark.snoozedBy)} until ${slackDate(mark.snoozedUntil)}`);
  const blocks: Block[] = [];
  if (lines.length > 0)
    blocks.push({ type: "context", elements: [{ type: "mrkdwn", text: lines.join(" · ") }] });
  if (!resolved && view.severity === "critical" && !mark?.ackedBy && pageable(inventory, view.cluster))
    blocks.push({
      type: "actions",
      block_id: `xenops-oncall-${view.id}`,
      elements: [
        button(view, "Acknowledge", { a: "ack" }, true),
        button(view, "Snooze 1h", { a: "snooze", h: 1 }, false),
        button(view, "Snooze 4h", { a: "snooze", h: 4 }, false),
      ],
    });
  return blocks;
}
