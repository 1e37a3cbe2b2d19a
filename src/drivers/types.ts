/**
 * Driver contracts. A driver turns commands on one node into the normalized model
 * (src/model/schema.ts). Drivers depend only on a CommandRunner and their own pure parsers, which
 * live beside them (one folder per driver) and are registered explicitly in registry.ts.
 */
import type { DrbdResourceConfig } from "../config/schema";
import type { CommandRunner } from "../exec/runner";
import type { Domain, DrbdResourceState, HaView, XenInfo } from "../model/schema";

export interface DriverCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface HypervisorDriver {
  readonly id: "xm" | "xl";
  listDomains(runner: CommandRunner, options?: DriverCallOptions): Promise<Domain[]>;
  info(runner: CommandRunner, options?: DriverCallOptions): Promise<XenInfo>;
}

export interface DrbdDriverContext {
  /** Declared resources (names and DRBD 8 minors). */
  resources: readonly DrbdResourceConfig[];
}

export interface DrbdDriver {
  readonly id: 8 | 9;
  status(
    runner: CommandRunner,
    context: DrbdDriverContext,
    options?: DriverCallOptions,
  ): Promise<DrbdResourceState[]>;
}

export interface HaDriver {
  readonly id: "heartbeat" | "pacemaker";
  view(runner: CommandRunner, options?: DriverCallOptions): Promise<HaView>;
}

/** A parser kind exposed by `xenops parse KIND`. */
export interface ParserEntry {
  kind: string;
  description: string;
  parse(text: string): unknown;
}
