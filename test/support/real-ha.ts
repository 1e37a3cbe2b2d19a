/**
 * Shared set-up of the tests that run a real HA stack (heartbeat, or corosync and Pacemaker) in the
 * lab's node namespaces: whether they can run here (one printed reason when not), the simulated
 * cluster with the real stack at test speed, and an SSH pool to its nodes.
 *
 * They run by default where they can: root, Linux namespaces and the Debian packages (`node
 * scripts/bootstrap.mjs --real-ha` installs them; CI does). XENOPS_REAL_HA=0 skips them.
 * Each run is its own: temp directories, ptys, veths and namespaces are made per lab and anonymous,
 * SSH and Redis ports are free ports, so they run beside the rest of the suite.
 */
import pino from "pino";
import { type RealHaLab, type RealHaStack, realHaUnavailable } from "../../src/lab/real-ha/common";
import { realHaTiming } from "../../src/lab/real-ha/config";
import { startRealHa } from "../../src/lab/real-ha/index";
import { startRealPacemaker } from "../../src/lab/real-ha/pacemaker";
import { type SimClusterSpecInput, type SimulatedCluster, startSimulatedCluster } from "../../src/sim";
import { type SshNodeSettings, SshPool } from "../../src/ssh/pool";

const logger = pino({ level: "silent" });

/** Why FILE's real-HA tests do not run here (printed once), or null when they run. */
export function realHaSkipReason(file: string, stack: RealHaStack = "heartbeat"): string | null {
  const reason =
    process.env.XENOPS_REAL_HA === "0"
      ? "XENOPS_REAL_HA=0 turns the real-HA tests off"
      : (() => {
          const why = realHaUnavailable(stack);
          return why ? `the real ${stack} lab cannot run here: ${why}` : null;
        })();
  if (reason) console.warn(`${file} skipped: ${reason}`);
  return reason;
}

export function sshPool(lab: SimulatedCluster): SshPool {
  const inv = lab.inventory();
  const nodes: SshNodeSettings[] = inv.nodes.map((n) => ({
    name: n.name,
    host: n.host,
    port: n.port,
    user: n.user,
    privateKey: inv.privateKey,
    hostKeyPin: n.hostKey,
  }));
  return new SshPool({
    nodes,
    logger,
    options: {
      connectTimeoutMs: 2000,
      defaultTimeoutMs: 20_000,
      reconnect: { initialDelayMs: 10, maxDelayMs: 200 },
    },
  });
}

/** The UPS at a quarter of its delays (5 s grace) and a 2 s boot: the real sequence, shorter. */
export const TEST_POWER = { upsDelayScale: 0.25, bootMs: 2000 };

export interface RealHaRun {
  sim: SimulatedCluster;
  ha: RealHaLab;
  ssh: SshPool;
  close(): Promise<void>;
}

/**
 * SPEC's simulated cluster with its real stack (heartbeat or Pacemaker, by the spec's toolstack),
 * DEADTIME seconds until a silent node is dead (heartbeat's deadtime, corosync's token), settled.
 * Whatever failed to start is stopped again before the error is thrown.
 */
export async function startRealHaRun(spec: SimClusterSpecInput, deadtime: number): Promise<RealHaRun> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => {});
  };
  try {
    const sim = await startSimulatedCluster(spec, { clock: "real" });
    closers.push(() => sim.close());
    const start = sim.cluster.state.toolstack.ha === "pacemaker" ? startRealPacemaker : startRealHa;
    const ha = await start({ sim: sim.cluster, timing: realHaTiming(deadtime), ...TEST_POWER });
    closers.push(() => ha.close());
    const ssh = sshPool(sim);
    closers.push(() => ssh.close());
    await ha.waitReady(60_000);
    return { sim, ha, ssh, close };
  } catch (err) {
    await close();
    throw err;
  }
}
