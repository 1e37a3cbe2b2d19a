/** Fence drivers by the cluster's configured method (heartbeat stonith, fence agents, Pacemaker's fencer). */
import type { FenceConfig } from "../../config/schema";
import { fenceAgentDriver } from "./fence-agent";
import { stonithDriver } from "./stonith";
import { stonithAdminDriver } from "./stonith-admin";
import type { FenceDriver } from "./types";

export { fenceAgentDriver } from "./fence-agent";
export { stonithDriver } from "./stonith";
export { stonithAdminDriver } from "./stonith-admin";
export * from "./types";

/** The driver of a fence config; null for `method: none` (this cluster cannot fence). */
export function fenceDriverFor(config: FenceConfig): FenceDriver | null {
  switch (config.method) {
    case "none":
      return null;
    case "stonith":
      return stonithDriver(config);
    case "fence-agent":
      return fenceAgentDriver(config);
    case "stonith_admin":
      return stonithAdminDriver();
  }
}
