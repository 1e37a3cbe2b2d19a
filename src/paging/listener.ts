import type { IncidentRecord } from "../events/incidents";

/**
 * What the incident manager tells on-call paging: every record it saves (opened, changed, escalated,
 * resolved, reopened), while it holds the cluster's mutex. The listener works out the transitions
 * itself from what it stored last, so a replay after a crash changes nothing. It must not throw.
 */
export interface IncidentListener {
  saved(rec: IncidentRecord): Promise<void>;
}
