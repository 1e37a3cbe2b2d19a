/**
 * Pacemaker's fencer: `stonith_admin --reboot NODE` (or `--fence NODE` to power off). The fencer picks
 * the device from the cluster configuration (no secrets here), records the result in the fence
 * history and tells the members, so the HA view confirms it. Exit 0 on success.
 */
import { plainWord } from "../argv";
import type { FenceDriver } from "./types";

export function stonithAdminDriver(): FenceDriver {
  return {
    method: "stonith_admin",
    label: "Pacemaker stonith_admin",
    secretNames: [],
    needsParamOrder: false,
    paramOrderQuery: () => null,
    parseParamOrder: () => [],
    fence: (target, action) => ({
      argv: ["stonith_admin", action === "off" ? "--fence" : "--reboot", plainWord(target, "node")],
      stdin: null,
      stdinShown: null,
    }),
    deviceCheck: () => null,
    powerStatus: () => null,
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus: () => "unknown",
  };
}
