/**
 * Fence drivers by the cluster's configured method (heartbeat stonith, fence agents, Pacemaker's
 * fencer). This file is the one place that knows the methods by name: adding one means its driver
 * module (with its config schema), one line in `FenceConfig` and one entry in `fenceMethods`;
 * the inventory, operations and the doctor only call what is here and FenceDriver.
 */
import { z } from "zod";
import { FenceAgentFenceConfig, fenceAgentDoctor, fenceAgentDriver } from "./fence-agent";
import { StonithFenceConfig, stonithDoctor, stonithDriver } from "./stonith";
import { StonithAdminFenceConfig, stonithAdminDoctor, stonithAdminDriver } from "./stonith-admin";
import type { FenceDoctorInfo, FenceDriver } from "./types";

export { fenceAgentDoctor, fenceAgentDriver } from "./fence-agent";
export { stonithDoctor, stonithDriver } from "./stonith";
export { stonithAdminDoctor, stonithAdminDriver } from "./stonith-admin";
export * from "./types";

/**
 * The inventory's `toolstack.fence` (src/config/schema.ts uses it): `none`, or one method with the
 * options its own module declares.
 */
export const FenceConfig = z.discriminatedUnion("method", [
  z.object({ method: z.literal("none") }).strict(),
  StonithFenceConfig,
  FenceAgentFenceConfig,
  StonithAdminFenceConfig,
]);
export type FenceConfig = z.infer<typeof FenceConfig>;

/** A configured fence method (`method: none` is no method). */
export type ConfiguredFence = Exclude<FenceConfig, { method: "none" }>;
type ConfigOf<M extends ConfiguredFence["method"]> = Extract<ConfiguredFence, { method: M }>;

/** One registry entry: how to build the driver of a config, and what the doctor checks of it. */
export interface FenceMethod<C> {
  /** Builds the driver; throws on a parameter that could smuggle in another option. */
  driver(config: C): FenceDriver;
  /** From the config alone; never throws. */
  doctor(config: C): FenceDoctorInfo;
}

export const fenceMethods: { readonly [M in ConfiguredFence["method"]]: FenceMethod<ConfigOf<M>> } = {
  stonith: { driver: stonithDriver, doctor: stonithDoctor },
  "fence-agent": { driver: fenceAgentDriver, doctor: fenceAgentDoctor },
  stonith_admin: { driver: () => stonithAdminDriver(), doctor: () => stonithAdminDoctor },
};

function methodOf<C extends ConfiguredFence>(config: C): FenceMethod<C> {
  // The mapped type pairs each method with its own config; TypeScript cannot follow that through an index.
  return fenceMethods[config.method] as unknown as FenceMethod<C>;
}

/** The driver of a fence config; null for `method: none` (this cluster cannot fence). */
export function fenceDriverFor(config: FenceConfig): FenceDriver | null {
  return config.method === "none" ? null : methodOf(config).driver(config);
}

/** What the doctor checks of a fence config; null for `method: none`. */
export function fenceDoctorFor(config: FenceConfig): FenceDoctorInfo | null {
  return config.method === "none" ? null : methodOf(config).doctor(config);
}
