/**
 * What on-call paging adds to an incident's message: who acknowledged or snoozed it and when, and the
 * Acknowledge / Snooze buttons while it is open, critical and something re-pages (a paging service, a
 * re-notification or an escalation is configured). Pure, like the rest of the incident rendering.
 */
import type { InventoryConfig } from "../config/schema";
import type { IncidentView } from "../events/render";
import {
  context,
  type DocBlock,
  type DocButton,
  date,
  type Inline,
  joinAll,
  user,
} from "../message/document";

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

function button(view: IncidentView, label: string, b: OncallButton, primary: boolean): DocButton {
  return {
    label,
    actionId: `${ONCALL_ACTION_PREFIX}${b.a}${b.a === "snooze" ? b.h : ""}`,
    value: JSON.stringify({ v: 1, i: view.id, c: view.cluster, ...b }),
    ...(primary ? { style: "primary" as const } : {}),
  };
}

export function oncallBlocks(
  view: IncidentView & { oncall?: OncallMark | null },
  inventory: Pick<InventoryConfig, "oncall"> & Partial<Pick<InventoryConfig, "clusters">>,
): DocBlock[] {
  const mark = view.oncall ?? null;
  const resolved = view.status === "resolved";
  const lines: Inline[][] = [];
  if (mark?.ackedBy && mark.ackedAt)
    lines.push(["✋ Acknowledged by ", user(mark.ackedBy), " ", date(mark.ackedAt)]);
  else if (mark?.snoozedBy && mark.snoozedUntil && !resolved)
    lines.push(["💤 Snoozed by ", user(mark.snoozedBy), " until ", date(mark.snoozedUntil)]);
  const blocks: DocBlock[] = [];
  if (lines.length > 0) blocks.push(context(...joinAll(lines, " · ")));
  if (!resolved && view.severity === "critical" && !mark?.ackedBy && pageable(inventory, view.cluster))
    blocks.push({
      kind: "actions",
      id: `xenops-oncall-${view.id}`,
      buttons: [
        button(view, "Acknowledge", { a: "ack" }, true),
        button(view, "Snooze 1h", { a: "snooze", h: 1 }, false),
        button(view, "Snooze 4h", { a: "snooze", h: 4 }, false),
      ],
    });
  return blocks;
}
