/**
 * The real-HA lab (`npm run lab -- --ha real`): Debian's heartbeat 3 runs for real on each node of
 * the simulated reference cluster, each node in its own PID, network, UTS and mount namespaces (see
 * namespace.ts), the two joined by a veth pair as their replication link (addresses that exist only
 * inside the namespaces). STONITH is cluster-glue's real `apcsmart` plugin talking over a
 * pseudo-terminal (the node's /dev/ttyS0) to an emulated APC Smart-UPS (ups.ts) whose output is the
 * simulated peer's power. heartbeat's resource scripts (drbddisk, contrib/ha/xen-guest) call the
 * simulator's `drbdadm` and `xm` of their node through shims: Xen and DRBD cannot run here.
 *
 * Over SSH the simulated nodes hand `cl_status`, `stonith`, `drbdadm dump` and reads of /etc/ha.d and
 * heartbeat's log to the node's namespaces (src/sim/passthrough.ts), so xenops reads the real thing.
 *
 * Start-up, power, partition and clean-up are common.ts's (shared with the Pacemaker stack).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DRBD_CONF } from "../../sim/config-files";
import { simFile } from "../../sim/startup";
import {
  DRBDADM_83,
  HEARTBEAT,
  type Ids,
  LINK_IFACE,
  linkAddress,
  type RealHaLab,
  type RealHaNode,
  type RealHaOptions,
  startRealStack,
} from "./common";
import { REFERENCE_TIMING, renderAuthkeys, renderHaCf, renderHaresources } from "./config";

export {
  cleanupLeftovers,
  DIR_PREFIX,
  FILE_PROGRAMS,
  type RealHaLab,
  type RealHaNode,
  type RealHaOptions,
  type RealHaPolicy,
  realHaUnavailable,
} from "./common";

const HERE = dirname(fileURLToPath(import.meta.url));
const XEN_GUEST = join(HERE, "..", "..", "..", "contrib", "ha", "xen-guest");

function prepareNodeDir(
  dir: string,
  files: { haCf: string; authkeys: string; haresources: string; drbdConf: string },
): void {
  for (const d of ["etc/ha.d", "run/lock", "var/lib/heartbeat", "var/log", "sbin"])
    mkdirSync(join(dir, d), { recursive: true });
  // The packages' own /etc/ha.d (harc, rc.d, resource.d with drbddisk) and /var/lib/heartbeat layout.
  execFileSync("cp", ["-a", "/etc/ha.d/.", join(dir, "etc/ha.d")]);
  execFileSync("cp", ["-a", "/var/lib/heartbeat/.", join(dir, "var/lib/heartbeat")]);
  writeFileSync(join(dir, "etc/ha.d/ha.cf"), files.haCf, { mode: 0o644 });
  writeFileSync(join(dir, "etc/ha.d/authkeys"), files.authkeys, { mode: 0o600 });
  chmodSync(join(dir, "etc/ha.d/authkeys"), 0o600);
  writeFileSync(join(dir, "etc/ha.d/haresources"), files.haresources, { mode: 0o644 });
  writeFileSync(join(dir, "etc/drbd.conf"), files.drbdConf, { mode: 0o644 });
  copyFileSync(XEN_GUEST, join(dir, "etc/ha.d/resource.d/xen-guest"));
  chmodSync(join(dir, "etc/ha.d/resource.d/xen-guest"), 0o755);
  chmodSync(join(dir, "run/lock"), 0o1777);
}

/** /run after a boot: empty but for heartbeat's own directories (tmpfiles.d/heartbeat.conf). */
function freshRun(dir: string, ids: Ids): void {
  const run = join(dir, "run");
  for (const name of readdirSync(run))
    if (name !== "lock") rmSync(join(run, name), { recursive: true, force: true });
  for (const d of ["heartbeat", "heartbeat/ccm", "heartbeat/crm", "heartbeat/dopd", "crm"]) {
    mkdirSync(join(run, d), { recursive: true, mode: 0o750 });
    execFileSync("chown", [`${ids.uid}:${ids.gid}`, join(run, d)]);
  }
}

const HA_PROGRAMS = new Set(["cl_status", "stonith", "hb_standby", "hb_takeover"]);
const isRealPath = (p: string): boolean =>
  p === "/etc/ha.d" || p.startsWith("/etc/ha.d/") || p.startsWith("/var/log/ha-");

export async function startRealHa(options: RealHaOptions): Promise<RealHaLab> {
  const { sim } = options;
  if (sim.state.toolstack.ha !== "heartbeat")
    throw new Error("startRealHa runs heartbeat clusters; Pacemaker ones start with startRealPacemaker");
  const timing = options.timing ?? REFERENCE_TIMING;
  const simNodes = sim.state.nodes.map((n) => n.name);
  const addresses = simNodes.map((name, i) => ({ name, address: linkAddress(i) }));
  const files = {
    haCf: renderHaCf(addresses, timing, LINK_IFACE),
    authkeys: renderAuthkeys(),
    haresources: renderHaresources(sim.state.ha.groups),
  };
  const nodeOf = (lab: RealHaLab, name: string): RealHaNode | undefined =>
    lab.nodes.find((n) => n.name === name);
  return startRealStack(options, {
    stack: "heartbeat",
    deadtime: timing.deadtime,
    timing,
    policy: {
      autoTakeover: true,
      autoFailback: true,
      why: "heartbeat v1 always fences a node it declares dead (stonith_host) and takes its haresources groups over, and ha.cf says auto_failback on, as on the reference cluster; heartbeat has no switch that leaves a dead node's groups down",
    },
    programs: HA_PROGRAMS,
    isRealPath,
    shims: ["xm", "drbdadm"],
    prepareNode: (dir, name) =>
      prepareNodeDir(dir, { ...files, drbdConf: simFile(sim, name, DRBD_CONF) ?? "" }),
    freshRun,
    startScript: `exec ${HEARTBEAT} </dev/null >>/var/log/heartbeat.out 2>&1`,
    startInTurn: true,
    passThrough: (n, argv, io) => {
      // DRBD's own parser reads the node's drbd.conf (the simulator's, `!sim config` edits included);
      // every other drbdadm command stays simulated (no kernel module here).
      const program = (argv[0] ?? "").slice((argv[0] ?? "").lastIndexOf("/") + 1);
      if (program !== "drbdadm" || argv[1] !== "dump") return null;
      writeFileSync(join(n.ns.dir, "etc/drbd.conf"), simFile(sim, n.name, DRBD_CONF) ?? "");
      return n.ns.stream([DRBDADM_83, ...argv.slice(1)], io);
    },
    async ready(lab) {
      for (const n of lab.nodes) {
        const peer = lab.nodes.find((x) => x !== n) as RealHaNode;
        const st = await n.ns.run(["cl_status", "nodestatus", peer.name]);
        if (st.stdout.trim() !== "active") return false;
      }
      for (const g of sim.state.ha.groups) {
        const home = nodeOf(lab, g.home);
        if (!home) continue;
        const rsc = (await home.ns.run(["cl_status", "rscstatus"])).stdout.trim();
        if (rsc !== "all" && rsc !== "local") return false;
        if (!sim.findGuestDomain(g.home, g.guest)) return false;
      }
      return true;
    },
    readyTimeoutMs: (timing.initdead + 30) * 1000,
  });
}
