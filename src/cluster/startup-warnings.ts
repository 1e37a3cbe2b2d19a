/**
 * Warnings about what starts guests behind the cluster manager's back: xendomains starting a guest at
 * boot on two nodes (two writers on one disk once both boot), or starting (or restoring) a guest that
 * heartbeat or Pacemaker manages. Pure: config + node states in, warnings out.
 */
import type { ClusterConfig } from "../config/schema";
import { haDriverOf } from "../drivers/registry";
import type { ClusterWarning, HaManagedGuest, NodeState } from "../model";

function warning(
  kind: ClusterWarning["kind"],
  message: string,
  at: { node?: string | null; guest?: string | null },
): ClusterWarning {
  return {
    kind,
    severity: "warning",
    message,
    node: at.node ?? null,
    resource: null,
    guest: at.guest ?? null,
    percent: null,
  };
}

function managerName(stack: "heartbeat" | "pacemaker"): string {
  return haDriverOf(stack).label;
}

export function startupWarnings(_cluster: ClusterConfig, nodes: readonly NodeState[]): ClusterWarning[] {
  const out: ClusterWarning[] = [];
  const managed = new Map<string, HaManagedGuest & { stack: "heartbeat" | "pacemaker"; source: string }>();
  for (const n of nodes) {
    if (!n.reachable) continue;
    for (const g of n.haConfig?.guests ?? [])
      if (!managed.has(g.guest) && n.haConfig)
        managed.set(g.guest, { ...g, stack: n.haConfig.stack, source: n.haConfig.source });
    if (n.startupError)
      out.push(
        warning(
          "state_unknown",
          `${n.name}: boot-time start (xendomains) unknown (${n.startupError.code}): ${n.startupError.message}`,
          { node: n.name },
        ),
      );
    if (n.haConfigError && n.haConfigError.code !== "ha_not_sampled")
      out.push(
        warning(
          "state_unknown",
          `${n.name}: the cluster manager's guests unknown (${n.haConfigError.code}): ${n.haConfigError.message}`,
          { node: n.name },
        ),
      );
  }

  const autoOn = new Map<string, { node: string; path: string }[]>();
  for (const n of nodes)
    for (const e of n.startup?.auto ?? []) {
      if (!e.guest) continue;
      const list = autoOn.get(e.guest) ?? [];
      list.push({ node: n.name, path: `${n.startup?.autoDir ?? "/etc/xen/auto"}/${e.name}` });
      autoOn.set(e.guest, list);
    }
  for (const [guest, where] of autoOn) {
    if (where.length >= 2)
      out.push(
        warning(
          "guest_autostart_two_nodes",
          `${guest} is in ${where.map((w) => `${w.path} on ${w.node}`).join(" and ")}: xendomains starts it on every one of them at boot (two writers on one disk)`,
          { guest },
        ),
      );
    const m = managed.get(guest);
    if (m)
      for (const w of where)
        out.push(
          warning(
            "guest_autostart_ha_managed",
            `${guest} is in ${w.path} on ${w.node}, but ${managerName(m.stack)} manages it (${m.resource} in ${m.source}): xendomains would start it at boot behind ${managerName(m.stack)}; remove ${w.path}`,
            { guest, node: w.node },
          ),
        );
  }

  if (managed.size > 0) {
    const names = [...managed.keys()].sort();
    const stack = managerName([...managed.values()][0]?.stack ?? "heartbeat");
    for (const n of nodes) {
      const s = n.startup;
      if (!s?.restore || !s.save) continue;
      out.push(
        warning(
          "guest_autostart_ha_managed",
          `xendomains on ${n.name} saves running guests at shutdown and restores them at boot (XENDOMAINS_RESTORE=true, XENDOMAINS_SAVE=${s.save} in ${s.configFile ?? "its defaults"}): ${stack}-managed ${names.join(", ")} could come back there while ${stack} starts ${names.length === 1 ? "it" : "them"} elsewhere; set XENDOMAINS_RESTORE=false and XENDOMAINS_SAVE=""`,
          { node: n.name },
        ),
      );
    }
  }
  return out;
}
