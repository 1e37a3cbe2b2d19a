/**
 * Which declared DRBD resources a node must show. A resource the inventory places on a node but that
 * its status output lacks is unknown (down, or the output was cut short), never "not configured":
 * drivers refuse such output rather than let an operation take the absence for an answer.
 */
import type { DrbdResourceConfig } from "../config/schema";

/** Declared resources held by `node`: those without a `nodes` list, and those naming it. */
export function resourcesExpectedOn(
  resources: readonly DrbdResourceConfig[],
  node: string,
): DrbdResourceConfig[] {
  return resources.filter((r) => r.nodes === undefined || r.nodes.includes(node));
}

/** The DRBD 8 minor of a declared resource: `minor`, else the number in `device`; null when neither. */
export function minorOf(resource: DrbdResourceConfig): number | null {
  if (resource.minor !== undefined) return resource.minor;
  const m = resource.device ? /^\/dev\/drbd(\d+)$/.exec(resource.device) : null;
  return m?.[1] ? Number(m[1]) : null;
}
