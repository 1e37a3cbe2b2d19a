/**
 * Pieces both real-HA stacks (heartbeat: index.ts, Pacemaker: pacemaker.ts) share: the clean-up
 * watchdog, the hacluster ids and the replication link between the two node namespaces.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import type { Simulation } from "../../sim/simulation";
import type { NodeNamespace } from "./namespace";

/** The replication link's interface name inside each node, and the nodes' addresses on it. */
export const LINK_IFACE = "eth1";
export const linkAddress = (i: number): string => `10.99.0.${i + 1}`;

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

export function hostIds(): { uid: number; gid: number } {
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
