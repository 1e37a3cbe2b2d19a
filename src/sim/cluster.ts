/**
 * A running simulated cluster: one SSH server per node on loopback (per-lab host keys, one client
 * key), each answering through handleCommand, plus fault injection and inventory helpers.
 *
 * A node that is down or unreachable has its SSH server closed: open connections are cut and new
 * ones are refused at the TCP level. When it is back, the server listens again on the same port with
 * the same host key. `hanging` accepts TCP connections and never answers them.
 */
import type { ClusterConfig } from "../config/schema";
import { type GeneratedKeyPair, generateKeyPair } from "../ssh/keys";
import { type ExecRequest, type RunningSshServer, startSshServer } from "../ssh/server";
import { type Clock, SystemClock } from "./clock";
import { type CommandIO, type ExecOutput, execInProcess, handleCommand } from "./commands";
import { createFaults, type Faults } from "./faults";
import { SimClusterSpec, type SimClusterSpecInput, type SimNode, type SimState } from "./model";
import { Simulation } from "./simulation";

export interface SimulatedNodeInfo {
  name: string;
  host: string;
  port: number;
  hostKeyFingerprint: string;
  /** known_hosts line: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`. */
  hostKeyLine: string;
}

/** Connection data of the lab, with the private key in memory. */
export interface SimInventory {
  name: string;
  nodes: { name: string; host: string; port: number; user: string; hostKey: string }[];
  privateKey: string;
}

export interface StartOptions {
  /**
   * "real" (default): simulated time follows the wall clock from the spec's start time, and timed
   * transitions happen by themselves. "manual": time moves only on cluster.tick(). Or any Clock.
   */
  clock?: "real" | "manual" | Clock;
  /** Loopback address to listen on (default 127.0.0.1). */
  host?: string;
  /** Slack channel IDs for toClusterConfig (default one placeholder). */
  channels?: string[];
}

export interface SimulatedCluster {
  /** The simulation behind the lab: state, operations, tick(). */
  cluster: Simulation;
  name: string;
  nodes: SimulatedNodeInfo[];
  clientKey: GeneratedKeyPair;
  faults: Faults;
  state(): SimState;
  node(name: string): SimNode;
  /** Advances simulated time (manual clock) and waits for SSH servers to follow node power changes. */
  tick(ms: number): Promise<void>;
  /** Resolves when every SSH server matches its node's power state. */
  settled(): Promise<void>;
  /** Runs a command in-process, without SSH (same code path as an SSH exec). */
  exec(
    node: string,
    command: string,
    options?: { stdin?: string; signal?: AbortSignal },
  ): Promise<ExecOutput>;
  inventory(): SimInventory;
  /** A ClusterConfig-shaped object (validate with ClusterConfig.parse) reading the key from keyFile. */
  toClusterConfig(
    keyFile: string,
    options?: { channels?: string[]; commandTimeoutMs?: number },
  ): ClusterConfig;
  close(): Promise<void>;
}

/** An ed25519 pair for the lab (generateKeyPair already discards malformed ones). */
export function labKeyPair(comment: string): GeneratedKeyPair {
  return generateKeyPair("ed25519", { comment });
}

function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    stream.once("error", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}

export async function startSimulatedCluster(
  spec: SimClusterSpecInput,
  options: StartOptions = {},
): Promise<SimulatedCluster> {
  const parsed = SimClusterSpec.parse(spec);
  let clock: Clock | undefined;
  if (options.clock === undefined || options.clock === "real") {
    clock = new SystemClock(parsed.startTime ? Date.parse(parsed.startTime) : undefined);
  } else if (options.clock !== "manual") clock = options.clock;
  const sim = new Simulation(spec, clock ? { clock } : {});
  if (options.clock === undefined || options.clock === "real") sim.startRealTime();
  const host = options.host ?? "127.0.0.1";
  const clientKey = labKeyPair(`xenops-sim@${parsed.name}`);

  interface Server {
    node: SimNode;
    hostKey: GeneratedKeyPair;
    port: number;
    running: RunningSshServer | null;
    /** Serializes start/stop of this node's server. */
    chain: Promise<void>;
  }

  const onExec =
    (node: SimNode) =>
    async (req: ExecRequest): Promise<{ exitCode: number }> => {
      let stdinText: Promise<string> | null = null;
      const io: CommandIO = {
        stdout: (t) => {
          req.stdout.write(t);
        },
        stderr: (t) => {
          req.stderr.write(t);
        },
        readStdin: () => {
          stdinText ??= readAll(req.stdin);
          return stdinText;
        },
        signal: req.signal,
      };
      // The node's command latency, paid by every program the exec runs (each command of a batch).
      const pace = node.sshDelayMs > 0 ? (signal: AbortSignal) => delay(node.sshDelayMs, signal) : undefined;
      return handleCommand({ sim, node: node.name }, req.command, io, pace ? { pace } : {});
    };

  const startServer = async (s: Server): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        s.running = await startSshServer({
          host,
          port: s.port,
          hostKeys: [s.hostKey.privateKey],
          authorizedKeys: [clientKey.publicKey],
          onExec: onExec(s.node),
          connectionPolicy: () => {
            if (!s.node.up || s.node.reachability === "unreachable") return "refuse";
            return s.node.reachability === "hanging" ? "hang" : "accept";
          },
        });
        s.port = s.running.port;
        return;
      } catch (error) {
        // The port of a node that just went down may linger briefly; try again a few times.
        if (attempt >= 20 || s.port === 0) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  const servers: Server[] = [];
  let closed = false;
  try {
    for (const node of sim.state.nodes) {
      const s: Server = {
        node,
        hostKey: labKeyPair(`root@${node.name}`),
        port: 0,
        running: null,
        chain: Promise.resolve(),
      };
      await startServer(s);
      servers.push(s);
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.running?.close()));
    sim.stopRealTime();
    throw error;
  }

  const reconcile = (): void => {
    if (closed) return;
    for (const s of servers) {
      s.chain = s.chain.then(async () => {
        if (closed) return;
        // Down or unreachable: nothing listens (connections cut, new ones refused by the kernel).
        const listen = s.node.up && s.node.reachability !== "unreachable";
        if (!listen && s.running) {
          const r = s.running;
          s.running = null;
          await r.close();
        } else if (listen && !s.running) await startServer(s);
      });
    }
  };
  const offChange = sim.onChange(reconcile);

  const infos: SimulatedNodeInfo[] = servers.map((s) => ({
    name: s.node.name,
    host,
    port: s.port,
    hostKeyFingerprint: s.running?.hostKeyFingerprint ?? s.hostKey.fingerprint,
    hostKeyLine: `[${host}]:${s.port} ${s.hostKey.publicKey.split(/\s+/).slice(0, 2).join(" ")}`,
  }));

  const settled = async (): Promise<void> => {
    // A start may trigger further changes; loop until nothing is pending.
    for (;;) {
      const chains = servers.map((s) => s.chain);
      await Promise.all(chains);
      if (servers.every((s, i) => s.chain === chains[i])) return;
    }
  };

  const faults = createFaults(sim);
  return {
    cluster: sim,
    name: parsed.name,
    nodes: infos,
    clientKey,
    faults,
    state: () => {
      sim.sync();
      return sim.state;
    },
    node: (name) => {
      const n = sim.node(name);
      if (!n) throw new Error(`unknown node ${name}`);
      return n;
    },
    tick: async (ms) => {
      sim.tick(ms);
      await settled();
    },
    settled,
    exec: (node, command, opts) => execInProcess(sim, node, command, opts),
    inventory: () => ({
      name: parsed.name,
      nodes: infos.map((n) => ({
        name: n.name,
        host: n.host,
        port: n.port,
        user: "root",
        hostKey: n.hostKeyLine,
      })),
      privateKey: clientKey.privateKey,
    }),
    toClusterConfig: (keyFile, opts = {}) =>
      toClusterConfig(sim, infos, keyFile, opts.channels ?? options.channels, opts.commandTimeoutMs),
    close: async () => {
      if (closed) return;
      closed = true;
      offChange();
      sim.stopRealTime();
      await Promise.all(servers.map((s) => s.chain));
      await Promise.all(servers.map((s) => s.running?.close()));
    },
  };
}

/**
 * The inventory entry for a simulation, as the operator would write it (secrets by file). Tests that
 * run the simulation in-process (no SSH servers) pass placeholder connection data for the nodes.
 */
export function toClusterConfig(
  sim: Simulation,
  nodes: readonly Pick<SimulatedNodeInfo, "name" | "host" | "port" | "hostKeyLine">[],
  keyFile: string,
  channels: string[] | undefined,
  commandTimeoutMs: number | undefined,
): ClusterConfig {
  const s = sim.state;
  const ts = s.toolstack;
  const fence = s.fence;
  let fenceConfig: ClusterConfig["toolstack"]["fence"] = { method: "none" };
  if (fence?.type.startsWith("fence_")) {
    fenceConfig = {
      method: "fence-agent",
      agent: fence.type,
      params: {
        login: fence.login,
        ...(fence.type === "fence_ipmilan" ? { lanplus: "1" } : { ipaddr: fence.address }),
      },
      secretParams: { passwd: { env: "XENOPS_SIM_FENCE_PASSWORD" } },
      nodes:
        fence.type === "fence_ipmilan"
          ? Object.fromEntries(s.nodes.map((n) => [n.name, { ipaddr: n.bmcAddress }]))
          : Object.fromEntries(s.nodes.map((n) => [n.name, { plug: n.outlet }])),
    };
  } else if (fence) {
    fenceConfig = {
      method: "stonith",
      type: fence.type,
      params: { ttydev: fence.ttydev, hostlist: s.nodes.map((n) => n.name).join(" ") },
      secretParams: {},
    };
  }
  if (ts.ha === "pacemaker" && fenceConfig.method === "none") fenceConfig = { method: "stonith_admin" };
  return {
    name: s.name,
    channels: channels ?? ["CSIMLAB01"],
    toolstack: { hypervisor: ts.hypervisor, drbd: ts.drbd, ha: ts.ha, fence: fenceConfig },
    nodes: nodes.map((n) => ({
      name: n.name,
      host: n.host,
      port: n.port,
      user: "root",
      privateKey: { file: keyFile },
      hostKey: n.hostKeyLine,
    })),
    guests: s.guests.map((g) => ({
      name: g.name,
      ...(g.home ? { home: g.home } : {}),
      configFile: g.configFile,
      memoryMiB: g.memMiB,
      vcpus: g.vcpus,
      drbd: [...g.drbd],
    })),
    drbd: s.drbd.map((r) => ({
      name: r.name,
      minor: r.minor,
      device: r.device,
      allowTwoPrimaries: r.allowTwoPrimaries,
      nodes: [...r.nodes],
    })),
    commandTimeoutMs: commandTimeoutMs ?? 15000,
  };
}
