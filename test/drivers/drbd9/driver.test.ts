import { describe, expect, it } from "vitest";
import { drbd9Driver } from "../../../src/drivers/drbd9";
import { ExecError, ParseError } from "../../../src/errors";
import { fakeRunner, fixture } from "./helpers";

const ctx = { resources: [] };

describe("drbd9Driver", () => {
  it("runs drbdsetup status --json and names resources from the output", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": { stdout: fixture("drbd9", "handmade-drbdsetup-status-json.txt") },
    });
    const controller = new AbortController();
    const state = await drbd9Driver.status(runner, ctx, { timeoutMs: 5000, signal: controller.signal });
    expect(drbd9Driver.id).toBe(9);
    expect(runner.calls).toEqual([["drbdsetup", "status", "--json"]]);
    expect(runner.options[0]).toMatchObject({ timeoutMs: 5000, signal: controller.signal });
    expect(state.map((s) => [s.name, s.role, s.diskState])).toEqual([
      ["internet", "Primary", "UpToDate"],
      ["mail", "Primary", "UpToDate"],
    ]);
  });

  it("falls back to drbdadm status when drbdsetup does not know --json", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": { exitCode: 20, stderr: "drbdsetup: unrecognized option '--json'\n" },
      "drbdadm status": { stdout: fixture("drbd9", "handmade-drbdadm-status-two-resources.txt") },
    });
    const state = await drbd9Driver.status(runner, ctx);
    expect(runner.calls.map((c) => c.join(" "))).toEqual(["drbdsetup status --json", "drbdadm status"]);
    expect(state.map((s) => s.name)).toEqual(["internet", "mail"]);
  });

  it("accepts drbdadm's exit 10 for a configured resource that is down", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": { exitCode: 20, stderr: "drbdsetup: invalid option -- 'j'\n" },
      "drbdadm status": {
        exitCode: 10,
        stdout: fixture("drbd9", "handmade-drbdadm-status-quorum-lost.txt"),
        stderr: "mail: No such resource\n",
      },
    });
    expect((await drbd9Driver.status(runner, ctx)).map((s) => s.name)).toEqual(["web"]);
  });

  it("does not take another exit 10 for an answer", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": { exitCode: 20, stderr: "drbdsetup: unrecognized option '--json'\n" },
      "drbdadm status": { exitCode: 10, stderr: "something else\n" },
    });
    await expect(drbd9Driver.status(runner, ctx)).rejects.toBeInstanceOf(ExecError);
  });

  it("does not fall back on other failures", async () => {
    const runner = fakeRunner({
      "drbdsetup status --json": {
        exitCode: 20,
        stderr: "Could not connect to 'drbd' generic netlink family\n",
      },
    });
    await expect(drbd9Driver.status(runner, ctx)).rejects.toBeInstanceOf(ExecError);
    expect(runner.calls).toHaveLength(1);
  });

  it("propagates transport failures and unreadable output", async () => {
    const lost = new ExecError("ssh_disconnected", "gone", {
      node: "xen1",
      argv: [],
      exitCode: null,
      signal: null,
      stdout: "",
      stderr: "",
    });
    await expect(
      drbd9Driver.status(fakeRunner({ "drbdsetup status --json": { error: lost } }), ctx),
    ).rejects.toBe(lost);
    await expect(
      drbd9Driver.status(fakeRunner({ "drbdsetup status --json": { stdout: "garbage" } }), ctx),
    ).rejects.toBeInstanceOf(ParseError);
  });
});
