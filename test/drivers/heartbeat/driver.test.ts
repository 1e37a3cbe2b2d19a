import { describe, expect, it } from "vitest";
import { heartbeatDriver } from "../../../src/drivers/heartbeat";
import { ExecError, ParseError } from "../../../src/errors";
import { HaView } from "../../../src/model";
import { fakeRunner } from "../drbd9/helpers";

const RUNNING = "Heartbeat is running on this machine.\n";

describe("heartbeatDriver", () => {
  it("asks hbstatus, listnodes -n, nodestatus per node and rscstatus", async () => {
    const runner = fakeRunner({
      "cl_status hbstatus": { stdout: RUNNING },
      "cl_status listnodes -n": { stdout: "xen1\nxen2\n" },
      "cl_status nodestatus xen1": { stdout: "active\n" },
      // A dead node: exit 1, still a valid answer.
      "cl_status nodestatus xen2": { stdout: "dead\n", exitCode: 1 },
      "cl_status rscstatus": { stdout: "all\n" },
    });
    const view = await heartbeatDriver.view(runner, { timeoutMs: 3000 });
    HaView.parse(view);
    expect(heartbeatDriver.id).toBe("heartbeat");
    expect(view).toEqual({
      stack: "heartbeat",
      observer: "xen1",
      running: true,
      dc: null,
      nodes: [
        { name: "xen1", status: "online" },
        { name: "xen2", status: "offline" },
      ],
      resources: [],
      localResources: "all",
      fenceHistory: [],
    });
    expect(runner.calls.map((c) => c.join(" ")).sort()).toEqual([
      "cl_status hbstatus",
      "cl_status listnodes -n",
      "cl_status nodestatus xen1",
      "cl_status nodestatus xen2",
      "cl_status rscstatus",
    ]);
    expect(runner.options.every((o) => o?.timeoutMs === 3000)).toBe(true);
  });

  it("asks the nodes in parallel", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const base = fakeRunner({
      "cl_status hbstatus": { stdout: RUNNING },
      "cl_status listnodes -n": { stdout: "a\nb\nc\n" },
      "cl_status nodestatus a": { stdout: "active\n" },
      "cl_status nodestatus b": { stdout: "active\n" },
      "cl_status nodestatus c": { stdout: "active\n" },
      "cl_status rscstatus": { stdout: "local\n" },
    });
    const runner = {
      ...base,
      async run(argv: readonly string[], opts?: Parameters<typeof base.run>[1]) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Held to the next turn of the event loop: calls made in parallel are all in flight by then.
        await new Promise((r) => setImmediate(r));
        try {
          return await base.run(argv, opts);
        } finally {
          inFlight--;
        }
      },
    };
    await heartbeatDriver.view(runner);
    expect(maxInFlight).toBeGreaterThanOrEqual(3);
  });

  it("reports heartbeat stopped (exit 1) as running: false", async () => {
    const runner = fakeRunner({
      "cl_status hbstatus": { stdout: "Heartbeat is stopped on this machine.\n", exitCode: 1 },
    });
    expect(await heartbeatDriver.view(runner)).toMatchObject({
      running: false,
      nodes: [],
      localResources: null,
    });
    expect(runner.calls).toHaveLength(1);
  });

  it("leaves rscstatus null when Pacemaker manages the resources", async () => {
    const runner = fakeRunner({
      "cl_status hbstatus": { stdout: RUNNING },
      "cl_status listnodes -n": { stdout: "xen1\n" },
      "cl_status nodestatus xen1": { stdout: "active\n" },
      "cl_status rscstatus": {
        exitCode: 1,
        stderr: "Cannot get cluster resource status of a pacemaker cluster; try crm_mon\n",
      },
    });
    expect((await heartbeatDriver.view(runner)).localResources).toBeNull();
  });

  it("marks a node unknown when cl_status will not tell, never offline", async () => {
    const runner = fakeRunner({
      "cl_status hbstatus": { stdout: RUNNING },
      "cl_status listnodes -n": { stdout: "xen1\nxen2\n" },
      "cl_status nodestatus xen1": { stdout: "active\n" },
      "cl_status nodestatus xen2": { exitCode: 11, stderr: "Error. May be due to incorrect node name\n" },
      "cl_status rscstatus": { stdout: "local\n" },
    });
    expect((await heartbeatDriver.view(runner)).nodes).toEqual([
      { name: "xen1", status: "online" },
      { name: "xen2", status: "unknown" },
    ]);
  });

  it("fails when heartbeat refuses the connection or answers garbage", async () => {
    const refused = fakeRunner({
      "cl_status hbstatus": {
        stdout: "Heartbeat is apparently running on this machine, but refuses my connection\n",
      },
      "cl_status listnodes -n": { exitCode: 1, stderr: "Cannot signon with heartbeat\n" },
    });
    await expect(heartbeatDriver.view(refused)).rejects.toBeInstanceOf(ExecError);
    const garbage = fakeRunner({
      "cl_status hbstatus": { stdout: "bash: cl_status: command not found\n", exitCode: 1 },
    });
    await expect(heartbeatDriver.view(garbage)).rejects.toBeInstanceOf(ParseError);
  });

  it("propagates transport failures of a node query", async () => {
    const lost = new ExecError("ssh_disconnected", "gone", {
      node: "xen1",
      argv: [],
      exitCode: null,
      signal: null,
      stdout: "",
      stderr: "",
    });
    const runner = fakeRunner({
      "cl_status hbstatus": { stdout: RUNNING },
      "cl_status listnodes -n": { stdout: "xen1\n" },
      "cl_status nodestatus xen1": { error: lost },
      "cl_status rscstatus": { stdout: "all\n" },
    });
    await expect(heartbeatDriver.view(runner)).rejects.toBe(lost);
  });
});
