/**
 * What each fence method declares about itself, so that operations never test a method's name: its
 * secrets (resolved and redacted by operations), how its exit statuses read (an answer, or a failure
 * to ask), whether it can read power back without acting (its own fence evidence), the refusal when its
 * parameter order is missing, and what the doctor checks of it. Exit statuses are checked against the
 * simulator's own stonith and fence agents: every answer they give must be one the driver declares.
 */
import { describe, expect, it } from "vitest";
import { FenceConfig } from "../../../src/config/schema";
import {
  type ConfiguredFence,
  type FenceDriver,
  fenceAgentDriver,
  fenceDoctorFor,
  fenceDriverFor,
  fenceMethods,
  stonithAdminDriver,
  stonithDriver,
} from "../../../src/drivers/fence";
import { resolveFenceSecrets } from "../../../src/operations/context";
import { execInProcess, modernLab, referenceLab, Simulation } from "../../../src/sim";
import { quoteArgv } from "../../../src/ssh/quote";

const apcsmart = stonithDriver({
  type: "apcsmart",
  params: { ttydev: "/dev/ttyS0", hostlist: "ics1 ics2" },
  secretParams: {},
});
const apcmaster = stonithDriver({
  type: "apcmaster",
  params: { ipaddr: "10.0.0.5", login: "apc" },
  secretParams: { password: { env: "APC_PW" } },
});
const ipmi = fenceAgentDriver({
  agent: "fence_ipmilan",
  params: { login: "admin", lanplus: "1" },
  secretParams: { passwd: { env: "IPMI_PW" } },
  nodes: { hv1: { ipaddr: "198.51.100.1" }, hv2: { ipaddr: "198.51.100.2" } },
});
const admin = stonithAdminDriver();

/** One config per registered method, as the inventory would spell it. */
const configs: Record<ConfiguredFence["method"], FenceConfig> = {
  stonith: FenceConfig.parse({
    method: "stonith",
    type: "apcmaster",
    params: { ipaddr: "10.0.0.5", hostlist: "ics1 ics2" },
    secretParams: { password: { env: "APC_PW" } },
  }),
  "fence-agent": FenceConfig.parse({
    method: "fence-agent",
    agent: "fence_apc",
    params: { ipaddr: "10.0.0.6", login: "apc" },
    secretParams: { passwd: { file: "/etc/xenops/apc-pw" } },
    nodes: { ics1: { plug: "1" }, ics2: { plug: "2" } },
  }),
  stonith_admin: FenceConfig.parse({ method: "stonith_admin" }),
};

describe("every registered method keeps the contract operations rely on", () => {
  const drivers = Object.entries(configs).map(([method, config]) => {
    const d = fenceDriverFor(config);
    if (!d) throw new Error(`no driver for ${method}`);
    return [method, d] as const;
  });

  it("the registry covers exactly the inventory's methods", () => {
    const schemaMethods = FenceConfig.options.map((o) => o.shape.method.value).filter((m) => m !== "none");
    expect(Object.keys(fenceMethods).sort()).toEqual([...schemaMethods].sort());
    expect(fenceDriverFor(FenceConfig.parse({ method: "none" }))).toBeNull();
    expect(fenceDoctorFor(FenceConfig.parse({ method: "none" }))).toBeNull();
    for (const [method, d] of drivers) expect(d.method).toBe(method);
  });

  it.each(drivers)("%s: secrets, exit statuses, power reading and parameter order agree", (_m, d) => {
    expect([...d.secretNames].sort()).toEqual(Object.keys(d.secrets).sort());
    // A fence is reported done only with a status the method declares; 0 is always one.
    expect(d.exitCodes.fence).toContain(0);
    // Whatever reads an answer reads 0 as one.
    if (d.deviceCheck("ics2", ["ipaddr", "password", "hostlist"]))
      expect(d.exitCodes.deviceCheck).toContain(0);
    // The power is read back (the method's own evidence) exactly when statuses of that query are declared.
    expect(d.powerStatus("ics2") !== null).toBe(d.exitCodes.powerStatus.length > 0);
    if (d.powerStatus("ics2") === null) expect(d.parsePowerStatus(0, "Status: OFF\n")).toBe("unknown");
    // A method that needs a parameter order says how planning refuses without it.
    if (d.needsParamOrder) {
      expect(d.paramOrderQuery()).not.toBeNull();
      expect(d.paramOrderUnreadable).toEqual(expect.any(String));
    } else expect(d.paramOrderQuery()).toBeNull();
  });
});

describe("secrets: declared by the driver, resolved by operations without knowing the method", () => {
  it("heartbeat stonith: only the secretParams, from where the inventory says", async () => {
    expect(apcsmart.secrets).toEqual({});
    expect(apcmaster.secrets).toEqual({ password: { env: "APC_PW" } });
    const resolved = await resolveFenceSecrets(apcmaster, "lab", { APC_PW: "hunter2", OTHER: "x" });
    expect([...resolved]).toEqual([["password", "hunter2"]]);
    // Never in argv; redacted in what is shown.
    const inv = apcmaster.fence("ics1", "reboot", ["ipaddr", "login", "password"]);
    expect(inv.argv.join(" ")).not.toContain("hunter2");
    expect(inv.stdinShown).toBe("10.0.0.5 apc [redacted]\n");
    expect(inv.stdin?.(resolved)).toBe("10.0.0.5 apc hunter2\n");
  });

  it("fence agent: its secretParams; an unresolvable one fails naming the cluster and the name only", async () => {
    expect(ipmi.secrets).toEqual({ passwd: { env: "IPMI_PW" } });
    await expect(resolveFenceSecrets(ipmi, "modern", {})).rejects.toThrow(
      "modern fence secret passwd: environment variable IPMI_PW is not set",
    );
    expect([...(await resolveFenceSecrets(ipmi, "modern", { IPMI_PW: "pw" }))]).toEqual([["passwd", "pw"]]);
  });

  it("stonith_admin and no method: nothing to resolve", async () => {
    expect(admin.secrets).toEqual({});
    expect((await resolveFenceSecrets(admin, "modern", {})).size).toBe(0);
    expect((await resolveFenceSecrets(null, "modern", {})).size).toBe(0);
  });
});

describe("exit statuses: the simulator's answers are the ones each driver declares", () => {
  it("heartbeat stonith -S: a device that does not answer exits 2, an answer deviceOk reads as no", async () => {
    const sim = new Simulation(referenceLab());
    const check = apcsmart.deviceCheck("ics1");
    if (!check) throw new Error("stonith has a device check");
    const up = await execInProcess(sim, "ics2", quoteArgv(check.argv));
    expect(apcsmart.exitCodes.deviceCheck).toContain(up.exitCode);
    expect(apcsmart.deviceOk(up.exitCode)).toBe(true);
    sim.state.fence!.reachable = false;
    const down = await execInProcess(sim, "ics2", quoteArgv(check.argv));
    expect(down.exitCode).toBe(2);
    expect(apcsmart.exitCodes.deviceCheck).toContain(down.exitCode);
    expect(apcsmart.deviceOk(down.exitCode)).toBe(false);
    // The UPS cannot tell a node's power: no power status, no evidence of its own.
    expect(apcsmart.powerStatus("ics1")).toBeNull();
    expect(apcsmart.exitCodes.powerStatus).toEqual([]);
  });

  it("fence agent status: ON exits 0, OFF exits 2 (both answers), a refused login exits 1", async () => {
    const sim = new Simulation(
      modernLab({ fence: { type: "fence_ipmilan", login: "admin", password: "pw", reachable: true } }),
    );
    const run = async (inv: ReturnType<FenceDriver["fence"]> | null, pw = "pw") => {
      if (!inv) throw new Error("no invocation");
      return execInProcess(sim, "hv1", quoteArgv(inv.argv), {
        stdin: inv.stdin?.(new Map([["passwd", pw]])) ?? "",
      });
    };
    const on = await run(ipmi.powerStatus("hv2"));
    expect(ipmi.exitCodes.powerStatus).toContain(on.exitCode);
    expect(ipmi.parsePowerStatus(on.exitCode, on.stdout)).toBe("on");
    const fenced = await run(ipmi.fence("hv2", "off"));
    expect(ipmi.exitCodes.fence).toContain(fenced.exitCode);
    const off = await run(ipmi.powerStatus("hv2"));
    expect(off.exitCode).toBe(2);
    expect(ipmi.exitCodes.powerStatus).toContain(off.exitCode);
    expect(ipmi.parsePowerStatus(off.exitCode, off.stdout)).toBe("off");
    const refused = await run(ipmi.powerStatus("hv2"), "wrong");
    expect(ipmi.exitCodes.powerStatus).toContain(refused.exitCode);
    expect(ipmi.parsePowerStatus(refused.exitCode, refused.stdout)).toBe("unknown");
    const monitor = await run(ipmi.deviceCheck("hv2"), "wrong");
    expect(ipmi.exitCodes.deviceCheck).toContain(monitor.exitCode);
    expect(ipmi.deviceOk(monitor.exitCode)).toBe(false);
  });

  it("stonith_admin: no device check and no power status of its own (the fence history verifies)", () => {
    expect(admin.deviceCheck("hv2")).toBeNull();
    expect(admin.powerStatus("hv2")).toBeNull();
    expect(admin.exitCodes.fence).toEqual([0]);
  });
});

describe("parameter order (heartbeat stonith with secrets)", () => {
  it("is needed only through -F, and its absence is refused with the method's own words", () => {
    expect(apcsmart.needsParamOrder).toBe(false);
    expect(apcsmart.paramOrderUnreadable).toBeNull();
    expect(apcmaster.needsParamOrder).toBe(true);
    expect(apcmaster.paramOrderUnreadable).toBe(
      "the stonith plugin's parameter order could not be read (stonith -t TYPE -n)",
    );
    expect(ipmi.paramOrderUnreadable).toBeNull();
    expect(admin.paramOrderUnreadable).toBeNull();
  });
});

describe("what the doctor checks of each method", () => {
  const nodes = ["ics1", "ics2"];

  it("heartbeat stonith: cluster-glue's program, the hostlist, the stonith_host device words", () => {
    const d = fenceDoctorFor(configs.stonith);
    expect(d?.program).toBe("stonith");
    expect(d?.uncovered(nodes)).toBeNull();
    expect(d?.uncovered(["ics1", "ics2", "ics3"])).toBe("the stonith hostlist does not name ics3");
    expect(d?.fix(nodes)).toBe(
      'install cluster-glue (stonith) on every node; in the inventory: toolstack.fence.params.hostlist: "ics1 ics2"',
    );
    expect(d?.haCfDevice).toBe("apcmaster");
    const smart = fenceDoctorFor(FenceConfig.parse({ method: "stonith", type: "apcsmart" }));
    expect(smart?.haCfDevice).toBe("apcsmart /dev/ttyS0");
    // No hostlist at all: the plugin asks the device, nothing to compare.
    expect(smart?.uncovered(nodes)).toBeNull();
  });

  it("fence agent: the agent, per-node options (or a plug), no stonith_host line", () => {
    const d = fenceDoctorFor(configs["fence-agent"]);
    expect(d?.program).toBe("fence_apc");
    expect(d?.uncovered(nodes)).toBeNull();
    expect(d?.uncovered(["ics1", "ics2", "ics3"])).toBe(
      "no per-node fence options (ipaddr or plug) for ics3",
    );
    expect(d?.fix(["hv1"])).toBe(
      "install fence-agents on every node; in the inventory: toolstack.fence.nodes: { hv1: { ipaddr: ... } }",
    );
    expect(d?.haCfDevice).toBeNull();
  });

  it("stonith_admin: pacemaker-cli-utils; Pacemaker's own devices address the nodes", () => {
    const d = fenceDoctorFor(configs.stonith_admin);
    expect(d?.program).toBe("stonith_admin");
    expect(d?.uncovered(["a", "b", "c"])).toBeNull();
    expect(d?.fix(nodes)).toBe("install pacemaker-cli-utils (stonith_admin) on every node");
    expect(d?.haCfDevice).toBeNull();
  });

  it("reads a config the driver would refuse without throwing (the doctor reports, it does not refuse)", () => {
    const hostile = FenceConfig.parse({ method: "stonith", type: "apcsmart", params: { "x y": "1" } });
    expect(() => fenceDriverFor(hostile)).toThrow(/bad parameter name/);
    expect(fenceDoctorFor(hostile)?.program).toBe("stonith");
  });
});
