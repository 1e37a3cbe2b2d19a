import { execInProcess, referenceLab, modernLab, Simulation, toClusterConfig } from "./src/sim";
import { runDoctor } from "./src/doctor/run";
import { ExecError } from "./src/errors";
import { quoteArgv } from "./src/ssh/quote";
for (const spec of [referenceLab(), modernLab()]) {
const sim = new Simulation(spec);
const cluster = toClusterConfig(sim, sim.state.nodes.map((n) => ({ name: n.name, host: "127.0.0.1", port: 22, hostKeyLine: `SHA256:${"A".repeat(43)}` })), "/nonexistent", undefined, undefined);
const report = await runDoctor(cluster, { runnerFor: (node) => ({ node, async run(argv, o = {}) {
  const r = await execInProcess(sim, node, quoteArgv(argv), o.stdin !== undefined ? { stdin: o.stdin } : {});
  if (!(o.okExitCodes ?? [0]).includes(r.exitCode)) throw new ExecError("exec_failed", `${argv.join(" ")} exit ${r.exitCode} ${r.stderr}`, { node, argv, exitCode: r.exitCode, signal: null, stdout: r.stdout, stderr: r.stderr });
  return { ...r, durationMs: 1 };
}}), secretEnv: { XENOPS_SIM_FENCE_PASSWORD: "xenops-lab" } });
for (const r of report.results) console.log(r.status, r.id, r.subject ?? "", "-", r.summary, r.fix ? `\n   fix: ${r.fix}` : "");
console.log(report.counts, report.fenceQuery);
}
