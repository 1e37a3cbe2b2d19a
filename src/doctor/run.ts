/**
 * The doctor: read every node (gather.ts), run every check (pure, checks/*.ts), order the results
 * (failures first, by area).
 */

import { compareText } from "../compare-text";
import type { ClusterConfig } from "../config/schema";
import { checkDrbd } from "./checks/drbd";
import { checkHeartbeat, checkPacemaker, checkStartup } from "./checks/ha";
import { checkFencing, checkNodes } from "./checks/nodes";
import { checkXen } from "./checks/xen";
import { type GatherDeps, type GatherOptions, gatherFacts } from "./gather";
import {
  AREAS,
  type Check,
  type CheckResult,
  type CheckStatus,
  type DoctorFacts,
  type DoctorReport,
} from "./types";

export const CHECKS: readonly Check[] = [
  checkDrbd,
  checkXen,
  checkStartup,
  checkHeartbeat,
  checkPacemaker,
  checkFencing,
  checkNodes,
];

const RANK: Record<CheckStatus, number> = { fail: 0, warn: 1, pass: 2 };

/** Failures first, then warnings, then passes; within each by area (AREAS order), then id and subject. */
export function orderResults(results: readonly CheckResult[]): CheckResult[] {
  return [...results].sort(
    (a, b) =>
      RANK[a.status] - RANK[b.status] ||
      AREAS.indexOf(a.area) - AREAS.indexOf(b.area) ||
      compareText(a.id, b.id) ||
      compareText(a.subject ?? "", b.subject ?? ""),
  );
}

/** Every check over the facts (pure). */
export function runChecks(facts: DoctorFacts): DoctorReport {
  const results = orderResults(CHECKS.flatMap((check) => check(facts)));
  const counts: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0 };
  for (const r of results) counts[r.status]++;
  return { cluster: facts.cluster.name, readAt: facts.readAt, results, counts, fenceQuery: facts.fence };
}

/** Reads the cluster and checks it. */
export async function runDoctor(
  cluster: ClusterConfig,
  deps: GatherDeps,
  options: GatherOptions = {},
): Promise<DoctorReport> {
  return runChecks(await gatherFacts(cluster, deps, options));
}

/** The key of a result across runs (the monitor compares them). */
export function resultKey(r: Pick<CheckResult, "id" | "subject">): string {
  return r.subject ? `${r.id}:${r.subject}` : r.id;
}
