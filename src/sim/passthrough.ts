/**
 * Pass-through of a node's commands to something real: in the real-HA lab (`npm run lab -- --ha
 * real`) heartbeat, its files and the STONITH plugins run for real in each node's namespaces, so the
 * simulated node hands `cl_status`, `stonith` and reads of /etc/ha.d and heartbeat's log to them
 * instead of answering from the model. Xen and DRBD stay simulated.
 */
import type { CommandIO } from "./cmd/context";
import type { Simulation } from "./simulation";

/** Runs ARGV for NODE and resolves with its exit status, or returns null to let the simulator answer. */
export type PassThrough = (node: string, argv: readonly string[], io: CommandIO) => Promise<number> | null;

const handlers = new WeakMap<Simulation, PassThrough>();

export function setPassThrough(sim: Simulation, handler: PassThrough | null): void {
  if (handler) handlers.set(sim, handler);
  else handlers.delete(sim);
}

export function passThroughFor(sim: Simulation): PassThrough | undefined {
  return handlers.get(sim);
}
