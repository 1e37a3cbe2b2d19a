/**
 * heartbeat's log (`/var/log/ha-log`, or ha-debug), read-only: `tail -n 200` on a node, then pure
 * parsing. Only the events monitor reads it (never `/xen status`: status stays light).
 *
 * Line formats (heartbeat 2.x/3.x):
 *   heartbeat[3254]: 2009/01/12_10:00:30 WARN: node ics2: is dead          (logfile/debugfile)
 *   mach_down[4611]:\t2009/01/12_10:00:30 info: Taking over resource group drbddisk::internet
 *   mach_down(default)[3087]:\t2018/03/01_23:20:10 info: ...              (3.x with a log tag)
 *   2026/12/04_17:53:52  mach_down(default)[123]:\tinfo: ...              (3.0.6's scripts, logfile)
 *   Jan 05 12:06:27 prodlb02 heartbeat: [1643]: WARN: node prodlb01: is dead   (through ha_logd)
 *
 * Messages recognized (hb_resource.c, heartbeat.c, mach_down, ResourceManager): a node declared
 * dead, STONITH (`Resetting node X with [DEV]`, `node X now reset.`, `Host X not reset!`, `STONITH of
 * X failed.  Retrying...`, `Device D cannot reset host X.`, `No STONITH device configured.`), the
 * takeover (`Resources being acquired from X.`, resource groups, `mach_down takeover complete.`),
 * auto_failback (`X wants to go standby [foreign]`, `Other node completed standby takeover of foreign
 * resources.`, `Standby resource acquisition done [foreign].`) and the audit alarm `Both machines own
 * our resources!`. Every other line is kept raw but means nothing here.
 */
import type { CommandRunner } from "../../command-runner";
import type { DriverCallOptions } from "../types";

export const HA_LOG_PATH = "/var/log/ha-log";
export const HA_LOG_TAIL_LINES = 200;

export interface HaLogLine {
  raw: string;
  program: string;
  pid: number;
  /** ISO time when the line carries a year (heartbeat's own format); null for syslog-style lines. */
  at: string | null;
  level: string;
  message: string;
}

export type HaLogEvent =
  | { kind: "node_dead"; node: string }
  | { kind: "gave_up"; node: string }
  | { kind: "stonith_start"; node: string; device: string }
  | { kind: "stonith_ok"; node: string }
  | { kind: "stonith_failed"; node: string }
  | { kind: "stonith_retry"; node: string }
  | { kind: "stonith_badhost"; node: string; device: string }
  | { kind: "stonith_none" }
  | { kind: "takeover_start"; node: string }
  | { kind: "takeover_group"; resources: string[] }
  | { kind: "takeover_done"; node: string | null }
  | { kind: "standby_start"; holder: string; which: string }
  | { kind: "standby_release"; resources: string[] }
  | { kind: "failback_done_holder"; which: string }
  | { kind: "failback_done_home"; which: string }
  | { kind: "node_status"; node: string; status: string }
  | { kind: "both_own"; which: string };

const OWN =
  /^(\S+?)(?:\([^)]*\))?\[(\d+)\]:\s+(\d{4})\/(\d{2})\/(\d{2})_(\d{2}):(\d{2}):(\d{2}) (\w+): ?(.*)$/;
const SYSLOG = /^[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2} \S+ (\S+?)(?:\([^)]*\))?: \[(\d+)\]: (\w+): ?(.*)$/;
/** heartbeat 3.0.x's scripts (shellfuncs' ha_log to the logfile): the time first, then the tag. */
const SCRIPT =
  /^(\d{4})\/(\d{2})\/(\d{2})_(\d{2}):(\d{2}):(\d{2})\s+(\S+?)(?:\([^)]*\))?\[(\d+)\]:\s+(\w+): ?(.*)$/;

/** One log line, or null when it is in neither of heartbeat's formats (a script's stray output). */
export function parseHaLogLine(raw: string): HaLogLine | null {
  const line = raw.replace(/\r$/, "");
  const own = OWN.exec(line);
  if (own) {
    const [, program, pid, y, mo, d, h, mi, s, level, message] = own;
    return {
      raw: line,
      program: program as string,
      pid: Number(pid),
      at: `${y}-${mo}-${d}T${h}:${mi}:${s}Z`,
      level: level as string,
      message: (message as string).trim(),
    };
  }
  const script = SCRIPT.exec(line);
  if (script) {
    const [, y, mo, d, h, mi, s, program, pid, level, message] = script;
    return {
      raw: line,
      program: program as string,
      pid: Number(pid),
      at: `${y}-${mo}-${d}T${h}:${mi}:${s}Z`,
      level: level as string,
      message: (message as string).trim(),
    };
  }
  const sys = SYSLOG.exec(line);
  if (sys) {
    const [, program, pid, level, message] = sys;
    return {
      raw: line,
      program: program as string,
      pid: Number(pid),
      at: null,
      level: level as string,
      message: (message as string).trim(),
    };
  }
  return null;
}

/** Resource words of a haresources group line (`ics2 drbddisk::internet xendomains::internet` → the rest). */
function groupResources(text: string): string[] {
  return text.trim().split(/\s+/).slice(1);
}

type Rule = [RegExp, (x: string[], line: HaLogLine) => HaLogEvent | null];

const RULES: Rule[] = [
  [/^node (\S+): is dead$/, (x) => ({ kind: "node_dead", node: x[1] as string })],
  [/^Dead node (\S+) gave up resources\.$/, (x) => ({ kind: "gave_up", node: x[1] as string })],
  [
    /^Resetting node (\S+) with \[(.*)\]$/,
    (x) => ({ kind: "stonith_start", node: x[1] as string, device: x[2] as string }),
  ],
  [/^node (\S+) now reset\.$/, (x) => ({ kind: "stonith_ok", node: x[1] as string })],
  [/^Host (\S+) not reset!$/, (x) => ({ kind: "stonith_failed", node: x[1] as string })],
  [/^STONITH of (\S+) failed\.\s+Retrying\.\.\.$/, (x) => ({ kind: "stonith_retry", node: x[1] as string })],
  [
    /^Device (.+) cannot reset host (\S+)\.$/,
    (x) => ({ kind: "stonith_badhost", device: x[1] as string, node: x[2] as string }),
  ],
  [/^No STONITH device configured\.$/, () => ({ kind: "stonith_none" })],
  [/^Resources being acquired from (\S+)\.$/, (x) => ({ kind: "takeover_start", node: x[1] as string })],
  [
    /^Acquiring resource group: (.+)$/,
    (x, line) =>
      line.program === "ResourceManager"
        ? { kind: "takeover_group", resources: groupResources(x[1] as string) }
        : null,
  ],
  [/^mach_down takeover complete\.$/, () => ({ kind: "takeover_done", node: null })],
  [
    /^mach_down takeover complete for node (\S+)\.$/,
    (x) => ({ kind: "takeover_done", node: x[1] as string }),
  ],
  [
    /^(\S+) wants to go standby \[(\w+)\]$/,
    (x) => ({ kind: "standby_start", holder: x[1] as string, which: x[2] as string }),
  ],
  [
    /^Releasing resource group: (.+)$/,
    (x) => ({ kind: "standby_release", resources: groupResources(x[1] as string) }),
  ],
  [
    /^Other node completed standby takeover of (\w+) resources\.$/,
    (x) => ({ kind: "failback_done_holder", which: x[1] as string }),
  ],
  [
    /^Standby resource acquisition done \[(\w+)\]\.$/,
    (x) => ({ kind: "failback_done_home", which: x[1] as string }),
  ],
  [
    /^Status update for node (\S+): status (\w+)$/,
    (x) => ({ kind: "node_status", node: x[1] as string, status: x[2] as string }),
  ],
  [/^Both machines own (our|foreign) resources!$/, (x) => ({ kind: "both_own", which: x[1] as string })],
];

/** What a line means for takeover and fencing, or null. */
export function classifyHaLog(line: HaLogLine): HaLogEvent | null {
  for (const [re, build] of RULES) {
    const x = re.exec(line.message);
    if (x) return build([...x], line);
  }
  return null;
}

/** How many lines of the previous read identify where it ended. */
export const CURSOR_LINES = 3;

/**
 * The lines of `lines` (a fresh tail) after the previous read, whose last lines were `cursor`.
 * `lost`: the cursor is not in the tail (the log rotated, or more than a tail's worth was written):
 * every line is returned, and some may have been missed. No cursor: nothing is new (a first read
 * sets the baseline).
 */
export function linesAfter(
  cursor: readonly string[] | null,
  lines: readonly string[],
): { fresh: string[]; lost: boolean; cursor: string[] } {
  const next = lines.slice(-CURSOR_LINES);
  if (cursor === null) return { fresh: [], lost: false, cursor: next };
  if (cursor.length === 0) return { fresh: [...lines], lost: false, cursor: next };
  for (let end = lines.length; end >= cursor.length; end--) {
    let match = true;
    for (let k = 0; k < cursor.length; k++) {
      if (lines[end - cursor.length + k] !== cursor[k]) {
        match = false;
        break;
      }
    }
    if (match) return { fresh: lines.slice(end), lost: false, cursor: next.length ? next : [...cursor] };
  }
  return { fresh: [...lines], lost: true, cursor: next };
}

/** The log's last lines, or null when the node has no such file (not a heartbeat node, log elsewhere). */
export async function readHaLogTail(
  runner: CommandRunner,
  options: DriverCallOptions & { path?: string; lines?: number } = {},
): Promise<string[] | null> {
  const res = await runner.run(
    ["tail", "-n", String(options.lines ?? HA_LOG_TAIL_LINES), options.path ?? HA_LOG_PATH],
    { timeoutMs: options.timeoutMs, signal: options.signal, okExitCodes: [0, 1] },
  );
  if (res.exitCode !== 0) return null;
  return res.stdout
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .filter((l) => l !== "");
}

/**
 * `cl_status hbparameter -p auto_failback`: heartbeat's auto_failback setting (`on`, `off`, `legacy`;
 * `-m` prints "Heartbeat parameter auto_failback's value: on"). True only for `on`: then heartbeat
 * itself gives a returning node its groups back.
 */
export function parseAutoFailback(text: string): boolean | null {
  const line = text.trim();
  const value = /^Heartbeat parameter auto_failback's value: (\S+)$/.exec(line)?.[1] ?? line;
  if (!/^(on|off|legacy|yes|no|true|false)$/i.test(value)) return null;
  return /^(on|yes|true)$/i.test(value);
}

/** heartbeat's auto_failback on this node's configuration; null when it cannot be told. */
export async function readAutoFailback(
  runner: CommandRunner,
  options: DriverCallOptions = {},
): Promise<boolean | null> {
  const res = await runner.run(["cl_status", "hbparameter", "-p", "auto_failback"], {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    okExitCodes: [0, 1],
  });
  return res.exitCode === 0 ? parseAutoFailback(res.stdout) : null;
}
