/**
 * The real-HA lab on the modern preset (`npm run lab -- --preset modern --ha real`): corosync 3
 * (knet, two_node) and Pacemaker 2.1 run for real on hv1 and hv2, each node in its own namespaces
 * (namespace.ts, stack "pacemaker": its own /etc/corosync, /var/lib/corosync, /var/lib/pacemaker,
 * /run, /var/log and a private /dev/shm, since libqb's IPC lives there). Resources are the lab's
 * OCF agents (contrib/ha/ocf: ocf:xenops:Xen per guest, ocf:xenops:drbd-primary cloned per DRBD
 * resource) over the simulator's `xl` and `drbdadm` (shim.mjs). Fencing is Pacemaker's fencer
 * running cluster-glue's apcsmart plugin on the node's /dev/ttyS0, a pty to the emulated Smart-UPS
 * (ups.ts) that powers the peer, as in the heartbeat lab.
 *
 * Over SSH the simulated nodes hand crm_mon, crm_resource, stonith_admin, cibadmin (and the other
 * Pacemaker/corosync tools below) and reads of /etc/corosync and the cluster logs to the node's
 * namespaces (src/sim/passthrough.ts). Start-up, power, partition and clean-up are common.ts's.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { crmMonToHaView, parseCrmMonXml } from "../../drivers/pacemaker/crm-mon";
import { type Ids, linkAddress, type RealHaLab, type RealHaOptions, startRealStack } from "./common";
import {
  type CorosyncTiming,
  DEFAULT_COROSYNC_TIMING,
  renderCib,
  renderCorosyncConf,
} from "./pacemaker-config";

const HERE = dirname(fileURLToPath(import.meta.url));
const OCF_DIR = join(HERE, "..", "..", "..", "contrib", "ha", "ocf");
const OCF_AGENTS = ["Xen", "drbd-primary"];
const OCF_ROOT = "/usr/lib/ocf/resource.d";

/** Pacemaker's and corosync's programs that run in the node (xenops reads them for real). */
const HA_PROGRAMS = new Set([
  "crm_mon",
  "crm_resource",
  "stonith_admin",
  "cibadmin",
  "crm_node",
  "crm_attribute",
  "crm_verify",
  "crm_failcount",
  "crm_simulate",
  "corosync-quorumtool",
  "corosync-cfgtool",
  "corosync-cmapctl",
]);
const isRealPath = (p: string): boolean =>
  p === "/etc/corosync" ||
  p.startsWith("/etc/corosync/") ||
  p.startsWith("/var/log/pacemaker/") ||
  p.startsWith("/var/log/corosync/");

function prepareNodeDir(dir: string, files: { corosync: string; cib: string }, ids: Ids) {
  for (const d of [
    "etc/corosync",
    "var/lib/corosync",
    "var/lib/pacemaker",
    "run",
    "var/log/corosync",
    "sbin",
    "ocf/xenops",
  ])
    mkdirSync(join(dir, d), { recursive: true });
  execFileSync("cp", ["-a", "/var/lib/pacemaker/.", join(dir, "var/lib/pacemaker")]);
  execFileSync("cp", ["-a", "/etc/corosync/.", join(dir, "etc/corosync")]);
  writeFileSync(join(dir, "etc/corosync/corosync.conf"), files.corosync, { mode: 0o644 });
  // The CIB before the first start: no digest file, Pacemaker writes its own.
  const cib = join(dir, "var/lib/pacemaker/cib/cib.xml");
  writeFileSync(cib, files.cib, { mode: 0o600 });
  execFileSync("chown", [`${ids.uid}:${ids.gid}`, cib]);
  mkdirSync(join(dir, "var/log/pacemaker"), { recursive: true, mode: 0o770 });
  execFileSync("chown", [`${ids.uid}:${ids.gid}`, join(dir, "var/log/pacemaker")]);
  // Mount points for the packages' OCF providers, beside the lab's own (namespace.ts binds them).
  for (const p of readdirSync(OCF_ROOT, { withFileTypes: true }))
    if (p.isDirectory() && p.name !== "xenops") mkdirSync(join(dir, "ocf", p.name), { recursive: true });
  for (const a of OCF_AGENTS) {
    copyFileSync(join(OCF_DIR, a), join(dir, "ocf/xenops", a));
    chmodSync(join(dir, "ocf/xenops", a), 0o755);
  }
}

/** /run after a boot: empty but for the directories the packages' tmpfiles.d create. */
function freshRun(dir: string, ids: Ids): void {
  const run = join(dir, "run");
  for (const name of readdirSync(run)) rmSync(join(run, name), { recursive: true, force: true });
  for (const d of ["crm", "corosync", "lock"]) mkdirSync(join(run, d), { recursive: true, mode: 0o750 });
  execFileSync("chown", [`${ids.uid}:${ids.gid}`, join(run, "crm")]);
  chmodSync(join(run, "lock"), 0o1777);
}

/** corosync, then pacemakerd, as their units would start them; stale libqb IPC files go first. */
const START_STACK = `rm -rf /dev/shm/* 2>/dev/null
corosync </dev/null >>/var/log/corosync/corosync.out 2>&1 || exit 1
PCMK_logfile=/var/log/pacemaker/pacemaker.log setsid pacemakerd </dev/null >>/var/log/pacemaker/pacemakerd.out 2>&1 &
exit 0`;

const CRM_MON = ["crm_mon", "-1", "--output-as=xml"];

export async function startRealPacemaker(options: RealHaOptions): Promise<RealHaLab> {
  const { sim } = options;
  // `--ha-deadtime N` is corosync's token timeout here.
  const timing: CorosyncTiming = options.timing
    ? { tokenMs: options.timing.deadtime * 1000 }
    : DEFAULT_COROSYNC_TIMING;
  const simNodes = sim.state.nodes.map((n) => n.name);
  const addresses = simNodes.map((name, i) => ({ name, address: linkAddress(i) }));
  const files = {
    corosync: renderCorosyncConf(sim.state.name, addresses, timing),
    cib: renderCib(
      sim.state.name,
      simNodes,
      sim.state.ha.groups.map((group) => ({
        group,
        configFile: sim.guest(group.guest)?.configFile ?? `/etc/xen/${group.guest}.cfg`,
      })),
      { stonithTimeout: "60s", dcDeadtime: "5s" },
    ),
  };
  return startRealStack(options, {
    stack: "pacemaker",
    deadtime: timing.tokenMs / 1000,
    policy: {
      autoTakeover: true,
      autoFailback: false,
      why: "Pacemaker fences a lost node and recovers its resources (stonith-enabled), and resource-stickiness=200 outweighs a guest's home preference (100), so a returning node does not get its guests back; the lab's CIB is written before the first start",
    },
    programs: HA_PROGRAMS,
    isRealPath,
    shims: ["xl", "drbdadm"],
    prepareNode: (dir, _name, ids) => prepareNodeDir(dir, files, ids),
    freshRun,
    startScript: START_STACK,
    async ready(lab) {
      for (const n of lab.nodes) {
        const r = await n.ns.run(CRM_MON, { timeoutMs: 10_000 });
        if (r.exitCode !== 0) return false;
        const view = crmMonToHaView(parseCrmMonXml(r.stdout), n.name);
        if (!view?.dc || view.nodes.some((x) => x.status !== "online")) return false;
        // Every primitive settled: started everywhere it should be, nothing failed.
        if (view.resources.some((x) => x.failed || x.role !== "Started")) return false;
        // A clone's stopped instance does not show once another runs: each disk Primary on both.
        const disks = new Set(sim.state.ha.groups.flatMap((g) => g.drbd));
        for (const d of disks) {
          const on = view.resources.find((x) => x.id === `drbd-${d}`)?.runningOn ?? [];
          if (on.length !== lab.nodes.length) return false;
        }
      }
      return sim.state.ha.groups.every((g) => sim.findGuestDomain(g.home, g.guest) !== undefined);
    },
    readyTimeoutMs: 90_000,
  });
}
