/**
 * The labs over real SSH: startSimulatedCluster serves every node with its own SSH server, the
 * project's SshPool connects with the lab's client key and pinned host keys, and the drivers parse
 * what comes back. Faults act at the SSH level too (refused, hanging, slow, node down and back).
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClusterConfig } from "../../src/config/schema";
import { drbd8Driver } from "../../src/drivers/drbd8";
import { drbd9Driver } from "../../src/drivers/drbd9";
import { heartbeatDriver } from "../../src/drivers/heartbeat";
import { pacemakerDriver } from "../../src/drivers/pacemaker";
import { xlDriver, xmDriver } from "../../src/drivers/xen";
import { errorCode } from "../../src/errors";
import {
  ManualClock,
  modernLab,
  referenceLab,
  type SimulatedCluster,
  scaleLab,
  startSimulatedCluster,
} from "../../src/sim";
import { type SshNodeSettings, SshPool } from "../../src/ssh/pool";

const logger = pino({ level: "silent" });

function pool(
  lab: SimulatedCluster,
  options: ConstructorParameters<typeof SshPool>[0]["options"] = {},
): SshPool {
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
      defaultTimeoutMs: 5000,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      ...options,
    },
  });
}

/**
 * Runs `argv` on `node` once the pool connects again: during its reconnect backoff (at most 50 ms
 * here) a command fails at once with the last connect error, so that error is retried; any other
 * is not. Bounded, with the last error in the message.
 */
async function onceReconnected(p: SshPool, node: string, argv: string[], limitMs = 10_000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await p.runner(node).run(argv);
    } catch (err) {
      if (errorCode(err) !== "ssh_connect_failed") throw err;
      if (Date.now() > deadline)
        throw new Error(`${node} did not answer again within ${limitMs} ms`, { cause: err });
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

describe("reference and modern labs over SSH", () => {
  let reference: SimulatedCluster;
  let modern: SimulatedCluster;
  let refPool: SshPool;
  let modPool: SshPool;

  beforeAll(async () => {
    [reference, modern] = await Promise.all([
      startSimulatedCluster(referenceLab(), { clock: "manual" }),
      startSimulatedCluster(modernLab(), { clock: new ManualClock(Date.UTC(2024, 2, 4, 10)) }),
    ]);
    refPool = pool(reference);
    modPool = pool(modern);
  });

  afterAll(async () => {
    await Promise.all([refPool?.close(), modPool?.close()]);
    await Promise.all([reference?.close(), modern?.close()]);
  });

  it("every reference node answers xm, /proc/drbd and cl_status in the real formats", async () => {
    for (const node of ["ics1", "ics2"]) {
      const r = refPool.runner(node);
      const domains = await xmDriver.listDomains(r);
      const info = await xmDriver.info(r);
      const drbd = await drbd8Driver.status(r, {
        resources: [{ name: "internet", minor: 0, allowTwoPrimaries: true }],
      });
      const ha = await heartbeatDriver.view(r);
      expect(info.host).toBe(node);
      expect(domains.some((d) => d.guest === "internet")).toBe(node === "ics2");
      expect(drbd[0]).toMatchObject({
        name: "internet",
        role: node === "ics2" ? "Primary" : "Secondary",
        diskState: "UpToDate",
      });
      expect(ha.nodes.map((n) => n.status)).toEqual(["online", "online"]);
    }
  });

  it("every modern node answers xl, drbdsetup status --json and crm_mon", async () => {
    for (const node of ["hv1", "hv2"]) {
      const r = modPool.runner(node);
      const domains = await xlDriver.listDomains(r);
      const drbd = await drbd9Driver.status(r, { resources: [] });
      const ha = await pacemakerDriver.view(r);
      expect(domains.map((d) => d.name)).toEqual(["Domain-0", node === "hv1" ? "web" : "db"]);
      expect(drbd.map((d) => d.name)).toEqual(["db", "web"]);
      expect(ha.resources.find((x) => x.id === "vm-web")?.runningOn).toEqual(["hv1"]);
    }
  });

  it("fence agents read their options from stdin over SSH", async () => {
    const res = await modPool.runner("hv1").run(["fence_ipmilan"], {
      stdin: "action=status\nipaddr=198.51.100.2\nlogin=admin\npasswd=xenops-lab\n",
      okExitCodes: [0, 2],
    });
    expect([res.stdout, res.exitCode]).toEqual(["Status: ON\n", 0]);
  });

  it("the inventory is a valid ClusterConfig", () => {
    const config = ClusterConfig.parse(reference.toClusterConfig("/tmp/lab-key"));
    expect(config.toolstack).toEqual({
      hypervisor: "xm",
      drbd: 8,
      ha: "heartbeat",
      fence: {
        method: "stonith",
        type: "apcsmart",
        params: { ttydev: "/dev/ttyS0", hostlist: "ics1 ics2" },
        secretParams: {},
      },
    });
    expect(config.nodes[0]).toMatchObject({
      name: "ics1",
      host: "127.0.0.1",
      privateKey: { file: "/tmp/lab-key" },
    });
    expect(config.guests).toEqual([
      {
        name: "internet",
        home: "ics2",
        configFile: "/etc/xen/internet",
        memoryMiB: 3070,
        vcpus: 2,
        drbd: ["internet"],
      },
    ]);
    expect(ClusterConfig.parse(modern.toClusterConfig("/tmp/k")).toolstack.fence).toMatchObject({
      method: "fence-agent",
      agent: "fence_ipmilan",
      nodes: { hv1: { ipaddr: "198.51.100.1" }, hv2: { ipaddr: "198.51.100.2" } },
    });
  });
});

describe("SSH-level faults", () => {
  let lab: SimulatedCluster;
  let p: SshPool;

  beforeAll(async () => {
    lab = await startSimulatedCluster(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }), {
      clock: "manual",
    });
    p = pool(lab, { defaultTimeoutMs: 1500, connectTimeoutMs: 500 });
  });
  afterAll(async () => {
    await p?.close();
    await lab?.close();
  });

  it("unreachable refuses, hanging stalls, slowSsh delays; reachable undoes them", async () => {
    lab.faults.unreachable("ics1");
    await lab.settled();
    expect(
      errorCode(
        await p
          .runner("ics1")
          .run(["true"])
          .catch((e: unknown) => e),
      ),
    ).toBe("ssh_connect_failed");
    lab.faults.reachable("ics1");
    await lab.settled();
    expect((await onceReconnected(p, "ics1", ["hostname"])).stdout).toBe("ics1\n");

    lab.faults.hanging("ics2");
    expect(
      errorCode(
        await p
          .runner("ics2")
          .run(["true"])
          .catch((e: unknown) => e),
      ),
    ).toBe("ssh_connect_failed");
    lab.faults.reachable("ics2");

    // A delay far longer than the command's timeout: only a delayed command times out.
    lab.faults.slowSsh("ics1", 600_000);
    const slow = await p
      .runner("ics1")
      .run(["true"], { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(errorCode(slow)).toBe("ssh_timeout");
    lab.faults.reachable("ics1");
    expect((await p.runner("ics1").run(["hostname"])).stdout).toBe("ics1\n");
  });

  it("a node that goes down cuts its connections, refuses new ones, and answers again after boot", async () => {
    expect((await p.runner("ics2").run(["hostname"], { timeoutMs: 3000 })).stdout).toBe("ics2\n");
    lab.faults.nodeDown("ics2", { rebootAfterMs: 60000 });
    await lab.settled();
    const err = await p
      .runner("ics2")
      .run(["xm", "list"])
      .catch((e: unknown) => e);
    expect(["ssh_connect_failed", "ssh_disconnected"]).toContain(errorCode(err));
    // The survivor sees its peer gone at once in DRBD.
    expect((await p.runner("ics1").run(["drbdadm", "cstate", "internet"])).stdout).toBe("WFConnection\n");
    await lab.tick(60000);
    const back = await onceReconnected(p, "ics2", ["xm", "list"]);
    expect(back.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(lab.nodes.find((n) => n.name === "ics2")?.port).toBe(lab.inventory().nodes[1]?.port);
  });
});

describe("scale", () => {
  it("100 nodes, one SSH server each, in one process", async () => {
    // How fast is npm run bench's business; here: that it works.
    const big = await startSimulatedCluster(scaleLab(100), { clock: "manual" });
    try {
      expect(big.nodes).toHaveLength(100);
      expect(new Set(big.nodes.map((n) => n.port)).size).toBe(100);
      const p = pool(big);
      try {
        const r = p.runner("n100");
        expect((await xmDriver.listDomains(r)).map((d) => d.name)).toEqual(["Domain-0", "vm100a", "vm100b"]);
        const drbd = await drbd8Driver.status(r, {
          resources: big.cluster
            .resourcesOn("n100")
            .map((x) => ({ name: x.name, minor: x.minor, allowTwoPrimaries: true })),
        });
        expect(drbd.map((d) => [d.name, d.role])).toEqual([
          ["vm099a", "Secondary"],
          ["vm099b", "Secondary"],
          ["vm100a", "Primary"],
          ["vm100b", "Primary"],
        ]);
      } finally {
        await p.close();
      }
    } finally {
      await big.close();
    }
  });
});
