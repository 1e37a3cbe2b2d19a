import { describe, expect, it } from "vitest";
import { pacemakerDriver } from "../../../src/drivers/pacemaker";
import { ExecError, ParseError, XenopsError } from "../../../src/errors";
import { HaView } from "../../../src/model";
import { fakeRunner, fixture } from "../drbd9/helpers";

const CMD = "crm_mon -1 --output-as=xml --exclude=operations";
const ALL_CMD = "crm_mon -1 --output-as=xml";
const OLD_CMD = "crm_mon -1 --as-xml";

describe("pacemakerDriver", () => {
  it("runs crm_mon -1 --output-as=xml without the operations section and normalizes it", async () => {
    const runner = fakeRunner(
      { [CMD]: { stdout: fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt") } },
      "node02",
    );
    const view = await pacemakerDriver.view(runner, { timeoutMs: 9000 });
    HaView.parse(view);
    expect(pacemakerDriver.id).toBe("pacemaker");
    expect(runner.calls).toEqual([["crm_mon", "-1", "--output-as=xml", "--exclude=operations"]]);
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

  it("asks for every section when crm_mon refuses the exclusion (usage error document)", async () => {
    // What crm_mon 2.1.5 prints for a section name it does not know (here one it knows, refused).
    const usage =
      '<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml --exclude=operations">\n' +
      '  <status code="64" message="Incorrect usage">\n    <errors>\n' +
      "      <error>crm_mon: --exclude options: all, attributes, nodes, none, resources</error>\n" +
      "    </errors>\n  </status>\n</pacemaker-result>\n";
    const runner = fakeRunner({
      [CMD]: { exitCode: 64, stdout: usage },
      [ALL_CMD]: { stdout: fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt") },
    });
    const view = await pacemakerDriver.view(runner);
    expect(runner.calls.map((c) => c.join(" "))).toEqual([CMD, ALL_CMD]);
    expect(view.resources).toHaveLength(14);
  });

  it("asks for every section when crm_mon does not know --exclude, then --as-xml if that fails too", async () => {
    const runner = fakeRunner({
      [CMD]: { exitCode: 64, stderr: "crm_mon: unrecognized option '--exclude=operations'\n" },
      [ALL_CMD]: { exitCode: 64, stderr: "crm_mon: unknown option --output-as=xml\n" },
      [OLD_CMD]: { stdout: fixture("ha", "handmade-crm_mon-1.1.18-as-xml-xen-drbd-standby-unclean.txt") },
    });
    const view = await pacemakerDriver.view(runner);
    expect(runner.calls.map((c) => c.join(" "))).toEqual([CMD, ALL_CMD, OLD_CMD]);
    expect(view.nodes.map((n) => n.status)).toEqual(["online", "standby", "unclean"]);
  });

  it("does not try other forms after a failure that is not a usage error", async () => {
    const runner = fakeRunner({
      [CMD]: { exitCode: 105, stderr: "crm_mon: Error: something else\n" },
      [ALL_CMD]: { stdout: fixture("ha", "crm_mon-xml-3.0.2-trento-saphana-promoted.txt") },
    });
    await expect(pacemakerDriver.view(runner)).rejects.toBeInstanceOf(ExecError);
    expect(runner.calls.map((c) => c.join(" "))).toEqual([CMD]);
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
