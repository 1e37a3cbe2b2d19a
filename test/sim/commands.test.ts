/** Command dispatch: argv handling, real error texts and exit codes of each simulated program. */
import { describe, expect, it } from "vitest";
import { execInProcess, modernLab, referenceLab } from "../../src/sim";
import { lab, out, run } from "./helpers";

describe("dispatch", () => {
  it("unknown programs are not found, as dash says it", async () => {
    expect(await run(lab(referenceLab()), "ics1", "crm_mon -1")).toEqual({
      stdout: "",
      stderr: "sh: 1: crm_mon: not found\n",
      exitCode: 127,
    });
    expect((await run(lab(modernLab()), "hv1", "xm list")).exitCode).toBe(127);
  });

  it("refuses anything that needs a shell (exit 2), and runs quoted words", async () => {
    const sim = lab(referenceLab());
    const piped = await run(sim, "ics1", "xm list | grep internet");
    expect(piped.exitCode).toBe(2);
    expect(piped.stderr).toMatch(/^sh: 1: command line needs a real shell: unquoted "\|"/);
    expect((await run(sim, "ics1", "echo 'a b' \"c\"")).stdout).toBe("a b c\n");
  });

  it("strips sudo -n -- and program paths", async () => {
    const sim = lab(referenceLab());
    const plain = await out(sim, "ics2", "xm list");
    expect(await out(sim, "ics2", "sudo -n -- xm list")).toBe(plain);
    expect(await out(sim, "ics2", "sudo -n /usr/sbin/xm list")).toBe(plain);
  });

  it("small shell utilities answer like coreutils", async () => {
    const sim = lab(referenceLab());
    expect(await out(sim, "ics1", "hostname")).toBe("ics1\n");
    expect(await out(sim, "ics1", "uname -r")).toBe("2.6.18-6-xen-686\n");
    expect((await run(sim, "ics1", "cat /etc/shadow")).stderr).toBe(
      "cat: /etc/shadow: No such file or directory\n",
    );
    expect((await run(sim, "ics1", "true")).exitCode).toBe(0);
  });

  it("a node that is down never answers; the call ends only when the client gives up", async () => {
    const sim = lab(referenceLab());
    sim.nodeDown("ics1");
    const ac = new AbortController();
    const pending = execInProcess(sim, "ics1", "xm list", { signal: ac.signal });
    let settled = false;
    void pending.then(() => {
      settled = true;
    });
    // In-process and on a manual clock: an answer would come within a few turns of the event loop.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    ac.abort();
    expect((await pending).exitCode).toBe(255);
  });
});

describe("xm", () => {
  it("create: unknown config, Secondary DRBD, name in use", async () => {
    const sim = lab(referenceLab());
    const missing = await run(sim, "ics1", "xm create nope");
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe("Error: Unable to open config file: nope\n");
    expect(missing.stdout).toBe(
      "Usage: xm create <ConfigFile> [options] [vars]\n\nCreate a domain based on <ConfigFile>.\n\n",
    );

    const secondary = await run(sim, "ics1", "xm create internet");
    expect(secondary).toEqual({
      stdout: 'Using config file "/etc/xen/internet".\n',
      stderr: "Error: Device 51712 (vbd) could not be connected. Backend device not found.\n",
      exitCode: 1,
    });

    const twice = await run(sim, "ics2", "xm create /etc/xen/internet");
    expect(twice.stderr).toBe("Error: VM name 'internet' already in use by domain 11\n");
  });

  it("create succeeds once DRBD is Primary (allow-two-primaries lets the guest run twice)", async () => {
    const sim = lab(referenceLab());
    expect((await run(sim, "ics1", "drbdadm primary internet")).exitCode).toBe(0);
    expect(await out(sim, "ics1", "xm create internet")).toBe(
      'Using config file "/etc/xen/internet".\nStarted domain internet\n',
    );
    expect(sim.guestLocations("internet")).toEqual(["ics1", "ics2"]);
  });

  it("create fails on memory like xend's balloon code", async () => {
    const spec = referenceLab();
    spec.nodes = [
      { name: "ics1", memoryMiB: 2047 },
      { name: "ics2", memoryMiB: 4095 },
    ];
    const sim = lab(spec);
    await out(sim, "ics1", "drbdadm primary internet");
    const r = await run(sim, "ics1", "xm create internet");
    expect(r.stderr).toBe(
      "Error: Not enough free memory and dom0_min_mem is 0, so I cannot release any more.  I need 3143680 KiB but only have 1548288.\n",
    );
  });

  it("unknown domains and subcommands", async () => {
    const sim = lab(referenceLab());
    const r = await run(sim, "ics2", "xm shutdown nope");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe("Error: Domain 'nope' does not exist.\n");
    expect(r.stdout).toBe("Usage: xm shutdown <Domain> [-waRH]\n\nShutdown a domain.\n\n");
    expect((await run(sim, "ics2", "xm frobnicate")).stderr).toBe(
      "Error: Sub Command frobnicate not found!\n",
    );
    expect((await run(sim, "ics2", "xm migrate --live internet nowhere")).stderr).toBe(
      "Error: can't connect: Name or service not known\n",
    );
  });

  it("destroy removes the domain at once; shutdown after the guest OS is done", async () => {
    const sim = lab(referenceLab());
    await out(sim, "ics2", "xm shutdown internet");
    expect(await out(sim, "ics2", "xm list")).toContain("internet");
    sim.tick(15000);
    expect(await out(sim, "ics2", "xm list")).not.toContain("internet");
    await out(sim, "ics2", "drbdadm primary internet");
    await out(sim, "ics2", "xm create internet");
    await out(sim, "ics2", "xm destroy internet");
    expect(await out(sim, "ics2", "xm list")).not.toContain("internet");
  });
});

describe("xl", () => {
  it("create/destroy messages and invalid domain identifiers", async () => {
    const sim = lab(modernLab());
    expect(await run(sim, "hv1", "xl create nope.cfg")).toEqual({
      stdout: "",
      stderr: "Failed to read config file: nope.cfg: No such file or directory\n",
      exitCode: 1,
    });
    expect(await run(sim, "hv1", "xl destroy nope")).toEqual({
      stdout: "",
      stderr: "nope is an invalid domain identifier (rc=-6)\n",
      exitCode: 1,
    });
    const shut = await run(sim, "hv1", "xl shutdown web");
    expect(shut.stderr).toBe("Shutting down domain 8\n");
  });
});

describe("drbdadm 8.2.6", () => {
  it("primary refused while the peer is Primary without allow-two-primaries", async () => {
    const spec = referenceLab();
    spec.drbd = [{ name: "internet", minor: 0, nodes: ["ics1", "ics2"], allowTwoPrimaries: false }];
    const r = await run(lab(spec), "ics1", "drbdadm primary internet");
    expect(r).toEqual({
      stdout: "",
      stderr:
        "/dev/drbd0: State change failed: (-1) Multiple primaries not allowed by config\n" +
        "Command 'drbdsetup /dev/drbd0 primary' terminated with exit code 11\n",
      exitCode: 11,
    });
  });

  it("secondary refused while a guest holds the device open", async () => {
    const r = await run(lab(referenceLab()), "ics2", "drbdadm secondary internet");
    expect(r.stderr).toBe(
      "/dev/drbd0: State change failed: (-12) Device is held open by someone\n" +
        "Command 'drbdsetup /dev/drbd0 secondary' terminated with exit code 11\n",
    );
    expect(r.exitCode).toBe(11);
  });

  it("connect on a configured net, 8.3-style option order, unknown commands and resources", async () => {
    const sim = lab(referenceLab());
    const again = await run(sim, "ics1", "drbdadm connect internet");
    expect(again.stderr).toBe(
      "/dev/drbd0: Failure: (125) Device has a net-config (use disconnect first)\n" +
        "Command 'drbdsetup /dev/drbd0 net 192.0.2.1:7788 192.0.2.2:7788 C --allow-two-primaries' terminated with exit code 10\n",
    );
    expect(again.exitCode).toBe(10);
    const late = await run(sim, "ics1", "drbdadm connect --discard-my-data internet");
    expect(late).toEqual({
      stdout: "",
      stderr: "drbdadm: unrecognized option `--discard-my-data'\ntry 'drbdadm help'\n",
      exitCode: 20,
    });
    expect(await run(sim, "ics1", "drbdadm status")).toEqual({
      stdout: "",
      stderr: "Unknown command 'status'.\n",
      exitCode: 3,
    });
    expect(await run(sim, "ics1", "drbdadm primary mail")).toEqual({
      stdout: "",
      stderr: "'mail' not defined in your config.\n",
      exitCode: 3,
    });
  });

  it("state, cstate and dstate", async () => {
    const sim = lab(referenceLab());
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Secondary/Primary\n");
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("Connected\n");
    expect(await out(sim, "ics1", "drbdadm dstate all")).toBe("UpToDate/UpToDate\n");
    expect(await out(sim, "ics1", "drbdsetup /dev/drbd0 cstate")).toBe("Connected\n");
  });
});

describe("drbdadm 9", () => {
  it("names the resource in errors and accepts options after the command", async () => {
    const spec = modernLab();
    spec.drbd = (spec.drbd ?? []).map((r) => ({ ...r, allowTwoPrimaries: false }));
    const sim = lab(spec);
    expect(await run(sim, "hv2", "drbdadm primary web")).toEqual({
      stdout: "",
      stderr:
        "web: State change failed: (-1) Multiple primaries not allowed by config\n" +
        "Command 'drbdsetup primary web' terminated with exit code 11\n",
      exitCode: 11,
    });
    expect(await run(sim, "hv2", "drbdadm role nope")).toEqual({
      stdout: "",
      stderr: "'nope' not defined in your config (for this host).\n",
      exitCode: 1,
    });
    expect(await out(sim, "hv2", "drbdadm role web")).toBe("Secondary\n");
    await out(sim, "hv2", "drbdadm disconnect web");
    expect(await out(sim, "hv2", "drbdadm cstate web")).toBe("StandAlone\n");
    expect(await out(sim, "hv2", "drbdadm connect --discard-my-data web")).toBe("");
    expect(await out(sim, "hv2", "drbdadm cstate web")).toBe("Connected\n");
  });
});

describe("cl_status", () => {
  it("answers each subcommand with heartbeat's words and exit codes", async () => {
    const sim = lab(referenceLab());
    expect(await out(sim, "ics1", "cl_status hbstatus")).toBe("Heartbeat is running on this machine.\n");
    expect(await out(sim, "ics1", "cl_status listnodes -m")).toBe("The nodes are as follow:\nics1\nics2\n");
    expect(await out(sim, "ics1", "cl_status nodestatus -m ics2")).toBe("The cluster node ics2 is active\n");
    expect(await out(sim, "ics2", "cl_status rscstatus -m")).toBe("This node is holding local resources.\n");
    expect(await out(sim, "ics1", "cl_status hbparameter -p deadtime")).toBe("30\n");
    expect(await run(sim, "ics1", "cl_status nodestatus ics9")).toEqual({
      stdout: "",
      stderr: "Error. May be due to incorrect node name\n",
      exitCode: 11,
    });
    const bad = await run(sim, "ics1", "cl_status frob");
    expect(bad.stderr).toMatch(
      /^cl_status\[\d+\]: 2009\/01\/12_10:00:00 ERROR: frob: invalid sub-command\.\n$/,
    );
    expect(bad.exitCode).toBe(11);
  });
});

describe("stonith (heartbeat)", () => {
  it("lists types and config names, and insists on a device type", async () => {
    const sim = lab(referenceLab());
    expect(await out(sim, "ics1", "stonith -L")).toContain("apcsmart\n");
    expect(await out(sim, "ics1", "stonith -t apcsmart -n")).toBe("ttydev  hostlist  \n");
    const noType = await run(sim, "ics1", "stonith -S");
    expect(noType.exitCode).toBe(1);
    expect(noType.stderr.startsWith("usage:\n\t stonith [-svh] -L\n")).toBe(true);
  });

  it("reports S_* codes silently, as when run without a tty", async () => {
    const sim = lab(referenceLab());
    expect(await run(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS0 ics1 ics2' -S")).toEqual({
      stdout: "",
      stderr: "",
      exitCode: 0,
    });
    expect(await out(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS0 ics1 ics2' -l")).toBe("ics1\nics2\n");
    expect(
      (await run(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS0 ics1 ics2' -T reset ics9")).exitCode,
    ).toBe(4);
    expect((await run(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS1 ics1 ics2' -S")).exitCode).toBe(2);
    sim.state.fence = sim.state.fence && { ...sim.state.fence, reachable: false };
    expect(
      (await run(sim, "ics1", "stonith -t apcsmart ttydev=/dev/ttyS0 'hostlist=ics1 ics2' -T reset ics2"))
        .exitCode,
    ).toBe(2);
  });

  it("resets a node: it goes down and comes back after rebootMs", async () => {
    // heartbeat would reset the silent node again after deadtime: only the stonith command here.
    const sim = lab(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    expect(
      (await run(sim, "ics1", "stonith -t apcsmart ttydev=/dev/ttyS0 'hostlist=ics1 ics2' -T reset ICS2"))
        .exitCode,
    ).toBe(0);
    expect(sim.node("ics2")?.up).toBe(false);
    sim.tick(60000);
    expect(sim.node("ics2")?.up).toBe(true);
  });
});

describe("fence agents and stonith_admin", () => {
  const ipmi = (action: string, node = "2", extra = ""): string =>
    `action=${action}\nipaddr=198.51.100.${node}\nlogin=admin\npasswd=xenops-lab\nlanplus=1\nnodename=hv${node}\n${extra}`;

  it("fence_ipmilan: status ON/OFF with exit 0/2, power actions, login failures", async () => {
    const sim = lab(modernLab());
    expect(await run(sim, "hv1", "fence_ipmilan", ipmi("status"))).toEqual({
      stdout: "Status: ON\n",
      stderr: "",
      exitCode: 0,
    });
    expect(await run(sim, "hv1", "fence_ipmilan", ipmi("off"))).toEqual({
      stdout: "Success: Powered OFF\n",
      stderr: "",
      exitCode: 0,
    });
    expect(await run(sim, "hv1", "fence_ipmilan", ipmi("status"))).toEqual({
      stdout: "Status: OFF\n",
      stderr: "",
      exitCode: 2,
    });
    expect((await run(sim, "hv1", "fence_ipmilan", ipmi("off"))).stdout).toBe("Success: Already OFF\n");
    expect((await run(sim, "hv1", "fence_ipmilan", ipmi("on"))).stdout).toBe("Success: Powered ON\n");
    const denied = await run(sim, "hv1", "fence_ipmilan", ipmi("status").replace("xenops-lab", "wrong"));
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR: Unable to connect\/login to fencing device\n\n$/,
    );
    const unknown = await run(sim, "hv1", "fence_ipmilan", `${ipmi("status")}frobnicate=1\n`);
    expect(unknown.stderr).toMatch(/WARNING: Parse error: Ignoring unknown option 'frobnicate=1'/);
    expect(unknown.exitCode).toBe(0);
  });

  it("fence_apc: plugs by outlet or name, and the fence-agents usage failures", async () => {
    const sim = lab(modernLab({ fence: { type: "fence_apc", login: "apc", password: "apc" } }));
    const base = "ipaddr=198.51.100.10\nlogin=apc\npasswd=apc\n";
    expect((await run(sim, "hv1", "fence_apc", `${base}action=list\n`)).stdout).toBe("1,hv1\n2,hv2\n");
    expect((await run(sim, "hv1", "fence_apc", `${base}action=reboot\nport=hv2\n`)).stdout).toBe(
      "Success: Rebooted\n",
    );
    expect(sim.node("hv2")?.up).toBe(false);
    const noPlug = await run(sim, "hv1", "fence_apc", `${base}action=off\n`);
    expect(noPlug.exitCode).toBe(1);
    expect(noPlug.stderr).toContain(
      "ERROR: Failed: You have to enter plug number or machine identification\n",
    );
    const badPlug = await run(sim, "hv1", "fence_apc", `${base}action=status\nport=9\n`);
    expect(badPlug.stderr).toContain(
      "ERROR: Failed: Unable to obtain correct plug status or plug is not available\n",
    );
    // Command-line form.
    expect((await run(sim, "hv1", "fence_apc -a 198.51.100.10 -l apc -p apc -n 1 -o status")).stdout).toBe(
      "Status: ON\n",
    );
  });

  it("stonith_admin: silent success, fence history, unknown targets", async () => {
    const sim = lab(modernLab());
    expect(await run(sim, "hv1", "stonith_admin --reboot hv2")).toEqual({
      stdout: "",
      stderr: "",
      exitCode: 0,
    });
    expect(sim.state.ha.fenceHistory.map((f) => [f.action, f.target, f.status])).toEqual([
      ["reboot", "hv2", "success"],
    ]);
    expect(await run(sim, "hv1", "stonith_admin --off hv9")).toEqual({
      stdout: "",
      stderr: "stonith_admin: Couldn't fence hv9: No such device\n",
      exitCode: 105,
    });
  });
});
