/**
 * A snapshot's reads as one batch per node: the same state as one exec per command, one exec per node
 * on the modern stack (the HA view included), and a batch whose output cannot be split back leaves
 * every part of that node unknown, never "not running" or "empty".
 *
 * The nodes are SSH servers answering through the simulator (handleCommand), which can spoil what
 * a node sends back the way a real node can: a login banner before the output, a tail lost.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultBatchLanes, type SnapshotOptions, takeSnapshot } from "../../src/cluster/snapshot";
import { ClusterConfig } from "../../src/config/schema";
import { driversFor } from "../../src/drivers/registry";
import type { ClusterState, NodeState } from "../../src/model";
import {
  handleCommand,
  ManualClock,
  modernLab,
  referenceLab,
  type SimClusterSpecInput,
  type SimulatedCluster,
  startSimulatedCluster,
} from "../../src/sim";
import { SshPool } from "../../src/ssh/pool";
import { type RunningSshServer, startSshServer } from "../../src/ssh/server";
import { clientKeys, hostKeys } from "../ssh/helpers";

const logger = pino({ level: "silent" });

type Spoil = "none" | "banner" | "truncate";

interface Lab {
  sim: SimulatedCluster;
  config: ClusterConfig;
  /** Exec requests per node since the last snapshot() began. */
  execs: Map<string, string[]>;
  spoil: Map<string, Spoil>;
  snapshot(options?: SnapshotOptions): Promise<ClusterState>;
  /** With takeSnapshot's own defaults (no batchLanes). */
  snapshotAsIs(options?: SnapshotOptions): Promise<ClusterState>;
  close(): Promise<void>;
}

async function startLab(spec: SimClusterSpecInput): Promise<Lab> {
  const sim = await startSimulatedCluster(spec, { clock: new ManualClock(Date.UTC(2024, 2, 4, 10)) });
  const config = ClusterConfig.parse(sim.toClusterConfig("/dev/null", { commandTimeoutMs: 5000 }));
  const execs = new Map<string, string[]>();
  const spoil = new Map<string, Spoil>();
  const servers = new Map<string, RunningSshServer>();
  for (const node of config.nodes) {
    servers.set(
      node.name,
      await startSshServer({
        hostKeys: [hostKeys.privateKey],
        authorizedKeys: [clientKeys.publicKey],
        onExec: async (req) => {
          execs.get(node.name)?.push(req.command);
          let stdout = "";
          let stderr = "";
          const { exitCode } = await handleCommand({ sim: sim.cluster, node: node.name }, req.command, {
            stdout: (t) => {
              stdout += t;
            },
            stderr: (t) => {
              stderr += t;
            },
            readStdin: async () => "",
            signal: req.signal,
          });
          const how = spoil.get(node.name) ?? "none";
          if (how === "banner") stdout = `Welcome to ${node.name}\n${stdout}`;
          if (how === "truncate") stdout = stdout.slice(0, Math.floor(stdout.length / 2));
          req.stdout.write(stdout);
          req.stderr.write(stderr);
          return { exitCode };
        },
      }),
    );
  }
  const pool = new SshPool({
    nodes: config.nodes.map((n) => {
      const server = servers.get(n.name) as RunningSshServer;
      return {
        name: n.name,
        host: server.host,
        port: server.port,
        user: "root",
        privateKey: clientKeys.privateKey,
        hostKeyPin: server.hostKeyFingerprint,
      };
    }),
    logger,
  });
  const lab: Lab = {
    sim,
    config,
    execs,
    spoil,
    async snapshot(options = {}) {
      // One batch per node unless a test says otherwise: a pair's default spreads its reads over lanes.
      return lab.snapshotAsIs({ batchLanes: 1, ...options });
    },
    async snapshotAsIs(options: SnapshotOptions = {}) {
      for (const n of config.nodes) execs.set(n.name, []);
      return takeSnapshot(
        config,
        { runnerFor: (node) => pool.runner(node), drivers: driversFor(config.toolstack), logger },
        options,
      );
    },
    async close() {
      await pool.close();
      for (const s of servers.values()) await s.close();
      await sim.close();
    },
  };
  return lab;
}

/** The state without what differs from one read to the next (time taken). */
function stable(state: ClusterState) {
  return { ...state, takenAt: "", nodes: state.nodes.map((n) => ({ ...n, durationMs: 0 })) };
}

function nodeOf(state: ClusterState, name: string): NodeState {
  const node = state.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return node;
}

for (const [label, spec] of [
  ["modern lab (xl, DRBD 9, Pacemaker)", modernLab()],
  ["reference lab (xm, DRBD 8, heartbeat)", referenceLab()],
] as const) {
  describe(`batched snapshot: ${label}`, () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await startLab(spec);
    });
    afterAll(async () => {
      await lab?.close();
    });

    it("reads the same state as one exec per command, in fewer execs", async () => {
      const unbatched = await lab.snapshot({ batchLanes: 0 });
      const unbatchedExecs = [...lab.execs.values()].map((e) => e.length);
      const batched = await lab.snapshot();
      const batchedExecs = [...lab.execs.values()].map((e) => e.length);
      expect(stable(batched)).toEqual(stable(unbatched));
      expect(batched.nodes.every((n) => n.reachable && n.domainsError === null && n.haError === null)).toBe(
        true,
      );
      for (const [i, n] of batchedExecs.entries()) expect(n).toBeLessThan(unbatchedExecs[i]!);
      if (lab.config.toolstack.ha === "pacemaker") {
        // A node's own reads (start-up files included) in one exec, its HA reads in another.
        expect(batchedExecs).toEqual(batchedExecs.map(() => 2));
        expect(lab.execs.get("hv1")?.every((c) => c.startsWith("sh -c "))).toBe(true);
      } else {
        // heartbeat's cl_status asks in turn (hbstatus, then the nodes listnodes names): the HA
        // batch takes 3 rounds.
        expect(batchedExecs).toEqual(batchedExecs.map(() => 4));
      }
    });

    it("by default a pair spreads each node's reads over a few batches: the same state, fewer execs", async () => {
      const unbatched = await lab.snapshot({ batchLanes: 0 });
      const unbatchedExecs = [...lab.execs.values()].map((e) => e.length);
      const one = await lab.snapshot({ batchLanes: 1 });
      const oneExecs = [...lab.execs.values()].map((e) => e.length);
      const laned = await lab.snapshotAsIs();
      const lanedExecs = [...lab.execs.values()].map((e) => e.length);
      expect(stable(laned)).toEqual(stable(unbatched));
      expect(stable(laned)).toEqual(stable(one));
      for (const [i, n] of lanedExecs.entries()) {
        expect(n).toBeGreaterThan(oneExecs[i]!);
        expect(n).toBeLessThanOrEqual(unbatchedExecs[i]!);
      }
    });

    it("keeps a node's own reads when its cluster manager hangs: the HA reads are a batch apart", async () => {
      const [node, other] = lab.config.nodes.map((n) => n.name) as [string, string];
      const program = lab.config.toolstack.ha === "pacemaker" ? "crm_mon" : "cl_status";
      const hold = lab.sim.faults.holdCommand({ node, argv: [program] });
      try {
        const state = await lab.snapshot({ timeoutMs: 1500 });
        const held = nodeOf(state, node);
        expect(hold.count).toBeGreaterThan(0);
        expect(held.reachable).toBe(true);
        expect(held.haError).toMatchObject({ code: "ssh_timeout" });
        expect(held.ha).toBeNull();
        expect(held.domainsError).toBeNull();
        expect(held.drbdError).toBeNull();
        expect(held.domains?.length).toBeGreaterThan(0);
        expect(nodeOf(state, other).haError).toBeNull();
      } finally {
        hold.release();
      }
    });

    for (const how of ["banner", "truncate"] as const) {
      it(`makes every part of a node unknown when its batch output is spoiled (${how})`, async () => {
        const [spoiled, other] = lab.config.nodes.map((n) => n.name) as [string, string];
        lab.spoil.set(spoiled, how);
        try {
          const state = await lab.snapshot();
          const node = nodeOf(state, spoiled);
          // It answered: up, but nothing it said is trusted.
          expect(node.reachable).toBe(true);
          expect(node).toMatchObject({ domains: null, xenInfo: null, drbd: null, ha: null });
          for (const error of [node.domainsError, node.xenInfoError, node.drbdError, node.haError]) {
            expect(error).toMatchObject({ code: "exec_failed" });
            expect(error?.message).toMatch(/could not be split back|ended abnormally|unknown/);
          }
          if (node.haConfigError !== undefined) expect(node.haConfigError).not.toBeNull();
          if (node.startupError !== undefined) expect(node.startupError).not.toBeNull();
          // The other node is read as usual.
          const peer = nodeOf(state, other);
          expect(peer.domainsError).toBeNull();
          expect(peer.haError).toBeNull();
          expect(peer.ha?.running).toBe(true);
        } finally {
          lab.spoil.delete(spoiled);
        }
      });
    }
  });
}

describe("defaultBatchLanes", () => {
  it("spreads every node's reads over three or four lanes: two commands deep at every size", () => {
    expect([1, 2, 4, 5, 8, 9, 16, 100, 1000].map(defaultBatchLanes)).toEqual([4, 4, 4, 3, 3, 3, 3, 3, 3]);
  });
});
