/**
 * DRBD 8.0-8.4 `/proc/drbd` parser, plus its conversion to the normalized DrbdResourceState.
 *
 * Layout (see drbd_proc.c of each release):
 *   version: 8.4.2 (api:1/proto:86-101)            optional here; absent in some captures
 *   GIT-hash: <hex> build by <who>, <date>          or `srcversion: <hex>`
 *    0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----     (`st:` before 8.3)
 *       ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0   (ep/wo/oos since 8.2/8.3)
 *       [====>.....] sync'ed: 34.9% (9536/14628)M                           while syncing/verifying
 *       finish: 0:00:22 speed: 61,440 (61,440) want: 61,440 K/sec
 *       resync: used:0/61 hits:0 ...   act_log: used:0/257 ...               8.0, or proc_details >= 1
 *    2: cs:Unconfigured
 * Blank lines mark holes in the minor numbering. Every line must be understood: anything else is a
 * ParseError, because a half-read /proc/drbd would hide the state an operator needs to see.
 */
import type { DrbdResourceConfig } from "../../config/schema";
import { ParseError } from "../../errors";
import { type DrbdPeer, DrbdResourceState, type DrbdRole, type DrbdSync } from "../../model";
import { minorOf } from "../expected";

export const PROC_DRBD_KIND = "proc-drbd";

export const DRBD8_ROLES = ["Primary", "Secondary", "Unknown"] as const;
export type Drbd8Role = (typeof DRBD8_ROLES)[number];

export const DRBD8_DISK_STATES = [
  "Diskless",
  "Attaching",
  "Failed",
  "Negotiating",
  "Inconsistent",
  "Outdated",
  "DUnknown",
  "Consistent",
  "UpToDate",
] as const;
export type Drbd8DiskState = (typeof DRBD8_DISK_STATES)[number];

export const DRBD8_CONNECTION_STATES = [
  "StandAlone",
  "Disconnecting",
  "Unconnected",
  "Timeout",
  "BrokenPipe",
  "NetworkFailure",
  "ProtocolError",
  "TearDown",
  "WFConnection",
  "WFReportParams",
  "Connected",
  "StartingSyncS",
  "StartingSyncT",
  "WFBitMapS",
  "WFBitMapT",
  "WFSyncUUID",
  "SyncSource",
  "SyncTarget",
  "VerifyS",
  "VerifyT",
  "PausedSyncS",
  "PausedSyncT",
  "Ahead",
  "Behind",
] as const;
export type Drbd8ConnectionState = (typeof DRBD8_CONNECTION_STATES)[number];

/**
 * States at or above C_CONNECTED in DRBD 8: the link is up and the state names what replication
 * does, which is what DRBD 9 calls the replication state.
 */
export const DRBD8_CONNECTED_STATES: ReadonlySet<Drbd8ConnectionState> = new Set([
  "Connected",
  "StartingSyncS",
  "StartingSyncT",
  "WFBitMapS",
  "WFBitMapT",
  "WFSyncUUID",
  "SyncSource",
  "SyncTarget",
  "VerifyS",
  "VerifyT",
  "PausedSyncS",
  "PausedSyncT",
  "Ahead",
  "Behind",
]);

export interface ProcDrbdVersion {
  /** e.g. `8.4.2`; null when the version line is missing. */
  version: string | null;
  api: number | null;
  /** Protocol range, e.g. `86-101`, or a single version on 8.0. */
  proto: string | null;
  gitHash: string | null;
  /** Text after `build by` on the GIT-hash line. */
  buildBy: string | null;
  srcversion: string | null;
}

export interface ProcDrbdCounters {
  /** KiB sent / received over the network, written to / read from the local disk. */
  ns: number;
  nr: number;
  dw: number;
  dr: number;
  /** Activity-log and bitmap metadata writes. */
  al: number;
  bm: number;
  /** Requests: local open, pending to peer, unacknowledged, application in flight. */
  lo: number;
  pe: number;
  ua: number;
  ap: number;
  /** Epochs in flight (8.2+), write-ordering method b/f/d/n (8.2+), out-of-sync KiB (8.2+). */
  ep: number | null;
  wo: string | null;
  oos: number | null;
}

/** An LRU cache line (`resync:` / `act_log:`): `used:U/SIZE` plus named counters. */
export interface ProcDrbdCacheStats {
  used: number;
  size: number;
  counters: Record<string, number>;
}

export interface ProcDrbdSync {
  /** `resync` for `sync'ed:`, `verify` for `verified:` or the pre-8.3.11 verify line. */
  kind: "resync" | "verify";
  percent: number;
  /** Amount still to do and total, in `unit`: KiB (`K`), MiB (`M`) or bitmap blocks (old verify line). */
  left: number;
  total: number;
  unit: "K" | "M" | "blocks";
  /** Estimated seconds to completion (`finish: h:mm:ss`); null when not printed or stalled. */
  finishSec: number | null;
  /** Recent speed, the first `speed:` figure. */
  speedKiBps: number | null;
  /** The extra short-term figure printed with proc_details (`(A -- B)`), else null. */
  shortTermKiBps: number | null;
  /** Average since the resync started, the figure in parentheses. */
  averageKiBps: number | null;
  /** Configured rate (`want:`), printed on SyncTarget / VerifyS since 8.3.10. */
  wantKiBps: number | null;
  stalled: boolean;
  /** proc_details >= 1: `NN% sector pos: A/B [stop sector: C]`. */
  sectorPos: { percent: number; sector: number; totalSectors: number; stopSector: number | null } | null;
}

export interface ProcDrbdUnconfiguredMinor {
  minor: number;
  cs: "Unconfigured";
  unconfigured: true;
}

export interface ProcDrbdConfiguredMinor {
  minor: number;
  cs: Drbd8ConnectionState;
  unconfigured: false;
  /** `st` before 8.3, `ro` from 8.3 on. */
  roleKey: "st" | "ro";
  role: Drbd8Role;
  peerRole: Drbd8Role;
  disk: Drbd8DiskState;
  peerDisk: Drbd8DiskState;
  /** Wire protocol; null when there is no network configuration (StandAlone) or too old to print it. */
  protocol: "A" | "B" | "C" | null;
  /** Raw flag column, e.g. `r-----`: suspended/running, after-dependency, peer and user sync pause... */
  flags: string | null;
  counters: ProcDrbdCounters;
  resync: ProcDrbdCacheStats | null;
  actLog: ProcDrbdCacheStats | null;
  sync: ProcDrbdSync | null;
}

export type ProcDrbdMinor = ProcDrbdUnconfiguredMinor | ProcDrbdConfiguredMinor;

export interface ProcDrbd {
  version: ProcDrbdVersion;
  minors: ProcDrbdMinor[];
}

/**
 * A KiB/s figure with thousands grouped by commas (`61,440`); 8.0 prints 1000 itself ungrouped and
 * groups only the last three digits (`1234,567`).
 */
const KB = String.raw`\d+(?:,\d{3})*`;

const RE = {
  version: /^version: (\S+) \(api:(\d+)\/proto:(\d+(?:-\d+)?)\)$/,
  gitHash: /^GIT-hash: ([0-9a-fA-F]+)(?: build by (.+))?$/,
  srcversion: /^srcversion: ([0-9A-Za-z]+)$/,
  minor: /^(\d+): cs:(\S+)(?: +(.*))?$/,
  state: /^(st|ro):(\w+)\/(\w+) +ds:(\w+)\/(\w+)(?: +([ABC]))?(?: +([a-z-]{4,8}))?$/,
  counterToken: /^([a-z]+):(-?\d+|[a-z])$/,
  cache: /^(resync|act_log): used:(\d+)\/(\d+)((?: +[a-z_]+:\d+)*)$/,
  bar: /^\[=*>\.*\] *(sync'ed|verified): *(\d+(?:\.\d+)?)% *\((\d+)\/(\d+)\)([KM])(.*)$/,
  finish: new RegExp(
    `^finish: (\\d+):(\\d\\d):(\\d\\d) +speed: (${KB}) +\\((?:(${KB}) -- )?(${KB})\\)(?: +want: (${KB}))? +K/sec( +\\(stalled\\))?$`,
  ),
  stalled: /^stalled$/,
  sectorPos: /^(\d+)% sector pos: (\d+)\/(\d+)(?: stop sector: (\d+))?$/,
  legacyVerify: /^(\d+)% +(\d+)\/(\d+)$/,
};

function isOneOf<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

/** `61,440` -> 61440 (the kernel groups thousands with commas). */
function grouped(value: string): number {
  return Number(value.replaceAll(",", ""));
}

interface Draft {
  minor: ProcDrbdConfiguredMinor;
  lineNo: number;
  hasCounters: boolean;
  /** Line of a progress bar still waiting for its `finish:` line. */
  barAwaitingFinish: number | null;
}

/** Parses DRBD 8 `/proc/drbd`; throws ParseError naming the first line it cannot read. */
export function parseProcDrbd(text: string): ProcDrbd {
  const version: ProcDrbdVersion = {
    version: null,
    api: null,
    proto: null,
    gitHash: null,
    buildBy: null,
    srcversion: null,
  };
  const minors: ProcDrbdMinor[] = [];
  const seen = new Set<number>();
  let draft: Draft | null = null;

  const closeMinor = (d: Draft | null): void => {
    if (!d) return;
    if (!d.hasCounters)
      throw new ParseError(PROC_DRBD_KIND, d.lineNo, "minor has no `ns: nr: dw: ...` counters line");
    if (d.barAwaitingFinish !== null)
      throw new ParseError(PROC_DRBD_KIND, d.barAwaitingFinish, "progress bar without its `finish:` line");
  };

  // The kernel always prints at least the version lines: empty output is a failed read, not "no devices".
  if (text.replace(/[\s\0]/g, "") === "") throw new ParseError(PROC_DRBD_KIND, 0, "empty output");

  for (const [index, raw] of text.split("\n").entries()) {
    const lineNo = index + 1;
    // Some kernels leave a NUL after the flags column; trailing whitespace is padding.
    const line = raw.replace(/[\s\0]+$/, "").trimStart();
    if (line === "") continue;
    const err = (message: string) => new ParseError(PROC_DRBD_KIND, lineNo, message, raw);

    const v = RE.version.exec(line);
    if (v) {
      if (
        seen.size > 0 ||
        version.version !== null ||
        version.gitHash !== null ||
        version.srcversion !== null
      )
        throw err("version line out of place (it comes first, once)");
      version.version = v[1] ?? null;
      version.api = Number(v[2]);
      version.proto = v[3] ?? null;
      continue;
    }

    const git = RE.gitHash.exec(line);
    const src = git ? null : RE.srcversion.exec(line);
    if (git || src) {
      if (seen.size > 0 || version.gitHash !== null || version.srcversion !== null)
        throw err("build line out of place (it follows the version line, once)");
      if (git) {
        version.gitHash = git[1] ?? null;
        version.buildBy = git[2] ?? null;
      } else version.srcversion = src?.[1] ?? null;
      continue;
    }

    const mn = RE.minor.exec(line);
    if (mn) {
      closeMinor(draft);
      draft = null;
      const n = Number(mn[1]);
      if (seen.has(n)) throw err(`minor ${n} listed twice`);
      seen.add(n);
      const cs = mn[2] ?? "";
      const rest = mn[3] ?? "";
      if (cs === "Unconfigured") {
        if (rest !== "") throw err("unexpected text after cs:Unconfigured");
        minors.push({ minor: n, cs: "Unconfigured", unconfigured: true });
        continue;
      }
      if (!isOneOf(DRBD8_CONNECTION_STATES, cs)) throw err(`unknown connection state "${cs}"`);
      const st = RE.state.exec(rest);
      if (!st) throw err("expected `st:`/`ro:` roles and `ds:` disk states after the connection state");
      const [, roleKey, role = "", peerRole = "", disk = "", peerDisk = "", protocol, flags] = st;
      if (!isOneOf(DRBD8_ROLES, role)) throw err(`unknown role "${role}"`);
      if (!isOneOf(DRBD8_ROLES, peerRole)) throw err(`unknown peer role "${peerRole}"`);
      if (!isOneOf(DRBD8_DISK_STATES, disk)) throw err(`unknown disk state "${disk}"`);
      if (!isOneOf(DRBD8_DISK_STATES, peerDisk)) throw err(`unknown peer disk state "${peerDisk}"`);
      const minor: ProcDrbdConfiguredMinor = {
        minor: n,
        cs,
        unconfigured: false,
        roleKey: roleKey === "st" ? "st" : "ro",
        role,
        peerRole,
        disk,
        peerDisk,
        protocol: protocol === "A" || protocol === "B" || protocol === "C" ? protocol : null,
        flags: flags ?? null,
        // Overwritten by the counters line, which closeMinor() insists on.
        counters: {
          ns: 0,
          nr: 0,
          dw: 0,
          dr: 0,
          al: 0,
          bm: 0,
          lo: 0,
          pe: 0,
          ua: 0,
          ap: 0,
          ep: null,
          wo: null,
          oos: null,
        },
        resync: null,
        actLog: null,
        sync: null,
      };
      minors.push(minor);
      draft = { minor, lineNo, hasCounters: false, barAwaitingFinish: null };
      continue;
    }

    if (line.startsWith("ns:")) {
      if (!draft) throw err("counters line outside a configured minor");
      if (draft.hasCounters) throw err("second counters line for the same minor");
      draft.minor.counters = readCounters(line, err);
      draft.hasCounters = true;
      continue;
    }

    const cache = RE.cache.exec(line);
    if (cache) {
      const which = cache[1] ?? "";
      if (!draft?.hasCounters) throw err(`${which} line outside a configured minor's block`);
      const key = which === "resync" ? "resync" : "actLog";
      if (draft.minor[key]) throw err(`second ${which} line for the same minor`);
      const counters = new Map<string, number>();
      for (const pair of (cache[4] ?? "").trim().split(/ +/).filter(Boolean)) {
        const [name = "", value = ""] = pair.split(":");
        if (counters.has(name)) throw err(`${which} counter ${name} repeated`);
        counters.set(name, Number(value));
      }
      draft.minor[key] = {
        used: Number(cache[2]),
        size: Number(cache[3]),
        counters: Object.fromEntries(counters),
      };
      continue;
    }

    const bar = RE.bar.exec(line);
    if (bar) {
      if (!draft?.hasCounters || draft.minor.sync) throw err("progress bar out of place");
      if (Number(bar[2]) > 100) throw err("progress above 100%");
      draft.minor.sync = {
        kind: bar[1] === "verified" ? "verify" : "resync",
        percent: Number(bar[2]),
        left: Number(bar[3]),
        total: Number(bar[4]),
        unit: bar[5] === "M" ? "M" : "K",
        finishSec: null,
        speedKiBps: null,
        shortTermKiBps: null,
        averageKiBps: null,
        wantKiBps: null,
        stalled: false,
        sectorPos: null,
      };
      draft.barAwaitingFinish = lineNo;
      // Kernels around 2.6.39 print MiB progress without the line break before `finish:`.
      const glued = (bar[6] ?? "").trim();
      if (glued !== "") readFinish(glued, draft, err);
      continue;
    }

    if (line.startsWith("finish:") || RE.stalled.test(line)) {
      if (!draft) throw err("finish line outside a configured minor");
      readFinish(line, draft, err);
      continue;
    }

    const sector = RE.sectorPos.exec(line);
    if (sector) {
      const sync = draft?.minor.sync;
      if (!sync || draft?.barAwaitingFinish !== null || sync.sectorPos)
        throw err("sector pos line out of place");
      sync.sectorPos = {
        percent: Number(sector[1]),
        sector: Number(sector[2]),
        totalSectors: Number(sector[3]),
        stopSector: sector[4] === undefined ? null : Number(sector[4]),
      };
      continue;
    }

    const verify = RE.legacyVerify.exec(line);
    if (verify) {
      // Before 8.3.11 online verify printed `NN%  done/total` (bitmap blocks) instead of a bar.
      if (
        !draft?.hasCounters ||
        draft.minor.sync ||
        (draft.minor.cs !== "VerifyS" && draft.minor.cs !== "VerifyT")
      )
        throw err("verify progress line out of place");
      const done = Number(verify[2]);
      const total = Number(verify[3]);
      draft.minor.sync = {
        kind: "verify",
        percent: Number(verify[1]),
        left: Math.max(total - done, 0),
        total,
        unit: "blocks",
        finishSec: null,
        speedKiBps: null,
        shortTermKiBps: null,
        averageKiBps: null,
        wantKiBps: null,
        stalled: false,
        sectorPos: null,
      };
      continue;
    }

    throw err("unrecognised line");
  }
  closeMinor(draft);
  return { version, minors };
}

function readCounters(line: string, err: (message: string) => ParseError): ProcDrbdCounters {
  const found = new Map<string, string>();
  for (const token of line.split(/ +/)) {
    const t = RE.counterToken.exec(token);
    if (!t?.[1] || t[2] === undefined) throw err(`unreadable counter "${token}"`);
    if (found.has(t[1])) throw err(`counter ${t[1]} repeated`);
    found.set(t[1], t[2]);
  }
  const take = (key: string): number => {
    const value = found.get(key);
    if (value === undefined) throw err(`counter ${key} missing`);
    if (!/^-?\d+$/.test(value)) throw err(`counter ${key} is not a number`);
    found.delete(key);
    return Number(value);
  };
  const counters: ProcDrbdCounters = {
    ns: take("ns"),
    nr: take("nr"),
    dw: take("dw"),
    dr: take("dr"),
    al: take("al"),
    bm: take("bm"),
    lo: take("lo"),
    pe: take("pe"),
    ua: take("ua"),
    ap: take("ap"),
    ep: found.has("ep") ? take("ep") : null,
    wo: null,
    oos: found.has("oos") ? take("oos") : null,
  };
  const wo = found.get("wo");
  if (wo !== undefined) {
    if (!/^[a-z]$/.test(wo)) throw err(`write ordering "${wo}" is not a letter`);
    counters.wo = wo;
    found.delete("wo");
  }
  if (found.size > 0) throw err(`unknown counter ${[...found.keys()].join(", ")}`);
  return counters;
}

function readFinish(text: string, d: Draft, err: (message: string) => ParseError): void {
  const sync = d.minor.sync;
  if (d.barAwaitingFinish === null || !sync) throw err("finish line without a progress bar before it");
  if (RE.stalled.test(text)) {
    // 8.0-8.3: no estimate at all once the resync stalls.
    sync.stalled = true;
  } else {
    const f = RE.finish.exec(text);
    if (!f) throw err("unreadable `finish: h:mm:ss speed: N (N) K/sec` line");
    sync.finishSec = Number(f[1]) * 3600 + Number(f[2]) * 60 + Number(f[3]);
    sync.speedKiBps = grouped(f[4] ?? "");
    sync.shortTermKiBps = f[5] === undefined ? null : grouped(f[5]);
    sync.averageKiBps = grouped(f[6] ?? "");
    sync.wantKiBps = f[7] === undefined ? null : grouped(f[7]);
    sync.stalled = f[8] !== undefined;
  }
  d.barAwaitingFinish = null;
}

/**
 * Throws a ParseError when a minor of `expected` (the resources the inventory places on this node) is
 * not listed: a missing minor is unknown (resource down, or /proc/drbd cut short), not "not
 * configured", and reading it as absent would hide a Primary from the safety checks.
 */
export function assertMinorsListed(parsed: ProcDrbd, expected: readonly DrbdResourceConfig[]): void {
  const listed = new Set(parsed.minors.map((m) => m.minor));
  const missing = expected.flatMap((r) => {
    const minor = minorOf(r);
    return minor === null || listed.has(minor) ? [] : [`minor ${minor} (${r.name})`];
  });
  if (missing.length > 0)
    throw new ParseError(
      PROC_DRBD_KIND,
      0,
      `${missing.join(", ")} configured in the inventory but missing from /proc/drbd: state unknown (resource down or output cut short)`,
    );
}

/** Config resource name for a minor: by `minor`, else by the number in `device` (/dev/drbdN). */
function resourceName(minor: number, resources: readonly DrbdResourceConfig[]): string {
  const byMinor = resources.find((r) => r.minor === minor);
  if (byMinor) return byMinor.name;
  const byDevice = resources.find((r) => r.minor === undefined && r.device === `/dev/drbd${minor}`);
  return byDevice ? byDevice.name : `minor${minor}`;
}

function normalizedSync(sync: ProcDrbdSync | null): DrbdSync | null {
  if (!sync) return null;
  return { percent: sync.percent, etaSec: sync.finishSec, speedKiBps: sync.speedKiBps };
}

/**
 * Normalizes parsed /proc/drbd. Decisions:
 * - One entry per listed minor (also minors not in the config, named `minorN`); minors that
 *   /proc/drbd does not list produce no entry.
 * - `cs:Unconfigured` (the kernel prints it for a StandAlone, Diskless, Secondary device): unconfigured
 *   true, role Unknown, diskState Diskless, no peers, since no connection is configured.
 * - Every configured minor has exactly one peer (DRBD 8 has one), node null. For connected states
 *   (Connected, SyncSource, PausedSyncT, VerifyS, WFBitMapT, Ahead, ...) the peer is "Connected" and
 *   the state becomes its replicationState (Connected -> "Established"); any other state (StandAlone,
 *   WFConnection, Disconnecting, ...) is the peer's connectionState with replicationState null.
 */
export function toResourceStates(
  parsed: ProcDrbd,
  resources: readonly DrbdResourceConfig[],
): DrbdResourceState[] {
  return parsed.minors.map((m) => {
    const name = resourceName(m.minor, resources);
    if (m.unconfigured)
      return DrbdResourceState.parse({
        name,
        minor: m.minor,
        role: "Unknown",
        diskState: "Diskless",
        unconfigured: true,
        peers: [],
      });
    const connected = DRBD8_CONNECTED_STATES.has(m.cs);
    const peer: DrbdPeer = {
      node: null,
      connectionState: connected ? "Connected" : m.cs,
      replicationState: connected ? (m.cs === "Connected" ? "Established" : m.cs) : null,
      role: m.peerRole satisfies DrbdRole,
      diskState: m.peerDisk,
      outOfSyncKiB: m.counters.oos,
      sync: normalizedSync(m.sync),
    };
    return DrbdResourceState.parse({
      name,
      minor: m.minor,
      role: m.role satisfies DrbdRole,
      diskState: m.disk,
      unconfigured: false,
      peers: [peer],
    });
  });
}
