/** heartbeat's resource configuration: `cat /etc/ha.d/haresources` (a missing file manages nothing). */

import type { CommandRunner } from "../../command-runner";
import { ExecError } from "../../errors";
import type { HaConfig, HaManagedGuest } from "../../model";
import type { DriverCallOptions, GuestsContext, HaAction, HaConfigDriver } from "../types";
import { HARESOURCES_PATH, haresourcesToHaConfig, parseHaresources } from "./haresources";

/** heartbeat 2.x on Debian installs its tools here (/usr/lib/heartbeat on older packages). */
export const HB_TOOLS = "/usr/share/heartbeat";

/** heartbeat moves whole resource groups (stop, then start): hb_takeover and hb_standby. */
function heartbeatWay(entry: HaManagedGuest, action: HaAction, node: string, holder: string | null): string {
  if (action === "evacuate")
    return `put ${node} in standby with heartbeat: on ${node} run \`${HB_TOOLS}/hb_standby all\` (heartbeat stops its groups and starts them on the peer: not a live migration)`;
  const scope = (on: string) => (entry.preferredNode === on ? "local" : "foreign");
  const standby =
    holder && holder !== node ? ` (or on ${holder}: \`${HB_TOOLS}/hb_standby ${scope(holder)}\`)` : "";
  const how =
    action === "migrate"
      ? `heartbeat moves the whole group (${entry.group.join(" ")}), stopping the guest and starting it there: not a live migration`
      : `heartbeat starts the whole group (${entry.group.join(" ")})`;
  return `let heartbeat ${action === "migrate" ? "move" : "start"} it: on ${node} run \`${HB_TOOLS}/hb_takeover ${scope(node)}\`${standby}; ${how}`;
}

export const haresourcesDriver: HaConfigDriver = {
  id: "heartbeat",
  way: heartbeatWay,
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
