/**
 * The real-HA lab's pieces that need neither root nor heartbeat: heartbeat's configuration files as
 * the lab writes them (read back with xenops' own parsers), and the simulator's pass-through hook
 * that hands a node's heartbeat commands to the real namespaces.
 */
import { describe, expect, it } from "vitest";
import { parseHaresources } from "../../src/drivers/heartbeat/haresources";
import {
  REFERENCE_TIMING,
  realHaTiming,
  renderAuthkeys,
  renderHaCf,
  renderHaresources,
} from "../../src/lab/real-ha/config";
import { execInProcess, referenceLab, Simulation } from "../../src/sim";
import { setPassThrough } from "../../src/sim/passthrough";

const NODES = [
  { name: "ics1", address: "10.99.0.1" },
  { name: "ics2", address: "10.99.0.2" },
];

describe("real-HA heartbeat configuration", () => {
  it("ha.cf: the reference timing, unicast on the link, one STONITH line per direction, auto_failback", () => {
    const text = renderHaCf(NODES, REFERENCE_TIMING, "eth1");
    const lines = text.split("\n").map((l) => l.replace(/\s+/g, " ").trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        "deadtime 30",
        "warntime 10",
        "initdead 60",
        "udpport 694",
        "ucast eth1 10.99.0.1",
        "ucast eth1 10.99.0.2",
        "stonith_host ics1 apcsmart /dev/ttyS0 ics2",
        "stonith_host ics2 apcsmart /dev/ttyS0 ics1",
        "node ics1",
        "node ics2",
      ]),
    );
    // heartbeat refuses media lines before udpport.
    expect(text.indexOf("udpport")).toBeLessThan(text.indexOf("ucast"));
    expect(lines).toContain("auto_failback on");
  });

  it("short timings keep heartbeat's proportions", () => {
    expect(realHaTiming(4)).toEqual({ keepalive: "500ms", deadtime: 4, warntime: 1, initdead: 10 });
    expect(realHaTiming(30)).toEqual({ keepalive: "2", deadtime: 30, warntime: 10, initdead: 60 });
  });

  it("authkeys: one sha1 key; haresources: drbddisk then xen-guest, read back by xenops' parser", () => {
    expect(renderAuthkeys("s3cret")).toBe("auth 1\n1 sha1 s3cret\n");
    expect(renderAuthkeys()).not.toBe(renderAuthkeys());
    const sim = new Simulation(referenceLab());
    const groups = parseHaresources(renderHaresources(sim.state.ha.groups));
    expect(groups.map((g) => [g.node, g.resources.map((r) => r.text)])).toEqual([
      ["ics2", ["drbddisk::internet", "xen-guest::internet"]],
    ]);
  });
});

describe("simulator pass-through", () => {
  it("hands the commands the handler takes to it, and answers the others itself", async () => {
    const sim = new Simulation(referenceLab());
    const seen: string[] = [];
    setPassThrough(sim, (node, argv, io) => {
      if (argv[0] !== "cl_status") return null;
      seen.push(`${node}: ${argv.join(" ")}`);
      io.stdout("real answer\n");
      return Promise.resolve(7);
    });
    expect(await execInProcess(sim, "ics1", "sudo -n -- cl_status hbstatus")).toEqual({
      stdout: "real answer\n",
      stderr: "",
      exitCode: 7,
    });
    expect(seen).toEqual(["ics1: cl_status hbstatus"]);
    const uname = await execInProcess(sim, "ics2", "uname -n");
    expect(uname.stdout).toBe("ics2\n");
    setPassThrough(sim, null);
    expect((await execInProcess(sim, "ics1", "cl_status hbstatus")).stdout).toBe(
      "Heartbeat is running on this machine.\n",
    );
  });
});
