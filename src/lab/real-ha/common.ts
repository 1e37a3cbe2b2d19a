/**
 * What both real-HA stacks (heartbeat: index.ts, Pacemaker: pacemaker.ts) share: the checks that the
 * lab can run here, clean-up of a lab that died, and one start-up (startRealStack) that each stack
 * parameterizes with its files, its start command, the programs xenops reads for real and its
 * readiness test.
 *
 * Start-up: a temp directory with a watchdog, the simulator's control socket for the xm/drbdadm
 * shims, one UPS per node on a pty (the peer's /dev/ttyS0), one set of namespaces per node, the
 * replication link (a veth pair straight into the two namespaces), the SSH pass-through, then the HA
 * stack on each node. The simulator's node power is the one truth: the UPS switches it, `!sim
 * nodeDown|nodeUp` too, and power follows it into the namespaces. `!sim partition` cuts the node's
 * end of the replication link, so the real stack hears nothing from it either.
 *
 * Clean-up: close() ends every namespace, relay and pty; a lab killed outright takes them along (the
 * holders and relays exit when their stdin pipe from the lab closes); a watchdog shell removes the
 * temp directory then; and start-up first removes what a dead lab left behind (cleanupLeftovers).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../../log";
import type { CommandIO } from "../../sim/commands";
import { setPassThrough } from "../../sim/passthrough";
import type { Simulation } from "../../sim/simulation";
import { type ControlServer, startControlServer } from "../../sim/stdio";
import type { HeartbeatTiming } from "./config";
import { NODE_MARKER, NodeNamespace } from "./namespace";
import { openSerialLine, SERIAL_MARKER, type SerialLine } from "./serial";
import { ApcSmartUps } from "./ups";

/** The replication link's interface name inside each node, and the nodes' addresses on it. */
export const LINK_IFACE = "eth1";
export const linkAddress = (i: number): string => `10.99.0.${i + 1}`;

export const HEARTBEAT = "/usr/libexec/heartbeat/heartbeat";
const STONITH = "/usr/sbin/stonith";
const APCSMART_PLUGIN = "/usr/lib/stonith/plugins/stonith2/apcsmart.so";
/** drbd-utils' DRBD 8.3 front end: the closest to the reference cluster's 8.2 (same config syntax). */
export const DRBDADM_83 = "/usr/lib/drbd/drbdadm-83";
const SHIM = join(dirname(fileURLToPath(import.meta.url)), "shim.mjs");
/** Temp directories of real-HA labs (leftover cleanup removes those whose lab is gone). */
export const DIR_PREFIX = "xenops-real-ha-";
/** Reads of real files passed through to the node (with the stack's own paths). */
export const FILE_PROGRAMS = new Set(["cat", "tail", "stat", "test", "ls", "sha256sum", "head"]);

export type RealHaStack = "heartbeat" | "pacemaker";

/** Why the real-HA lab cannot run here, or null when it can. */
export function realHaUnavailable(stack: RealHaStack = "heartbeat"): string | null {
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
  for (const [path, pkg] of needs)
    if (!existsSync(path))
      return `${path} missing (node scripts/bootstrap.mjs --real-ha installs it, or apt-get install ${pkg})`;
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

/** A shell on a pipe from this process: when the lab dies, it removes the lab's temp directory. */
export function spawnWatchdog(dir: string, pids: () => number[]): { stop(): void; update(): void } {
  let dog: ReturnType<typeof spawn> | null = null;
  const start = () => {
    dog?.kill("SIGKILL");
    dog = spawn(
      "/bin/sh",
      ["-c", 'read _ ; kill -KILL $2 2>/dev/null ; rm -rf "$1"', "watchdog", dir, pids().join(" ")],
      {
        stdio: ["pipe", "ignore", "ignore"],
      },
    );
    dog.on("error", () => {});
    dog.unref();
    const stdin = dog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null;
    stdin?.on("error", () => {});
    stdin?.unref?.();
  };
  start();
  return {
    update: start,
    stop: () => {
      dog?.kill("SIGKILL");
      dog = null;
    },
  };
}

export interface Ids {
  uid: number;
  gid: number;
}

export function hostIds(): Ids {
  const uid = Number(execFileSync("id", ["-u", "hacluster"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "hacluster"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/**
 * A veth pair straight into the two namespaces (addresses that exist only inside them), named eth1
 * there, with each node's link address and DRBD's replication address.
 */
export async function joinReplicationLink(
  sim: Simulation,
  nodes: readonly { name: string; address: string; ns: NodeNamespace }[],
): Promise<void> {
  const [a, b] = nodes;
  if (!a || !b) throw new Error("the replication link joins two nodes");
  const tag = randomBytes(3).toString("hex");
  execFileSync("ip", [
    "link",
    "add",
    `xo${tag}a`,
    "netns",
    String(a.ns.pid),
    "type",
    "veth",
    "peer",
    "name",
    `xo${tag}b`,
    "netns",
    String(b.ns.pid),
  ]);
  for (const [n, end] of [
    [a, `xo${tag}a`],
    [b, `xo${tag}b`],
  ] as const) {
    // DRBD's replication address from drbd.conf as a host address (/32: nothing is routed to it),
    // because drbdadm checks that the `on HOST` address is local before it dumps the config.
    const drbdAddress = sim.node(n.name)?.replicationAddress;
    const script = [
      `ip link set ${end} name ${LINK_IFACE}`,
      `ip addr add ${n.address}/24 dev ${LINK_IFACE}`,
      ...(drbdAddress && drbdAddress !== n.address
        ? [`ip addr add ${drbdAddress}/32 dev ${LINK_IFACE}`]
        : []),
      `ip link set ${LINK_IFACE} up`,
    ].join(" && ");
    const r = await n.ns.run(["/bin/sh", "-c", script]);
    if (r.exitCode !== 0) throw new Error(`replication link of ${n.name}: ${r.stderr.trim()}`);
  }
}

export interface RealHaOptions {
  sim: Simulation;
  timing?: HeartbeatTiming;
  /** Multiplies the UPS's grace and wake-up delays (1: the real 20 s grace). */
  upsDelayScale?: number;
  /** How long a node takes from power-on until it runs (and its HA stack starts): default 5 s. */
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

/** What the real stack does by itself (the simulator's `!sim autoTakeover|autoFailback`). */
export interface RealHaPolicy {
  /** A dead node is fenced and its guests started on the survivor. */
  autoTakeover: boolean;
  /** A node that returns gets its guests back. */
  autoFailback: boolean;
  /** Why the stack behaves so, and why the lab cannot switch it (said when a script asks otherwise). */
  why: string;
}

export interface RealHaLab {
  stack: RealHaStack;
  dir: string;
  /** heartbeat's timing (the heartbeat stack only). */
  timing?: HeartbeatTiming;
  /** Seconds until a silent node is declared dead: heartbeat's deadtime, corosync's token timeout. */
  deadtime: number;
  policy: RealHaPolicy;
  nodes: RealHaNode[];
  node(name: string): RealHaNode;
  /** Runs ARGV in NODE's namespaces (its files, its HA stack). */
  exec(node: string, argv: readonly string[]): Promise<{ stdout: string; stderr: string; exitCode: number }>;
  /** The node halts hard (power supply failure, kernel panic): its HA stack and its guests are gone. */
  crash(node: string): Promise<void>;
  /** Whether NODE's end of the replication link is up (down while `!sim partition` cuts it). */
  linkUp(node: string): Promise<boolean>;
  /** Resolves when the stack runs on every powered node, they see each other and each group is home. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Waits until PREDICATE (checked every 250 ms: the stack's state lives outside the simulator) holds. */
  waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** What one HA stack brings to startRealStack. */
export interface StackSpec {
  stack: RealHaStack;
  deadtime: number;
  timing?: HeartbeatTiming;
  policy: RealHaPolicy;
  /** Programs xenops runs for real in the node (over the simulator's SSH). */
  programs: ReadonlySet<string>;
  /** Paths whose reads (FILE_PROGRAMS) go to the node's real files. */
  isRealPath(path: string): boolean;
  /** Programs the node's shims forward to the simulator (Xen and DRBD cannot run here). */
  shims: readonly string[];
  /** Writes the node's directory (its configuration) before its namespaces start. */
  prepareNode(dir: string, node: string, ids: Ids): void;
  /** /run as after a boot. */
  freshRun(dir: string, ids: Ids): void;
  /** Shell script that starts the stack in a node at power-on (returns once it runs). */
  startScript: string;
  /** Starts the two nodes one after the other rather than together. */
  startInTurn?: boolean;
  /** A command the stack answers itself besides `programs` (null: the usual rules). */
  passThrough?(node: RealHaNode, argv: readonly string[], io: CommandIO): Promise<number> | null;
  /** Whether the cluster is settled: both nodes up and seeing each other, every group at home. */
  ready(lab: RealHaLab): Promise<boolean>;
  readyTimeoutMs: number;
}

export async function startRealStack(options: RealHaOptions, spec: StackSpec): Promise<RealHaLab> {
  const reason = realHaUnavailable(spec.stack);
  if (reason) throw new Error(`real-HA lab unavailable: ${reason}`);
  const { sim, logger } = options;
  const bootMs = options.bootMs ?? 5000;
  const left = cleanupLeftovers();
  if (left > 0) logger?.warn({ processes: left }, "removed leftovers of a real-HA lab that died");

  const simNodes = sim.state.nodes.map((n) => n.name);
  if (simNodes.length !== 2)
    throw new Error(`the real-HA lab runs two nodes, the cluster has ${simNodes.length}`);
  // The real stack decides now: the simulator must not take over or fail back by itself.
  sim.setHaPolicy({ autoTakeover: false, autoFailback: false });

  const dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  const closers: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const nodes: RealHaNode[] = [];
  const watchdog = spawnWatchdog(dir, () => nodes.flatMap((n) => [n.ns.pid, n.serial.pid]));
  closers.unshift(() => watchdog.stop());
  let closed = false;
  const close = async () => {
    closed = true;
    setPassThrough(sim, null);
    for (const c of closers.splice(0)) await Promise.resolve(c()).catch(() => {});
  };
  try {
    const tokenFile = join(dir, "control.token");
    const control: ControlServer = await startControlServer(sim, { socketPath: join(dir, "control.sock") });
    closers.unshift(() => control.close());
    writeFileSync(tokenFile, control.token, { mode: 0o600 });
    const ids = hostIds();

    // One UPS per node; its serial line goes to the peer's /dev/ttyS0.
    const serials = new Map<string, SerialLine>();
    for (const name of simNodes) {
      const line = await openSerialLine();
      closers.unshift(() => line.close());
      serials.set(name, line);
    }
    const byName = new Map<string, RealHaNode>();

    const startStack = async (n: RealHaNode) => {
      const r = await n.ns.run(["/bin/sh", "-c", spec.startScript], { timeoutMs: 30_000 });
      if (r.exitCode !== 0)
        logger?.error(
          { node: n.name, stack: spec.stack, exitCode: r.exitCode, stderr: r.stderr },
          "real-HA lab: the HA stack did not start",
        );
    };
    // Link changes run one after another per node, in the order the simulator asked for them.
    const linkQueue = new Map<string, Promise<void>>();
    const setLink = (n: RealHaNode, up: boolean) => {
      const next = (linkQueue.get(n.name) ?? Promise.resolve()).then(async () => {
        if (closed || !n.ns.alive) return;
        const r = await n.ns.run(["ip", "link", "set", LINK_IFACE, up ? "up" : "down"], {
          timeoutMs: 10_000,
        });
        if (r.exitCode !== 0)
          logger?.error({ node: n.name, up, stderr: r.stderr }, "real-HA lab: replication link not switched");
      });
      linkQueue.set(n.name, next);
    };
    const powered = new Map(simNodes.map((name) => [name, true]));
    const cut = new Map(simNodes.map((name) => [name, false]));
    const follow = () => {
      // `!sim fenceDevice off`: the UPSes stop answering on their serial lines.
      const silent = sim.state.fence?.reachable === false;
      for (const n of nodes) n.ups.setSilent(silent);
      for (const n of nodes) {
        const simNode = sim.node(n.name);
        // `!sim partition`: the node's cable is out; it stays out across a power cycle until heal.
        const partitioned = simNode?.partitionedAt !== undefined && simNode?.partitionedAt !== null;
        if (cut.get(n.name) !== partitioned) {
          cut.set(n.name, partitioned);
          logger?.info({ node: n.name, partitioned }, "real-HA lab: replication link switched");
          setLink(n, !partitioned);
        }
        const up = simNode?.up ?? false;
        if (powered.get(n.name) === up) continue;
        powered.set(n.name, up);
        logger?.info({ node: n.name, up }, "real-HA lab: node power changed");
        // Power off: every process of the node dies; a boot gets a fresh /run and starts the stack.
        if (!up) void n.ns.killAll();
        else {
          spec.freshRun(n.ns.dir, ids);
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
      spec.prepareNode(ndir, name, ids);
      for (const program of spec.shims)
        writeFileSync(
          join(ndir, "sbin", program),
          `#!/bin/sh\n# ${program} of the simulated node ${name} (Xen and DRBD cannot run in the lab)\nexec ${process.execPath} ${SHIM} ${name} ${join(dir, "control.sock")} ${tokenFile} ${program} "$@"\n`,
          { mode: 0o755 },
        );
      spec.freshRun(ndir, ids);
      // This node's serial port is wired to the UPS that powers its peer.
      const tty = (serials.get(peer) as SerialLine).path;
      const ns = await NodeNamespace.start({ name, dir: ndir, tty, stack: spec.stack });
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
    // A partition asked for before the lab started.
    follow();

    setPassThrough(sim, (nodeName, argv, io) => {
      const n = byName.get(nodeName);
      if (!n?.ns.alive) return null;
      const program = (argv[0] ?? "").slice((argv[0] ?? "").lastIndexOf("/") + 1);
      const operands = argv.slice(1).filter((x) => !x.startsWith("-"));
      if (spec.programs.has(program)) return n.ns.stream(argv, io);
      const own = spec.passThrough?.(n, argv, io);
      if (own) return own;
      // /proc is the host kernel's in every namespace (its boot id never changes with the simulated
      // node's power): the simulator answers for the node's kernel.
      if (operands.some((p) => p === "/proc" || p.startsWith("/proc/"))) return null;
      if (FILE_PROGRAMS.has(program) && operands.length > 0 && operands.some(spec.isRealPath)) {
        // Only paths that exist for real in the node (tail's -n value is not a path).
        if (!operands.every((p) => spec.isRealPath(p) || /^\d+$/.test(p))) return null;
        return n.ns.stream(argv, io);
      }
      return null;
    });

    if (spec.startInTurn) for (const n of nodes) await startStack(n);
    else await Promise.all(nodes.map((n) => startStack(n)));

    const lab: RealHaLab = {
      stack: spec.stack,
      dir,
      ...(spec.timing ? { timing: spec.timing } : {}),
      deadtime: spec.deadtime,
      policy: spec.policy,
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
      async linkUp(name) {
        const n = lab.node(name);
        await linkQueue.get(name);
        // Administratively up (the flags in <...>); /sys here is the host's, not the node's.
        const r = await n.ns.run(["ip", "-o", "link", "show", "dev", LINK_IFACE]);
        return /<[^>]*\bUP\b[^>]*>/.test(r.stdout);
      },
      async waitFor(what, predicate, timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          if (await predicate()) return;
          if (Date.now() > deadline) throw new Error(`real-HA lab: timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 250));
        }
      },
      async waitReady(timeoutMs = spec.readyTimeoutMs) {
        await lab.waitFor(
          `${spec.stack} settled on both nodes, every group at home`,
          () => spec.ready(lab),
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
