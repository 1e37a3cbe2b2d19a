/** What a `/xen` verb is: its syntax, the role it needs, and a handler that must return fast. */

import type { ClusterConfig, InventoryConfig, RoleName } from "../config/schema";
import type { Logger } from "../log";
import type { JobEnqueuer } from "./enqueuer";
import type { JobAdmin } from "./job-admin";
import type { CommandRequest, Reply } from "./types";

/** Bad input: the message says what to fix; the usage line is appended by the router. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface ParsedArgs {
  positionals: string[];
  flags: ReadonlySet<string>;
}

export interface CommandContext {
  request: CommandRequest;
  inventory: InventoryConfig;
  /** Clusters that answer in the request's channel. */
  clustersHere: readonly ClusterConfig[];
  jobs: JobEnqueuer;
  logger: Logger;
  /** Every registered verb (for help). */
  commands: readonly CommandSpec[];
  /** Job listing, cancel and audit history (absent where the process has no access to them). */
  jobAdmin?: JobAdmin;
}

// biome-ignore lint/suspicious/noExplicitAny: the registry holds specs of every argument type
export interface CommandSpec<A = any> {
  verb: string;
  summary: string;
  usage: string;
  role: RoleName;
  /** Flags this verb accepts, e.g. `--dry-run`. */
  flags?: readonly string[];
  /** Validates and resolves arguments against the inventory; throws UsageError with what to fix. */
  parse(args: ParsedArgs, ctx: CommandContext): A;
  /** Enqueues work and returns the ephemeral ack. No SSH, no waiting on jobs. */
  run(ctx: CommandContext, args: A): Promise<Reply>;
}
