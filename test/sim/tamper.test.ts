/** The `tamper` fault: a command's output replaced until untampered, and its lab directive. */
import { describe, expect, it } from "vitest";
import { labDirectives } from "../../src/lab/directives";
import {
  createFaults,
  parseTamperMode,
  referenceLab,
  type SimulatedCluster,
  Simulation,
} from "../../src/sim";
import { garbageOutput } from "../../src/sim/tamper";
import { out, run } from "./helpers";

function tampered() {
  const sim = new Simulation(referenceLab());
  return { sim, faults: createFaults(sim) };
}

describe("faults.tamper", () => {
  it("every mode replaces the output of each run until untampered", async () => {
    const { sim, faults } = tampered();
    const real = await out(sim, "ics1", "xm list");
    const [header] = real.split("\n");

    faults.tamper("ics1", ["xm", "list"], { kind: "headonly" });
    expect(await out(sim, "ics1", "xm list")).toBe(`${header}\n`);
    // Every run, not only the next one.
    expect(await out(sim, "ics1", "xm list")).toBe(`${header}\n`);

    faults.tamper("ics1", "xm list", "empty");
    expect(await run(sim, "ics1", "xm list")).toMatchObject({ stdout: "", exitCode: 0 });

    faults.tamper("ics1", "xm list", "garbage");
    expect(await run(sim, "ics1", "xm list")).toMatchObject({ stdout: garbageOutput("xm"), exitCode: 0 });

    faults.tamper("ics1", "xm list", "truncate 30");
    expect(await out(sim, "ics1", "xm list")).toBe(real.slice(0, 30));

    faults.tamper("ics1", "xm list", { kind: "fail" });
    const failed = await run(sim, "ics1", "xm list");
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toBe("");
    expect(failed.stderr).toMatch(/^xm: Input\/output error/);

    expect(faults.untamper("ics1", "xm list")).toBe(true);
    expect(await out(sim, "ics1", "xm list")).toBe(real);
    expect(faults.untamper("ics1", "xm list")).toBe(false);
  });

  it("only that node and commands starting with those words", async () => {
    const { sim, faults } = tampered();
    const ics2 = await out(sim, "ics2", "xm list");
    const info = await out(sim, "ics1", "xm info");
    faults.tamper("ics1", "xm list", "empty");
    expect(await out(sim, "ics2", "xm list")).toBe(ics2);
    expect(await out(sim, "ics1", "xm info")).toBe(info);
    // A prefix: `cl_status` covers every cl_status query; sudo is looked through.
    faults.tamper("ics1", "cl_status", "garbage");
    expect(await out(sim, "ics1", "cl_status hbstatus")).toBe(garbageOutput("cl_status"));
    expect(await out(sim, "ics1", "sudo -n -- cl_status listnodes -n")).toBe(garbageOutput("cl_status"));
  });

  it("truncate cuts bytes, mid-line, and leaves stderr and the exit status alone", async () => {
    const { sim, faults } = tampered();
    const proc = await out(sim, "ics1", "cat /proc/drbd");
    faults.tamper("ics1", ["cat", "/proc/drbd"], { kind: "truncate", bytes: 100 });
    const cut = await run(sim, "ics1", "cat /proc/drbd");
    expect(cut).toMatchObject({ stdout: proc.slice(0, 100), exitCode: 0 });
    faults.tamper("ics1", "cat /proc/drbd", "truncate 0");
    expect((await run(sim, "ics1", "cat /proc/drbd")).stdout).toBe("");
  });

  it("heal() ends every tamper; unknown nodes and commands are errors", async () => {
    const { sim, faults } = tampered();
    const real = await out(sim, "ics1", "xm list");
    faults.tamper("ics1", "xm list", "headonly");
    faults.heal();
    expect(await out(sim, "ics1", "xm list")).toBe(real);
    expect(() => faults.tamper("ics9", "xm list", "empty")).toThrow(/unknown node ics9/);
    expect(() => faults.tamper("ics1", "  ", "empty")).toThrow(/needs a command/);
  });

  it("parseTamperMode", () => {
    expect(parseTamperMode("garbage")).toEqual({ kind: "garbage" });
    expect(parseTamperMode("truncate 12")).toEqual({ kind: "truncate", bytes: 12 });
    expect(parseTamperMode("truncate:12")).toEqual({ kind: "truncate", bytes: 12 });
    expect(() => parseTamperMode("truncate")).toThrow(/byte count/);
    expect(() => parseTamperMode("truncate -1")).toThrow(/byte count/);
    expect(() => parseTamperMode("headonly 3")).toThrow(/unknown tamper mode/);
    expect(() => parseTamperMode("scramble")).toThrow(/modes: garbage, empty, headonly, truncate N, fail/);
  });
});

describe("!sim tamper", () => {
  function directives() {
    const sim = new Simulation(referenceLab());
    const faults = createFaults(sim);
    // The directives only use the simulation and its faults.
    const lab = { cluster: sim, faults } as unknown as SimulatedCluster;
    return { sim, directive: labDirectives(lab) };
  }

  it("takes the command quoted or not, the mode last, `truncate N` as the last two words, and off", async () => {
    const { sim, directive } = directives();
    const real = await out(sim, "ics1", "xm list");
    expect(await directive('!sim tamper ics1 "xm list" headonly')).toMatch(
      /every `xm list` on ics1 now answers headonly/,
    );
    expect(await out(sim, "ics1", "xm list")).toBe(`${real.split("\n")[0]}\n`);
    await directive("!sim tamper ics1 cat /proc/drbd truncate 40");
    expect((await out(sim, "ics1", "cat /proc/drbd")).length).toBe(40);
    await directive("!sim tamper ics1 'drbdadm' fail");
    expect((await run(sim, "ics1", "drbdadm state internet")).exitCode).toBe(1);
    expect(await directive('!sim tamper ics1 "xm list" off')).toMatch(/answers normally again/);
    expect(await out(sim, "ics1", "xm list")).toBe(real);
    expect(await directive("!sim tamper ics1 xm list off")).toMatch(/was not tampered with/);
  });

  it("refuses what it cannot read, and lists tamper in the help", async () => {
    const { directive } = directives();
    await expect(directive("!sim tamper ics1 headonly")).rejects.toThrow(/usage: !sim tamper NODE COMMAND/);
    await expect(directive('!sim tamper ics1 "xm list" shuffle')).rejects.toThrow(/unknown tamper mode/);
    await expect(directive('!sim tamper ics7 "xm list" empty')).rejects.toThrow(/unknown node ics7/);
    expect(await directive("!sim help")).toContain(
      "!sim tamper NODE COMMAND garbage|empty|headonly|truncate N|fail|off",
    );
  });
});
