/** Doctor tests: facts read from the in-process simulator, then single reads replaced by real-format text. */

import type { CommandRunner } from "../../src/command-runner";
import { gatherFacts } from "../../src/doctor/gather";
import { runChecks } from "../../src/doctor/run";
import type { CheckResult, DoctorFacts, Read } from "../../src/doctor/types";
import { ExecError } from "../../src/errors";
import { execInProcess, type SimClusterSpecInput, Simulation, toClusterConfig } from "../../src/sim";
import { quoteArgv } from "../../src/ssh/quote";

export function runner(sim: Simulation, node: string): CommandRunner {
  return {
    node,
    async run(argv, o = {}) {
      const n = sim.node(node);
      if (!n?.up)
        throw new ExecError("ssh_connect_failed", `${node}: connection refused`, {
          node,
          argv,
          exitCode: null,
          signal: null,
          stdout: "",
          stderr: "",
        });
      const r = await execInProcess(
        sim,
        node,
        quoteArgv(argv),
        o.stdin !== undefined ? { stdin: o.stdin } : {},
      );
      if (!(o.okExitCodes ?? [0]).includes(r.exitCode))
        throw new ExecError("exec_failed", `${node}: ${argv[0]} exited ${r.exitCode}`, {
          node,
          argv,
          exitCode: r.exitCode,
          signal: null,
          stdout: r.stdout,
          stderr: r.stderr,
        });
      return { ...r, durationMs: 1 };
    },
  };
}

export function simCluster(sim: Simulation) {
  return toClusterConfig(
    sim,
    sim.state.nodes.map((n) => ({
      name: n.name,
      host: "127.0.0.1",
      port: 22,
      hostKeyLine: `SHA256:${"A".repeat(43)}`,
    })),
    "/nonexistent",
    undefined,
    undefined,
  );
}

export async function labFacts(
  spec: SimClusterSpecInput,
  edit?: (sim: Simulation) => void,
): Promise<DoctorFacts> {
  const sim = new Simulation(spec);
  edit?.(sim);
  let t = 1_000_000;
  return gatherFacts(simCluster(sim), {
    runnerFor: (node) => runner(sim, node),
    secretEnv: { XENOPS_SIM_FENCE_PASSWORD: "xenops-lab" },
    now: () => (t += 5),
  });
}

/** Replaces one read of one node with the given output (exit 0 unless told). */
export function withRead(
  f: DoctorFacts,
  node: string,
  key: string,
  stdout: string,
  exitCode = 0,
  stderr = "",
): DoctorFacts {
  const n = f.nodes.find((x) => x.node === node);
  if (!n) throw new Error(`no node ${node}`);
  const old: Read | undefined = n.reads[key];
  n.reads[key] = { argv: old?.argv ?? [key], exitCode, stdout, stderr };
  return f;
}

export function readOf(f: DoctorFacts, node: string, key: string): string {
  return f.nodes.find((x) => x.node === node)?.reads[key]?.stdout ?? "";
}

export function find(f: DoctorFacts, id: string, subject: string | null = null): CheckResult {
  const r = runChecks(f).results.find((x) => x.id === id && (subject === null || x.subject === subject));
  if (!r) throw new Error(`no result ${id} ${subject ?? ""}`);
  return r;
}
