/**
 * heartbeat / cluster-glue `stonith(8)`:
 *
 *   stonith -t TYPE -T {reset|off} name=value... NODE        parameters as name=value words
 *   stonith -t TYPE -F FILE -T {reset|off} NODE              one line of values, in the order
 *                                                            `stonith -t TYPE -n` prints the names
 *   stonith -t TYPE name=value... -S                         device status
 *
 * Options come first (a strict POSIX getopt stops at the first operand). Plain parameters are passed as
 * name=value words (unambiguous, order-free; `-p` would need the plugin's order and breaks on values
 * with blanks). When the config has secret parameters (an apcmaster password...), every parameter goes
 * through `-F /dev/stdin` instead, so no secret is ever in argv (visible in `ps`, the plan, the audit
 * log); that needs the plugin's parameter order, asked read-only with `-n` while planning. Exit status
 * is the plugin's S_* code: 0 OK, 1 BADCONFIG, 2 ACCESS (device did not answer), 3 INVAL, 4 BADHOST,
 * 5 RESETFAIL, 8 OOPS. stonith(8) has no query of one node's power (`-S` is the device's status), so
 * its fence is verified by other evidence only.
 */
import { z } from "zod";
import { SecretRef } from "../../config/secret-ref";
import { XenopsError } from "../../errors";
import { plainWord } from "../argv";
import { checkKey, checkValue, requireSecret } from "./params";
import {
  type FenceAction,
  type FenceDoctorInfo,
  type FenceDriver,
  type FenceExitCodes,
  type FenceInvocation,
  REDACTED,
} from "./types";

/** The inventory's `toolstack.fence` for this method. */
export const StonithFenceConfig = z
  .object({
    method: z.literal("stonith"),
    /** heartbeat stonith plugin type, e.g. apcsmart, apcmaster, external/ipmi. */
    type: z.string().regex(/^[a-z0-9_/.-]+$/),
    params: z.record(z.string(), z.string()).default({}),
    secretParams: z.record(z.string(), SecretRef).default({}),
  })
  .strict();

/** What the driver reads of the config. */
export interface StonithConfig {
  type: string;
  params: Record<string, string>;
  secretParams: Record<string, SecretRef>;
}

/**
 * `-S` answers with the S_* codes above (deviceOk reads 0 as answered); the reset is done on 0 only. No
 * power status: powerStatus() is null.
 */
const EXIT_CODES: FenceExitCodes = { fence: [0], deviceCheck: [0, 1, 2, 3, 4, 5, 8], powerStatus: [] };

/** The doctor's view of a stonith config (never throws). */
export function stonithDoctor(config: StonithConfig): FenceDoctorInfo {
  const p = config.params;
  return {
    program: "stonith",
    uncovered(nodes) {
      const list = `${p.hostlist ?? ""} ${p.hostname ?? ""} ${p.host ?? ""}`.split(/[\s,]+/);
      const missing = p.hostlist || p.hostname || p.host ? nodes.filter((x) => !list.includes(x)) : [];
      return missing.length ? `the stonith hostlist does not name ${missing.join(", ")}` : null;
    },
    fix: (nodes) =>
      `install cluster-glue (stonith) on every node; in the inventory: toolstack.fence.params.hostlist: "${nodes.join(" ")}"`,
    // heartbeat's apcsmart plugin takes its serial device as the first stonith_host parameter.
    haCfDevice: config.type === "apcsmart" ? "apcsmart /dev/ttyS0" : config.type,
  };
}

export function stonithDriver(config: StonithConfig): FenceDriver {
  const type = plainWord(config.type, "stonith device type");
  const params = Object.entries(config.params).map(
    ([k, v]) => [checkKey(k, "stonith"), checkValue(v, "stonith")] as const,
  );
  const secretNames = Object.keys(config.secretParams).map((k) => checkKey(k, "stonith"));
  const secrets: Record<string, SecretRef> = { ...config.secretParams };
  const viaFile = secretNames.length > 0;

  /** The -F line: values in the plugin's order; only the last may contain blanks. */
  const fileLine = (order: readonly string[] | undefined, value: (name: string) => string): string => {
    if (!order || order.length === 0)
      throw new XenopsError(
        "invalid_argument",
        `stonith ${type} has secret parameters: the plugin's parameter order (stonith -t ${type} -n) is needed`,
      );
    const known = new Set([...params.map(([k]) => k), ...secretNames]);
    const missing = order.filter((n) => !known.has(n));
    if (missing.length > 0)
      throw new XenopsError(
        "config_invalid",
        `stonith ${type} needs the parameters ${order.join(", ")}; missing: ${missing.join(", ")}`,
      );
    const values = order.map((n) => value(n));
    values.slice(0, -1).forEach((v, i) => {
      if (/\s/.test(v) || v === "")
        throw new XenopsError(
          "config_invalid",
          `stonith ${type}: parameter ${order[i]} is empty or has blanks; only the last one (${order.at(-1)}) may`,
        );
    });
    return `${values.join(" ")}\n`;
  };

  /** The -F /dev/stdin form (secret parameters): `tail` is the action part of argv. */
  const viaStdin = (tail: string[], order: readonly string[] | undefined): FenceInvocation => {
    const plain = new Map(params);
    return {
      argv: ["stonith", "-t", type, "-F", "/dev/stdin", ...tail],
      stdin: (secrets) => fileLine(order, (n) => plain.get(n) ?? requireSecret(secrets, n)),
      stdinShown: fileLine(order, (n) => plain.get(n) ?? REDACTED),
    };
  };
  const words = () => params.map(([k, v]) => `${k}=${v}`);

  return {
    method: "stonith",
    label: `heartbeat stonith (${type})`,
    secrets,
    secretNames,
    needsParamOrder: viaFile,
    paramOrderUnreadable: viaFile
      ? "the stonith plugin's parameter order could not be read (stonith -t TYPE -n)"
      : null,
    paramOrderQuery: () => (viaFile ? ["stonith", "-t", type, "-n"] : null),
    parseParamOrder: (stdout) => stdout.split(/\s+/).filter((n) => n !== ""),
    fence(target, action: FenceAction, order) {
      const node = plainWord(target, "node");
      const how = ["-T", action === "off" ? "off" : "reset"];
      // Options first, then the name=value words, then the node.
      if (!viaFile)
        return { argv: ["stonith", "-t", type, ...how, ...words(), node], stdin: null, stdinShown: null };
      return viaStdin([...how, node], order);
    },
    deviceCheck(_target, order) {
      if (!viaFile) return { argv: ["stonith", "-t", type, "-S", ...words()], stdin: null, stdinShown: null };
      return viaStdin(["-S"], order);
    },
    powerStatus: () => null,
    exitCodes: EXIT_CODES,
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus: () => "unknown",
  };
}
