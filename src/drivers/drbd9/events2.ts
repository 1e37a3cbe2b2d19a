/**
 * `drbdsetup events2` (DRBD 9), as printed by drbd-utils user/v9/drbdsetup_events2.c:
 *
 *   [TIMESTAMP ]ACTION OBJECT key:value ...
 *
 * ACTION is exists | create | change | destroy | call | response | rename; OBJECT is resource,
 * device, connection, peer-device, path or helper. `exists -` closes the initial state dump (all
 * `exists` lines come before it). With --timestamps every line starts with
 * `YYYY-MM-DDTHH:MM:SS.uuuuuu+HH:MM`. With --diff changed values read `old->new` (`UNKNOWN->` on
 * create). With --statistics/--full more keys appear; --color adds SGR escapes. A `create` line
 * carries every field of its object, a `change` line only the changed groups of fields, `destroy`
 * only the identifying keys; objects are identified by resource `name`, device `volume`,
 * connection `conn-name` (falling back to `peer-node-id`), peer-device `conn-name` + `volume`.
 *
 * The 2013 pre-release event log (sequence numbers, `*` continuations, `- skipped N`) is a
 * different format and is rejected.
 */

import { compareText } from "../../compare-text";
import { ParseError } from "../../errors";
import type { DrbdResourceState } from "../../model";
import {
  applyConnectionField,
  applyDeviceField,
  applyPathField,
  applyPeerDeviceField,
  applyResourceField,
  type Fail,
  int,
  splitField,
  stripAnsi,
} from "./fields";
import {
  type Drbd9Connection,
  type Drbd9PeerDevice,
  type Drbd9Resource,
  newConnection,
  newDevice,
  newPeerDevice,
  newResource,
  RESYNC_STATES,
  sortResource,
} from "./model";
import { toDrbdResourceStates } from "./normalize";

export const DRBD_EVENTS2_KIND = "drbd-events2";

export const EVENTS2_ACTIONS = [
  "exists",
  "create",
  "change",
  "destroy",
  "call",
  "response",
  "rename",
] as const;
export type Events2Action = (typeof EVENTS2_ACTIONS)[number];

export const EVENTS2_OBJECTS = [
  "resource",
  "device",
  "connection",
  "peer-device",
  "path",
  "helper",
  "-",
] as const;
export type Events2Object = (typeof EVENTS2_OBJECTS)[number];

export interface Events2Event {
  /** 1-based line of the stream; 0 when parsed on its own without a line number. */
  line: number;
  /** The --timestamps prefix as printed (local time with offset), or null. */
  timestamp: string | null;
  action: Events2Action;
  object: Events2Object;
  /** Fields in print order; with --diff the new value. */
  fields: Record<string, string>;
  /** With --diff: the old value of each `old->new` field (`UNKNOWN` on create). */
  previous: Record<string, string>;
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$/;
/** Identifying keys: never split at `->` (names may contain it in principle; addresses never do). */
const IDENTITY_KEYS = new Set(["name", "conn-name", "local", "peer", "helper", "new_name"]);

/**
 * One events2 line. Blank lines give null. Throws ParseError on anything that is not an events2
 * line; `lineNo` only labels the error and the event.
 */
export function parseEvents2Line(line: string, lineNo = 0): Events2Event | null {
  const fail: Fail = (message) => {
    throw new ParseError(DRBD_EVENTS2_KIND, lineNo, message, line);
  };
  const text = stripAnsi(line).trim();
  if (text === "") return null;
  const tokens = text.split(/\s+/);
  let timestamp: string | null = null;
  if (tokens[0] !== undefined && /^\d/.test(tokens[0])) {
    if (!TIMESTAMP.test(tokens[0])) fail(`"${tokens[0]}" is neither an action nor a timestamp`);
    timestamp = tokens.shift() ?? null;
  }
  const action = tokens.shift() ?? "";
  if (!(EVENTS2_ACTIONS as readonly string[]).includes(action)) fail(`unknown action "${action}"`);
  const object = tokens.shift() ?? "";
  if (!(EVENTS2_OBJECTS as readonly string[]).includes(object)) fail(`unknown object "${object}"`);
  if (object === "-" && (action !== "exists" || tokens.length > 0))
    fail(`"-" only ends the initial state as "exists -"`);
  const fields: Record<string, string> = {};
  const previous: Record<string, string> = {};
  for (const token of tokens) {
    const { key, value } = splitField(token, fail);
    const arrow = IDENTITY_KEYS.has(key) ? -1 : value.indexOf("->");
    if (arrow >= 0) {
      previous[key] = value.slice(0, arrow);
      fields[key] = value.slice(arrow + 2);
    } else {
      fields[key] = value;
    }
  }
  if (object !== "-" && fields.name === undefined) fail("missing name:");
  return {
    line: lineNo,
    timestamp,
    action: action as Events2Action,
    object: object as Events2Object,
    fields,
    previous,
  };
}

/** Keys that identify the object rather than describe it. */
const KEY_FIELDS = new Set(["name", "volume", "peer-node-id", "conn-name"]);

/**
 * The current state built from an events2 stream. Events about objects it has not seen (a change
 * before its create) create them with what the event says; the rest stays unknown (null).
 */
export class Events2State {
  private readonly resources = new Map<string, Drbd9Resource>();
  private complete = false;

  /** True once `exists -` has been seen: the state holds every object DRBD had at start. */
  get initialStateComplete(): boolean {
    return this.complete;
  }

  /** Parses and applies one line; returns the event (null for a blank line). */
  applyLine(line: string, lineNo = 0): Events2Event | null {
    const event = parseEvents2Line(line, lineNo);
    if (event) this.apply(event);
    return event;
  }

  apply(event: Events2Event): void {
    const fail: Fail = (message) => {
      throw new ParseError(DRBD_EVENTS2_KIND, event.line, message);
    };
    if (event.object === "-") {
      this.complete = true;
      return;
    }
    // Helper calls and their responses report scripts run by DRBD; they change no state.
    if (event.action === "call" || event.action === "response" || event.object === "helper") return;

    const name = event.fields.name ?? "";
    if (event.action === "rename") {
      const newName = event.fields.new_name;
      if (event.object !== "resource" || !newName) fail("rename needs a resource and new_name:");
      const res = this.resources.get(name);
      if (res) {
        this.resources.delete(name);
        res.name = newName;
        this.resources.set(newName, res);
      }
      return;
    }
    const destroy = event.action === "destroy";
    const existing = this.resources.get(name);
    if (event.object === "resource") {
      if (destroy) {
        this.resources.delete(name);
        return;
      }
      const res = existing ?? newResource(name);
      this.resources.set(name, res);
      for (const [k, v] of describing(event)) applyResourceField(res, k, v, fail);
      return;
    }
    if (destroy && !existing) return;
    const res = existing ?? newResource(name);
    this.resources.set(name, res);

    switch (event.object) {
      case "device": {
        const volume = int(event.fields.volume ?? "", "volume", fail);
        if (destroy) {
          res.devices = res.devices.filter((d) => d.volume !== volume);
          return;
        }
        const dev = findOrAdd(
          res.devices,
          (d) => d.volume === volume,
          () => newDevice(volume),
        );
        for (const [k, v] of describing(event)) applyDeviceField(dev, k, v, fail);
        return;
      }
      case "connection": {
        const match = connectionMatcher(event, fail);
        if (destroy) {
          res.connections = res.connections.filter((c) => !match(c));
          return;
        }
        const conn = this.connection(res, event, fail);
        for (const [k, v] of describing(event)) applyConnectionField(conn, k, v, fail);
        return;
      }
      case "peer-device": {
        const volume = int(event.fields.volume ?? "", "volume", fail);
        if (destroy) {
          const conn = res.connections.find(connectionMatcher(event, fail));
          if (conn) conn.peerDevices = conn.peerDevices.filter((p) => p.volume !== volume);
          return;
        }
        const conn = this.connection(res, event, fail);
        const peer = findOrAdd(
          conn.peerDevices,
          (p) => p.volume === volume,
          () => newPeerDevice(volume),
        );
        applyPeerDeviceEvent(peer, event, fail);
        return;
      }
      case "path": {
        const local = event.fields.local ?? null;
        const peerAddr = event.fields.peer ?? null;
        const same = (p: { local: string | null; peer: string | null }) =>
          p.local === local && p.peer === peerAddr;
        if (destroy) {
          const conn = res.connections.find(connectionMatcher(event, fail));
          if (conn) conn.paths = conn.paths.filter((p) => !same(p));
          return;
        }
        const conn = this.connection(res, event, fail);
        const path = findOrAdd(conn.paths, same, () => ({ local, peer: peerAddr, established: null }));
        for (const [k, v] of describing(event)) applyPathField(path, k, v, fail);
        return;
      }
    }
  }

  /** A deep copy of the current state, in canonical order. */
  snapshot(): Drbd9Resource[] {
    return [...this.resources.values()]
      .map((r) => sortResource(structuredClone(r)))
      .sort((a, b) => compareText(a.name, b.name));
  }

  toResourceStates(): DrbdResourceState[] {
    return toDrbdResourceStates(this.snapshot());
  }

  private connection(res: Drbd9Resource, event: Events2Event, fail: Fail): Drbd9Connection {
    const match = connectionMatcher(event, fail);
    const conn = findOrAdd(res.connections, match, () =>
      newConnection(event.fields["conn-name"] ?? null, peerNodeId(event, fail)),
    );
    conn.peerNodeId ??= peerNodeId(event, fail);
    return conn;
  }
}

function peerNodeId(event: Events2Event, fail: Fail): number | null {
  const id = event.fields["peer-node-id"];
  return id === undefined ? null : int(id, "peer-node-id", fail);
}

/** drbdsetup keys connections by conn-name; peer-node-id stands in where no name is printed. */
function connectionMatcher(event: Events2Event, fail: Fail): (c: Drbd9Connection) => boolean {
  const connName = event.fields["conn-name"];
  if (connName !== undefined) return (c) => c.name === connName;
  const id = peerNodeId(event, fail);
  if (id === null) return fail(`${event.object} without conn-name: or peer-node-id:`);
  return (c) => c.peerNodeId === id;
}

function describing(event: Events2Event): [string, string][] {
  return Object.entries(event.fields).filter(([k]) => !KEY_FIELDS.has(k));
}

function findOrAdd<T>(list: T[], match: (item: T) => boolean, create: () => T): T {
  const found = list.find(match);
  if (found) return found;
  const item = create();
  list.push(item);
  return item;
}

function applyPeerDeviceEvent(peer: Drbd9PeerDevice, event: Events2Event, fail: Fail): void {
  for (const [k, v] of describing(event)) applyPeerDeviceField(peer, k, v, fail);
  // Progress fields are printed only while a resync runs; a change that ends it must not leave the
  // last progress behind.
  if (peer.replicationState === null || !RESYNC_STATES.has(peer.replicationState)) {
    peer.donePercent = null;
    peer.etaSec = null;
    peer.speedKiBps = null;
  }
  // Statistics without out-of-sync mean it dropped to 0 (printed only when non-zero unless --verbose).
  if (event.fields.received !== undefined && event.fields["out-of-sync"] === undefined) peer.outOfSyncKiB = 0;
}

export interface Events2StreamResult {
  events: Events2Event[];
  initialStateComplete: boolean;
  resources: Drbd9Resource[];
  state: DrbdResourceState[];
}

/** A whole captured stream: every event, and the state after the last one. */
export function parseEvents2Stream(text: string): Events2StreamResult {
  const state = new Events2State();
  const events: Events2Event[] = [];
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((line, i) => {
      const event = state.applyLine(line, i + 1);
      if (event) events.push(event);
    });
  const resources = state.snapshot();
  return {
    events,
    initialStateComplete: state.initialStateComplete,
    resources,
    state: toDrbdResourceStates(resources),
  };
}
