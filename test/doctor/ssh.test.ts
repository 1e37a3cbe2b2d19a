/**
 * The doctor over the simulator's real SSH servers on the reference lab, through the command line
 * (`xenops doctor --config FILE --json`): the inventory is a file, the keys are files, SshPool connects.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runDoctorCli } from "../../src/cli/doctor";
import type { DoctorReport } from "../../src/doctor/types";
import { referenceLab, type SimulatedCluster, startSimulatedCluster } from "../../src/sim";
import { editConfigFile } from "../../src/sim/config-files";
import { simFile } from "../../src/sim/startup";

function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let out = "";
  stream.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  return { stream, text: () => out };
}

describe("xenops doctor over SSH (reference lab)", () => {
  let lab: SimulatedCluster;
  let dir: string;
  let config: string;
  beforeAll(async () => {
    lab = await startSimulatedCluster(referenceLab(), { clock: "manual" });
    dir = await mkdtemp(path.join(tmpdir(), "xenops-doctor-"));
    const key = path.join(dir, "lab-key");
    await writeFile(key, lab.inventory().privateKey, { mode: 0o600 });
    config = path.join(dir, "xenops.yml");
    await writeFile(
      config,
      JSON.stringify({
        clusters: [lab.toClusterConfig(key, { channels: ["C0LAB"] })],
        roles: { viewer: { users: ["UVIEWER1"] } },
      }),
    );
  });
  afterAll(async () => {
    await lab?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("--json reports the guide's findings and exits 1; a fixed configuration exits 0", async () => {
    const out = sink();
    const err = sink();
    const env = { XENOPS_SIM_FENCE_PASSWORD: "unused" };
    const code = await runDoctorCli({ config, json: true }, { stdout: out.stream, stderr: err.stream, env });
    expect(err.text()).toBe("");
    expect(code).toBe(1);
    const report = JSON.parse(out.text()) as DoctorReport;
    expect(report.cluster).toBe("lab");
    const failing = report.results.filter((r) => r.status === "fail").map((r) => `${r.id}:${r.subject}`);
    expect(failing).toEqual(["drbd.after-sb:internet"]);
    const afterSb = report.results.find((r) => r.id === "drbd.after-sb")!;
    expect(afterSb.evidence.map((e) => e.node)).toEqual(["ics1", "ics2"]);
    expect(afterSb.evidence[0]!.lines).toContain("after-sb-0pri    discard-least-changes;");
    expect(report.results.find((r) => r.id === "xen.relocation")?.status).toBe("pass");
    expect(report.fenceQuery?.shown).toMatch(/^stonith -t apcsmart -S /);

    // Both nodes fixed (as an operator would edit drbd.conf): every check passes but the warning.
    for (const node of ["ics1", "ics2"]) {
      const s = lab.cluster;
      const cur = simFile(s, node, "/etc/drbd.conf") ?? "";
      editConfigFile(
        s,
        node,
        "/etc/drbd.conf",
        { content: cur, mode: "644" },
        {
          op: "set",
          content: cur
            .replace("discard-least-changes", "disconnect")
            .replace("discard-secondary", "disconnect"),
        },
      );
    }
    const again = sink();
    expect(
      await runDoctorCli({ config, json: true }, { stdout: again.stream, stderr: sink().stream, env }),
    ).toBe(0);
    expect((JSON.parse(again.text()) as DoctorReport).counts.fail).toBe(0);
  });

  it("exits 2 on an unknown cluster", async () => {
    const err = sink();
    expect(
      await runDoctorCli({ config, cluster: "nope" }, { stdout: sink().stream, stderr: err.stream, env: {} }),
    ).toBe(2);
    expect(err.text()).toMatch(/unknown cluster "nope"/);
  });
});
