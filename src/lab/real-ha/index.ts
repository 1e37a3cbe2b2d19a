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
 * Clean-up: close() ends every namespace, relay and pty; a lab killed outright takes them along (the
 * holders and relays exit when their stdin pipe from the lab closes); a watchdog shell removes the
 * temp directory then; and start-up first removes what a dead lab left behind (cleanupLeftovers).
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../../log";
import { DRBD_CONF } from "../../sim/config-files";
import { setPassThrough } from "../../sim/passthrough";
import type { Simulation } from "../../sim/simulation";
import { simFile } from "../../sim/startup";
import { type ControlServer, startControlServer } from "../../sim/stdio";
import { hostIds, joinReplicationLink, LINK_IFACE, linkAddress, spawnWatchdog } from "./common";
import {
  type HeartbeatTiming,
  REFERENCE_TIMING,
  renderAuthkeys,
  renderHaCf,
  renderHaresources,
} from "./config";
import { NODE_MARKER, NodeNamespace } from "./namespace";
import { openSerialLine, SERIAL_MARKER, type SerialLine } from "./serial";
import { ApcSmartUps } from "./ups";

const HEARTBEAT = "/usr/libexec/heartbeat/heartbeat";
const STONITH = "/usr/sbin/stonith";
const APCSMART_PLUGIN = "/usr/lib/stonith/plugins/stonith2/apcsmart.so";
/** drbd-utils' DRBD 8.3 front end: the closest to the reference cluster's 8.2 (same config syntax). */
const DRBDADM_83 = "/usr/lib/drbd/drbdadm-83";
const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, "..", "..", "..");
const XEN_GUEST = join(REPO, "contrib", "ha", "xen-guest");
const SHIM = join(HERE, "shim.mjs");
/** Temp directories of real-HA labs (leftover cleanup removes those whose lab is gone). */
export const DIR_PREFIX = "xenops-real-ha-";

/** Why the real-HA lab cannot run here, or null when it can. */
export function realHaUnavailable(stack: "heartbeat" | "pacemaker" = "heartbeat"): string | null {
  if (process.platform !== "linux") return "needs Linux namespaces";
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return "needs root (namespaces, mounts)";
  const needs: (readonly [string, string])[] =
    stack === "pacemaker"
      ? [
          ["/usr/sbin/corosync", "corosync"],
          ["/usr/sbin/pacemakerd", "pacemaker"],
          ["/usr/sbin/crm_mon", "pacemaker-cli-utils"],
          ["/usr/sbin/stonith_admin", "pacemaker-cli-utils"],
          [APCSMART_PLUGIN, "cluster-glue"],
        ]
      : [
          [HEARTBEAT, "heartbeat"],
          [STONITH, "cluster-glue"],
          [APCSMART_PLUGIN, "cluster-glue"],
          ["/etc/ha.d/resource.d/drbddisk", "drbd-utils"],
          [DRBDADM_83, "drbd-utils"],
        ];
  for (const [path, pkg] of needs) if (!existsSync(path)) return `${path} missing (apt-get install ${pkg})`;
  for (const bin of ["unshare", "nsenter", "ip", "python3"]) {
    const r = spawnSync(bin, ["--version"], { stdio: "ignore" });
    if (r.error) return `${bin} not found`;
  }
  const probe = spawnSync("unshare", ["--pid", "--fork", "--net", "--uts", "--mount", "true"], {
    encoding: "utf8",
  });
  if (probe.status !== 0)
    return `cannot create namespaces here: ${(probe.stderr ?? "").trim() || probe.status}`;
  return null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes what a real-HA lab that died left behind: node holders and serial relays (found by their
 * argv marker) whose lab process is gone, and their temp directories. Returns how many processes it
 * ended. Processes of a lab still running are never touched.
 */
export function cleanupLeftovers(): number {
  let killed = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    // holder: bash -c SCRIPT MARKER NAME DIR LABPID TTY; relay: python3 -c CODE MARKER LABPID
    const at = argv.findIndex((a) => a === NODE_MARKER || a === SERIAL_MARKER);
    if (at < 0 || argv[at - 2] !== "-c") continue;
    const labPid = Number(argv[at] === NODE_MARKER ? argv[at + 3] : argv[at + 1]);
    if (!Number.isInteger(labPid) || processAlive(labPid)) continue;
    try {
      process.kill(Number(entry), "SIGKILL");
      killed++;
    } catch {
      // gone meanwhile
    }
  }
  for (const name of readdirSync(tmpdir())) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name);
    if (m && !processAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return killed;
}

export interface RealHaOptions {
  sim: Simulation;
  timing?: HeartbeatTiming;
  /** Multiplies the UPS's grace and wake-up delays (1: the real 20 s grace). */
  upsDelayScale?: number;
  /** How long a node takes from power-on until it runs (and heartbeat starts): default 5 s. */
  bootMs?: number;
  logger?: Logger;
}

export interface RealHaNode {
  name: string;
  address: string;
  ns: NodeNamespace;
  /** The UPS that powers this node (its serial line is the peer's /dev/ttyS0). */
  ups: ApcSmartUps;
  serial: SerialLine;
}

export interface RealHaLab {
  stack: "heartbeat" | "pacemaker";
  dir: string;
  /** heartbeat's timing (the heartbeat stack only). */
  timing?: HeartbeatTiming;
  /** Seconds until a silent node is declared dead: heartbeat's deadtime, corosync's token timeout. */
  deadtime: number;
  nodes: RealHaNode[];
  node(name: string): RealHaNode;
  /** Runs ARGV in NODE's namespaces (its files, its heartbeat). */
  exec(node: string, argv: readonly string[]): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** The node halts hard (power supply failure, kernel panic): heartbeat and its guests are gone. */
  crash(node: string): Promise<void>;
  /** Resolves when heartbeat runs on every powered node, they see each other and each group is home. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Waits until PREDICATE (checked every 250 ms: heartbeat's state lives outside the simulator) holds. */
  waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

function prepareNodeDir(
  dir: string,
  files: { haCf: string; authkeys: string; haresources: string; drbdConf: string },
  shim: (program: string) => string,
  ids: { uid: number; gid: number },
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
  for (const program of ["xm", "drbdadm"]) {
    writeFileSync(join(dir, "sbin", program), shim(program), { mode: 0o755 });
    chmodSync(join(dir, "sbin", program), 0o755);
  }
  freshRun(dir, ids);
}

/** /run after a boot: empty but for heartbeat's own directories (tmpfiles.d/heartbeat.conf). */
function freshRun(dir: string, ids: { uid: number; gid: number }): void {
  const run = join(dir, "run");
  for (const name of readdirSync(run))
    if (name !== "lock") rmSync(join(run, name), { recursive: true, force: true });
  for (const d of ["heartbeat", "heartbeat/ccm", "heartbeat/crm", "heartbeat/dopd", "crm"]) {
    mkdirSync(join(run, d), { recursive: true, mode: 0o750 });
    execFileSync("chown", [`${ids.uid}:${ids.gid}`, join(run, d)]);
  }
}

const HA_PROGRAMS = new Set(["cl_status", "stonith", "hb_standby", "hb_takeover"]);
export const FILE_PROGRAMS = new Set(["cat", "tail", "stat", "test", "ls", "sha256sum", "head"]);
const isRealPath = (p: string): boolean =>
  p === "/etc/ha.d" || p.startsWith("/etc/ha.d/") || p.startsWith("/var/log/ha-");

export async function startRealHa(options: RealHaOptions): Promise<RealHaLab> {
  if (options.sim.state.toolstack.ha !== "heartbeat")
    throw new Error("startRealHa runs heartbeat clusters; Pacemaker ones start with startRealPacemaker");
  const reason = realHaUnavailable();
  if (reason) throw new Error(`real-HA lab unavailable: ${reason}`);
  const { sim, logger } = options;
  const timing = options.timing ?? REFERENCE_TIMING;
  const bootMs = options.bootMs ?? 5000;
  const left = cleanupLeftovers();
  if (left > 0) logger?.warn({ processes: left }, "removed leftovers of a real-HA lab that died");

  const simNodes = sim.state.nodes.map((n) => n.name);
  if (simNodes.length !== 2)
    throw new Error(`the real-HA lab runs two nodes, the cluster has ${simNodes.length}`);
  if (sim.state.toolstack.ha !== "heartbeat") throw new Error("the real-HA lab runs heartbeat clusters only");
  // heartbeat decides now: the simulator must not take over or fail back by itself.
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
      haCf: renderHaCf(addresses, timing, LINK_IFACE),
      authkeys: renderAuthkeys(),
      haresources: renderHaresources(sim.state.ha.groups),
    };

    // One UPS per node; its serial line goes to the peer's /dev/ttyS0.
    const serials = new Map<string, SerialLine>();
    for (const name of simNodes) {
      const line = await openSerialLine();
      closers.unshift(() => line.close());
      serials.set(name, line);
    }
    const byName = new Map<string, RealHaNode>();

    const startHeartbeat = async (n: RealHaNode) => {
      const r = await n.ns.run(
        ["/bin/sh", "-c", `exec ${HEARTBEAT} </dev/null >>/var/log/heartbeat.out 2>&1`],
        {
          timeoutMs: 30_000,
        },
      );
      if (r.exitCode !== 0)
        logger?.error({ node: n.name, exitCode: r.exitCode, stderr: r.stderr }, "heartbeat did not start");
    };
    // The simulator's node power is the one truth: the UPS switches it, `!sim nodeDown|nodeUp` too,
    // and this follows it into the namespaces (power off: every process dies; boot: fresh /run,
    // heartbeat starts, as its init script would).
    const powered = new Map(simNodes.map((name) => [name, true]));
    const follow = () => {
      // `!sim fenceDevice off`: the UPSes stop answering on their serial lines.
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
          void startHeartbeat(n);
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
      prepareNodeDir(ndir, { ...files, drbdConf: simFile(sim, name, DRBD_CONF) ?? "" }, shim, ids);
      // This node's serial port is wired to the UPS that powers its peer.
      const tty = (serials.get(peer) as SerialLine).path;
      const ns = await NodeNamespace.start({ name, dir: ndir, tty });
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

    // The replication link: a veth pair straight into the two namespaces; addresses only inside.
    await joinReplicationLink(sim, nodes);

    setPassThrough(sim, (nodeName, argv, io) => {
      const n = byName.get(nodeName);
      if (!n?.ns.alive) return null;
      const program = (argv[0] ?? "").slice((argv[0] ?? "").lastIndexOf("/") + 1);
      const operands = argv.slice(1).filter((x) => !x.startsWith("-"));
      if (HA_PROGRAMS.has(program)) return n.ns.stream(argv, io);
      // DRBD's own parser reads the node's drbd.conf (the simulator's, `!sim config` edits included);
      // every other drbdadm command stays simulated (no kernel module here).
      if (program === "drbdadm" && argv[1] === "dump") {
        writeFileSync(join(n.ns.dir, "etc/drbd.conf"), simFile(sim, nodeName, DRBD_CONF) ?? "");
        return n.ns.stream([DRBDADM_83, ...argv.slice(1)], io);
      }
      if (FILE_PROGRAMS.has(program) && operands.length > 0 && operands.some(isRealPath)) {
        // Only paths that exist for real in the node (tail's -n value is not a path).
        if (!operands.every((p) => isRealPath(p) || /^\d+$/.test(p))) return null;
        return n.ns.stream(argv, io);
      }
      return null;
    });

    for (const n of nodes) await startHeartbeat(n);

    const lab: RealHaLab = {
      stack: "heartbeat",
      dir,
      timing,
      deadtime: timing.deadtime,
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
      async waitReady(timeoutMs = (timing.initdead + 30) * 1000) {
        await lab.waitFor(
          "heartbeat on both nodes with every group at home",
          async () => {
            for (const n of nodes) {
              const peer = nodes.find((x) => x !== n) as RealHaNode;
              const st = await n.ns.run(["cl_status", "nodestatus", peer.name]);
              if (st.stdout.trim() !== "active") return false;
            }
            for (const g of sim.state.ha.groups) {
              const home = byName.get(g.home);
              if (!home) continue;
              const rsc = (await home.ns.run(["cl_status", "rscstatus"])).stdout.trim();
              if (rsc !== "all" && rsc !== "local") return false;
              if (!sim.findGuestDomain(g.home, g.guest)) return false;
            }
            return true;
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
