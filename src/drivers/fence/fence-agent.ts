/**
 * fence-agents (`fence_apc`, `fence_ipmilan`, ...): every option as a `name=value` line on stdin
 * (fencing.py reads stdin when there are no command-line arguments), so passwords are never in argv.
 * Lines: `action=...`, then the cluster's params, then the target's own params (`nodes.<node>`: its
 * plug, or its BMC address for IPMI), then the secret params resolved at run time. Exit status:
 * 0 success (status: ON), 2 status OFF, 1 failure (device unreachable, login refused, bad plug).
 * `action=status` reads the power without acting, so a fence agent's fence is verified by the power
 * read back as off.
 */
import { z } from "zod";
import { SecretRef } from "../../config/secret-ref";
import { XenopsError } from "../../errors";
import { checkKey, checkValue, requireSecret } from "./params";
import {
  type FenceDoctorInfo,
  type FenceDriver,
  type FenceExitCodes,
  type FenceInvocation,
  type PowerStatus,
  REDACTED,
} from "./types";

const AGENT = /^fence_[a-z0-9_]+$/;

/** The inventory's `toolstack.fence` for this method. */
export const FenceAgentFenceConfig = z
  .object({
    method: z.literal("fence-agent"),
    agent: z.string().regex(AGENT, "a fence agent such as fence_apc or fence_ipmilan"),
    /** Options passed on stdin (name=value); per-node overrides under `nodes`. */
    params: z.record(z.string(), z.string()).default({}),
    secretParams: z.record(z.string(), SecretRef).default({}),
    nodes: z.record(z.string(), z.record(z.string(), z.string())).default({}),
  })
  .strict();

/** What the driver reads of the config. */
export interface FenceAgentConfig {
  agent: string;
  params: Record<string, string>;
  secretParams: Record<string, SecretRef>;
  nodes: Record<string, Record<string, string>>;
}

/**
 * fencing.py's EC_* codes: 1 generic error, 2 bad arguments (or status OFF), 3 login denied,
 * 4 connection lost, 5 timed out, 8 status error. `monitor` answering any of them is the device's
 * verdict (deviceOk: 0 only); `status` answers 0 (ON), 2 (OFF) or 1 (cannot tell).
 */
const EXIT_CODES: FenceExitCodes = { fence: [0], deviceCheck: [0, 1, 2, 3, 4, 5, 8], powerStatus: [0, 1, 2] };

/** The doctor's view of a fence-agent config (never throws). */
export function fenceAgentDoctor(config: FenceAgentConfig): FenceDoctorInfo {
  return {
    program: config.agent,
    uncovered(nodes) {
      const missing = nodes.filter((x) => !config.nodes[x] && !config.params.plug && !config.params.port);
      return missing.length ? `no per-node fence options (ipaddr or plug) for ${missing.join(", ")}` : null;
    },
    fix: (nodes) =>
      `install fence-agents on every node; in the inventory: toolstack.fence.nodes: { ${nodes.map((x) => `${x}: { ipaddr: ... }`).join(", ")} }`,
    haCfDevice: null,
  };
}

export function fenceAgentDriver(config: FenceAgentConfig): FenceDriver {
  if (!AGENT.test(config.agent))
    throw new XenopsError(
      "invalid_argument",
      `not a fence agent: ${JSON.stringify(config.agent.slice(0, 40))}`,
    );
  const agent = config.agent;
  const secretNames = Object.keys(config.secretParams).map((k) => checkKey(k, agent));
  const secrets: Record<string, SecretRef> = { ...config.secretParams };
  const plain = (target: string): [string, string][] => {
    const merged = new Map<string, string>();
    for (const [k, v] of Object.entries(config.params)) merged.set(checkKey(k, agent), checkValue(v, agent));
    for (const [k, v] of Object.entries(config.nodes[target] ?? {}))
      merged.set(checkKey(k, agent), checkValue(v, agent));
    for (const k of secretNames) merged.delete(k);
    merged.delete("action");
    return [...merged];
  };
  const lines = (action: string, target: string, secret: (name: string) => string): string =>
    [
      `action=${action}`,
      ...plain(target).map(([k, v]) => `${k}=${v}`),
      ...secretNames.map((k) => `${k}=${secret(k)}`),
    ]
      .map((l) => `${l}\n`)
      .join("");
  const invocation = (action: string, target: string): FenceInvocation => {
    // Validate now (plan time), not only when it runs.
    const shown = lines(action, target, () => REDACTED);
    return {
      argv: [agent],
      stdin: (secrets) => lines(action, target, (k) => requireSecret(secrets, k)),
      stdinShown: shown,
    };
  };
  return {
    method: "fence-agent",
    label: `fence agent ${agent}`,
    secrets,
    secretNames,
    needsParamOrder: false,
    paramOrderUnreadable: null,
    paramOrderQuery: () => null,
    parseParamOrder: () => [],
    fence: (target, action) => invocation(action === "off" ? "off" : "reboot", target),
    deviceCheck: (target) => invocation("monitor", target),
    powerStatus: (target) => invocation("status", target),
    exitCodes: EXIT_CODES,
    deviceOk: (exitCode) => exitCode === 0,
    parsePowerStatus(exitCode, stdout): PowerStatus {
      if (exitCode === 0 && /Status: ON/i.test(stdout)) return "on";
      if (exitCode === 2 || /Status: OFF/i.test(stdout)) return "off";
      return "unknown";
    },
  };
}
