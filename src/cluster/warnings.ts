/** Derived warnings: what an on-call engineer must see first. Pure: config + node states in, warnings out. */
import type { ClusterConfig } from "../config/schema";
import type { ClusterWarning, NodeState, Severity, WarningKind } from "../model";
import { startupWarnings } from "./startup-warnings";

const SYNCING =
  /^(SyncSource|SyncTarget|PausedSyncS|PausedSyncT|StartingSyncS|StartingSyncT|WFBitMapS|WFBitMapT|WFSyncUUID|VerifyS|VerifyT)$/;
const DISCONNECTED =
  /^(WFConnection|Connecting|Unconnected|Timeout|BrokenPipe|NetworkFailure|ProtocolError|TearDown|Disconnecting|WFReportParams)$/;
const DEGRADED_DISK = /^(Diskless|Failed|Outdated|DUnknown|Attaching|Detaching|Negotiating|Consistent)$/;

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

function warning(
  kind: WarningKind,
  severity: Severity,
  message: string,
  at: { node?: string | null; resource?: string | null; guest?: string | null; percent?: number | null } = {},
): ClusterWarning {
  return {
    kind,
    severity,
    message,
    node: at.node ?? null,
    resource: at.resource ?? null,
    guest: at.guest ?? null,
    percent: at.percent ?? null,
  };
}

/** Items by name; the first of a name wins, as `find()` would return it. */
function firstByName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  const map = new Map<string, T>();
  for (const item of items) if (!map.has(item.name)) map.set(item.name, item);
  return map;
}

export function deriveWarnings(cluster: ClusterConfig, nodes: readonly NodeState[]): ClusterWarning[] {
  const out: ClusterWarning[] = [];

  for (const node of nodes) {
    if (!node.reachable) {
      out.push(
        warning(
          "node_unreachable",
          "critical",
          `${node.name} is unreachable: ${node.error?.message ?? "no answer"}`,
          {
            node: node.name,
          },
        ),
      );
      continue;
    }
    const unknownParts = [
      ["domains", node.domainsError],
      ["Xen info", node.xenInfoError],
      ["DRBD", node.drbdError],
      ["HA", node.haError],
    ].filter(([, e]) => e !== null && (e as { code: string }).code !== "ha_not_sampled");
    for (const [what, err] of unknownParts) {
      const e = err as { code: string; message: string };
      out.push(
        warning("state_unknown", "warning", `${node.name}: ${what} unknown (${e.code}): ${e.message}`, {
          node: node.name,
        }),
      );
    }
  }

  // HA view: a node declared dead by any observer that can still see the cluster.
  const deadReported = new Set<string>();
  for (const node of nodes) {
    if (!node.ha?.running) continue;
    for (const member of node.ha.nodes) {
      if ((member.status === "offline" || member.status === "unclean") && !deadReported.has(member.name)) {
        deadReported.add(member.name);
        out.push(
          warning(
            "node_dead",
            "critical",
            `${member.name} is ${member.status === "unclean" ? "UNCLEAN (needs fencing)" : "dead"} according to ${node.ha.stack} on ${node.name}`,
            { node: member.name },
          ),
        );
      }
    }
  }

  // DRBD, per node and resource.
  const resourceViews = new Map<
    string,
    { node: string; role: string; connection: string; standalone: boolean }[]
  >();
  // Which nodes should carry a declared resource? The config does not say; DRBD does: the nodes
  // running it, and the peers they name (DRBD 9). DRBD 8 names no peers, but its resources have exactly
  // two nodes: with one side known, the other is certain only in a two-node cluster (otherwise the
  // known side reports the missing peer as disconnected). A resource running nowhere is expected
  // everywhere. Without this, every node of a cluster of pairs reports every other pair's resources.
  const carriers = new Map<string, Set<string>>();
  const namedPeers = new Map<string, Set<string>>();
  const unnamedPeers = new Set<string>();
  const addTo = (map: Map<string, Set<string>>, key: string, value: string): void => {
    const set = map.get(key) ?? new Set<string>();
    set.add(value);
    map.set(key, set);
  };
  for (const node of nodes) {
    for (const res of node.drbd ?? []) {
      if (res.unconfigured) continue;
      addTo(carriers, res.name, node.name);
      if (res.peers.length === 0) unnamedPeers.add(res.name);
      for (const p of res.peers) {
        if (p.node) addTo(namedPeers, res.name, p.node);
        else unnamedPeers.add(res.name);
      }
    }
  }
  const expectedOn = (resource: string, node: string): boolean => {
    const running = carriers.get(resource);
    if (!running) return true;
    if (namedPeers.get(resource)?.has(node)) return true;
    return unnamedPeers.has(resource) && running.size < 2 && cluster.nodes.length === 2;
  };
  // Lookups by name (the first of a name, as find() would): a 100-node cluster declares hundreds.
  const declared = new Set(cluster.drbd.map((r) => r.name));
  const resourcesOf = new Map(nodes.map((n) => [n, firstByName(n.drbd ?? [])]));
  for (const node of nodes) {
    const own = resourcesOf.get(node);
    for (const name of declared) {
      const res = own?.get(name);
      if (node.drbd && (!res || res.unconfigured) && expectedOn(name, node.name))
        out.push(
          warning(
            "disk_degraded",
            "warning",
            `${name} on ${node.name}: not configured (DRBD is not running it)`,
            {
              node: node.name,
              resource: name,
            },
          ),
        );
    }
    for (const res of node.drbd ?? []) {
      if (res.unconfigured) continue;
      const at = { node: node.name, resource: res.name };
      if (res.diskState === "Inconsistent") {
        const syncing = res.peers.some((p) => p.replicationState && SYNCING.test(p.replicationState));
        out.push(
          warning(
            "disk_inconsistent",
            syncing ? "warning" : "critical",
            `${res.name} on ${node.name}: local disk Inconsistent${syncing ? " (resync running)" : " and not syncing"}`,
            at,
          ),
        );
      } else if (DEGRADED_DISK.test(res.diskState)) {
        out.push(
          warning("disk_degraded", "warning", `${res.name} on ${node.name}: local disk ${res.diskState}`, at),
        );
      }
      for (const peer of res.peers) {
        const peerName = peer.node ?? "peer";
        if (peer.replicationState && SYNCING.test(peer.replicationState)) {
          const pct = peer.sync?.percent ?? null;
          out.push(
            warning(
              "resync_running",
              "info",
              `${res.name}: resync ${peer.replicationState} on ${node.name}${pct !== null ? ` at ${pct.toFixed(1)}%` : ""}`,
              { ...at, percent: pct },
            ),
          );
        } else if (peer.connectionState === "StandAlone") {
          out.push(
            warning(
              "standalone",
              "critical",
              `${res.name} on ${node.name} is StandAlone (not replicating)`,
              at,
            ),
          );
        } else if (DISCONNECTED.test(peer.connectionState)) {
          out.push(
            warning(
              "disconnected",
              "warning",
              `${res.name} on ${node.name}: ${peer.connectionState} to ${peerName}`,
              at,
            ),
          );
        }
        if (
          peer.connectionState === "Connected" &&
          DEGRADED_DISK.test(peer.diskState) &&
          peer.diskState !== "DUnknown"
        ) {
          out.push(
            warning(
              "disk_degraded",
              "warning",
              `${res.name}: ${peerName}'s disk is ${peer.diskState} (seen from ${node.name})`,
              at,
            ),
          );
        }
      }
      const list = resourceViews.get(res.name) ?? [];
      list.push({
        node: node.name,
        role: res.role,
        connection: res.peers[0]?.connectionState ?? "StandAlone",
        standalone: res.peers.length === 0 || res.peers.every((p) => p.connectionState === "StandAlone"),
      });
      resourceViews.set(res.name, list);
    }
  }
  // Split-brain: a resource that is not Connected anywhere while its nodes are up, with a StandAlone side
  // or two Primaries. DRBD itself drops to StandAlone when it detects split-brain.
  for (const [resource, views] of resourceViews) {
    if (views.length < 2) continue;
    const disconnected = views.every((v) => v.connection !== "Connected");
    const anyStandalone = views.some((v) => v.standalone);
    const primaries = views.filter((v) => v.role === "Primary").length;
    if (disconnected && (anyStandalone || primaries > 1)) {
      out.push(
        warning(
          "split_brain_suspected",
          "critical",
          `${resource}: split-brain suspected (${views.map((v) => `${v.node} ${v.role}/${v.connection}`).join(", ")})`,
          { resource },
        ),
      );
    }
  }

  // Guests: where each runs, per the hypervisor.
  const placements = new Map<string, { node: string; migration: string | null }[]>();
  for (const node of nodes) {
    for (const dom of node.domains ?? []) {
      if (!dom.guest) continue;
      const list = placements.get(dom.guest) ?? [];
      list.push({ node: node.name, migration: dom.migration });
      placements.set(dom.guest, list);
    }
  }
  const guestsByName = firstByName(cluster.guests);
  const nodesByName = firstByName(nodes);
  for (const [guest, where] of placements) {
    const migrating = where.some((w) => w.migration !== null);
    if (migrating) {
      out.push(
        warning(
          "guest_migrating",
          "info",
          `${guest} is migrating (${where.map((w) => `${w.node}${w.migration ? ` as ${w.migration}` : ""}`).join(", ")})`,
          { guest },
        ),
      );
    } else if (new Set(where.map((w) => w.node)).size > 1) {
      out.push(
        warning(
          "guest_on_two_nodes",
          "critical",
          `${guest} runs on ${where.map((w) => w.node).join(" and ")}: two writers on one disk`,
          { guest },
        ),
      );
    }
    const guestConfig = guestsByName.get(guest);
    for (const w of where) {
      if (w.migration || !guestConfig) continue;
      const node = nodesByName.get(w.node);
      for (const resName of guestConfig.drbd) {
        const res = node ? resourcesOf.get(node)?.get(resName) : undefined;
        if (res && res.role !== "Primary") {
          out.push(
            warning(
              "guest_on_secondary",
              "critical",
              `${guest} runs on ${w.node} but its DRBD resource ${resName} is ${res.role} there`,
              { guest, node: w.node, resource: resName },
            ),
          );
        }
      }
    }
  }
  out.push(...startupWarnings(cluster, nodes));
  return out.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}
