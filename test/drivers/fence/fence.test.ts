/**
 * Fence drivers: argv and stdin exactly as they will run, secrets only on stdin and `[redacted]` in
 * what is shown, hostile parameters refused; and the same commands against the simulator's stonith,
 * fence agents and stonith_admin.
 */
import { describe, expect, it } from "vitest";
import { FenceConfig } from "../../../src/config/schema";
import {
  fenceAgentDriver,
  fenceDriverFor,
  stonithAdminDriver,
  stonithDriver,
} from "../../../src/drivers/fence";
import { execInProcess, modernLab, referenceLab, Simulation } from "../../../src/sim";
import { quoteArgv } from "../../../src/ssh/quote";

const secrets = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe("heartbeat stonith", () => {
  const apcsmart = stonithDriver({
    type: "apcsmart",
    params: { ttydev: "/dev/ttyS0", hostlist: "ics1 ics2" },
    secretParams: {},
  });

  it("puts options first, then name=value words, then the node", () => {
    expect(apcsmart.fence("ics1", "reboot")).toEqual({
      argv: ["stonith", "-t", "apcsmart", "-T", "reset", "ttydev=/dev/ttyS0", "hostlist=ics1 ics2", "ics1"],
      stdin: null,
      stdinShown: null,
    });
    expect(apcsmart.fence("ics2", "off").argv).toEqual([
      "stonith",
      "-t",
      "apcsmart",
      "-T",
      "off",
      "ttydev=/dev/ttyS0",
      "hostlist=ics1 ics2",
      "ics2",
    ]);
    expect(apcsmart.deviceCheck("ics1")?.argv).toEqual([
      "stonith",
      "-t",
      "apcsmart",
      "-S",
      "ttydev=/dev/ttyS0",
      "hostlist=ics1 ics2",
    ]);
    expect(apcsmart.powerStatus("ics1")).toBeNull();
    expect(apcsmart.needsParamOrder).toBe(false);
    expect(quoteArgv(apcsmart.fence("ics1", "reboot").argv)).toBe(
      "stonith -t apcsmart -T reset ttydev=/dev/ttyS0 'hostlist=ics1 ics2' ics1",
    );
  });

  it("with secret parameters: everything through -F /dev/stdin in the plugin's order, redacted when shown", () => {
    const apcmaster = stonithDriver({
      type: "apcmaster",
      params: { ipaddr: "10.0.0.5", login: "apc" },
      secretParams: { password: { env: "APC_PW" } },
    });
    expect(apcmaster.needsParamOrder).toBe(true);
    expect(apcmaster.paramOrderQuery()).toEqual(["stonith", "-t", "apcmaster", "-n"]);
    const order = apcmaster.parseParamOrder("ipaddr  login  password  \n");
    expect(order).toEqual(["ipaddr", "login", "password"]);
    const inv = apcmaster.fence("ics1", "reboot", order);
    expect(inv.argv).toEqual(["stonith", "-t", "apcmaster", "-F", "/dev/stdin", "-T", "reset", "ics1"]);
    expect(inv.stdinShown).toBe("10.0.0.5 apc [redacted]\n");
    expect(inv.stdin?.(secrets({ password: "hunter2\n" }))).toBe("10.0.0.5 apc hunter2\n");
    expect(() => apcmaster.fence("ics1", "reboot")).toThrow(/parameter order/);
    expect(() => apcmaster.fence("ics1", "reboot", ["ipaddr", "login", "password", "port"])).toThrow(
      /missing: port/,
    );
  });

  it("refuses hostile node names and parameters", () => {
    expect(() => apcsmart.fence("-T", "reboot")).toThrow(/leading '-'/);
    expect(() => apcsmart.fence("ics1; reboot", "reboot")).toThrow(/one word/);
    expect(() => stonithDriver({ type: "apcsmart", params: { "x y": "1" }, secretParams: {} })).toThrow(
      /bad parameter name/,
    );
    expect(() =>
      stonithDriver({ type: "apcsmart", params: { ttydev: "/dev/ttyS0\nhostlist=evil" }, secretParams: {} }),
    ).toThrow(/line break/);
  });

  it("runs against the simulator: device status, reset, and a device that does not answer", async () => {
    const sim = new Simulation(referenceLab());
    const check = apcsmart.deviceCheck("ics1");
    expect((await execInProcess(sim, "ics2", quoteArgv(check?.argv ?? []))).exitCode).toBe(0);
    sim.state.fence!.reachable = false;
    const down = await execInProcess(sim, "ics2", quoteArgv(check?.argv ?? []));
    expect(apcsmart.deviceOk(down.exitCode)).toBe(false);
    sim.state.fence!.reachable = true;
    const fenced = await execInProcess(sim, "ics2", quoteArgv(apcsmart.fence("ics1", "reboot").argv));
    expect(fenced.exitCode).toBe(0);
    expect(sim.node("ics1")?.up).toBe(false);
  });

  it("the -F /dev/stdin form works against the simulator's stonith", async () => {
    const sim = new Simulation(referenceLab());
    const viaStdin = stonithDriver({
      type: "apcsmart",
      params: { hostlist: "ics1 ics2" },
      secretParams: { ttydev: { env: "TTY" } },
    });
    const order = viaStdin.parseParamOrder(
      (await execInProcess(sim, "ics2", "stonith -t apcsmart -n")).stdout,
    );
    expect(order).toEqual(["ttydev", "hostlist"]);
    const inv = viaStdin.fence("ics1", "reboot", order);
    const res = await execInProcess(sim, "ics2", quoteArgv(inv.argv), {
      stdin: inv.stdin?.(secrets({ TTY: "x", ttydev: "/dev/ttyS0" })) ?? "",
    });
    expect(res.exitCode).toBe(0);
    expect(sim.node("ics1")?.up).toBe(false);
  });
});

describe("fence agents", () => {
  const ipmi = fenceAgentDriver({
    agent: "fence_ipmilan",
    params: { login: "admin", lanplus: "1" },
    secretParams: { passwd: { env: "IPMI_PW" } },
    nodes: { hv1: { ipaddr: "198.51.100.1" }, hv2: { ipaddr: "198.51.100.2" } },
  });

  it("argv is the agent alone; every option on stdin, the target's own ones included", () => {
    const inv = ipmi.fence("hv2", "reboot");
    expect(inv.argv).toEqual(["fence_ipmilan"]);
    expect(inv.stdinShown).toBe(
      "action=reboot\nlogin=admin\nlanplus=1\nipaddr=198.51.100.2\npasswd=[redacted]\n",
    );
    expect(inv.stdin?.(secrets({ passwd: "pw" }))).toBe(
      "action=reboot\nlogin=admin\nlanplus=1\nipaddr=198.51.100.2\npasswd=pw\n",
    );
    expect(ipmi.fence("hv2", "off").stdinShown).toMatch(/^action=off\n/);
    expect(ipmi.deviceCheck("hv1")?.stdinShown).toMatch(/^action=monitor\n.*ipaddr=198\.51\.100\.1/s);
    expect(ipmi.powerStatus("hv1")?.stdinShown).toMatch(/^action=status\n/);
  });

  it("reads the power status", () => {
    expect(ipmi.parsePowerStatus(0, "Status: ON\n")).toBe("on");
    expect(ipmi.parsePowerStatus(2, "Status: OFF\n")).toBe("off");
    expect(ipmi.parsePowerStatus(1, "")).toBe("unknown");
  });

  it("refuses a secret that would start another option line, and unresolved secrets", () => {
    const inv = ipmi.fence("hv2", "reboot");
    expect(() => inv.stdin?.(secrets({ passwd: "pw\naction=off" }))).toThrow(/spans several lines/);
    expect(() => inv.stdin?.(secrets({}))).toThrow(/not resolved/);
    expect(() => fenceAgentDriver({ agent: "rm -rf", params: {}, secretParams: {}, nodes: {} })).toThrow(
      /not a fence agent/,
    );
  });

  it("runs against the simulator: monitor, status, reboot; a wrong password fails", async () => {
    const sim = new Simulation(
      modernLab({ fence: { type: "fence_ipmilan", login: "admin", password: "pw", reachable: true } }),
    );
    const run = async (inv: ReturnType<typeof ipmi.fence> | null, pw = "pw") =>
      execInProcess(sim, "hv1", quoteArgv(inv?.argv ?? []), {
        stdin: inv?.stdin?.(secrets({ passwd: pw })) ?? "",
      });
    expect((await run(ipmi.deviceCheck("hv2"))).exitCode).toBe(0);
    expect((await run(ipmi.deviceCheck("hv2"), "bad")).exitCode).toBe(1);
    const status = await run(ipmi.powerStatus("hv2"));
    expect(ipmi.parsePowerStatus(status.exitCode, status.stdout)).toBe("on");
    expect((await run(ipmi.fence("hv2", "off"))).stdout).toBe("Success: Powered OFF\n");
    const after = await run(ipmi.powerStatus("hv2"));
    expect(ipmi.parsePowerStatus(after.exitCode, after.stdout)).toBe("off");
  });
});

describe("stonith_admin and the registry", () => {
  it("stonith_admin --reboot NODE / --fence NODE", () => {
    const d = stonithAdminDriver();
    expect(d.fence("hv2", "reboot").argv).toEqual(["stonith_admin", "--reboot", "hv2"]);
    expect(d.fence("hv2", "off").argv).toEqual(["stonith_admin", "--fence", "hv2"]);
    expect(d.deviceCheck("hv2")).toBeNull();
  });

  it("builds the driver of each configured method", () => {
    expect(fenceDriverFor(FenceConfig.parse({ method: "none" }))).toBeNull();
    expect(fenceDriverFor(FenceConfig.parse({ method: "stonith_admin" }))?.method).toBe("stonith_admin");
    expect(fenceDriverFor(FenceConfig.parse({ method: "stonith", type: "apcsmart" }))?.label).toBe(
      "heartbeat stonith (apcsmart)",
    );
    expect(fenceDriverFor(FenceConfig.parse({ method: "fence-agent", agent: "fence_apc" }))?.label).toBe(
      "fence agent fence_apc",
    );
  });
});
