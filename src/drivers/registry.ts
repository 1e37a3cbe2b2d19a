/**
 * The explicit driver registry: every supported toolstack generation is listed here, nowhere else.
 * Adding a driver means adding its folder and one line below.
 */

import type { ToolstackConfig } from "../config/schema";
import type { HaConfig, HaView } from "../model";
import { DRBD_CONF_KIND, parseDrbdDump } from "./drbd-conf";
import { drbd8Driver, parsers as drbd8Parsers } from "./drbd8";
import { drbd8Commands } from "./drbd8/commands";
import { drbd9Driver, parsers as drbd9Parsers } from "./drbd9";
import { drbd9Commands } from "./drbd9/commands";
import { type FenceDriver, fenceDriverFor } from "./fence";
import { haresourcesDriver, heartbeatDriver, parsers as heartbeatParsers } from "./heartbeat";
import { cibDriver, pacemakerDriver, parsers as pacemakerParsers } from "./pacemaker";
import type {
  ClusterDrivers,
  DrbdCommands,
  DrbdDriver,
  HaConfigDriver,
  HaDriver,
  HaFenceHistory,
  HypervisorCommands,
  HypervisorDriver,
  ParserEntry,
} from "./types";
import { parsers as xenParsers, xlDriver, xmDriver } from "./xen";
import { xlCommands, xmCommands } from "./xen/commands";
import { xendomainsDriver, parsers as xendomainsParsers } from "./xendomains";

export const hypervisorDrivers: Record<ToolstackConfig["hypervisor"], HypervisorDriver> = {
  xm: xmDriver,
  xl: xlDriver,
};
export const drbdDrivers: Record<ToolstackConfig["drbd"], DrbdDriver> = { 8: drbd8Driver, 9: drbd9Driver };
/** The HA stacks by the name their views and manager configurations carry (HaView.stack, HaConfig.stack). */
const haStacks: Record<HaView["stack"], { ha: HaDriver; config: HaConfigDriver }> = {
  heartbeat: { ha: heartbeatDriver, config: haresourcesDriver },
  pacemaker: { ha: pacemakerDriver, config: cibDriver },
};
export const haDrivers: Record<ToolstackConfig["ha"], HaDriver | null> = {
  heartbeat: haStacks.heartbeat.ha,
  pacemaker: haStacks.pacemaker.ha,
  none: null,
};
/** Which guests the cluster manager manages (haresources, the CIB). */
export const haConfigDrivers: Record<ToolstackConfig["ha"], HaConfigDriver | null> = {
  heartbeat: haStacks.heartbeat.config,
  pacemaker: haStacks.pacemaker.config,
  none: null,
};

/**
 * The driver of the stack that produced a view or a manager configuration: what callers ask instead of
 * testing the stack's name.
 */
export function haDriverOf(stack: HaView["stack"]): HaDriver {
  return haStacks[stack].ha;
}
export function haConfigDriverOf(stack: HaConfig["stack"]): HaConfigDriver {
  return haStacks[stack].config;
}

/** The HA stack's record of fences in its view, when it keeps one (see HaFenceHistory). */
export function fenceHistoryOf(view: HaView): HaFenceHistory | null {
  return haDriverOf(view.stack).fenceHistory ?? null;
}

export function driversFor(toolstack: ToolstackConfig): ClusterDrivers {
  return {
    hypervisor: hypervisorDrivers[toolstack.hypervisor],
    drbd: drbdDrivers[toolstack.drbd],
    ha: haDrivers[toolstack.ha],
    haConfig: haConfigDrivers[toolstack.ha],
    startup: xendomainsDriver,
  };
}

/** Argv builders of the mutations (migrate, create, fence...), by toolstack. */
export const hypervisorCommands: Record<ToolstackConfig["hypervisor"], HypervisorCommands> = {
  xm: xmCommands,
  xl: xlCommands,
};
export const drbdCommands: Record<ToolstackConfig["drbd"], DrbdCommands> = {
  8: drbd8Commands,
  9: drbd9Commands,
};

export interface MutationDrivers {
  hypervisor: HypervisorCommands;
  drbd: DrbdCommands;
  /** Null when the cluster has no fence method configured. */
  fence: FenceDriver | null;
  /**
   * The HA stack's fence history, evidence that a fence took effect whatever method ran it; null when
   * the stack keeps none (or there is no stack).
   */
  fenceHistory: HaFenceHistory | null;
}

export function mutationDriversFor(toolstack: ToolstackConfig): MutationDrivers {
  return {
    hypervisor: hypervisorCommands[toolstack.hypervisor],
    drbd: drbdCommands[toolstack.drbd],
    fence: fenceDriverFor(toolstack.fence),
    fenceHistory: haDrivers[toolstack.ha]?.fenceHistory ?? null,
  };
}

/** Parser kinds for `xenops parse KIND`, in the order help lists them. */
export const parserKinds: readonly ParserEntry[] = [
  ...drbd8Parsers,
  ...drbd9Parsers,
  ...xenParsers,
  ...heartbeatParsers,
  ...pacemakerParsers,
  ...xendomainsParsers,
  {
    kind: DRBD_CONF_KIND,
    description: "`drbdadm dump` (or drbd.conf, /etc/drbd.d/*.res): resources with common folded in",
    parse: (text) => parseDrbdDump(text),
  },
];

export function parserFor(kind: string): ParserEntry | undefined {
  return parserKinds.find((p) => p.kind === kind);
}
