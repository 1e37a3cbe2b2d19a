/**
 * Fence drivers: how a surviving node power-cycles (or powers off) a peer through the cluster's
 * configured method. Like the other mutation builders they only build argv (and stdin); the executor
 * runs them. Secrets (fence passwords) never appear in argv: they go on stdin, are resolved from their
 * SecretRefs only when the command is about to run, and the plan shows them as `[redacted]`.
 */

import type { SecretRef } from "../../config/secret-ref";

export type FenceAction = "reboot" | "off";

export const REDACTED = "[redacted]";

/** One command of a fence method. */
export interface FenceInvocation {
  argv: string[];
  /**
   * Builds stdin with the secrets resolved (by secretParams name), right before running. Null: the
   * command reads nothing.
   */
  stdin: ((secrets: ReadonlyMap<string, string>) => string) | null;
  /** stdin as plans, cards and logs show it: every secret value replaced by `[redacted]`. */
  stdinShown: string | null;
}

export type PowerStatus = "on" | "off" | "unknown";

/**
 * How a method's exit statuses read. Operations pass these to the runner as the statuses that are an
 * answer; any other status is an error (the step fails, the check fails, the query proves nothing).
 */
export interface FenceExitCodes {
  /** fence(): the statuses with which the method reports the fence done (then verified, never trusted). */
  readonly fence: readonly number[];
  /** deviceCheck(): the statuses that are the device's answer, read by deviceOk. */
  readonly deviceCheck: readonly number[];
  /** powerStatus(): the statuses that are an answer, read by parsePowerStatus. */
  readonly powerStatus: readonly number[];
}

/**
 * What the doctor checks of a method, from the inventory alone. Never throws: the doctor reports a
 * configuration, it does not refuse one (the driver validates when it builds a command).
 */
export interface FenceDoctorInfo {
  /** The program the method runs on the fencing node (`command -v` on every node). */
  readonly program: string;
  /** Why the inventory's options cannot address some of `nodes` (naming them), or null when all are. */
  uncovered(nodes: readonly string[]): string | null;
  /** The fix of a failing method check: install the program, address every node. */
  fix(nodes: readonly string[]): string;
  /** The device words of heartbeat's `stonith_host` line for this method; null when it is no stonith plugin. */
  readonly haCfDevice: string | null;
}

/**
 * One fence method. Operations only ever call this: what is particular to a method (its secrets, its
 * exit statuses, whether it can read the power back) is declared here, never tested by name.
 */
export interface FenceDriver {
  /** The inventory's `toolstack.fence.method` (logs and tests; operations never branch on it). */
  readonly method: string;
  /** For humans: "heartbeat stonith (apcsmart)", "fence agent fence_ipmilan", "Pacemaker stonith_admin". */
  readonly label: string;
  /**
   * The secret parameters and where their values are (inventory `secretParams`): resolved only right
   * before a command runs, put on stdin, and replaced by `[redacted]` in every output shown.
   */
  readonly secrets: Readonly<Record<string, SecretRef>>;
  /** The names of `secrets`: what fence()/deviceCheck()/powerStatus() read from the resolved map. */
  readonly secretNames: readonly string[];
  /** Whether fence() needs the plugin's parameter order (heartbeat stonith with secrets: `-F` file). */
  readonly needsParamOrder: boolean;
  /** The preflight refusal when the parameter order is needed but could not be read; null when never needed. */
  readonly paramOrderUnreadable: string | null;
  /** Read-only query of the parameter order (`stonith -t TYPE -n`); null when not needed. */
  paramOrderQuery(): string[] | null;
  /** Parses the answer of paramOrderQuery. */
  parseParamOrder(stdout: string): string[];
  /** The fence command for `target`. `paramOrder` is required when needsParamOrder. */
  fence(target: string, action: FenceAction, paramOrder?: readonly string[]): FenceInvocation;
  /** Read-only: does the device answer (for this target)? Null when the method has no such check. */
  deviceCheck(target: string, paramOrder?: readonly string[]): FenceInvocation | null;
  /**
   * Read-only: the target's power state per the device, without acting. This is the method's own
   * evidence that a fence took effect (the power read back as off); null when the method cannot read
   * power, so only other evidence can verify its fence (SSH falling silent, Pacemaker's fence history).
   */
  powerStatus(target: string): FenceInvocation | null;
  /** How the exit statuses of fence(), deviceCheck() and powerStatus() read. */
  readonly exitCodes: FenceExitCodes;
  /** Reads the exit status of deviceCheck: true when the device answered. */
  deviceOk(exitCode: number): boolean;
  /** Reads the result of powerStatus ("unknown" is no evidence either way). */
  parsePowerStatus(exitCode: number, stdout: string): PowerStatus;
}
