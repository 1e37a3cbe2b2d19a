import { describe, expect, it } from "vitest";
import { pacemakerDriver } from "../../../src/drivers/pacemaker";
import { ExecError, ParseError, XenopsError } from "../../../src/errors";
import { HaView } from "../../../src/model";
import { fakeRunner, fixture } from "../drbd9/helpers";

const CMD = "crm_mon -1 --output-as=xml";
const OLD_CMD = "crm_mon -1 --as-xml";

describe("pacemakerDriver", () => {
  it("runs crm_mon -1 --output-as=xml and normalizes it", async () => {
    const runner = fakeRunner(
      { [CMD]: { stdout: fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt") } },
      "node02",
    );
    const view = await pacemakerDriver.view(runner, { timeoutMs: 9000 });
    HaView.parse(view);
    expect(pacemakerDriver.id).toBe("pacemaker");
    expect(runner.calls).toEqual([["crm_mon", "-1", "--output-as=xml"]]);
    expect(runner.options[0]?.timeoutMs).toBe(9000);
    expect(view).toMatchObject({ stack: "pacemaker", observer: "node02", running: true, dc: "node01" });
    expect(view.resources).toHaveLength(14);
  });

  it("asks Pacemaker 1.1 for --as-xml when --output-as is unknown", async () => {
    const runner = fakeRunner({
      [CMD]: { exitCode: 64, stderr: "crm_mon: unrecognized option '--output-as=xml'\n" },
      [OLD_CMD]: { stdout: fixture("ha", "handmade-crm_mon-1.1.18-as-xml-xen-drbd-standby-unclean.txt") },
    });
    const view = await pacemakerDriver.view(runner);
    expect(runner.calls.map((c) => c.join(" "))).toEqual([CMD, OLD_CMD]);
    expect(view.nodes.map((n) => n.status)).toEqual(["online", "standby", "unclean"]);
  });

  it("reports a node without a running cluster as running: false (2.x XML error document)", async () => {
    const runner = fakeRunner({
      [CMD]: { exitCode: 102, stdout: fixture("ha", "handmade-crm_mon-not-connected.txt") },
    });
    expect(await pacemakerDriver.view(runner)).toEqual({
      stack: "pacemaker",
      observer: "xen1",
      running: false,
      dc: null,
      nodes: [],
      resources: [],
      localResources: null,
      fenceHistory: [],
    });
  });

  it("reports a node without a running cluster as running: false (1.1 message)", async () => {
    const runner = fakeRunner({
      [CMD]: { exitCode: 64, stderr: "crm_mon: unrecognized option '--output-as=xml'\n" },
      [OLD_CMD]: { exitCode: 107, stdout: "\nError: cluster is not available on this node\n" },
    });
    expect((await pacemakerDriver.view(runner)).running).toBe(false);
  });

  it("fails on other crm_mon errors: the state is unknown", async () => {
    const failing = fakeRunner({ [CMD]: { exitCode: 105, stderr: "crm_mon: Error: something else\n" } });
    await expect(pacemakerDriver.view(failing)).rejects.toBeInstanceOf(ExecError);
    const statusError = fakeRunner({
      [CMD]: {
        stdout:
          '<pacemaker-result api-version="2.3"><status code="1" message="Error occurred"/></pacemaker-result>',
      },
    });
    await expect(pacemakerDriver.view(statusError)).rejects.toSatisfy(
      (e) => e instanceof XenopsError && e.code === "state_unknown",
    );
    const garbage = fakeRunner({ [CMD]: { stdout: "Cluster Summary:\n" } });
    await expect(pacemakerDriver.view(garbage)).rejects.toBeInstanceOf(ParseError);
  });

  it("propagates transport failures", async () => {
    const lost = new ExecError("ssh_timeout", "timed out", {
      node: "xen1",
      argv: [],
      exitCode: null,
      signal: null,
      stdout: "",
      stderr: "",
    });
    await expect(pacemakerDriver.view(fakeRunner({ [CMD]: { error: lost } }))).rejects.toBe(lost);
  });
});
