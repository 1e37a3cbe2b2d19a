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
 * is the plugin's S_* code: 0 OK, 1 BADCONFIG, 2 ACCESS (device did not answer), 4 BADHOST, 5 RESETFAIL.
 */
import { XenopsError } from "../../errors";
import { plainWord } from "../argv";
import { checkKey, checkValue, requireSecret } from "./params";
import { type FenceAction, type FenceDriver, type FenceInvocation, REDACTED } from "./types";

export interface StonithConfig {
  type: string;
  params: Record<string, string>;
  secretParams: Record<string, unknown>;
}

export function stonithDriver(config: StonithConfig): FenceDriver {
  const type = plainWord(config.type, "stonith device type");
  const params = Object.entries(config.params).map(
    ([k, v]) => [checkKey(k, "stonith"), checkValue(v, "stonith")] as const,
  );
  const secretNames = Object.keys(config.secretParams).map((k) => checkKey(k, "stonith"));
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
    secretNames,
    needsParamOrder: viaFile,
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
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus: () => "unknown",
  };
}
