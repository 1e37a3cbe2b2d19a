/**
 * Facts → conditions (what is wrong now) and happenings (what changed since the previous facts).
 * Pure: the pipeline stores facts and conditions, and turns the differences into incidents.
 */
import type { ClusterConfig } from "../config/schema";
import type { Severity } from "../model";
import {
  type DrbdSideFacts,
  type Facts,
  type NodeFacts,
  nodeDead,
  nodeHealthy,
  resourceNames,
  sidesOf,
} from "./facts";
import { heartbeatDeadNode, takeoverLinesFor } from "./heartbeat";
import {
  type ClusterEvent,
  type Condition,
  type EventKind,
  fingerprint,
  type IncidentAction,
  type SplitBrainSide,
} from "./types";

export const SYNCING =
  /^(SyncSource|SyncTarget|PausedSyncS|PausedSyncT|StartingSyncS|StartingSyncT|WFBitMapS|WFBitMapT|WFSyncUUID)$/;
const SYNC_TARGET = /^(SyncTarget|PausedSyncT|StartingSyncT|WFBitMapT)$/;
const BAD_DISK = /^(Diskless|Failed)$/;
const WEAK_DISK = /^(Outdated|Consistent|DUnknown|Attaching|Detaching|Negotiating)$/;

function condition(
  facts: Facts,
  e: Omit<ClusterEvent, "cluster" | "at" | "source" | "evidence"> & { evidence?: string[] },
): Condition {
  const event: ClusterEvent = { cluster: facts.cluster, at: facts.at, source: "poll", evidence: [], ...e };
  return { ...event, key: fingerprint(event) };
}

function sideLine(node: string, s: DrbdSideFacts): string {
  const sync = s.syncPercent !== null ? ` ${s.syncPercent.toFixed(1)}%` : "";
  const oos = s.oosKiB !== null && s.oosKiB > 0 ? ` oos:${s.oosKiB}KiB` : "";
  return `${node}: ${s.role}/${s.peerRole} ${s.disk}/${s.peerDisk} ${s.conn}${s.repl && s.repl !== s.conn ? ` ${s.repl}` : ""}${sync}${oos}`;
}

/**
 * Guests that belong on `node` (last seen there, or never seen anywhere and `node` is their home) and
 * run nowhere we know of. Null: cannot tell.
 */
export function strandedGuests(cluster: ClusterConfig, facts: Facts, node: string): string[] | null {
  const others = Object.entries(facts.nodes).filter(([name]) => name !== node);
  // Unknown is never "not running": every other node must have answered.
  if (others.some(([, n]) => n.guests === null)) return null;
  const running = new Set(others.flatMap(([, n]) => [...(n.guests ?? []), ...n.migrating]));
  const mine = new Set(
    Object.entries(facts.memory.lastSeenOn)
      .filter(([, on]) => on === node)
      .map(([g]) => g),
  );
  for (const g of cluster.guests)
    if (g.home === node && facts.memory.lastSeenOn[g.name] === undefined) mine.add(g.name);
  return [...mine].filter((g) => !running.has(g)).sort();
}

/** A node to start a dead node's guests on: healthy and holding their DRBD resources. */
export function survivorFor(
  cluster: ClusterConfig,
  facts: Facts,
  dead: string,
  guests: readonly string[],
): string | null {
  const resources = new Set(cluster.guests.filter((g) => guests.includes(g.name)).flatMap((g) => g.drbd));
  const candidates = Object.entries(facts.nodes)
    .filter(([name, n]) => name !== dead && nodeHealthy(n))
    .filter(([, n]) => [...resources].every((r) => n.drbd?.[r] !== undefined))
    .map(([name]) => name)
    .sort();
  return candidates[0] ?? null;
}

function nodeConditions(cluster: ClusterConfig, facts: Facts): Condition[] {
  const out: Condition[] = [];
  const haConfigured = cluster.toolstack.ha !== "none";
  for (const { name } of cluster.nodes) {
    const n = facts.nodes[name];
    if (!n) continue;
    const ssh = n.reachable ? "answers over SSH" : `does not answer over SSH (${n.error ?? "no answer"})`;
    const base = { family: "node" as const, subject: null, node: name };
    if (nodeDead(n) && n.ha) {
      const unclean = n.ha.status === "unclean";
      const fencedAt = facts.memory.fencedAt[name];
      const evidence = [
        `${n.ha.stack} on ${n.ha.observer}: node ${name} status ${n.ha.status}`,
        `${name} ${ssh}`,
      ];
      let actions: IncidentAction[] = [{ kind: "fence", node: name }];
      let detail = unclean
        ? `${n.ha.stack} calls ${name} UNCLEAN: it must be fenced before its guests may run elsewhere.`
        : `Fence ${name} before starting its guests elsewhere: a half-dead node still writing would split the data.`;
      if (fencedAt) {
        const guests = strandedGuests(cluster, facts, name);
        const survivor = guests && guests.length > 0 ? survivorFor(cluster, facts, name, guests) : null;
        evidence.push(`fenced at ${fencedAt}`);
        actions =
          guests && guests.length > 0 && survivor
            ? [{ kind: "start_guests", node: name, survivor, guests }]
            : [];
        detail =
          guests === null
            ? `${name} was fenced. Where its guests run cannot be told (a node did not answer).`
            : guests.length === 0
              ? `${name} was fenced. None of its guests is left to start.`
              : survivor
                ? `${name} was fenced. Its guests ${guests.join(", ")} can be started on ${survivor}.`
                : `${name} was fenced. No healthy node holds the DRBD resources of ${guests.join(", ")}.`;
      }
      let title = `${name} is ${unclean ? "UNCLEAN (needs fencing)" : "dead"} according to ${n.ha.stack} on ${n.ha.observer}${fencedAt ? " (fenced)" : ""}`;
      // heartbeat's own log says what it did (STONITH, takeover): the incident follows it.
      const hb = heartbeatDeadNode(cluster, facts, name, { title, evidence });
      if (hb) ({ title, detail, actions } = hb);
      out.push(
        condition(facts, {
          ...base,
          kind: "node_dead",
          severity: "critical",
          title,
          detail,
          evidence: hb ? hb.evidence : evidence,
          actions,
        }),
      );
    } else if (!n.reachable) {
      const haSays = n.ha
        ? `${n.ha.stack} on ${n.ha.observer} still reports it ${n.ha.status}`
        : haConfigured
          ? "no HA view says whether it is alive"
          : "no HA stack to confirm it is dead";
      out.push(
        condition(facts, {
          ...base,
          kind: "node_unreachable",
          severity: haConfigured ? "warning" : "critical",
          title: `${name} does not answer over SSH`,
          detail: `Its state is unknown: ${haSays}.`,
          evidence: [
            `${name}: ${n.error ?? "no answer"}`,
            ...(n.ha ? [`${n.ha.stack} on ${n.ha.observer}: ${name} ${n.ha.status}`] : []),
          ],
        }),
      );
    } else if (haConfigured && n.haRunning === false) {
      out.push(
        condition(facts, {
          ...base,
          kind: "node_ha_stopped",
          severity: "warning",
          title: `${cluster.toolstack.ha} is not running on ${name}`,
          detail: `${name} answers, but it would take no part in a failover.`,
          evidence: [`${name}: ${cluster.toolstack.ha} stopped`],
        }),
      );
    }
  }
  return out;
}

/** The node whose absence explains a disconnected side, if any. */
function absentPeer(facts: Facts, sides: { node: string; side: DrbdSideFacts }[]): string | null {
  for (const { side } of sides) {
    const peer = side.peer;
    if (peer && !nodeHealthy(facts.nodes[peer])) return peer;
  }
  return null;
}

export function isSplitBrain(facts: Facts, resource: string): boolean {
  const sides = sidesOf(facts, resource);
  if (sides.length === 0 || sides.some((s) => s.side.conn === "Connected")) return false;
  const standalone = sides.some((s) => s.side.conn === "StandAlone");
  if (facts.memory.splitBrainReports[resource] && standalone) return true;
  if (sides.length < 2 || !standalone) return false;
  const primaries = sides.filter((s) => s.side.role === "Primary").length;
  const diverged = sides.every((s) => (s.side.oosKiB ?? 0) > 0);
  return primaries > 1 || diverged;
}

export function splitBrainSides(cluster: ClusterConfig, facts: Facts, resource: string): SplitBrainSide[] {
  const users = cluster.guests.filter((g) => g.drbd.includes(resource)).map((g) => g.name);
  return sidesOf(facts, resource).map(({ node, side }) => ({
    node,
    role: side.role,
    disk: side.disk,
    connection: side.conn,
    outOfSyncKiB: side.oosKiB,
    runs: (facts.nodes[node]?.guests ?? []).filter((g) => users.includes(g)),
    disconnectedSince: facts.memory.disconnectedSince[`${resource}|${node}`] ?? null,
  }));
}

function linkConditions(cluster: ClusterConfig, facts: Facts): Condition[] {
  const out: Condition[] = [];
  for (const res of resourceNames(cluster, facts)) {
    const sides = sidesOf(facts, res).filter((s) => !s.side.unconfigured);
    if (sides.length === 0 || sides.every((s) => s.side.conn === "Connected")) continue;
    const evidence = sides.map((s) => sideLine(s.node, s.side));
    const base = { family: "link" as const, subject: res, node: null };
    if (isSplitBrain(facts, res)) {
      const split = splitBrainSides(cluster, facts, res);
      const reachable = split.filter((s) => facts.nodes[s.node]?.reachable);
      const actions: IncidentAction[] =
        split.length === 2 && reachable.length === 2
          ? split.map((s, i) => ({
              kind: "keep_data" as const,
              resource: res,
              survivor: s.node,
              victim: split[1 - i]?.node ?? "",
            }))
          : [];
      const report = facts.memory.splitBrainReports[res];
      out.push(
        condition(facts, {
          ...base,
          kind: "split_brain",
          severity: "critical",
          title: `SPLIT-BRAIN on ${res}: the nodes' data diverged and DRBD stopped replicating`,
          detail:
            "Choose the node whose data to keep. The other node's changes since the split are discarded (its guest is stopped first), then it resyncs from the survivor.",
          evidence: [
            ...evidence,
            ...(report ? [`split-brain handler fired on ${report.node} at ${report.at}`] : []),
          ],
          actions,
          splitBrain: split,
        }),
      );
    } else if (sides.some((s) => s.side.conn === "StandAlone")) {
      const alone = sides.filter((s) => s.side.conn === "StandAlone").map((s) => s.node);
      out.push(
        condition(facts, {
          ...base,
          kind: "drbd_standalone",
          severity: "critical",
          title: `${res} is StandAlone on ${alone.join(" and ")}: not replicating, not trying to`,
          detail:
            "DRBD will not reconnect by itself from StandAlone; someone must connect it (or resolve a split brain).",
          evidence,
          relatedNode: absentPeer(facts, sides),
        }),
      );
    } else {
      const cause = absentPeer(facts, sides);
      out.push(
        condition(facts, {
          ...base,
          kind: "drbd_disconnected",
          severity: "warning",
          title: `${res} lost its replication link${cause ? ` (peer ${cause} is down or unreachable)` : ""}`,
          detail: "Writes are not replicated until the link is back; DRBD keeps trying to reconnect.",
          evidence,
          relatedNode: cause,
        }),
      );
    }
  }
  return out;
}

function resyncAndDiskConditions(cluster: ClusterConfig, facts: Facts): Condition[] {
  const out: Condition[] = [];
  for (const res of resourceNames(cluster, facts)) {
    const sides = sidesOf(facts, res);
    const syncing = sides.filter((s) => s.side.repl !== null && SYNCING.test(s.side.repl));
    if (syncing.length > 0) {
      const target =
        syncing.find((s) => SYNC_TARGET.test(s.side.repl ?? ""))?.node ?? syncing[0]?.side.peer ?? null;
      const source = syncing.find((s) => !SYNC_TARGET.test(s.side.repl ?? ""))?.node ?? null;
      const pct = syncing.map((s) => s.side.syncPercent).find((p) => p !== null) ?? null;
      const eta = syncing.map((s) => s.side.etaSec).find((p) => p !== null) ?? null;
      out.push(
        condition(facts, {
          family: "resync",
          subject: res,
          node: null,
          relatedNode: target,
          kind: "resync_started",
          severity: "info",
          title: `Resync of ${res}${source && target ? ` from ${source} to ${target}` : ""}${pct !== null ? ` at ${pct.toFixed(1)}%` : ""}`,
          detail: `${target ?? "The target"} is Inconsistent until it finishes${eta !== null ? ` (about ${Math.max(1, Math.round(eta / 60))} min left)` : ""}.`,
          evidence: sides.map((s) => sideLine(s.node, s.side)),
        }),
      );
    }
    for (const { node, side } of sides) {
      const at = { family: "disk" as const, subject: res, node, relatedNode: node };
      const line = [sideLine(node, side)];
      if (side.unconfigured) {
        out.push(
          condition(facts, {
            ...at,
            kind: "disk_degraded",
            severity: "warning",
            title: `${res} on ${node} is not configured (DRBD is not running it)`,
            evidence: line,
          }),
        );
      } else if (side.disk === "Inconsistent" && syncing.length === 0) {
        out.push(
          condition(facts, {
            ...at,
            kind: "disk_inconsistent",
            severity: "critical",
            title: `${res} on ${node}: disk Inconsistent and no resync running`,
            detail: "This copy is unusable until it resyncs from an UpToDate peer.",
            evidence: line,
          }),
        );
      } else if (BAD_DISK.test(side.disk) || (WEAK_DISK.test(side.disk) && side.disk !== "DUnknown")) {
        const severity: Severity = BAD_DISK.test(side.disk) ? "critical" : "warning";
        out.push(
          condition(facts, {
            ...at,
            kind: "disk_degraded",
            severity,
            title: `${res} on ${node}: local disk ${side.disk}`,
            evidence: line,
          }),
        );
      }
    }
  }
  return out;
}

function guestConditions(facts: Facts): Condition[] {
  const where = new Map<string, string[]>();
  for (const [name, n] of Object.entries(facts.nodes))
    for (const g of n.guests ?? []) where.set(g, [...(where.get(g) ?? []), name]);
  const out: Condition[] = [];
  for (const [guest, nodes] of where) {
    if (nodes.length < 2) continue;
    out.push(
      condition(facts, {
        family: "guest",
        subject: guest,
        node: null,
        kind: "guest_on_two_nodes",
        severity: "critical",
        title: `${guest} runs on ${nodes.join(" and ")} at once: two writers on one disk`,
        detail:
          "Both copies write to the same DRBD resource. Stop one of them now; the data may already be damaged.",
        evidence: nodes.map((n) => `${n}: domain ${guest} present`),
      }),
    );
  }
  return out;
}

/** Node back with home guests elsewhere and their resources UpToDate on both sides: failback possible. */
function failbackConditions(cluster: ClusterConfig, facts: Facts): Condition[] {
  const out: Condition[] = [];
  for (const { name } of cluster.nodes) {
    const home = facts.nodes[name];
    // Only for a node that came back: a guest moved off its home on purpose is not a failback.
    if (!nodeHealthy(home) || !facts.memory.returned?.[name]) continue;
    // heartbeat's auto_failback moves them itself: a second migration by xenops would race it.
    if (facts.memory.haLog?.autoFailback === true) continue;
    const away: { guest: string; on: string }[] = [];
    let ready = true;
    for (const g of cluster.guests.filter((x) => x.home === name)) {
      const on = Object.entries(facts.nodes)
        .filter(([, n]) => n.guests?.includes(g.name))
        .map(([n]) => n);
      const migrating = Object.values(facts.nodes).some((n) => n.migrating.includes(g.name));
      if (migrating || on.includes(name) || on.length !== 1 || !on[0]) continue;
      const elsewhere = on[0];
      for (const r of g.drbd) {
        for (const n of [name, elsewhere]) {
          const side = facts.nodes[n]?.drbd?.[r];
          if (
            side?.conn !== "Connected" ||
            side.disk !== "UpToDate" ||
            side.peerDisk !== "UpToDate" ||
            (side.repl !== null && SYNCING.test(side.repl))
          )
            ready = false;
        }
      }
      away.push({ guest: g.name, on: elsewhere });
    }
    if (!ready || away.length === 0) continue;
    out.push(
      condition(facts, {
        family: "failback",
        subject: null,
        node: name,
        relatedNode: name,
        kind: "failback_ready",
        severity: "info",
        title: `${name} is back and its resources are UpToDate: ${away.map((a) => a.guest).join(", ")} can fail back`,
        detail: `Live-migrate ${away.map((a) => `${a.guest} from ${a.on}`).join(", ")} back to ${name}, its home node.`,
        evidence: away.map((a) => `${a.guest}: home ${name}, runs on ${a.on}`),
        actions: [{ kind: "failback", node: name, guests: away.map((a) => a.guest) }],
      }),
    );
  }
  return out;
}

/**
 * Guests running on a node other than their home. Reported by a start-up pass (what is true now,
 * whatever happened while xenops was not running), and followed until they are home again; a guest
 * moved later on purpose is not news.
 */
function awayConditions(cluster: ClusterConfig, facts: Facts, report: (key: string) => boolean): Condition[] {
  const out: Condition[] = [];
  for (const g of cluster.guests) {
    if (!g.home) continue;
    const on = Object.entries(facts.nodes)
      .filter(([, n]) => n.guests?.includes(g.name))
      .map(([name]) => name);
    const migrating = Object.values(facts.nodes).some((n) => n.migrating.includes(g.name));
    const at = on[0];
    if (migrating || on.length !== 1 || !at || at === g.home) continue;
    const c = condition(facts, {
      family: "guest",
      subject: g.name,
      node: null,
      kind: "guest_away",
      severity: "info",
      title: `${g.name} runs on ${at}, away from its home ${g.home}`,
      evidence: [],
    });
    if (!report(c.key)) continue;
    const home = facts.nodes[g.home];
    const ready =
      nodeHealthy(home) &&
      g.drbd.every((r) =>
        [g.home as string, at].every((n) => {
          const side = facts.nodes[n]?.drbd?.[r];
          return (
            side?.conn === "Connected" &&
            side.disk === "UpToDate" &&
            side.peerDisk === "UpToDate" &&
            !(side.repl !== null && SYNCING.test(side.repl))
          );
        }),
      );
    out.push({
      ...c,
      severity: nodeHealthy(home) ? "info" : "warning",
      detail: nodeHealthy(home)
        ? ready
          ? `${g.home} is up and the disks are UpToDate on both sides: ${g.name} can fail back (live migration).`
          : `${g.home} is up; ${g.name} can fail back once its disks are UpToDate on both sides.`
        : `${g.home} is not healthy: ${g.name} stays on ${at} for now.`,
      evidence: [`${g.name}: home ${g.home}, runs on ${at}`, ...takeoverLinesFor(cluster, facts, g.name)],
      actions: ready ? [{ kind: "failback", node: g.home, guests: [g.name] }] : [],
    });
  }
  return out;
}

/**
 * Forgets nodes that came back once their home guests are home (or run nowhere), or after a day: the
 * failback offer ends with them.
 */
export function pruneReturned(cluster: ClusterConfig, facts: Facts): void {
  const returned = facts.memory.returned;
  if (!returned) return;
  for (const [node, at] of Object.entries(returned)) {
    const away = cluster.guests.some(
      (g) =>
        g.home === node &&
        !facts.nodes[node]?.guests?.includes(g.name) &&
        Object.values(facts.nodes).some((n) => n.guests?.includes(g.name) || n.migrating.includes(g.name)),
    );
    if (!away || Date.parse(facts.at) - Date.parse(at) > 24 * 3600_000) delete returned[node];
  }
}

/**
 * Every condition that holds in `facts`, keyed by fingerprint. `baseline`: a start-up pass, which also
 * reports guests away from home; `keep`: conditions open before, followed while they hold.
 */
export function conditionsOf(
  cluster: ClusterConfig,
  facts: Facts,
  options: { baseline?: boolean; keep?: ReadonlySet<string> } = {},
): Condition[] {
  const all = [
    ...nodeConditions(cluster, facts),
    ...linkConditions(cluster, facts),
    ...resyncAndDiskConditions(cluster, facts),
    ...guestConditions(facts),
    ...failbackConditions(cluster, facts),
    ...awayConditions(cluster, facts, (key) => options.baseline === true || options.keep?.has(key) === true),
  ];
  const byKey = new Map<string, Condition>();
  for (const c of all) if (!byKey.has(c.key)) byKey.set(c.key, c);
  return [...byKey.values()];
}

function happening(
  facts: Facts,
  e: Omit<ClusterEvent, "cluster" | "at" | "source"> & { source?: ClusterEvent["source"] },
): ClusterEvent {
  return { cluster: facts.cluster, at: facts.at, source: "poll", ...e };
}

function guestPlacement(facts: Facts, guest: string): { on: string[]; migrating: boolean } {
  const on = Object.entries(facts.nodes)
    .filter(([, n]) => n.guests?.includes(guest))
    .map(([name]) => name);
  return { on, migrating: Object.values(facts.nodes).some((n) => n.migrating.includes(guest)) };
}

/** What happened between two facts: guests moved, fencing, split brains DRBD resolved by itself. */
export function happenings(cluster: ClusterConfig, prev: Facts | null, next: Facts): ClusterEvent[] {
  if (!prev) return [];
  const out: ClusterEvent[] = [];
  const moved = new Set<string>();
  for (const [guest, from] of Object.entries(prev.memory.lastSeenOn)) {
    const now = guestPlacement(next, guest);
    const to = now.on[0];
    if (now.migrating || now.on.length !== 1 || !to || to === from) continue;
    moved.add(guest);
    const fromHealthy = nodeHealthy(next.nodes[from]);
    out.push(
      happening(next, {
        kind: "failover",
        family: "failover",
        severity: fromHealthy ? "info" : "warning",
        subject: guest,
        node: null,
        relatedNode: from,
        onlyInThread: fromHealthy,
        title: `${guest} moved from ${from} to ${to}${fromHealthy ? "" : ` (failover: ${from} is down)`}`,
        evidence: [`before: ${guest} on ${from}`, `now: ${guest} on ${to}`],
      }),
    );
  }
  if (prev.haResources && next.haResources) {
    for (const [id, before] of Object.entries(prev.haResources)) {
      const after = next.haResources[id];
      if (!after || moved.has(id) || before.length !== 1 || after.length !== 1 || before[0] === after[0])
        continue;
      out.push(
        happening(next, {
          kind: "failover",
          family: "failover",
          severity: nodeHealthy(next.nodes[before[0] ?? ""]) ? "info" : "warning",
          subject: id,
          node: null,
          relatedNode: before[0] ?? null,
          onlyInThread: nodeHealthy(next.nodes[before[0] ?? ""]),
          title: `HA resource ${id} moved from ${before[0]} to ${after[0]}`,
          evidence: [`before: ${id} active on ${before[0]}`, `now: ${id} active on ${after[0]}`],
        }),
      );
    }
  }
  const known = new Set(prev.fences.map((f) => f.key));
  for (const f of next.fences) {
    // A fence still under way (crm_mon shows it `pending` while the fencer runs, e.g. during the UPS's
    // grace delay) is neither: its outcome is a new history entry, told when it appears.
    if (known.has(f.key) || f.status === "pending") continue;
    const ok = f.status === "success";
    out.push(
      happening(next, {
        kind: ok ? "fence_succeeded" : "fence_failed",
        family: "node",
        severity: ok ? "warning" : "critical",
        subject: null,
        node: f.target,
        title: ok
          ? `${f.target} was fenced (${f.action}) by ${f.delegate ?? "the fencer"}`
          : `Fencing ${f.target} (${f.action}) FAILED`,
        evidence: [
          `fence history: target=${f.target} action=${f.action} status=${f.status} delegate=${f.delegate ?? "-"} completed=${f.completed ?? "-"}`,
        ],
      }),
    );
  }
  for (const res of resourceNames(cluster, next)) {
    if (!isSplitBrain(prev, res)) continue;
    const sides = sidesOf(next, res);
    if (!sides.some((s) => s.side.conn === "Connected")) continue;
    if (next.memory.recovering[res] || prev.memory.recovering[res]) continue;
    const victim = sides.find((s) => SYNC_TARGET.test(s.side.repl ?? ""))?.node ?? null;
    const before = sidesOf(prev, res).map((s) => `before: ${sideLine(s.node, s.side)}`);
    const after = sides.map((s) => `now: ${sideLine(s.node, s.side)}`);
    out.push(
      happening(next, {
        kind: "split_brain_auto_resolved",
        family: "link",
        severity: "critical",
        subject: res,
        node: null,
        title: `Split brain on ${res} was resolved WITHOUT xenops: ${victim ? `${victim}'s changes since the split were DISCARDED` : "one node's changes were discarded (which one is not known: the resync already finished)"}`,
        detail:
          "DRBD's after-sb policy (or someone by hand) chose a side. Check the guest data on the discarding node's side: those writes are gone.",
        evidence: [...before, ...after],
      }),
    );
  }
  return out;
}

/** What a cleared condition means, for the "resolved" follow-up. */
export function resolutionText(
  c: Condition,
  facts: Facts,
): { kind: EventKind; title: string; evidence: string[] } {
  const n = c.node ? facts.nodes[c.node] : undefined;
  switch (c.family) {
    case "node":
      return {
        kind: "node_back",
        title: nodeHealthy(n)
          ? `${c.node} is back: answers over SSH${n?.ha ? `, ${n.ha.stack} says ${n.ha.status}` : ""}`
          : `${c.node}: ${c.title} no longer holds`,
        evidence: n
          ? [
              `${c.node}: reachable=${n.reachable}${n.ha ? ` ${n.ha.stack} ${n.ha.status} (seen from ${n.ha.observer})` : ""}`,
            ]
          : [],
      };
    case "link": {
      const sides = c.subject ? sidesOf(facts, c.subject) : [];
      return {
        kind: c.kind === "split_brain" ? "split_brain_resolved" : "drbd_disconnected",
        title: `${c.subject} is connected again`,
        evidence: sides.map((s) => sideLine(s.node, s.side)),
      };
    }
    case "resync": {
      const sides = c.subject ? sidesOf(facts, c.subject) : [];
      const done =
        sides.length > 0 && sides.every((s) => s.side.disk === "UpToDate" && s.side.peerDisk === "UpToDate");
      return {
        kind: "resync_finished",
        title: done
          ? `Resync of ${c.subject} finished: UpToDate/UpToDate`
          : `Resync of ${c.subject} stopped before the end`,
        evidence: sides.map((s) => sideLine(s.node, s.side)),
      };
    }
    case "disk": {
      const side = c.subject && c.node ? facts.nodes[c.node]?.drbd?.[c.subject] : undefined;
      return {
        kind: "disk_degraded",
        title: side
          ? `${c.subject} on ${c.node}: disk ${side.disk} again`
          : `${c.subject} on ${c.node}: no longer reported degraded`,
        evidence: side && c.node ? [sideLine(c.node, side)] : [],
      };
    }
    case "guest": {
      const on = c.subject ? guestPlacement(facts, c.subject).on : [];
      return {
        kind: "guest_on_two_nodes",
        title: `${c.subject} now runs on ${on.length ? on.join(", ") : "no node we can see"}`,
        evidence: [],
      };
    }
    case "failback": {
      const g = c.actions?.[0]?.kind === "failback" ? c.actions[0].guests : [];
      const home = g.filter((x) => facts.nodes[c.node ?? ""]?.guests?.includes(x));
      return {
        kind: "failback_ready",
        title:
          home.length === g.length && g.length > 0
            ? `${g.join(", ")} ${g.length === 1 ? "is" : "are"} back on ${c.node}`
            : "Failback is no longer possible as offered",
        evidence: [],
      };
    }
    default:
      return { kind: c.kind, title: `${c.title}: cleared`, evidence: [] };
  }
}

export type { NodeFacts };
