/**
 * DRBD 9 driver: `drbdsetup status --json`, falling back to `drbdadm status` text on drbd-utils
 * releases without --json. Resource names come from the output itself (DRBD 9 prints them). A
 * resource the inventory places on this node but the output lacks (down, or output cut short) makes
 * the answer a ParseError: its state is unknown, never "not configured".
 */

import type { CommandRunner } from "../../command-runner";
import { ExecError, ParseError, parseOutput } from "../../errors";
import type { DrbdResourceState } from "../../model";
import { resourcesExpectedOn } from "../expected";
import type { DrbdDriver, DrbdDriverContext, DriverCallOptions } from "../types";
import { toDrbdResourceStates } from "./normalize";
import { DRBD_STATUS_JSON_KIND, parseDrbdStatusJson } from "./status-json";
import { DRBD_STATUS_KIND, parseDrbdStatusText } from "./status-text";

export const DRBDSETUP_STATUS_JSON = ["drbdsetup", "status", "--json"] as const;
export const DRBDADM_STATUS = ["drbdadm", "status"] as const;

/** getopt's complaint (glibc: "unrecognized option '--json'", others: "invalid/unknown option"). */
const UNKNOWN_OPTION = /unrecognized option|invalid option|unknown option|illegal option/i;

/** drbdsetup status exit code for "No such resource" (status_cmd in drbdsetup.c). */
const NO_SUCH_RESOURCE = 10;

export const drbd9Driver: DrbdDriver = {
  id: 9,
  async status(
    runner: CommandRunner,
    context: DrbdDriverContext,
    options: DriverCallOptions = {},
  ): Promise<DrbdResourceState[]> {
    const runOpts = { timeoutMs: options.timeoutMs, signal: options.signal };
    try {
      const res = await runner.run(DRBDSETUP_STATUS_JSON, runOpts);
      return parseOutput(res.stdout, (text) =>
        expectListed(
          toDrbdResourceStates(parseDrbdStatusJson(text)),
          context,
          runner.node,
          DRBD_STATUS_JSON_KIND,
        ),
      );
    } catch (err) {
      if (!isUnknownOption(err)) throw err;
    }
    // drbdadm runs `drbdsetup status RES` per configured resource: one that is down answers
    // "No such resource" (exit 10) while the others still print their state.
    const res = await runner.run(DRBDADM_STATUS, { ...runOpts, okExitCodes: [0, NO_SUCH_RESOURCE] });
    if (res.exitCode === NO_SUCH_RESOURCE && !/No such resource/i.test(res.stderr)) {
      throw new ExecError("exec_failed", `drbdadm status exited ${res.exitCode}: ${res.stderr.trim()}`, {
        node: runner.node,
        argv: DRBDADM_STATUS,
        exitCode: res.exitCode,
        signal: null,
        stdout: res.stdout,
        stderr: res.stderr,
      });
    }
    return parseOutput(res.stdout, (text) =>
      expectListed(toDrbdResourceStates(parseDrbdStatusText(text)), context, runner.node, DRBD_STATUS_KIND),
    );
  },
};

function expectListed(
  states: DrbdResourceState[],
  context: DrbdDriverContext,
  node: string,
  kind: string,
): DrbdResourceState[] {
  const listed = new Set(states.map((s) => s.name));
  const missing = resourcesExpectedOn(context.resources, node).filter((r) => !listed.has(r.name));
  if (missing.length > 0)
    throw new ParseError(
      kind,
      0,
      `${missing.map((r) => r.name).join(", ")} configured in the inventory but missing from the status: state unknown (resource down or output cut short)`,
    );
  return states;
}

function isUnknownOption(err: unknown): boolean {
  return (
    err instanceof ExecError &&
    err.exitCode !== null &&
    err.exitCode !== 0 &&
    UNKNOWN_OPTION.test(`${err.stderr}\n${err.stdout}`)
  );
}
