/**
 * What the maintenance job says in the channel when a node's window starts or ends: one-line text
 * messages, as neutral documents without blocks (src/message/document.ts).
 */
import type { OutboundMessage } from "../chat/types";
import { code, date, emoji, type MessageDocument, user } from "../message/document";
import { formatDurationMinutes } from "../message/text";
import { renderSlack } from "../slack/render/document";

export interface MaintenanceStarted {
  cluster: string;
  node: string;
  durationMs: number;
  /** ISO time the window ends. */
  until: string;
  requestedBy: string;
  /** Empty when none was given. */
  reason: string;
}

export function maintenanceStartedDocument(m: MaintenanceStarted): MessageDocument {
  return {
    summary: [
      emoji("wrench"),
      ` ${m.node} (${m.cluster}) is in maintenance for ${formatDurationMinutes(m.durationMs)}, until `,
      date(m.until),
      ", set by ",
      user(m.requestedBy),
      m.reason ? `: ${m.reason}` : "",
      ". Its events are silenced and risky actions on it are blocked. End it early with ",
      code(`/xen maintenance ${m.node} off`),
      ".",
    ],
    blocks: [],
  };
}

export interface MaintenanceEnded {
  cluster: string;
  node: string;
  requestedBy: string;
  /** false: the node was not in maintenance. */
  ended: boolean;
}

export function maintenanceEndedDocument(m: MaintenanceEnded): MessageDocument {
  return {
    summary: m.ended
      ? [
          emoji("wrench"),
          ` Maintenance of ${m.node} (${m.cluster}) ended early by `,
          user(m.requestedBy),
          ". Its events are reported again.",
        ]
      : [emoji("wrench"), ` ${m.node} (${m.cluster}) was not in maintenance.`],
    blocks: [],
  };
}

export function renderMaintenanceStarted(m: MaintenanceStarted): OutboundMessage {
  return renderSlack(maintenanceStartedDocument(m));
}

export function renderMaintenanceEnded(m: MaintenanceEnded): OutboundMessage {
  return renderSlack(maintenanceEndedDocument(m));
}
