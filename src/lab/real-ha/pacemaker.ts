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
 * namespaces (src/sim/passthrough.ts).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { crmMonToHaView, parseCrmMonXml } from "../../drivers/pacemaker/crm-mon";
import { setPassThrough } from "../../sim/passthrough";
import { type ControlServer, startControlServer } from "../../sim/stdio";
import { hostIds, joinReplicationLink, linkAddress, spawnWatchdog } from "./common";
import {
  cleanupLeftovers,
  DIR_PREFIX,
  FILE_PROGRAMS,
  type RealHaLab,
  type RealHaNode,
  type RealHaOptions,
  realHaUnavailable,
} from "./index";
import { NodeNamespace } from "./namespace";
import {
  type CorosyncTiming,
  DEFAULT_COROSYNC_TIMING,
  renderCib,
  renderCorosyncConf,
} from "./pacemaker-config";
import { openSerialLine, type SerialLine } from "./serial";
import { ApcSmartUps } from "./ups";

const HERE = dirname(fileURLToPath(import.meta.url));
const OCF_DIR = join(HERE, "..", "..", "..", "contrib", "ha", "ocf");
const SHIM = join(HERE, "shim.mjs");
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

interface Ids {
  uid: number;
  gid: number;
}

function prepareNodeDir(
  dir: string,
  files: { corosync: string; cib: string },
  shim: (p: string) => string,
  ids: Ids,
) {
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
  for (const program of ["xl", "drbdadm"]) {
    writeFileSync(join(dir, "sbin", program), shim(program), { mode: 0o755 });
    chmodSync(join(dir, "sbin", program), 0o755);
  }
  freshRun(dir, ids);
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
  const reason = realHaUnavailable("pacemaker");
  if (reason) throw new Error(`real-HA lab unavailable: ${reason}`);
  const { sim, logger } = options;
  // `--ha-deadtime N` is corosync's token timeout here.
  const timing: CorosyncTiming = options.timing
    ? { tokenMs: options.timing.deadtime * 1000 }
    : DEFAULT_COROSYNC_TIMING;
  const bootMs = options.bootMs ?? 5000;
  const left = cleanupLeftovers();
  if (left > 0) logger?.warn({ processes: left }, "removed leftovers of a real-HA lab that died");

  const simNodes = sim.state.nodes.map((n) => n.name);
  if (simNodes.length !== 2)
    throw new Error(`the real-HA lab runs two nodes, the cluster has ${simNodes.length}`);
  // Pacemaker decides now: the simulator must not take over or fail back by itself.
  sim.setHaPolicy({ autoTakeover: false, autoFailback: false });

  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const closers: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const nodes: RealHaNode[] = [];
  const watchdog = spawnWatchdog(dir, () => nodes.flatMap((n) => [n.ns.pid, n.serial.pid]));
  closers.unshift(() => watchdog.stop());
  const close = async () => {
    setPassThrough(sim, null);
    for (const c of closers.splice(0)) await Promise.resolve(c()).catch(() => {});
  };
  try {
    const tokenFile = join(dir, "control.token");
    const control: ControlServer = await startControlServer(sim, { socketPath: join(dir, "control.sock") });
    closers.unshift(() => control.close());
    writeFileSync(tokenFile, control.token, { mode: 0o600 });

    const ids = hostIds();
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

    const serials = new Map<string, SerialLine>();
    for (const name of simNodes) {
      const line = await openSerialLine();
      closers.unshift(() => line.close());
      serials.set(name, line);
    }
    const byName = new Map<string, RealHaNode>();

    const startStack = async (n: RealHaNode) => {
      const r = await n.ns.run(["/bin/sh", "-c", START_STACK], { timeoutMs: 30_000 });
      if (r.exitCode !== 0)
        logger?.error({ node: n.name, exitCode: r.exitCode, stderr: r.stderr }, "corosync did not start");
    };
    // The simulator's node power is the one truth (see index.ts): power off kills every process of
    // the node; a boot gets a fresh /run and /dev/shm and starts corosync and Pacemaker.
    const powered = new Map(simNodes.map((name) => [name, true]));
    const follow = () => {
      const silent = sim.state.fence?.reachable === false;
      for (const n of nodes) n.ups.setSilent(silent);
      for (const n of nodes) {
        const up = sim.node(n.name)?.up ?? false;
        if (powered.get(n.name) === up) continue;
        powered.set(n.name, up);
        logger?.info({ node: n.name, up }, "real-HA lab: node power changed");
        if (!up) void n.ns.killAll();
        else {
          freshRun(n.ns.dir, ids);
          void startStack(n);
        }
      }
    };
    const unfollow = sim.onChange(follow);
    closers.unshift(() => unfollow());
    const upsOutput = (name: string, on: boolean, why: string) => {
      logger?.warn({ node: name, on, why }, "real-HA lab: UPS output switched");
      if (on) sim.nodeUp(name, bootMs);
      else sim.nodeDown(name);
    };

    for (const [i, name] of simNodes.entries()) {
      const peer = simNodes[1 - i] as string;
      const ndir = join(dir, name);
      const shim = (program: string) =>
        `#!/bin/sh\n# ${program} of the simulated node ${name} (Xen and DRBD cannot run in the lab)\nexec ${process.execPath} ${SHIM} ${name} ${join(dir, "control.sock")} ${tokenFile} ${program} "$@"\n`;
      prepareNodeDir(ndir, files, shim, ids);
      const tty = (serials.get(peer) as SerialLine).path;
      const ns = await NodeNamespace.start({ name, dir: ndir, tty, stack: "pacemaker" });
      closers.unshift(() => ns.stop());
      const serial = serials.get(name) as SerialLine;
      const node: RealHaNode = {
        name,
        address: linkAddress(i),
        ns,
        serial,
        ups: new ApcSmartUps({
          send: (bytes) => serial.write(bytes),
          onOutput: (on, why) => upsOutput(name, on, why),
          delayScale: options.upsDelayScale ?? 1,
        }),
      };
      serial.onData((bytes) => node.ups.feed(bytes));
      closers.unshift(() => node.ups.close());
      nodes.push(node);
      byName.set(name, node);
    }
    watchdog.update();
    await joinReplicationLink(sim, nodes);

    setPassThrough(sim, (nodeName, argv, io) => {
      const n = byName.get(nodeName);
      if (!n?.ns.alive) return null;
      const program = (argv[0] ?? "").slice((argv[0] ?? "").lastIndexOf("/") + 1);
      const operands = argv.slice(1).filter((x) => !x.startsWith("-"));
      if (HA_PROGRAMS.has(program)) return n.ns.stream(argv, io);
      if (FILE_PROGRAMS.has(program) && operands.length > 0 && operands.some(isRealPath)) {
        if (!operands.every((p) => isRealPath(p) || /^\d+$/.test(p))) return null;
        return n.ns.stream(argv, io);
      }
      return null;
    });

    await Promise.all(nodes.map((n) => startStack(n)));

    const lab: RealHaLab = {
      stack: "pacemaker",
      dir,
      deadtime: timing.tokenMs / 1000,
      nodes,
      node(name) {
        const n = byName.get(name);
        if (!n) throw new Error(`no real-HA node ${name}`);
        return n;
      },
      exec: (name, argv) => lab.node(name).ns.run(argv, { timeoutMs: 60_000 }),
      async crash(name) {
        const n = lab.node(name);
        sim.nodeDown(name);
        await n.ns.killAll();
      },
      async waitFor(what, predicate, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          if (await predicate()) return;
          if (Date.now() > deadline) throw new Error(`real-HA lab: timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      async waitReady(timeoutMs = 90_000) {
        await lab.waitFor(
          "Pacemaker on both nodes with a DC and every resource started, guests at home",
          async () => {
            for (const n of nodes) {
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
                if (on.length !== nodes.length) return false;
              }
            }
            return sim.state.ha.groups.every((g) => sim.findGuestDomain(g.home, g.guest) !== undefined);
          },
          timeoutMs,
        );
      },
      close,
    };
    return lab;
  } catch (err) {
    await close();
    throw err;
  }
}
