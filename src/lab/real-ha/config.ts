/**
 * heartbeat's configuration for the real-HA lab, in the reference cluster's style: ha.cf identical on
 * both nodes (unicast heartbeats over the replication link, one STONITH line per direction: the UPS on
 * a node's serial port powers its peer), authkeys mode 600, haresources one group per line.
 */
import { randomBytes } from "node:crypto";
import type { SimHaGroup } from "../../sim/model";

export interface HeartbeatTiming {
  /** heartbeat's keepalive, e.g. "2" (seconds) or "500ms". */
  keepalive: string;
  deadtime: number;
  warntime: number;
  initdead: number;
}

/** The reference cluster's timing. */
export const REFERENCE_TIMING: HeartbeatTiming = { keepalive: "2", deadtime: 30, warntime: 10, initdead: 60 };

export interface HaNodeAddress {
  name: string;
  address: string;
}

export function renderHaCf(nodes: readonly HaNodeAddress[], timing: HeartbeatTiming, iface: string): string {
  const ucast = nodes.map((n) => `ucast           ${iface} ${n.address}\n`).join("");
  const stonith = nodes
    .map((from) => {
      const others = nodes.filter((n) => n !== from).map((n) => n.name);
      return `stonith_host    ${from.name} apcsmart /dev/ttyS0 ${others.join(" ")}\n`;
    })
    .join("");
  return `# /etc/ha.d/ha.cf - identical on both nodes
logfile         /var/log/ha-log
debugfile       /var/log/ha-debug
udpport         694
keepalive       ${timing.keepalive}
deadtime        ${timing.deadtime}
warntime        ${timing.warntime}
initdead        ${timing.initdead}
${ucast}auto_failback   on
# The APC Smart-UPS on each node's serial port powers the other node.
${stonith}${nodes.map((n) => `node            ${n.name}\n`).join("")}`;
}

export function renderAuthkeys(secret = randomBytes(18).toString("base64url")): string {
  return `auth 1\n1 sha1 ${secret}\n`;
}

/** One group per line: the home node, drbddisk for each disk, then the guest's own resource script. */
export function renderHaresources(groups: readonly SimHaGroup[]): string {
  return `# /etc/ha.d/haresources - identical on both nodes
#
#	NODE is the group's preferred node (auto_failback on brings the group back to it).
#	drbddisk makes the disk Primary first; xen-guest (contrib/ha/xen-guest) then starts only this guest.
#
${groups
  .map((g) => `${g.home} ${g.drbd.map((r) => `drbddisk::${r}`).join(" ")} \\\n\txen-guest::${g.guest}\n`)
  .join("")}`;
}

/** The reference cluster's proportions for another deadtime (tests and `--ha-deadtime`). */
export function realHaTiming(deadtime: number): HeartbeatTiming {
  return {
    keepalive: deadtime >= 10 ? "2" : "500ms",
    deadtime,
    warntime: Math.max(1, Math.floor(deadtime / 3)),
    initdead: Math.max(deadtime * 2, 10),
  };
}
