/**
 * The simulated cluster in a process of its own, so the benchmarks never count the simulator's CPU and
 * memory as xenops'. Usage: `tsx bench/support/sim-process.ts '{"nodes":100,...}'` (see SimProcessArgs);
 * it prints one JSON line (SimProcessReady) once every node's SSH server listens, and closes them and
 * exits when its stdin ends (the parent exited or closed it).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InventoryConfig } from "../../src/config/schema";
import { LAB_ROLES } from "../../src/lab/lab";
import { referenceLab, scaleLab, startSimulatedCluster } from "../../src/sim";

export interface SimProcessArgs {
  /** "reference": the two-node reference lab; a number: scaleLab(n). */
  nodes: "reference" | number;
  flavour?: "reference" | "modern";
  /** Added to every command on every node (a real dom0's xm/xl and drbdsetup take tens of ms). */
  latencyMs?: number;
  /** Directory for the client key file. */
  dir: string;
  channels?: string[];
}

export interface SimProcessReady {
  type: "ready";
  /** A full inventory (lab roles, the key as a file): what a deployment's config would say. */
  inventory: unknown;
  /** The cluster's config alone (ClusterConfig-shaped). */
  cluster: unknown;
  keyFile: string;
  privateKey: string;
  nodes: { name: string; host: string; port: number; user: string; hostKey: string; hostKeyLine: string }[];
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? "{}") as SimProcessArgs;
  const spec =
    args.nodes === "reference" ? referenceLab() : scaleLab(args.nodes, { flavour: args.flavour ?? "modern" });
  const sim = await startSimulatedCluster(spec, { clock: "real" });
  if (args.latencyMs) for (const node of sim.nodes) sim.faults.slowSsh(node.name, args.latencyMs);
  const keyFile = join(args.dir, `sim-${process.pid}-id_ed25519`);
  await writeFile(keyFile, sim.clientKey.privateKey, { mode: 0o600 });
  const cluster = sim.toClusterConfig(keyFile, { channels: args.channels ?? ["C0LAB"] });
  const inventory = InventoryConfig.parse({
    clusters: [cluster],
    roles: LAB_ROLES,
    oncall: { users: ["UADMIN1"] },
  });
  const inv = sim.inventory();
  const lines = new Map(sim.nodes.map((n) => [n.name, n.hostKeyLine]));
  const ready: SimProcessReady = {
    type: "ready",
    inventory,
    cluster,
    keyFile,
    privateKey: inv.privateKey,
    nodes: inv.nodes.map((n) => ({ ...n, hostKeyLine: lines.get(n.name) ?? "" })),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  const stop = () => {
    void sim.close().finally(() => process.exit(0));
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`sim-process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
