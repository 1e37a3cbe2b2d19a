/**
 * heartbeat's log as an event source. The monitor (only the monitor: `/xen status` stays light)
 * tails `/var/log/ha-log` on every heartbeat node; the lines after the previous read (a cursor of the
 * last lines seen, kept in the facts) tell what heartbeat itself did:
 *
 * - a node declared dead, STONITH through the fence device (reported reset, or `Host X not reset!`
 *   and retries), the takeover of the dead node's haresources groups (`mach_down takeover
 *   complete.`): one episode per dead node, kept until the node is back;
 * - auto_failback (`X wants to go standby [foreign]` ... `Other node completed standby takeover`).
 *
 * They become first-class happenings in the dead node's incident: "heartbeat started internet on
 * ics1 after ics2 died", with heartbeat's STONITH lines as the fence evidence. heartbeat saying a
 * reset succeeded is what the fence device reported, not a power reading: it is said so. A takeover
 * with no STONITH in the log may mean two writers: critical, and on-call is paged again. A failed
 * STONITH (heartbeat then does not take over) is critical with the raw lines.
 *
 * The first read of a log (no cursor yet) is a baseline: its lines are replayed into the episodes
 * silently, so a takeover that happened while xenops was not running is described, not announced.
 * Pure: the pipeline stores the memory with the facts.
 */
import type { ClusterConfig } from "../config/schema";
import { classifyHaLog, linesAfter, parseHaLogLine } from "../drivers/heartbeat/ha-log";
import {
  type Facts,
  type HaFailbackEpisode,
  type HaLogEpisode,
  type HaLogMemory,
  nodeHealthy,
} from "./facts";
import type { ClusterEvent, IncidentAction } from "./types";

/** One node's log as read by the monitor; null lines: not read (no log there, or it failed). */
export interface HaLogRead {
  node: string;
  lines: string[] | null;
}

/** What the monitor read of heartbeat in one pass. */
export interface HeartbeatRead {
  logs: HaLogRead[];
  /** heartbeat's auto_failback (`cl_status hbparameter`); null when it could not be read. */
  autoFailback: boolean | null;
}

/** Raw lines kept per episode: the first ones and the newest ones. */
const KEEP_FIRST = 12;
const KEEP_TOTAL = 40;

function keep(lines: string[], line: string): void {
  lines.push(line);
  if (lines.length > KEEP_TOTAL) lines.splice(KEEP_FIRST, lines.length - KEEP_TOTAL);
}

/** Guests named by heartbeat resources (`xendomains::internet`, `drbddisk::internet`). */
export function guestsOfResources(cluster: ClusterConfig, resources: readonly string[]): string[] {
  const out = new Set<string>();
  for (const r of resources) {
    const [script = "", ...args] = r.split("::");
    for (const a of args) {
      if (cluster.guests.some((g) => g.name === a)) out.add(a);
      else if (/^drbddisk$/i.test(script))
        for (const g of cluster.guests) if (g.drbd.includes(a)) out.add(g.name);
    }
  }
  return [...out].sort();
}

/** The guests an episode took over: from heartbeat's resource lines, else the dead node's. */
function takenOver(cluster: ClusterConfig, facts: Facts, ep: HaLogEpisode): string[] {
  const named = guestsOfResources(cluster, ep.resources);
  if (named.length > 0) return named;
  const ran = facts.nodes[ep.observer]?.guests ?? [];
  return cluster.guests
    .filter((g) => g.home === ep.dead && ran.includes(g.name))
    .map((g) => g.name)
    .sort();
}

function list(names: readonly string[], none: string): string {
  return names.length > 0 ? names.join(", ") : none;
}

function fenceStatement(ep: HaLogEpisode): string {
  switch (ep.stonith) {
    case "reported_reset":
      return `heartbeat reports ${ep.dead} reset through ${ep.device ?? "its STONITH device"} (power not verified)`;
    case "failed":
      return `heartbeat could NOT reset ${ep.dead} through ${ep.device ?? "its STONITH device"}`;
    case "started":
      return `heartbeat is resetting ${ep.dead} through ${ep.device ?? "its STONITH device"}`;
    case "none_configured":
      return `heartbeat has no STONITH device configured: ${ep.dead} was NOT fenced`;
    default:
      return `heartbeat's log shows no STONITH of ${ep.dead}`;
  }
}

function episodeEvidence(ep: HaLogEpisode): string[] {
  return [`fence: ${fenceStatement(ep)}`, `heartbeat log on ${ep.observer}:`, ...ep.lines];
}

interface Step {
  cluster: ClusterConfig;
  next: Facts;
  mem: HaLogMemory;
  events: ClusterEvent[];
  /** Happenings built once the whole read is in, so their evidence has the lines after them too. */
  deferred: (() => ClusterEvent)[];
}

function event(
  s: Step,
  e: Omit<ClusterEvent, "cluster" | "at" | "source" | "subject"> & { subject?: string | null },
): ClusterEvent {
  return { cluster: s.next.cluster, at: s.next.at, source: "poll", subject: null, ...e };
}

function takeoverEvent(s: Step, ep: HaLogEpisode): ClusterEvent {
  const guests = takenOver(s.cluster, s.next, ep);
  const what = list(guests, `${ep.dead}'s resource groups`);
  const fenced = ep.stonith === "reported_reset";
  const actions: IncidentAction[] = fenced ? [] : [{ kind: "fence", node: ep.dead }];
  // heartbeat says "complete" even when a resource script failed: what runs is read from the nodes.
  const missing = guests.filter((g) => !s.next.nodes[ep.observer]?.guests?.includes(g));
  const head =
    missing.length > 0
      ? `heartbeat took over ${ep.dead}'s groups on ${ep.observer} after ${ep.dead} died, but ${missing.join(", ")} ${missing.length === 1 ? "does" : "do"} not run there`
      : `heartbeat started ${what} on ${ep.observer} after ${ep.dead} died`;
  return event(s, {
    kind: "ha_takeover",
    family: "node",
    node: ep.dead,
    severity: fenced && missing.length === 0 ? "warning" : "critical",
    title: fenced ? head : `${head}, WITHOUT fencing ${ep.dead}`,
    detail: fenced
      ? `${fenceStatement(ep)}. It took over ${ep.dead}'s resource groups: nothing to fence or start by hand. They go back when ${ep.dead} returns (auto_failback) or by a failback.`
      : `${fenceStatement(ep)}. If ${ep.dead} is not really off, ${what} may run twice: two writers on one disk. Make sure ${ep.dead} is powered off now (Fence ${ep.dead}).`,
    evidence: [...episodeEvidence(ep), ...guests.map((g) => `now: ${g} on ${where(s.next, g)}`)],
    actions,
    ...(fenced ? {} : { repage: true }),
  });
}

function stonithFailedEvent(s: Step, ep: HaLogEpisode): ClusterEvent {
  const guests = guestsOfResources(s.cluster, ep.resources);
  const stranded = s.cluster.guests.filter((g) => g.home === ep.dead).map((g) => g.name);
  return event(s, {
    kind: "ha_stonith_failed",
    family: "node",
    node: ep.dead,
    severity: "critical",
    title: `heartbeat could NOT reset ${ep.dead} (Host ${ep.dead} not reset!): no takeover`,
    detail: `heartbeat on ${ep.observer} will not take ${ep.dead}'s groups over until a reset through ${ep.device ?? "its STONITH device"} succeeds (it retries every few seconds); ${list(guests.length ? guests : stranded, "its guests")} stay down meanwhile. Check the fence device (power, serial cable) before anything else.`,
    evidence: episodeEvidence(ep),
    actions: [{ kind: "fence", node: ep.dead }],
  });
}

function failbackEvent(s: Step, fb: HaFailbackEpisode): ClusterEvent {
  const guests = guestsOfResources(s.cluster, fb.resources);
  const what = list(guests, `${fb.home}'s resource groups`);
  const home = s.next.nodes[fb.home]?.guests;
  const arrived = guests.length > 0 && guests.every((g) => home?.includes(g));
  return event(s, {
    kind: "ha_failback",
    family: "node",
    node: fb.home,
    severity: arrived || guests.length === 0 ? "info" : "warning",
    title: arrived
      ? `heartbeat migrated ${what} back to ${fb.home}`
      : `heartbeat gave ${what} back to ${fb.home}${guests.length > 0 ? ", but not all of them run there" : ""}`,
    detail: `auto_failback: ${fb.holder} gave ${fb.home}'s resource groups back when ${fb.home} returned.`,
    evidence: [
      ...fb.lines,
      ...(guests.length ? [`now: ${guests.map((g) => `${g} on ${where(s.next, g)}`).join(", ")}`] : []),
    ],
  });
}

function where(facts: Facts, guest: string): string {
  const on = Object.entries(facts.nodes)
    .filter(([, n]) => n.guests?.includes(guest))
    .map(([name]) => name);
  return on.length ? on.join(" and ") : "no node seen";
}

/** The dead node's episode on `observer`, created when the log shows it without a "dead" line. */
function episodeFor(s: Step, dead: string, observer: string, at: string | null): HaLogEpisode {
  const ep = s.mem.episodes[dead];
  if (ep) return ep;
  const created: HaLogEpisode = {
    observer,
    dead,
    since: at,
    stonith: null,
    device: null,
    takeover: null,
    resources: [],
    lines: [],
    reported: {},
  };
  s.mem.episodes[dead] = created;
  return created;
}

function openTakeoverOf(s: Step, observer: string): HaLogEpisode | undefined {
  return Object.values(s.mem.episodes).find((e) => e.observer === observer && e.takeover === "started");
}

/** The node an auto_failback gives groups back to: the one `holder` took over from, else its only peer. */
function failbackHome(s: Step, holder: string): string | null {
  const took = Object.values(s.mem.episodes).find((e) => e.observer === holder && e.takeover === "complete");
  if (took) return took.dead;
  const peers = s.cluster.nodes.filter((n) => n.name !== holder);
  return peers.length === 1 ? (peers[0]?.name ?? null) : null;
}

function replayLine(s: Step, observer: string, raw: string, silent: boolean): void {
  const line = parseHaLogLine(raw);
  if (!line) return;
  const ev = classifyHaLog(line);
  if (!ev) return;
  switch (ev.kind) {
    case "node_dead": {
      const ep: HaLogEpisode = {
        observer,
        dead: ev.node,
        since: line.at,
        stonith: null,
        device: null,
        takeover: null,
        resources: [],
        lines: [raw],
        reported: {},
      };
      s.mem.episodes[ev.node] = ep;
      return;
    }
    case "gave_up": {
      const ep = episodeFor(s, ev.node, observer, line.at);
      ep.takeover = "not_needed";
      keep(ep.lines, raw);
      return;
    }
    case "stonith_start": {
      const ep = episodeFor(s, ev.node, observer, line.at);
      ep.device = ev.device;
      if (ep.stonith === null) ep.stonith = "started";
      keep(ep.lines, raw);
      return;
    }
    case "stonith_ok": {
      const ep = episodeFor(s, ev.node, observer, line.at);
      ep.stonith = "reported_reset";
      keep(ep.lines, raw);
      return;
    }
    case "stonith_failed":
    case "stonith_badhost": {
      const ep = episodeFor(s, ev.node, observer, line.at);
      ep.stonith = "failed";
      if (ev.kind === "stonith_badhost") ep.device = ev.device;
      keep(ep.lines, raw);
      if (!ep.reported.stonithFailed && !silent) s.deferred.push(() => stonithFailedEvent(s, ep));
      ep.reported.stonithFailed = true;
      return;
    }
    case "stonith_retry": {
      const ep = s.mem.episodes[ev.node];
      if (ep) keep(ep.lines, raw);
      return;
    }
    case "stonith_none": {
      const ep = Object.values(s.mem.episodes).find(
        (e) => e.observer === observer && e.stonith === null && e.takeover !== "complete",
      );
      if (!ep) return;
      ep.stonith = "none_configured";
      keep(ep.lines, raw);
      return;
    }
    case "takeover_start": {
      const ep = episodeFor(s, ev.node, observer, line.at);
      if (ep.takeover === null || ep.takeover === "not_needed") ep.takeover = "started";
      keep(ep.lines, raw);
      return;
    }
    case "takeover_group": {
      const ep = openTakeoverOf(s, observer);
      if (!ep) return;
      for (const r of ev.resources) if (!ep.resources.includes(r)) ep.resources.push(r);
      keep(ep.lines, raw);
      return;
    }
    case "takeover_done": {
      // mach_down's "complete for node X." comes first, then the daemon's "mach_down takeover complete."
      const ep = ev.node
        ? s.mem.episodes[ev.node]
        : (openTakeoverOf(s, observer) ??
          Object.values(s.mem.episodes).find(
            (e) => e.observer === observer && e.takeover === "complete" && !e.lines.includes(raw),
          ));
      if (!ep || ep.observer !== observer) return;
      keep(ep.lines, raw);
      if (ep.takeover === "complete") return;
      ep.takeover = "complete";
      // Told at the end of the pass (see applyHaLogs); a first read replays it silently.
      if (!ep.reported.takeover && !silent) ep.reported.takeoverDue = true;
      else ep.reported.takeover = true;
      return;
    }
    case "standby_start": {
      if (ev.which !== "foreign" && ev.which !== "all") return;
      const home = observer === ev.holder ? failbackHome(s, ev.holder) : observer;
      if (!home || home === ev.holder) return;
      const fb = s.mem.failbacks[home];
      // Both nodes log the request: one failback (a finished one is dropped at the end of the pass).
      if (!fb || fb.holder !== ev.holder)
        s.mem.failbacks[home] = {
          holder: ev.holder,
          home,
          since: line.at,
          resources: [],
          lines: [`${observer}: ${raw}`],
          done: false,
        };
      else if (!fb.done) keep(fb.lines, `${observer}: ${raw}`);
      return;
    }
    case "standby_release": {
      const fb = Object.values(s.mem.failbacks).find((f) => f.holder === observer && !f.done);
      if (!fb) return;
      for (const r of ev.resources) if (!fb.resources.includes(r)) fb.resources.push(r);
      keep(fb.lines, `${observer}: ${raw}`);
      return;
    }
    case "failback_done_holder":
    case "failback_done_home": {
      const fb =
        ev.kind === "failback_done_home"
          ? s.mem.failbacks[observer]
          : Object.values(s.mem.failbacks).find((f) => f.holder === observer && !f.done);
      if (!fb || fb.done) return;
      keep(fb.lines, `${observer}: ${raw}`);
      fb.done = true;
      // Posted at the end of the pass, once its home node has been read (see applyHaLogs).
      if (silent) fb.reported = true;
      return;
    }
    case "both_own": {
      if (silent) return;
      s.events.push(
        event(s, {
          kind: "ha_alert",
          family: "guest",
          node: observer,
          severity: "critical",
          title: `heartbeat on ${observer}: both nodes hold ${ev.which === "our" ? `${observer}'s` : "the other node's"} resource groups: two writers possible`,
          detail:
            "heartbeat's resource audit found the same groups active on both nodes. Check where each guest runs now (/xen status) and stop the extra copy.",
          evidence: [`${observer}: ${raw}`],
          repage: true,
        }),
      );
      return;
    }
    case "node_status":
      return;
  }
}

/**
 * Applies the logs read in one monitor pass to `next` (its memory's heartbeat part) and returns the
 * happenings, plus the guests whose move heartbeat explains (their plain "moved" event is dropped:
 * the takeover or failback says it).
 */
export function applyHaLogs(
  cluster: ClusterConfig,
  prev: Facts | null,
  next: Facts,
  read: HeartbeatRead,
): { events: ClusterEvent[]; explained: Set<string> } {
  const reads = read.logs;
  const before = prev?.memory.haLog;
  const mem: HaLogMemory = next.memory.haLog ?? { cursors: {}, episodes: {}, failbacks: {} };
  next.memory.haLog = mem;
  if (read.autoFailback !== null) mem.autoFailback = read.autoFailback;
  const s: Step = { cluster, next, mem, events: [], deferred: [] };
  for (const log of reads) {
    if (log.lines === null) continue;
    const cursor = before?.cursors[log.node] ?? null;
    const { fresh, cursor: after } = linesAfter(cursor, log.lines);
    mem.cursors[log.node] = after;
    // A first read replays the whole tail silently: what heartbeat did before xenops watched.
    const first = cursor === null;
    for (const raw of first ? log.lines : fresh) replayLine(s, log.node, raw, first);
    for (const build of s.deferred.splice(0)) s.events.push(build());
  }
  const explained = new Set<string>();
  for (const ep of Object.values(mem.episodes))
    if (ep.takeover === "started" || ep.takeover === "complete")
      for (const g of takenOver(cluster, next, ep)) explained.add(g);
  for (const fb of Object.values(mem.failbacks))
    for (const g of guestsOfResources(cluster, fb.resources)) explained.add(g);
  // A takeover is told once its guests are seen on the survivor: the survivor's domains may have been
  // listed a moment before heartbeat logged the end (real timing), so a guest not there yet gets one
  // more pass before the takeover says it does not run there.
  for (const ep of Object.values(mem.episodes)) {
    if (!ep.reported.takeoverDue || ep.reported.takeover) continue;
    const running = next.nodes[ep.observer]?.guests;
    const arrived = running != null && takenOver(cluster, next, ep).every((g) => running.includes(g));
    if (arrived || ep.reported.takeoverSettling) {
      s.events.push(takeoverEvent(s, ep));
      ep.reported.takeover = true;
    } else ep.reported.takeoverSettling = true;
  }
  // A node that is back ends its episode (once its takeover is told); a failback that is over has
  // been told.
  for (const [dead, ep] of Object.entries(mem.episodes))
    if (
      nodeHealthy(next.nodes[dead]) &&
      ep.takeover !== "started" &&
      !(ep.reported.takeoverDue && !ep.reported.takeover)
    )
      delete mem.episodes[dead];
  // A failback is told once its home node answered: before that its guests are unknown there, not
  // missing (with real timing the holder's "completed" line can be read while the home node's SSH
  // is still coming back). It is dropped once the home's own log was read too: its lines about the
  // same failback must not open a second one.
  const readNow = new Set(reads.filter((l) => l.lines !== null).map((l) => l.node));
  for (const [home, fb] of Object.entries(mem.failbacks)) {
    if (!fb.done) continue;
    const there = next.nodes[home]?.guests;
    if (!fb.reported && there != null) {
      // The home's domains may have been listed a moment before the holder logged the end: one more
      // pass before saying a guest is not there.
      const arrived = guestsOfResources(cluster, fb.resources).every((g) => there.includes(g));
      if (arrived || fb.settling) {
        s.events.push(failbackEvent(s, fb));
        fb.reported = true;
      } else fb.settling = true;
    }
    if (fb.reported && readNow.has(home)) delete mem.failbacks[home];
  }
  return { events: s.events, explained };
}

/**
 * What heartbeat did about a dead node, for its incident: the title, text, evidence and buttons
 * follow heartbeat's log instead of asking for a fence it already did. Null: its log says nothing
 * beyond the death (or was not read).
 */
export function heartbeatDeadNode(
  cluster: ClusterConfig,
  facts: Facts,
  node: string,
  base: { title: string; evidence: string[] },
): { title: string; detail: string; evidence: string[]; actions: IncidentAction[] } | null {
  const ep = facts.memory.haLog?.episodes[node];
  if (!ep || (ep.stonith === null && ep.takeover === null)) return null;
  const guests = takenOver(cluster, facts, ep);
  const what = list(guests, `${node}'s resource groups`);
  const device = ep.device ?? "its STONITH device";
  const evidence = [...base.evidence, ...episodeEvidence(ep)];
  const fence: IncidentAction[] = [{ kind: "fence", node }];
  if (ep.takeover === "complete") {
    if (ep.stonith === "reported_reset")
      return {
        title: `${base.title}: heartbeat reset it through ${device} and started ${what} on ${ep.observer}`,
        detail: `${fenceStatement(ep)}. heartbeat took over ${node}'s resource groups: ${what} ${guests.length === 1 ? "runs" : "run"} on ${ep.observer}. Nothing to fence or start by hand.`,
        evidence,
        actions: [],
      };
    return {
      title: `${base.title}: heartbeat started ${what} on ${ep.observer} WITHOUT fencing ${node}`,
      detail: `${fenceStatement(ep)}. If ${node} is not really off, ${what} may run twice (two writers). Make sure ${node} is powered off: fence it.`,
      evidence,
      actions: fence,
    };
  }
  if (ep.takeover === "not_needed")
    return {
      title: `${base.title}: it held no resource groups`,
      detail: `heartbeat on ${ep.observer} says ${node} gave up its resources: nothing to take over.`,
      evidence,
      actions: fence,
    };
  if (ep.stonith === "failed")
    return {
      title: `${base.title}: heartbeat could NOT reset it, no takeover`,
      detail: `${fenceStatement(ep)} (Host ${node} not reset!). It retries and takes over only after a reset succeeds; until then ${node}'s guests stay down. Check the fence device.`,
      evidence,
      actions: fence,
    };
  if (ep.takeover === "started")
    return {
      title: `${base.title}: heartbeat is taking over ${what} on ${ep.observer}`,
      detail: `${fenceStatement(ep)}. heartbeat is starting ${node}'s resource groups on ${ep.observer}.`,
      evidence,
      actions: ep.stonith === "reported_reset" ? [] : fence,
    };
  return {
    title: `${base.title}: ${fenceStatement(ep)}`,
    detail: `${fenceStatement(ep)}; it takes ${node}'s groups over once the reset is done.`,
    evidence,
    actions: [],
  };
}

/** heartbeat lines that explain why `guest` runs away from its home, for the baseline's evidence. */
export function takeoverLinesFor(cluster: ClusterConfig, facts: Facts, guest: string): string[] {
  const ep = Object.values(facts.memory.haLog?.episodes ?? {}).find(
    (e) => e.takeover !== null && takenOver(cluster, facts, e).includes(guest),
  );
  return ep ? episodeEvidence(ep) : [];
}
