/** Resolving user-typed names against the inventory, with errors that list the valid choices. */
import type { ClusterConfig } from "../config/schema";
import { Name } from "../config/schema";
import { UsageError } from "./spec";

export function validName(value: string, what: string): string {
  const parsed = Name.safeParse(value);
  if (!parsed.success) {
    const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    throw new UsageError(
      `"${shown}" is not a valid ${what} name: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

function list(names: readonly string[]): string {
  return names.length > 0 ? names.join(", ") : "(none configured)";
}

/**
 * Picks the cluster: an explicit name (first positional, when it names a cluster answering here)
 * or the only cluster of this channel. Returns the remaining positionals.
 */
export function pickCluster(
  positionals: readonly string[],
  clustersHere: readonly ClusterConfig[],
): { cluster: ClusterConfig; rest: string[] } {
  const [first, ...rest] = positionals;
  if (first !== undefined) {
    const named = clustersHere.find((c) => c.name === first);
    if (named) return { cluster: named, rest };
  }
  if (clustersHere.length === 1) return { cluster: clustersHere[0]!, rest: [...positionals] };
  if (clustersHere.length === 0)
    throw new UsageError(
      "no cluster answers in this channel; ask an admin to add it to a cluster's channels",
    );
  throw new UsageError(
    `several clusters answer here; name one first: ${list(clustersHere.map((c) => c.name))}`,
  );
}

export function pickNode(cluster: ClusterConfig, value: string): string {
  const name = validName(value, "node");
  if (!cluster.nodes.some((n) => n.name === name))
    throw new UsageError(
      `unknown node "${name}" in ${cluster.name}; nodes: ${list(cluster.nodes.map((n) => n.name))}`,
    );
  return name;
}

export function pickGuest(cluster: ClusterConfig, value: string): string {
  const name = validName(value, "guest");
  if (!cluster.guests.some((g) => g.name === name))
    throw new UsageError(
      `unknown guest "${name}" in ${cluster.name}; guests: ${list(cluster.guests.map((g) => g.name))}`,
    );
  return name;
}

/** A node or a guest, for verbs that accept either. */
export function pickNodeOrGuest(
  cluster: ClusterConfig,
  value: string,
): { kind: "node" | "guest"; name: string } {
  const name = validName(value, "node or guest");
  if (cluster.nodes.some((n) => n.name === name)) return { kind: "node", name };
  if (cluster.guests.some((g) => g.name === name)) return { kind: "guest", name };
  throw new UsageError(
    `"${name}" is neither a node nor a guest of ${cluster.name}; nodes: ${list(cluster.nodes.map((n) => n.name))}; guests: ${list(cluster.guests.map((g) => g.name))}`,
  );
}
