/**
 * The simulator's output read back through the project's own drivers and parsers, in every state
 * the simulator can reach: steady, syncing, split brain, peer dead, migrating, taken over, fenced.
 * The runner here is in-process (same dispatcher as SSH); ssh.test.ts does the same over real SSH.
 */
import { describe, expect, it } from "vitest";
import type { CommandRunner, ExecResult, RunOptions } from "../../src/command-runner";
import type { DrbdResourceConfig } from "../../src/config/schema";
import { drbd8Driver } from "../../src/drivers/drbd8";
import { drbd9Driver } from "../../src/drivers/drbd9";
import { parseEvents2Stream } from "../../src/drivers/drbd9/events2";
import { heartbeatDriver } from "../../src/drivers/heartbeat";
import { pacemakerDriver } from "../../src/drivers/pacemaker";
import { xlDriver, xmDriver } from "../../src/drivers/xen";
import { ExecError } from "../../src/errors";
import { execInProcess, modernLab, referenceLab, type Simulation } from "../../src/sim";
import { quoteArgv } from "../../src/ssh/quote";
import { lab, out } from "./helpers";

/** A CommandRunner over the simulator, failing like the SSH runner on unexpected exit codes. */
function runner(sim: Simulation, node: string): CommandRunner {
  return {
    node,
    async run(argv: readonly string[], options: RunOptions = {}): Promise<ExecResult> {
      const started = Date.now();
      const r = await execInProcess(
        sim,
        node,
        quoteArgv(argv),
        options.stdin === undefined ? {} : { stdin: options.stdin },
      );
      const result = { ...r, durationMs: Date.now() - started };
      if (!(options.okExitCodes ?? [0]).includes(r.exitCode)) {
        throw new ExecError("exec_failed", `${node}: ${argv[0]} exited ${r.exitCode}`, {
          node,
          argv,
          exitCode: r.exitCode,
          signal: null,
          stdout: r.stdout,
          stderr: r.stderr,
        });
      }
      return result;
    },
  };
}

const REF_RESOURCES: DrbdResourceConfig[] = [
  { name: "internet", minor: 0, device: "/dev/drbd0", allowTwoPrimaries: true },
];

async function referenceView(sim: Simulation, node: string) {
  const r = runner(sim, node);
  return {
    domains: await xmDriver.listDomains(r),
    info: await xmDriver.info(r),
    drbd: await drbd8Driver.status(r, { resources: REF_RESOURCES }),
    ha: await heartbeatDriver.view(r),
  };
}

async function modernView(sim: Simulation, node: string) {
  const r = runner(sim, node);
  return {
    domains: await xlDriver.listDomains(r),
    info: await xlDriver.info(r),
    drbd: await drbd9Driver.status(r, { resources: [] }),
    ha: await pacemakerDriver.view(r),
  };
}

describe("reference lab through xm, drbd8 and heartbeat drivers", () => {
  it("steady state", async () => {
    const sim = lab(referenceLab());
    const v = await referenceView(sim, "ics2");
    expect(v.domains.map((d) => [d.name, d.guest, d.isDom0, d.memoryMiB, d.vcpus])).toEqual([
      ["Domain-0", null, true, 512, 2],
      ["internet", "internet", false, 3070, 2],
    ]);
    expect(v.info).toMatchObject({
      host: "ics2",
      xenMajor: 3,
      xenMinor: 0,
      totalMemoryMiB: 4095,
      freeMemoryMiB: 468,
      nrCpus: 2,
    });
    expect(v.drbd).toEqual([
      {
        name: "internet",
        minor: 0,
        role: "Primary",
        diskState: "UpToDate",
        unconfigured: false,
        peers: [
          {
            node: null,
            connectionState: "Connected",
            replicationState: "Established",
            role: "Secondary",
            diskState: "UpToDate",
            outOfSyncKiB: 0,
            sync: null,
          },
        ],
      },
    ]);
    expect(v.ha).toMatchObject({
      stack: "heartbeat",
      observer: "ics2",
      running: true,
      nodes: [
        { name: "ics1", status: "online" },
        { name: "ics2", status: "online" },
      ],
      localResources: "local",
    });
  });

  it("resync, split brain, dead peer, takeover, migration", async () => {
    const sim = lab(referenceLab());
    sim.startResync("internet", "ics2", 1024 * 1024);
    sim.tick(20000);
    const syncing = (await referenceView(sim, "ics1")).drbd[0]?.peers[0];
    expect(syncing).toMatchObject({
      connectionState: "Connected",
      replicationState: "SyncTarget",
      role: "Primary",
    });
    // The kernel rounds on 4 MiB units: 1000 - (206 * 1000) / 257 per mille.
    expect(syncing?.sync?.percent).toBe(19.9);
    sim.tick(200000);

    sim.splitBrain("internet");
    const sb = (await referenceView(sim, "ics1")).drbd[0];
    expect(sb).toMatchObject({
      role: "Primary",
      peers: [{ connectionState: "StandAlone", role: "Unknown", diskState: "DUnknown" }],
    });
    await out(sim, "ics1", "drbdadm secondary internet");
    await out(sim, "ics1", "drbdadm -- --discard-my-data connect internet");
    await out(sim, "ics2", "drbdadm connect internet");
    sim.tick(10000);

    await out(sim, "ics1", "drbdadm primary internet");
    const migrate = execInProcess(sim, "ics2", "xm migrate --live internet ics1");
    await Promise.resolve();
    const during = await referenceView(sim, "ics2");
    expect(during.domains.find((d) => d.guest === "internet")).toMatchObject({
      name: "migrating-internet",
      migration: "migrating",
    });
    sim.tick(20000);
    expect((await migrate).exitCode).toBe(0);

    sim.nodeDown("ics2");
    sim.tick(30000);
    const alone = await referenceView(sim, "ics1");
    expect(alone.ha.nodes).toEqual([
      { name: "ics1", status: "online" },
      { name: "ics2", status: "offline" },
    ]);
    expect(alone.drbd[0]?.peers[0]).toMatchObject({ connectionState: "WFConnection", role: "Unknown" });
    expect(alone.domains.map((d) => d.name)).toEqual(["Domain-0", "internet"]);
    sim.heartbeatTakeover("ics2");
    expect((await referenceView(sim, "ics1")).ha.localResources).toBe("transition");
  });
});

describe("modern lab through xl, drbd9 and pacemaker drivers", () => {
  it("steady state", async () => {
    const sim = lab(modernLab());
    const v = await modernView(sim, "hv1");
    expect(v.domains.map((d) => d.name)).toEqual(["Domain-0", "web"]);
    expect(v.info).toMatchObject({ host: "hv1", xenVersion: "4.17.3", xenMajor: 4, xenMinor: 17 });
    expect(
      v.drbd.map((r) => [r.name, r.minor, r.role, r.diskState, r.peers[0]?.node, r.peers[0]?.role]),
    ).toEqual([
      ["db", 1, "Secondary", "UpToDate", "hv2", "Primary"],
      ["web", 0, "Primary", "UpToDate", "hv2", "Secondary"],
    ]);
    expect(v.ha.dc).toBe("hv1");
    expect(v.ha.nodes).toEqual([
      { name: "hv1", status: "online" },
      { name: "hv2", status: "online" },
    ]);
    expect(v.ha.resources.find((r) => r.id === "vm-db")).toMatchObject({ runningOn: ["hv2"], failed: false });
  });

  it("peer lost, unclean, fenced, syncing back", async () => {
    const sim = lab(modernLab());
    sim.nodeDown("hv2");
    sim.tick(5000);
    const lost = await modernView(sim, "hv1");
    expect(lost.ha.nodes.find((n) => n.name === "hv2")?.status).toBe("unclean");
    expect(lost.drbd.find((r) => r.name === "db")?.peers[0]).toMatchObject({
      connectionState: "Connecting",
      role: "Unknown",
    });
    await out(sim, "hv1", "stonith_admin --reboot hv2");
    const fenced = await modernView(sim, "hv1");
    expect(fenced.ha.nodes.find((n) => n.name === "hv2")?.status).toBe("offline");
    expect(fenced.ha.fenceHistory).toMatchObject([
      { target: "hv2", action: "reboot", status: "success", delegate: "hv1" },
    ]);
    // web keeps writing on hv1 for the minute hv2 is away, so hv2 syncs back.
    sim.tick(60000);
    const back = await modernView(sim, "hv2");
    const web = back.drbd.find((r) => r.name === "web");
    expect(web).toMatchObject({ role: "Secondary", diskState: "Inconsistent" });
    expect(web?.peers[0]).toMatchObject({ connectionState: "Connected", replicationState: "SyncTarget" });
  });

  it("events2 stream parses to the same state as status --json", async () => {
    const sim = lab(modernLab());
    sim.startResync("db", "hv2", 2048 * 1024);
    sim.tick(30000);
    for (const flags of ["--now", "--now --statistics --timestamps"]) {
      const stream = parseEvents2Stream(await out(sim, "hv1", `drbdsetup events2 ${flags}`));
      expect(stream.initialStateComplete).toBe(true);
      const fromStatus = await drbd9Driver.status(runner(sim, "hv1"), { resources: [] });
      expect(stream.state.map((r) => [r.name, r.role, r.diskState, r.peers[0]?.replicationState])).toEqual(
        fromStatus.map((r) => [r.name, r.role, r.diskState, r.peers[0]?.replicationState]),
      );
    }
  });

  it("drbdadm status text is the fallback the driver can read too", async () => {
    const sim = lab(modernLab());
    sim.splitBrain("web");
    const text = await out(sim, "hv1", "drbdadm status web");
    expect(text).toBe("web role:Primary\n  disk:UpToDate open:yes\n  hv2 connection:StandAlone\n\n");
    const { parseDrbdStatusText } = await import("../../src/drivers/drbd9");
    expect(parseDrbdStatusText(text)[0]?.name).toBe("web");
  });
});
