/**
 * heartbeat's log file (/var/log/ha-log) on a simulated node, in heartbeat 2.x's own formats: the
 * daemon logs `heartbeat[PID]: 2009/01/12_10:00:30 WARN: node ics2: is dead`, its scripts (harc,
 * mach_down, ResourceManager) the same with a tab after the colon. Message texts are heartbeat's
 * (hb_resource.c, heartbeat.c, mach_down, ResourceManager), so a parser that reads a real log reads
 * this one too.
 */
import type { SimHaGroup, SimNode } from "./model";
import { haTimestamp } from "./render/format";

export const HA_LOG_PATH = "/var/log/ha-log";

/** A log file keeps growing; the simulator keeps the newest lines (tail is all anyone reads). */
const MAX_LINES = 5000;

export type HaLogLevel = "info" | "WARN" | "ERROR" | "debug";

/** stonith_get_info(ST_DEVICEID) of cluster-glue's plugins: what `Resetting node X with [ID]` prints. */
const DEVICE_IDS: Record<string, string> = {
  apcsmart: "APCSmart",
  apcmaster: "APCMaster",
  apcmastersnmp: "APCMasterSNMP",
  baytech: "BayTech",
  ipmilan: "IPMI",
  rps10: "RPS10",
  wti_nps: "WTI NPS",
  nw_rpc100s: "NW RPC100S",
  rcd_serial: "RCD_Serial",
};

export function stonithDeviceId(type: string): string {
  return DEVICE_IDS[type] ?? type.replace(/^external\//, "");
}

/** The haresources line of a group: `ics2 drbddisk::internet xendomains::internet`. */
export function haresourcesLine(g: SimHaGroup): string {
  return [g.home, ...g.drbd.map((r) => `drbddisk::${r}`), `xendomains::${g.guest}`].join(" ");
}

/** A new PID for a child process of heartbeat on this node (STONITH, mach_down, ResourceManager). */
export function childPid(node: SimNode): number {
  const pid = node.childPid ?? node.pid + 7;
  node.childPid = pid + 1 + (pid % 3);
  return pid;
}

/** Appends one line to the node's ha-log. `pid` defaults to the heartbeat daemon's. */
export function haLog(
  node: SimNode,
  at: number,
  program: string,
  level: HaLogLevel,
  message: string,
  pid: number = node.pid,
): void {
  const sep = program === "heartbeat" ? " " : "\t";
  const log = node.haLog ?? [];
  log.push(`${program}[${pid}]:${sep}${haTimestamp(at)} ${level}: ${message}`);
  if (log.length > MAX_LINES) log.splice(0, log.length - MAX_LINES);
  node.haLog = log;
}
