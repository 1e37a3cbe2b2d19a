/**
 * takeSnapshot over real SSH: the project's SshPool against the simulated reference (xm, DRBD 8,
 * heartbeat) and modern (xl, DRBD 9, Pacemaker) labs, healthy and with faults.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { takeSnapshot } from "../../src/cluster/snapshot";
import type { CommandRunner } from "../../src/command-runner";
import { ClusterConfig } from "../../src/config/schema";
import { driversFor } from "../../src/drivers/registry";
import { errorCode } from "../../src/errors";
import type { ClusterState, NodeState } from "../../src/model";
import {
  ManualClock,
  modernLab,
  referenceLab,
  type SimClusterSpecInput,
  type SimulatedCluster,
  scaleLab,
  startSimulatedCluster,
} from "../../src/sim";
import { SshPool } from "../../src/ssh/pool";

const logger = pino({ level: "silent" });
const TIMEOUT_MS = 1500;

/**
 * What the snapshot's commands to one node did. What a node costs in time follows from it, without a
 * stopwatch: a command started after another one of the node timed out would add a second timeout.
 */
interface NodeCommands {
  calls: number;
  timeouts: number;
  startedAfterTimeout: number;
}

/** `runner` with its commands (batched or not) counted into `seen`. */
function counted(runner: CommandRunner, seen: NodeCommands): CommandRunner {
  const wrapped: CommandRunner = Object.create(runner);
  const batch = runner.runBatch?.bind(runner);
  return Object.assign(wrapped, {
    ...(batch
      ? {
          runBatch: async (...args: Parameters<NonNullable<CommandRunner["runBatch"]>>) => {
            seen.calls += args[0].length;
            if (seen.timeouts > 0) seen.startedAfterTimeout += args[0].length;
            const outcomes = await batch(...args);
            for (const o of outcomes) if (!o.ok && errorCode(o.error) === "ssh_timeout") seen.timeouts += 1;
            return outcomes;
          },
        }
      : {}),
    run: async (argv: readonly string[], options?: Parameters<CommandRunner["run"]>[1]) => {
      seen.calls += 1;
      if (seen.timeouts > 0) seen.startedAfterTimeout += 1;
      try {
        return await runner.run(argv, options);
      } catch (err) {
        if (errorCode(err) === "ssh_timeout") seen.timeouts += 1;
        throw err;
      }
    },
  });
}

interface Harness {
  sim: SimulatedCluster;
  config: ClusterConfig;
  /** A snapshot through a new pool (connects included), closed afterwards. */
  snapshot(): Promise<{ state: ClusterState; commands: Map<string, NodeCommands> }>;
  close(): Promise<void>;
}

async function harness(spec: SimClusterSpecInput): Promise<Harness> {
  const sim = await startSimulatedCluster(spec, { clock: new ManualClock(Date.UTC(2024, 2, 4, 10)) });
  // The key file is never read: the pools below get the key from the lab in memory.
  const config = ClusterConfig.parse(sim.toClusterConfig("/dev/null", { commandTimeoutMs: TIMEOUT_MS }));
  const inv = sim.inventory();
  return {
    sim,
    config,
    async snapshot() {
      const pool = new SshPool({
        nodes: inv.nodes.map((n) => ({
          name: n.name,
          host: n.host,
          port: n.port,
          user: n.user,
          privateKey: inv.privateKey,
          hostKeyPin: n.hostKey,
        })),
        logger,
      });
      const commands = new Map<string, NodeCommands>();
      const seen = (node: string) => {
        const known = commands.get(node);
        if (known) return known;
        const fresh = { calls: 0, timeouts: 0, startedAfterTimeout: 0 };
        commands.set(node, fresh);
        return fresh;
      };
      try {
        const state = await takeSnapshot(config, {
          runnerFor: (node) => counted(pool.runner(node), seen(node)),
          drivers: driversFor(config.toolstack),
          logger,
        });
        return { state, commands };
      } finally {
        await pool.close();
      }
    },
    close: () => sim.close(),
  };
}

function nodeOf(state: ClusterState, name: string): NodeState {
  const node = state.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name} in the snapshot`);
  return node;
}

function kinds(state: ClusterState): string[] {
  return state.warnings.map((w) => w.kind);
}

describe("takeSnapshot over SSH: reference lab (xm, DRBD 8, heartbeat)", () => {
  let lab: Harness;

  beforeAll(async () => {
    lab = await harness(referenceLab());
  });

  afterAll(async () => {
    await lab?.close();
  });

  it("reads the healthy lab: guest on ics2, internet Connected Primary/Secondary UpToDate/UpToDate, HA", async () => {
    const { state } = await lab.snapshot();
    expect(state.cluster).toBe("lab");
    expect(state.nodes.map((n) => [n.name, n.reachable, n.error])).toEqual([
      ["ics1", true, null],
      ["ics2", true, null],
    ]);
    const ics1 = nodeOf(state, "ics1");
    const ics2 = nodeOf(state, "ics2");
    for (const n of [ics1, ics2]) {
      expect([n.domainsError, n.xenInfoError, n.drbdError, n.haError]).toEqual([null, null, null, null]);
      expect(n.xenInfo).toMatchObject({
        host: n.name,
        xenMajor: 3,
        xenMinor: 0,
        totalMemoryMiB: 4095,
        nrCpus: 2,
      });
    }
    expect(ics2.domains?.filter((d) => !d.isDom0).map((d) => [d.guest, d.memoryMiB, d.vcpus])).toEqual([
      ["internet", 3070, 2],
    ]);
    expect(ics1.domains?.filter((d) => !d.isDom0)).toEqual([]);
    expect(ics2.drbd).toEqual([
      expect.objectContaining({
        name: "internet",
        minor: 0,
        role: "Primary",
        diskState: "UpToDate",
        peers: [
          expect.objectContaining({
            connectionState: "Connected",
            role: "Secondary",
            diskState: "UpToDate",
            outOfSyncKiB: 0,
          }),
        ],
      }),
    ]);
    expect(ics1.drbd?.[0]).toMatchObject({
      name: "internet",
      role: "Secondary",
      diskState: "UpToDate",
      peers: [{ connectionState: "Connected", role: "Primary", diskState: "UpToDate" }],
    });
    for (const n of [ics1, ics2]) {
      expect(n.ha).toMatchObject({
        stack: "heartbeat",
        observer: n.name,
        running: true,
        nodes: [
          { name: "ics1", status: "online" },
          { name: "ics2", status: "online" },
        ],
      });
    }
    expect(state.warnings).toEqual([]);
  });

  it("reports a node that is down as unreachable with its error; the other is read in full", async () => {
    lab.sim.faults.nodeDown("ics1");
    await lab.sim.settled();
    try {
      const { state, commands } = await lab.snapshot();
      const ics1 = nodeOf(state, "ics1");
      expect(ics1.reachable).toBe(false);
      expect(ics1.error).toMatchObject({ code: "ssh_connect_failed" });
      expect(ics1.error?.message).toMatch(/ics1: connection to 127\.0\.0\.1:\d+ refused/);
      expect([ics1.domains, ics1.drbd, ics1.ha]).toEqual([null, null, null]);
      const ics2 = nodeOf(state, "ics2");
      expect(ics2.reachable).toBe(true);
      expect(ics2.domains?.some((d) => d.guest === "internet")).toBe(true);
      // ics2's side of the resource waits for its peer.
      expect(ics2.drbd?.[0]?.peers[0]?.connectionState).toBe("WFConnection");
      expect(state.warnings).toContainEqual(
        expect.objectContaining({ kind: "node_unreachable", severity: "critical", node: "ics1" }),
      );
      expect(state.warnings).toContainEqual(
        expect.objectContaining({ kind: "disconnected", node: "ics2", resource: "internet" }),
      );
      // A refused connection costs nothing like a timeout: no command waited one out.
      expect([...commands.values()].map((c) => c.timeouts)).toEqual([0, 0]);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });

  it("pays one command timeout for a hanging node, and reads the other", async () => {
    lab.sim.faults.hanging("ics2");
    await lab.sim.settled();
    try {
      const { state, commands } = await lab.snapshot();
      // One timeout's worth: whatever timed out on ics2 was in flight together, nothing started after.
      expect(commands.get("ics2")).toMatchObject({ timeouts: expect.any(Number), startedAfterTimeout: 0 });
      expect(commands.get("ics2")?.timeouts).toBeGreaterThan(0);
      expect(commands.get("ics1")?.timeouts).toBe(0);
      const ics2 = nodeOf(state, "ics2");
      expect(ics2.reachable).toBe(false);
      expect(ics2.error).toMatchObject({ code: "ssh_timeout" });
      expect(ics2.error?.message).toContain(`timed out after ${TIMEOUT_MS} ms`);
      const ics1 = nodeOf(state, "ics1");
      expect(ics1.reachable).toBe(true);
      expect(ics1.drbd?.[0]?.peers[0]?.connectionState).toBe("Connected");
      expect(kinds(state)).toEqual(["node_unreachable"]);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });

  it("flags a split brain", async () => {
    lab.sim.faults.splitBrain("internet");
    try {
      const { state } = await lab.snapshot();
      for (const name of ["ics1", "ics2"]) {
        expect(nodeOf(state, name).drbd?.[0]).toMatchObject({
          role: "Primary",
          peers: [{ connectionState: "StandAlone" }],
        });
      }
      expect(state.warnings).toContainEqual(
        expect.objectContaining({
          kind: "split_brain_suspected",
          severity: "critical",
          resource: "internet",
        }),
      );
    } finally {
      lab.sim.faults.heal();
    }
  });

  it("reports a running resync with its progress", async () => {
    // 1000 MiB at the resource's 10240 KiB/s: 100 s; look half way through.
    lab.sim.faults.startResync("internet", "ics2", 1_024_000);
    await lab.sim.tick(50_000);
    const { state } = await lab.snapshot();
    const resync = state.warnings.filter((w) => w.kind === "resync_running");
    expect(resync.map((w) => w.node).sort()).toEqual(["ics1", "ics2"]);
    for (const w of resync) {
      expect(w.resource).toBe("internet");
      expect(w.percent).toBeGreaterThan(40);
      expect(w.percent).toBeLessThan(60);
      expect(w.message).toMatch(/at \d+\.\d%/);
    }
    expect(nodeOf(state, "ics2").drbd?.[0]?.peers[0]?.replicationState).toBe("SyncSource");
    expect(nodeOf(state, "ics1").drbd?.[0]).toMatchObject({ diskState: "Inconsistent" });
    expect(kinds(state)).toContain("disk_inconsistent");
    await lab.sim.tick(120_000);
    expect(kinds((await lab.snapshot()).state)).toEqual([]);
  });
});

describe("takeSnapshot over SSH: modern lab (xl, DRBD 9, Pacemaker)", () => {
  let lab: Harness;

  beforeAll(async () => {
    lab = await harness(modernLab());
  });

  afterAll(async () => {
    await lab?.close();
  });

  it("reads the healthy lab: web on hv1, db on hv2, both resources Connected, Pacemaker view", async () => {
    const { state } = await lab.snapshot();
    const hv1 = nodeOf(state, "hv1");
    const hv2 = nodeOf(state, "hv2");
    expect(hv1.domains?.filter((d) => !d.isDom0).map((d) => d.guest)).toEqual(["web"]);
    expect(hv2.domains?.filter((d) => !d.isDom0).map((d) => d.guest)).toEqual(["db"]);
    expect(hv1.xenInfo).toMatchObject({ xenMajor: 4, xenMinor: 17 });
    const res = (n: NodeState, name: string) => n.drbd?.find((r) => r.name === name);
    expect(res(hv1, "web")).toMatchObject({
      role: "Primary",
      diskState: "UpToDate",
      peers: [{ node: "hv2", connectionState: "Connected", role: "Secondary", diskState: "UpToDate" }],
    });
    expect(res(hv2, "db")).toMatchObject({
      role: "Primary",
      peers: [{ node: "hv1", connectionState: "Connected", role: "Secondary", diskState: "UpToDate" }],
    });
    for (const n of [hv1, hv2]) {
      expect(n.ha).toMatchObject({ stack: "pacemaker", observer: n.name, running: true, dc: "hv1" });
      expect(n.ha?.nodes.map((m) => m.status)).toEqual(["online", "online"]);
      expect(n.ha?.resources).toContainEqual(
        expect.objectContaining({ id: "vm-web", runningOn: ["hv1"], failed: false }),
      );
      expect(n.ha?.resources).toContainEqual(
        expect.objectContaining({ id: "vm-db", runningOn: ["hv2"], failed: false }),
      );
    }
    expect(state.warnings).toEqual([]);
  });

  it("reports a node that is down; the survivor's resources wait for it", async () => {
    lab.sim.faults.nodeDown("hv2");
    await lab.sim.settled();
    try {
      const { state } = await lab.snapshot();
      expect(nodeOf(state, "hv2")).toMatchObject({ reachable: false, error: { code: "ssh_connect_failed" } });
      const hv1 = nodeOf(state, "hv1");
      expect(hv1.reachable).toBe(true);
      expect(hv1.drbd?.map((r) => r.peers[0]?.connectionState)).toEqual(["Connecting", "Connecting"]);
      expect(kinds(state)).toContain("node_unreachable");
      expect(kinds(state).filter((k) => k === "disconnected")).toHaveLength(2);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });

  it("pays one command timeout for a hanging node", async () => {
    lab.sim.faults.hanging("hv1");
    await lab.sim.settled();
    try {
      const { state, commands } = await lab.snapshot();
      expect(commands.get("hv1")).toMatchObject({ startedAfterTimeout: 0 });
      expect(commands.get("hv1")?.timeouts).toBeGreaterThan(0);
      expect(nodeOf(state, "hv1")).toMatchObject({ reachable: false, error: { code: "ssh_timeout" } });
      expect(nodeOf(state, "hv2").reachable).toBe(true);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });

  it("flags a split brain", async () => {
    lab.sim.faults.splitBrain("web");
    try {
      const { state } = await lab.snapshot();
      expect(state.warnings).toContainEqual(
        expect.objectContaining({ kind: "split_brain_suspected", resource: "web" }),
      );
    } finally {
      lab.sim.faults.heal();
    }
  });

  it("reports a running resync with its progress", async () => {
    // 1000 MiB at the default c-max-rate of 10240 KiB/s: 100 s; look a quarter of the way in.
    lab.sim.faults.startResync("db", "hv2", 1_024_000);
    await lab.sim.tick(25_000);
    const { state } = await lab.snapshot();
    const resync = state.warnings.filter((w) => w.kind === "resync_running");
    expect(resync.length).toBeGreaterThan(0);
    for (const w of resync) {
      expect(w.resource).toBe("db");
      expect(w.percent).toBeGreaterThan(15);
      expect(w.percent).toBeLessThan(35);
    }
    await lab.sim.tick(120_000);
    expect(kinds((await lab.snapshot()).state)).toEqual([]);
  });
});

describe("takeSnapshot over SSH: a cluster of pairs (scaleLab)", () => {
  let lab: Harness;

  beforeAll(async () => {
    lab = await harness(scaleLab(6));
  });

  afterAll(async () => {
    await lab?.close();
  });

  it("reads every node, and does not report other pairs' resources as missing", async () => {
    const { state } = await lab.snapshot();
    expect(state.nodes.every((n) => n.reachable)).toBe(true);
    expect(state.nodes.map((n) => n.drbd?.length)).toEqual([4, 4, 4, 4, 4, 4]);
    expect(state.warnings).toEqual([]);
  });

  it("reads the cluster-wide HA view on a sample of nodes, and everywhere when the sample gives none", async () => {
    const { state } = await lab.snapshot();
    expect(state.nodes.map((n) => (n.ha ? "view" : n.haError?.code))).toEqual([
      "view",
      "view",
      "view",
      "view",
      "ha_not_sampled",
      "ha_not_sampled",
    ]);
    for (const name of ["n001", "n002", "n003", "n004"]) lab.sim.faults.unreachable(name);
    await lab.sim.settled();
    try {
      const { state: degraded } = await lab.snapshot();
      expect(degraded.nodes.map((n) => n.ha !== null)).toEqual([false, false, false, false, true, true]);
      expect(degraded.nodes[4]?.ha?.nodes.length).toBe(6);
    } finally {
      for (const name of ["n001", "n002", "n003", "n004"]) lab.sim.faults.reachable(name);
      await lab.sim.settled();
    }
  });

  it("reads the HA configuration on two of the observers, and on the other two when neither gives it", async () => {
    const read = (state: ClusterState) =>
      state.nodes.map((n) =>
        n.haConfig ? "config" : `${n.haConfigError?.code}: ${n.haConfigError?.message}`,
      );
    const { state } = await lab.snapshot();
    expect(read(state)).toEqual([
      "config",
      "config",
      "ha_not_sampled: read on n001, n002",
      "ha_not_sampled: read on n001, n002",
      "ha_not_sampled: read on n001, n002",
      "ha_not_sampled: read on n001, n002",
    ]);
    for (const name of ["n001", "n002"]) lab.sim.faults.tamper(name, "cat /etc/ha.d/haresources", "fail");
    const watch = lab.sim.faults.watchCommands({ argv: ["cat", "/etc/ha.d/haresources"] });
    try {
      const { state: degraded } = await lab.snapshot();
      const shown = read(degraded);
      expect(shown.slice(0, 2).every((x) => x.startsWith("exec_failed: "))).toBe(true);
      expect(shown.slice(2)).toEqual([
        "config",
        "config",
        "ha_not_sampled: read on n001, n002",
        "ha_not_sampled: read on n001, n002",
      ]);
      // Asked of the four observers only, once each.
      expect(watch.count).toBe(4);
      expect(degraded.warnings).toContainEqual(expect.objectContaining({ node: "n001" }));
    } finally {
      watch.stop();
      for (const name of ["n001", "n002"]) lab.sim.faults.untamper(name, "cat /etc/ha.d/haresources");
    }
  });

  it("shares one abort signal among all its commands without a listener-leak warning", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const controller = new AbortController();
      const inv = lab.sim.inventory();
      const pool = new SshPool({
        nodes: inv.nodes.map((n) => ({ ...n, privateKey: inv.privateKey, hostKeyPin: n.hostKey })),
        logger,
      });
      try {
        const state = await takeSnapshot(
          lab.config,
          { runnerFor: (node) => pool.runner(node), drivers: driversFor(lab.config.toolstack), logger },
          { signal: controller.signal },
        );
        expect(state.nodes.every((n) => n.reachable)).toBe(true);
      } finally {
        await pool.close();
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("still reports a resource that is missing on a node that should carry it", async () => {
    lab.sim.faults.nodeDown("n002");
    await lab.sim.settled();
    try {
      const { state } = await lab.snapshot();
      // Nothing about the other pairs' resources: only the dead node and its partner's view of it.
      expect(kinds(state).sort()).toEqual([
        "disconnected",
        "disconnected",
        "disconnected",
        "disconnected",
        "node_unreachable",
      ]);
      // n001's resources with n002 (vm001a/b, vm002a/b) wait for their peer.
      const n001 = nodeOf(state, "n001");
      expect(n001.drbd?.filter((r) => r.peers[0]?.connectionState === "WFConnection")).toHaveLength(4);
      expect(
        state.warnings.filter((w) => w.kind === "disconnected").map((w) => `${w.node}/${w.resource}`),
      ).toEqual(["n001/vm001a", "n001/vm001b", "n001/vm002a", "n001/vm002b"]);
    } finally {
      lab.sim.faults.heal();
      await lab.sim.settled();
    }
  });
});
