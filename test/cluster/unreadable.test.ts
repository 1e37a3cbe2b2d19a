/**
 * A snapshot over real SSH against the simulated labs with tampered output: the part is unknown (null,
 * with its error and the raw lines as read), never empty, and the rest of the node still reads.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawOutputOf, takeSnapshot } from "../../src/cluster/snapshot";
import { ClusterConfig } from "../../src/config/schema";
import { driversFor } from "../../src/drivers/registry";
import { ExecError, ParseError } from "../../src/errors";
import { type ClusterState, NodeState, PART_RAW_MAX_LINES } from "../../src/model";
import {
  ManualClock,
  modernLab,
  referenceLab,
  type SimClusterSpecInput,
  type SimulatedCluster,
  startSimulatedCluster,
} from "../../src/sim";
import { garbageOutput } from "../../src/sim/tamper";
import { SshPool } from "../../src/ssh/pool";

const logger = pino({ level: "silent" });

interface Lab {
  sim: SimulatedCluster;
  snapshot(): Promise<ClusterState>;
  close(): Promise<void>;
}

async function lab(spec: SimClusterSpecInput): Promise<Lab> {
  const sim = await startSimulatedCluster(spec, { clock: new ManualClock(Date.UTC(2024, 2, 4, 10)) });
  const config = ClusterConfig.parse(sim.toClusterConfig("/dev/null", { commandTimeoutMs: 3000 }));
  const inv = sim.inventory();
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
  return {
    sim,
    snapshot: () =>
      takeSnapshot(config, {
        runnerFor: (node) => pool.runner(node),
        drivers: driversFor(config.toolstack),
        logger,
      }),
    async close() {
      await pool.close();
      await sim.close();
    },
  };
}

function nodeOf(state: ClusterState, name: string): NodeState {
  const node = state.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no node ${name}`);
  return NodeState.parse(node);
}

describe("snapshot of a tampered reference lab (xm, DRBD 8, heartbeat)", () => {
  let l: Lab;
  beforeAll(async () => {
    l = await lab(referenceLab());
  });
  afterAll(async () => {
    await l.close();
  });

  it("`xm list` header only: domains unknown with the header as raw, never 'no guests'", async () => {
    const header = (await l.sim.exec("ics1", "xm list")).stdout.split("\n")[0];
    l.sim.faults.tamper("ics1", "xm list", "headonly");
    try {
      const state = await l.snapshot();
      const ics1 = nodeOf(state, "ics1");
      expect(ics1.reachable).toBe(true);
      expect(ics1.domains).toBeNull();
      expect(ics1.domainsError).toMatchObject({ code: "parse_error", raw: [header] });
      expect(ics1.domainsError?.message).toContain("no Domain-0 row");
      // Everything else on the node still reads.
      expect(ics1.xenInfo).not.toBeNull();
      expect(ics1.drbd).not.toBeNull();
      expect(ics1.ha).not.toBeNull();
      expect(nodeOf(state, "ics2").domains?.some((d) => d.guest === "internet")).toBe(true);
      expect(state.warnings.some((w) => w.node === "ics1" && w.kind === "state_unknown")).toBe(true);
    } finally {
      l.sim.faults.untamper("ics1", "xm list");
    }
  });

  it("empty, garbage and failing `xm list`", async () => {
    try {
      l.sim.faults.tamper("ics1", "xm list", "empty");
      expect(nodeOf(await l.snapshot(), "ics1").domainsError).toMatchObject({ code: "parse_error", raw: [] });

      l.sim.faults.tamper("ics1", "xm list", "garbage");
      expect(nodeOf(await l.snapshot(), "ics1").domainsError).toMatchObject({
        code: "parse_error",
        raw: garbageOutput("xm").trimEnd().split("\n"),
      });

      l.sim.faults.tamper("ics1", "xm list", "fail");
      const failed = nodeOf(await l.snapshot(), "ics1");
      expect(failed.domains).toBeNull();
      expect(failed.domainsError?.code).toBe("exec_failed");
      expect(failed.domainsError?.raw).toEqual([expect.stringMatching(/^xm: Input\/output error/)]);
      // A command that fails is not a dead node.
      expect(failed.reachable).toBe(true);
    } finally {
      l.sim.faults.untamper("ics1", "xm list");
    }
    expect(nodeOf(await l.snapshot(), "ics1").domains).not.toBeNull();
  });

  it("/proc/drbd cut mid-line: DRBD unknown with the lines as read", async () => {
    const proc = (await l.sim.exec("ics1", "cat /proc/drbd")).stdout;
    l.sim.faults.tamper("ics1", "cat /proc/drbd", { kind: "truncate", bytes: 150 });
    try {
      const ics1 = nodeOf(await l.snapshot(), "ics1");
      expect(ics1.drbd).toBeNull();
      expect(ics1.drbdError?.code).toBe("parse_error");
      expect(ics1.drbdError?.raw).toEqual(proc.slice(0, 150).split("\n"));
      expect(ics1.domains).not.toBeNull();
    } finally {
      l.sim.faults.untamper("ics1", "cat /proc/drbd");
    }
  });

  it("/proc/drbd without the configured minor (cut after the version lines): unknown, naming the minor", async () => {
    const proc = (await l.sim.exec("ics1", "cat /proc/drbd")).stdout;
    const versionLines = proc.split("\n").slice(0, 2).join("\n").length + 1;
    l.sim.faults.tamper("ics1", "cat /proc/drbd", { kind: "truncate", bytes: versionLines });
    try {
      const ics1 = nodeOf(await l.snapshot(), "ics1");
      expect(ics1.drbd).toBeNull();
      expect(ics1.drbdError?.message).toContain("minor 0 (internet) configured in the inventory but missing");
      expect(ics1.drbdError?.raw).toHaveLength(2);
    } finally {
      l.sim.faults.untamper("ics1", "cat /proc/drbd");
    }
  });

  it("garbage from cl_status: the HA view is unknown, with the raw lines", async () => {
    l.sim.faults.tamper("ics1", "cl_status", "garbage");
    try {
      const ics1 = nodeOf(await l.snapshot(), "ics1");
      expect(ics1.ha).toBeNull();
      expect(ics1.haError?.code).toBe("parse_error");
      expect(ics1.haError?.raw?.[0]).toContain("glibc detected");
    } finally {
      l.sim.faults.untamper("ics1", "cl_status");
    }
  });
});

describe("snapshot of a tampered modern lab (xl, DRBD 9, Pacemaker)", () => {
  let l: Lab;
  beforeAll(async () => {
    l = await lab(modernLab());
  });
  afterAll(async () => {
    await l.close();
  });

  it("truncated drbdsetup status --json and header-only xl list", async () => {
    l.sim.faults.tamper("hv1", "drbdsetup status --json", "truncate 120");
    l.sim.faults.tamper("hv2", "xl list", "headonly");
    try {
      const state = await l.snapshot();
      const hv1 = nodeOf(state, "hv1");
      expect(hv1.drbd).toBeNull();
      expect(hv1.drbdError?.code).toBe("parse_error");
      expect(hv1.drbdError?.raw?.join("\n").length).toBeLessThanOrEqual(120);
      const hv2 = nodeOf(state, "hv2");
      expect(hv2.domains).toBeNull();
      expect(hv2.domainsError?.raw).toHaveLength(1);
      expect(hv2.drbd).not.toBeNull();
    } finally {
      l.sim.faults.heal();
    }
  });
});

describe("rawOutputOf", () => {
  it("keeps at most PART_RAW_MAX_LINES lines and says how many it left out", () => {
    const err = new ParseError("xm-list", 1, "bad");
    err.raw = `${Array.from({ length: 500 }, (_, i) => `line ${i}`).join("\n")}\n`;
    const raw = rawOutputOf(err) ?? [];
    expect(raw).toHaveLength(PART_RAW_MAX_LINES + 1);
    expect(raw[PART_RAW_MAX_LINES - 1]).toBe(`line ${PART_RAW_MAX_LINES - 1}`);
    expect(raw.at(-1)).toBe("… 300 more lines not kept");
  });

  it("shows control characters and cuts huge lines", () => {
    const err = new ParseError("proc-drbd", 1, "bad");
    err.raw = `a\u0000b\u001b[0m\r\n${"x".repeat(5000)}`;
    const raw = rawOutputOf(err) ?? [];
    expect(raw[0]).toBe("a\\x00b\\x1b[0m");
    expect(raw[1]).toHaveLength(1001);
  });

  it("a failed command: stdout then stderr; nothing for a transport failure or another error", () => {
    const details = { node: "n", argv: ["x"], signal: null };
    expect(
      rawOutputOf(
        new ExecError("exec_failed", "x", { ...details, exitCode: 2, stdout: "out", stderr: "err\n" }),
      ),
    ).toEqual(["out", "err"]);
    expect(
      rawOutputOf(new ExecError("ssh_timeout", "x", { ...details, exitCode: null, stdout: "", stderr: "" })),
    ).toBeUndefined();
    expect(rawOutputOf(new Error("x"))).toBeUndefined();
  });
});
