/**
 * Pacemaker's fencer: `stonith_admin --reboot NODE` (or `--fence NODE` to power off). The fencer picks
 * the device from the cluster configuration (no secrets here), records the result in the fence
 * history and tells the members, so the HA view confirms it. Exit 0 on success. No device check and no
 * power status of its own: the fencer checks its devices when it fences, and its fence history (read
 * with the HA view) is the evidence.
 */
import { z } from "zod";
import { plainWord } from "../argv";
import type { FenceDoctorInfo, FenceDriver } from "./types";

/** The inventory's `toolstack.fence` for this method: no options (the fencer has its own devices). */
export const StonithAdminFenceConfig = z.object({ method: z.literal("stonith_admin") }).strict();

export const stonithAdminDoctor: FenceDoctorInfo = {
  program: "stonith_admin",
  // The fencer's own devices address the nodes (the doctor's Pacemaker checks read them from the CIB).
  uncovered: () => null,
  fix: () => "install pacemaker-cli-utils (stonith_admin) on every node",
  haCfDevice: null,
};

export function stonithAdminDriver(): FenceDriver {
  return {
    method: "stonith_admin",
    label: "Pacemaker stonith_admin",
    secrets: {},
    secretNames: [],
    needsParamOrder: false,
    paramOrderUnreadable: null,
    paramOrderQuery: () => null,
    parseParamOrder: () => [],
    fence: (target, action) => ({
      argv: ["stonith_admin", action === "off" ? "--fence" : "--reboot", plainWord(target, "node")],
      stdin: null,
      stdinShown: null,
    }),
    deviceCheck: () => null,
    powerStatus: () => null,
    exitCodes: { fence: [0], deviceCheck: [0], powerStatus: [] },
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus: () => "unknown",
  };
}
