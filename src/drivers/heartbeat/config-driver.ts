/** heartbeat's resource configuration: `cat /etc/ha.d/haresources` (a missing file manages nothing). */

import type { CommandRunner } from "../../command-runner";
import { ExecError } from "../../errors";
import type { HaConfig } from "../../model";
import type { DriverCallOptions, GuestsContext, HaConfigDriver } from "../types";
import { HARESOURCES_PATH, haresourcesToHaConfig, parseHaresources } from "./haresources";

export const haresourcesDriver: HaConfigDriver = {
  id: "heartbeat",
  async read(
    runner: CommandRunner,
    context: GuestsContext,
    options: DriverCallOptions = {},
  ): Promise<HaConfig> {
    const argv = ["cat", HARESOURCES_PATH];
    const res = await runner.run(argv, {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      okExitCodes: [0, 1],
    });
    if (res.exitCode === 0) return haresourcesToHaConfig(parseHaresources(res.stdout), context.guests);
    if (/No such file or directory/.test(res.stderr))
      return { stack: "heartbeat", source: `${HARESOURCES_PATH} (absent)`, guests: [] };
    throw new ExecError(
      "exec_failed",
      `${runner.node}: cat ${HARESOURCES_PATH} exited with code ${res.exitCode}: ${res.stderr.trim().slice(0, 200)}`,
      {
        node: runner.node,
        argv,
        exitCode: res.exitCode,
        signal: null,
        stdout: res.stdout,
        stderr: res.stderr,
      },
    );
  },
};
