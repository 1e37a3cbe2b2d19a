/**
 * Serving simulated commands to other processes: the token-protected control endpoint, the
 * forced-command relay script, and (where sshd can run) a real OpenSSH sshd whose ForceCommand is
 * that script, read by SshPool and the drivers.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drbd8Driver } from "../../src/drivers/drbd8";
import { xmDriver } from "../../src/drivers/xen";
import {
  type ControlServer,
  execViaControl,
  labKeyPair,
  referenceLab,
  Simulation,
  startControlServer,
} from "../../src/sim";
import { SshPool } from "../../src/ssh/pool";
import { type OpenSshServer, openSshUnavailableReason, startOpenSsh } from "../support/sshd";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const script = fileURLToPath(new URL("../../src/sim/forced-command.ts", import.meta.url));

function relay(
  env: Record<string, string>,
  stdin = "",
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.end(stdin);
    child.once("close", (code) => resolve({ stdout, stderr, code }));
  });
}

describe("control endpoint", () => {
  let sim: Simulation;
  let control: ControlServer;
  beforeAll(async () => {
    sim = new Simulation(referenceLab());
    control = await startControlServer(sim);
  });
  afterAll(() => control?.close());

  it("runs a command and wants the token", async () => {
    const r = await execViaControl(control.url, control.token, {
      node: "ics2",
      command: "drbdadm cstate internet",
    });
    expect(r).toEqual({ stdout: "Connected\n", stderr: "", exitCode: 0 });
    await expect(execViaControl(control.url, "wrong", { node: "ics2", command: "true" })).rejects.toThrow(
      /bad token/,
    );
    await expect(
      execViaControl(control.url, control.token, { node: "ics9", command: "true" }),
    ).rejects.toThrow(/unknown node/);
  });

  it("forced-command.ts relays output and exit status", async () => {
    const env = { XENOPS_SIM_URL: control.url, XENOPS_SIM_TOKEN: control.token, XENOPS_SIM_NODE: "ics2" };
    expect(await relay({ ...env, SSH_ORIGINAL_COMMAND: "xm list" })).toEqual({
      stdout: await execViaControl(control.url, control.token, { node: "ics2", command: "xm list" }).then(
        (r) => r.stdout,
      ),
      stderr: "",
      code: 0,
    });
    const failed = await relay({ ...env, SSH_ORIGINAL_COMMAND: "xm shutdown nope" });
    expect([failed.stderr, failed.code]).toEqual(["Error: Domain 'nope' does not exist.\n", 1]);
    expect((await relay({ ...env, SSH_ORIGINAL_COMMAND: "nosuchprogram" })).code).toBe(127);
    expect((await relay({ SSH_ORIGINAL_COMMAND: "true" })).code).toBe(255);
  });
});

const unavailable = openSshUnavailableReason();

describe.skipIf(unavailable !== undefined)("OpenSSH sshd with the forced-command relay", () => {
  let sim: Simulation;
  let control: ControlServer;
  let sshd: OpenSshServer;
  let pool: SshPool;
  const client = labKeyPair("xenops-sim-interop");

  beforeAll(async () => {
    sim = new Simulation(referenceLab());
    control = await startControlServer(sim);
    sshd = await startOpenSsh({
      authorizedKeys: [client.publicKey],
      forceCommandScript:
        "#!/bin/sh\n" +
        `cd '${repo}' || exit 255\n` +
        `XENOPS_SIM_URL='${control.url}' XENOPS_SIM_TOKEN='${control.token}' XENOPS_SIM_NODE=ics2 ` +
        `exec '${process.execPath}' --import tsx '${script}'\n`,
    });
    pool = new SshPool({
      nodes: [
        {
          name: "ics2",
          host: sshd.host,
          port: sshd.port,
          user: "root",
          privateKey: client.privateKey,
          hostKeyPin: sshd.hostKeyFingerprint,
        },
      ],
      logger: pino({ level: "silent" }),
      options: { defaultTimeoutMs: 20000 },
    });
  });
  afterAll(async () => {
    await pool?.close();
    await sshd?.stop();
    await control?.close();
  });

  it("the drivers read the simulated node through a real sshd", async () => {
    const r = pool.runner("ics2");
    expect((await xmDriver.listDomains(r)).map((d) => d.name)).toEqual(["Domain-0", "internet"]);
    const drbd = await drbd8Driver.status(r, {
      resources: [{ name: "internet", minor: 0, allowTwoPrimaries: true }],
    });
    expect(drbd[0]).toMatchObject({ role: "Primary", diskState: "UpToDate" });
  });
});
