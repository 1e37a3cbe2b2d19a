/**
 * `/proc/drbd` of DRBD 8.2.6 (drbd/drbd_proc.c at the 8.2.6 release, 3e69822d3):
 *
 *   version: 8.2.6 (api:88/proto:86-88)
 *   GIT-hash: 3e69822d3bb4920a8c1bfdf7d647169eba7d2eb4 build by root@ics1, 2008-07-09 14:36:18
 *    0: cs:Connected st:Primary/Secondary ds:UpToDate/UpToDate C r---
 *       ns:0 nr:0 dw:0 dr:0 al:0 bm:0 lo:0 pe:0 ua:0 ap:0 oos:0
 *   while syncing (drbd_syncer_progress):
 *   	[=====>..............] sync'ed: 28.6% (733/1024)M
 *   	finish: 0:00:41 speed: 18,236 (17,776) K/sec
 *   with proc_details >= 1 (lc_printf_stats):
 *   	resync: used:0/61 hits:0 misses:0 starving:0 dirty:0 changed:0
 *   	act_log: used:0/127 hits:0 misses:0 starving:0 dirty:0 changed:0
 *
 * A gap in the minor numbers prints one empty line before the next configured minor.
 *
 * DRBD 9's /proc/drbd only identifies the module; that form is here too (renderProcDrbd9).
 */
import type { SimNode } from "../model";
import type { DrbdView, Simulation } from "../simulation";
import { right } from "./format";

const GIT_HASH_8_2_6 = "3e69822d3bb4920a8c1bfdf7d647169eba7d2eb4";
const GIT_HASH_9_2_8 = "e163b05a76254c0f51f999970e861d72bb16409a";

/** 8.2.6 prints speeds above 1000 as `%ld,%03ld` (one comma only; no grouping beyond that). */
function speed826(v: number): string {
  return v > 1000 ? `${Math.floor(v / 1000)},${String(v % 1000).padStart(3, "0")}` : String(v);
}

/** The two progress lines, with the kernel's integer arithmetic on 4 KiB bitmap bits. */
export function syncProgress826(v: NonNullable<DrbdView["resync"]>): string {
  const bitsLeft = Math.floor(v.leftKiB / 4);
  const rsTotal = Math.max(1, Math.floor(v.totalKiB / 4));
  let res = 0;
  if (bitsLeft <= rsTotal)
    res = 1000 - Math.floor((Math.floor(bitsLeft / 1024) * 1000) / (Math.floor(rsTotal / 1024) + 1));
  const x = Math.floor(res / 50);
  const y = 20 - x;
  let out = `\t[${"=".repeat(Math.max(0, x - 1))}>${".".repeat(y)}] `;
  out += `sync'ed:${right(Math.floor(res / 10), 3)}.${res % 10}% `;
  // More than 1 GB (0x100000 bits of 4 KiB) is shown in MiB.
  if (rsTotal > 0x100000) out += `(${(bitsLeft * 4) >> 10}/${(rsTotal * 4) >> 10})M\n\t`;
  else out += `(${bitsLeft * 4}/${rsTotal * 4})K\n\t`;

  // The syncer sets a mark every 3 s; speed and ETA use the blocks moved since the last mark.
  const elapsed = Math.floor(v.elapsedMs / 1000);
  const dt = Math.max(1, elapsed % 3 || Math.min(3, elapsed));
  const db = Math.floor((v.rateKiBps / 4) * dt);
  const rt = Math.floor((dt * Math.floor(bitsLeft / (Math.floor(db / 100) + 1))) / 100);
  out += `finish: ${Math.floor(rt / 3600)}:${String(Math.floor((rt % 3600) / 60)).padStart(2, "0")}:${String(rt % 60).padStart(2, "0")}`;
  out += ` speed: ${speed826(Math.floor(db / dt) * 4)}`;
  const dtAll = Math.max(1, elapsed);
  const dbAll = rsTotal - bitsLeft;
  out += ` (${speed826(Math.floor(dbAll / dtAll) * 4)})`;
  out += " K/sec\n";
  return out;
}

function lruLine(
  name: string,
  used: number,
  elements: number,
  hits: number,
  misses: number,
  changed: number,
): string {
  return `\t${name}: used:${used}/${elements} hits:${hits} misses:${misses} starving:0 dirty:0 changed:${changed}\n`;
}

function minorBlock(v: DrbdView, procDetails: number): string {
  const r = v.resource;
  const c = v.local.counters;
  const f = Math.floor;
  let out =
    `${right(r.minor, 2)}: cs:${v.connection8} st:${v.role}/${v.peerRole} ds:${v.disk}/${v.peerDisk} ` +
    // Protocol letter only while a net config exists; then the susp/aftr_isp/peer_isp/user_isp flags.
    `${v.local.netWanted ? r.protocol : " "} r---\n`;
  // Resync requests in flight count as pending.
  const pe = v.resync ? 2 : 0;
  out += `    ns:${f(c.ns)} nr:${f(c.nr)} dw:${f(c.dw)} dr:${f(c.dr)} al:${f(c.al)} bm:${f(c.bm)} lo:0 pe:${pe} ua:0 ap:0`;
  out += ` oos:${v.oosKiB}\n`;
  if (v.resync) out += syncProgress826(v.resync);
  if (procDetails >= 1) {
    // Resync extents are 16 MiB; the LRU holds at most 61 of them.
    const rsUsed = v.resync ? Math.min(61, Math.max(1, Math.ceil(v.resync.leftKiB / 16384))) : 0;
    const rsHits = f(c.nr / 4096);
    out += lruLine("resync", rsUsed, 61, rsHits, f(rsHits / 8), f(rsHits / 8));
    const alUsed = v.role === "Primary" ? Math.min(127, 3 + (f(c.al) % 61)) : 0;
    out += lruLine("act_log", alUsed, 127, f(c.dw / 4), f(c.al), f(c.al));
  }
  return out;
}

/** /proc/drbd of a DRBD 8.2.6 node. */
export function renderProcDrbd8(sim: Simulation, node: SimNode): string {
  const ts = sim.state.toolstack;
  const built = new Date(sim.state.startTime - 180 * 86400000 - 4321000)
    .toISOString()
    .replace("T", " ")
    .slice(0, 19);
  let out = `version: ${ts.drbdVersion} (api:88/proto:86-88)\n`;
  out += `GIT-hash: ${GIT_HASH_8_2_6} build by root@${node.name}, ${built}\n`;
  let expect = 0;
  for (const r of sim.resourcesOn(node.name)) {
    // drbd_seq_show walks minor 0..minor_count; a missing minor sets `hole`, printed as "\n".
    if (r.minor > expect) out += "\n";
    out += minorBlock(sim.drbdView(r, node.name), sim.state.drbdProcDetails);
    expect = r.minor + 1;
  }
  return out;
}

/** /proc/drbd of a DRBD 9 node: module identification and loaded transports only. */
export function renderProcDrbd9(sim: Simulation, node: SimNode): string {
  const v = sim.state.toolstack.drbdVersion;
  const built = new Date(sim.state.startTime - 30 * 86400000 - 1234000)
    .toISOString()
    .replace("T", " ")
    .slice(0, 19);
  return (
    `version: ${v} (api:2/proto:86-122)\n` +
    `GIT-hash: ${GIT_HASH_9_2_8} build by root@${node.name}, ${built}\n` +
    `Transports (api:21): tcp (${v})\n`
  );
}
