/** Shared helpers for the simulator tests: run a command in-process and read its output. */
import { type ExecOutput, execInProcess, Simulation } from "../../src/sim";
import type { SimClusterSpecInput } from "../../src/sim/model";

export function lab(spec: SimClusterSpecInput): Simulation {
  return new Simulation(spec);
}

export function run(sim: Simulation, node: string, command: string, stdin?: string): Promise<ExecOutput> {
  return execInProcess(sim, node, command, stdin === undefined ? {} : { stdin });
}

/** stdout of a command that must succeed. */
export async function out(sim: Simulation, node: string, command: string): Promise<string> {
  const r = await run(sim, node, command);
  if (r.exitCode !== 0) throw new Error(`${command} on ${node} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}
