/**
 * The explicit driver registry: every supported toolstack generation is listed here, nowhere else.
 * Adding a driver means adding its folder and one line below.
 */

import type { ClusterDrivers } from "../cluster/snapshot";
import type { ToolstackConfig } from "../config/schema";
import { drbd8Driver, parsers as drbd8Parsers } from "./drbd8";
import { drbd9Driver, parsers as drbd9Parsers } from "./drbd9";
import { heartbeatDriver, parsers as heartbeatParsers } from "./heartbeat";
import { pacemakerDriver, parsers as pacemakerParsers } from "./pacemaker";
import type { DrbdDriver, HaDriver, HypervisorDriver, ParserEntry } from "./types";
import { parsers as xenParsers, xlDriver, xmDriver } from "./xen";

export const hypervisorDrivers: Record<ToolstackConfig["hypervisor"], HypervisorDriver> = {
  xm: xmDriver,
  xl: xlDriver,
};
export const drbdDrivers: Record<ToolstackConfig["drbd"], DrbdDriver> = { 8: drbd8Driver, 9: drbd9Driver };
export const haDrivers: Record<ToolstackConfig["ha"], HaDriver | null> = {
  heartbeat: heartbeatDriver,
  pacemaker: pacemakerDriver,
  none: null,
};

export function driversFor(toolstack: ToolstackConfig): ClusterDrivers {
  return {
    hypervisor: hypervisorDrivers[toolstack.hypervisor],
    drbd: drbdDrivers[toolstack.drbd],
    ha: haDrivers[toolstack.ha],
  };
}

/** Parser kinds for `xenops parse KIND`, in the order help lists them. */
export const parserKinds: readonly ParserEntry[] = [
  ...drbd8Parsers,
  ...drbd9Parsers,
  ...xenParsers,
  ...heartbeatParsers,
  ...pacemakerParsers,
];

export function parserFor(kind: string): ParserEntry | undefined {
  return parserKinds.find((p) => p.kind === kind);
}
