/** State over time, driven by an injected manual clock: migrations, resyncs, fencing, takeover. */
import { describe, expect, it } from "vitest";
import { handleCommand, ManualClock, modernLab, referenceLab, Simulation } from "../../src/sim";
import { lab, out, run } from "./helpers";

const names = async (sim: Simulation, node: string, tool = "xm"): Promise<string[]> =>
  (await out(sim, node, `${tool} list`))
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => l.split(/\s+/)[0] as string);

describe("live migration", () => {
  it("xm: the sender shows migrating-NAME, the receiver a paused NAME; xm returns when done", async () => {
    const sim = lab(referenceLab());
    await out(sim, "ics1", "drbdadm primary internet");
    let done: { exitCode: number } | null = null;
    const migrate = run(sim, "ics2", "xm migrate --live internet ics1").then((r) => {
      done = r;
      return r;
    });
    await Promise.resolve();
    expect(await names(sim, "ics2")).toEqual(["Domain-0", "migrating-internet"]);
    expect(await out(sim, "ics1", "xm list")).toMatch(/\ninternet +\d+ +3070 +2 --p--- +0\.0\n$/);
    // 3070 MiB at 4 s/GiB, +10% for the live pre-copy rounds.
    sim.tick(13000);
    expect(done).toBeNull();
    sim.tick(191);
    expect(await migrate).toEqual({ stdout: "", stderr: "", exitCode: 0 });
    expect(await names(sim, "ics2")).toEqual(["Domain-0"]);
    expect(await out(sim, "ics1", "xm list")).toMatch(/\ninternet +\d+ +3070 +2 -b---- +\d+\.\d\n$/);
    // The sender can give up Primary now that the guest has left.
    expect((await run(sim, "ics2", "drbdadm secondary internet")).exitCode).toBe(0);
  });

  it("xm: refuses when the target's DRBD is Secondary (xc_save fails)", async () => {
    const r = await run(lab(referenceLab()), "ics2", "xm migrate --live internet ics1");
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe("Error: /usr/lib/xen/bin/xc_save 22 11 0 0 1 failed\n");
  });

  it("xl: NAME--incoming on the receiver, NAME--migratedaway on the sender at the end", async () => {
    const sim = lab(modernLab());
    await out(sim, "hv2", "drbdadm primary web");
    const migrate = run(sim, "hv1", "xl migrate web hv2");
    await Promise.resolve();
    expect(await names(sim, "hv2", "xl")).toEqual(["Domain-0", "db", "web--incoming"]);
    expect(await names(sim, "hv1", "xl")).toEqual(["Domain-0", "web"]);
    // 4 GiB at 4 s/GiB, +10%: 17600 ms; the sender renames itself at 90%.
    sim.tick(15840);
    expect(await out(sim, "hv1", "xl list")).toMatch(/\nweb--migratedaway +\d+ +4096 +2 +---ss- +\d+\.\d\n$/);
    sim.tick(1760);
    const r = await migrate;
    expect(r.exitCode).toBe(0);
    expect(r.stderr.split("\n").slice(-3)).toEqual([
      "migration sender: Target reports successful startup.",
      "Migration successful.",
      "",
    ]);
    expect(await names(sim, "hv2", "xl")).toEqual(["Domain-0", "db", "web"]);
  });
});

describe("resync", () => {
  it("advances at the sync rate to UpToDate/UpToDate", async () => {
    const sim = lab(referenceLab());
    sim.startResync("internet", "ics2", 100 * 1024);
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("SyncTarget\n");
    sim.tick(5000);
    expect(await out(sim, "ics1", "cat /proc/drbd")).toContain("oos:51200\n");
    sim.tick(4999);
    expect(await out(sim, "ics1", "drbdadm dstate internet")).toBe("Inconsistent/UpToDate\n");
    sim.tick(1);
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("Connected\n");
    expect(await out(sim, "ics1", "drbdadm dstate internet")).toBe("UpToDate/UpToDate\n");
  });

  it("an interrupted resync resumes from the source's bitmap", async () => {
    const sim = lab(modernLab());
    sim.startResync("web", "hv1", 10240);
    sim.tick(500);
    await out(sim, "hv2", "drbdadm disconnect web");
    expect(await out(sim, "hv1", "drbdadm cstate web")).toBe("Connecting\n");
    expect(await out(sim, "hv2", "drbdadm dstate web")).toBe("Inconsistent/DUnknown\n");
    await out(sim, "hv2", "drbdadm connect web");
    expect(await out(sim, "hv2", "drbdsetup status web")).toContain(
      "replication:SyncTarget peer-disk:UpToDate done:0.00",
    );
    sim.tick(500);
    expect(await out(sim, "hv2", "drbdadm dstate web")).toBe("UpToDate/UpToDate\n");
  });
});

describe("split brain", () => {
  it("stays StandAlone until one side discards its data, then resyncs to it", async () => {
    const sim = lab(referenceLab());
    sim.splitBrain("internet");
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Primary/Unknown\n");
    expect(await out(sim, "ics2", "drbdadm cstate internet")).toBe("StandAlone\n");
    // Both just connecting: the handshake finds the split brain and drops again.
    await out(sim, "ics1", "drbdadm disconnect internet");
    expect((await run(sim, "ics1", "drbdadm connect internet")).exitCode).toBe(0);
    expect((await run(sim, "ics2", "drbdadm connect internet")).exitCode).toBe(0);
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("StandAlone\n");
    // The victim (no guest) gives up Primary and its changes.
    await out(sim, "ics1", "drbdadm secondary internet");
    expect(await out(sim, "ics1", "drbdadm -- --discard-my-data connect internet")).toBe("");
    await out(sim, "ics2", "drbdadm connect internet");
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("SyncTarget\n");
    expect(await out(sim, "ics1", "cat /proc/drbd")).toContain("oos:7168\n");
    sim.tick(1000);
    expect(await out(sim, "ics1", "drbdadm dstate internet")).toBe("UpToDate/UpToDate\n");
  });

  it("--discard-my-data on a Primary is refused", async () => {
    const sim = lab(referenceLab());
    sim.splitBrain("internet");
    const r = await run(sim, "ics1", "drbdadm -- --discard-my-data connect internet");
    expect(r.stderr).toBe(
      "/dev/drbd0: Failure: (123) --discard-my-data not allowed when primary.\n" +
        "Command 'drbdsetup /dev/drbd0 net 192.0.2.1:7788 192.0.2.2:7788 C --allow-two-primaries --discard-my-data' terminated with exit code 10\n",
    );
  });
});

describe("fencing and heartbeat takeover", () => {
  it("fence -> dead after deadtime -> takeover -> node back -> resync", async () => {
    // The takeover is injected by hand here: heartbeat's own (after its STONITH) is off.
    const sim = lab(referenceLab({ ha: { autoTakeover: false, autoFailback: false } }));
    expect(
      (await run(sim, "ics1", "stonith -t apcsmart -p '/dev/ttyS0 ics1 ics2' -T reset ics2")).exitCode,
    ).toBe(0);
    expect(await out(sim, "ics1", "drbdadm cstate internet")).toBe("WFConnection\n");
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Secondary/Unknown\n");
    // heartbeat still believes in ics2 until deadtime (30 s) passes without a heartbeat.
    expect(await out(sim, "ics1", "cl_status nodestatus ics2")).toBe("active\n");
    sim.tick(30000);
    const dead = await run(sim, "ics1", "cl_status nodestatus ics2");
    expect([dead.stdout, dead.exitCode]).toEqual(["dead\n", 1]);

    expect(sim.heartbeatTakeover("ics2")).toBe(true);
    expect(await out(sim, "ics1", "cl_status rscstatus")).toBe("transition\n");
    sim.tick(5000);
    expect(await out(sim, "ics1", "cl_status rscstatus")).toBe("all\n");
    expect(await names(sim, "ics1")).toEqual(["Domain-0", "internet"]);
    expect(await out(sim, "ics1", "drbdadm state internet")).toBe("Primary/Unknown\n");

    // The guest writes while its peer is away: 8 KiB/s for the remaining 25 s of the reboot.
    sim.tick(25000);
    expect(sim.node("ics2")?.up).toBe(true);
    expect(await out(sim, "ics2", "cl_status rscstatus")).toBe("none\n");
    // Freshly booted: only Domain-0, with a few seconds of CPU time.
    expect(await names(sim, "ics2")).toEqual(["Domain-0"]);
    expect(await out(sim, "ics2", "drbdadm cstate internet")).toBe("SyncTarget\n");
    expect(await out(sim, "ics2", "drbdadm dstate internet")).toBe("Inconsistent/UpToDate\n");
    sim.tick(1000);
    expect(await out(sim, "ics2", "drbdadm dstate internet")).toBe("UpToDate/UpToDate\n");
  });

  it("autoTakeover: the survivor takes over by itself after deadtime", async () => {
    const sim = lab(referenceLab({ ha: { autoTakeover: true, deadtimeMs: 10000, takeoverMs: 2000 } }));
    sim.nodeDown("ics2");
    sim.tick(11999);
    expect(sim.guestLocations("internet")).toEqual([]);
    sim.tick(1);
    expect(sim.guestLocations("internet")).toEqual(["ics1"]);
  });

  it("Pacemaker: a lost node is UNCLEAN until fenced, then offline, then back", async () => {
    const sim = lab(modernLab());
    const node = async (name: string): Promise<string> => {
      const xml = await out(sim, "hv1", "crm_mon -1 --output-as=xml");
      const m = new RegExp(`<node name="${name}" id="\\d+" online="(\\w+)"[^>]* unclean="(\\w+)"`).exec(xml);
      return `online=${m?.[1]} unclean=${m?.[2]}`;
    };
    sim.nodeDown("hv2");
    expect(await node("hv2")).toBe("online=true unclean=false");
    sim.tick(5000);
    expect(await node("hv2")).toBe("online=false unclean=true");
    expect((await run(sim, "hv1", "stonith_admin --reboot hv2")).exitCode).toBe(0);
    expect(await node("hv2")).toBe("online=false unclean=false");
    sim.tick(60000);
    expect(await node("hv2")).toBe("online=true unclean=false");
  });
});

describe("events2 streaming", () => {
  /** Starts `drbdsetup events2 ARGS` on a node and collects what it streams. */
  function stream(sim: Simulation, node: string, args: string) {
    const ac = new AbortController();
    let text = "";
    const done = handleCommand({ sim, node }, `drbdsetup events2 ${args}`, {
      stdout: (t) => {
        text += t;
      },
      stderr: () => {},
      readStdin: async () => "",
      signal: ac.signal,
    });
    return { text: () => text, stop: () => ac.abort(), done };
  }

  it("streams change lines until the client goes away", async () => {
    const sim = lab(modernLab());
    const s = stream(sim, "hv1", "web");
    expect(s.text().split("\n").at(-2)).toBe("exists -");
    const initial = s.text().length;
    await out(sim, "hv2", "drbdadm disconnect web");
    expect(s.text().slice(initial)).toBe(
      "change resource name:web may_promote:no promotion_score:10101\n" +
        "change connection name:web peer-node-id:1 conn-name:hv2 connection:Connecting role:Unknown\n" +
        "change peer-device name:web peer-node-id:1 conn-name:hv2 volume:0 replication:Off peer-disk:DUnknown peer-client:no\n",
    );
    s.stop();
    expect((await s.done).exitCode).toBe(0);
  });

  it("reports each step of a long tick at its own time", async () => {
    const sim = lab(modernLab());
    const s = stream(sim, "hv2", "--timestamps web");
    expect(
      s.text().startsWith("2024-03-04T10:00:00.000000+00:00 exists resource name:web role:Secondary"),
    ).toBe(true);
    const initial = s.text().length;
    sim.startResync("web", "hv1", 10240);
    sim.tick(2000);
    expect(s.text().slice(initial)).toBe(
      "2024-03-04T10:00:00.000000+00:00 change resource name:web may_promote:no promotion_score:10001\n" +
        "2024-03-04T10:00:00.000000+00:00 change device name:web volume:0 minor:0 backing_dev:/dev/vg0/web disk:Inconsistent client:no open:no quorum:yes\n" +
        "2024-03-04T10:00:00.000000+00:00 change peer-device name:web peer-node-id:0 conn-name:hv1 volume:0 replication:SyncTarget done:0.00\n" +
        "2024-03-04T10:00:01.000000+00:00 change resource name:web may_promote:no promotion_score:10102\n" +
        "2024-03-04T10:00:01.000000+00:00 change device name:web volume:0 minor:0 backing_dev:/dev/vg0/web disk:UpToDate client:no open:no quorum:yes\n" +
        "2024-03-04T10:00:01.000000+00:00 change peer-device name:web peer-node-id:0 conn-name:hv1 volume:0 replication:Established\n",
    );
    s.stop();
    await s.done;
  });
});

describe("determinism", () => {
  it("same seed and the same operations give identical output", async () => {
    const runLab = async (): Promise<string> => {
      const sim = lab(referenceLab());
      sim.tick(1234);
      sim.startResync("internet", "ics2", 4096);
      sim.tick(200);
      return (await out(sim, "ics1", "cat /proc/drbd")) + (await out(sim, "ics2", "xm list"));
    };
    expect(await runLab()).toBe(await runLab());
  });

  it("one long tick and many short ones reach the same discrete state", async () => {
    const a = lab(referenceLab());
    const b = lab(referenceLab());
    for (const sim of [a, b]) {
      sim.nodeDown("ics2", 60000);
      sim.heartbeatTakeover("ics2");
    }
    a.tick(90000);
    for (let i = 0; i < 90; i++) b.tick(1000);
    for (const cmd of [
      "drbdadm state internet",
      "drbdadm dstate internet",
      "drbdadm cstate internet",
      "cl_status rscstatus",
      "tail -n 100 /var/log/ha-log",
    ])
      expect(await out(a, "ics1", cmd)).toBe(await out(b, "ics1", cmd));
    expect(await names(a, "ics1")).toEqual(await names(b, "ics1"));
  });

  it("an injected clock drives time instead of tick()", async () => {
    const clock = new ManualClock(Date.UTC(2009, 0, 12, 10));
    const sim = new Simulation(referenceLab(), { clock });
    sim.startResync("internet", "ics2", 10240);
    clock.advance(1000);
    expect(await out(sim, "ics1", "drbdadm dstate internet")).toBe("UpToDate/UpToDate\n");
  });
});
