/**
 * Fence drivers: how a surviving node power-cycles (or powers off) a peer through the cluster's
 * configured method. Like the other mutation builders they only build argv (and stdin); the executor
 * runs them. Secrets (fence passwords) never appear in argv: they go on stdin, are resolved from their
 * SecretRefs only when the command is about to run, and the plan shows them as `[redacted]`.
 */

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

export interface FenceDriver {
  readonly method: "stonith" | "fence-agent" | "stonith_admin";
  /** For humans: "heartbeat stonith (apcsmart)", "fence agent fence_ipmilan", "Pacemaker stonith_admin". */
  readonly label: string;
  /** secretParams names to resolve before fence()/deviceCheck()/powerStatus() run. */
  readonly secretNames: readonly string[];
  /** Whether fence() needs the plugin's parameter order (heartbeat stonith with secrets: `-F` file). */
  readonly needsParamOrder: boolean;
  /** Read-only query of the parameter order (`stonith -t TYPE -n`); null when not needed. */
  paramOrderQuery(): string[] | null;
  /** Parses the answer of paramOrderQuery. */
  parseParamOrder(stdout: string): string[];
  /** The fence command for `target`. `paramOrder` is required when needsParamOrder. */
  fence(target: string, action: FenceAction, paramOrder?: readonly string[]): FenceInvocation;
  /** Read-only: does the device answer (for this target)? Null when the method has no such check. */
  deviceCheck(target: string, paramOrder?: readonly string[]): FenceInvocation | null;
  /** Read-only: the target's power state per the device; null when the method cannot tell. */
  powerStatus(target: string): FenceInvocation | null;
  /** Reads the exit status of deviceCheck: true when the device answered. */
  deviceOk(exitCode: number): boolean;
  /** Reads the result of powerStatus. */
  parsePowerStatus(exitCode: number, stdout: string): PowerStatus;
}
