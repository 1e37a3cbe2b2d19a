/**
 * Snapshot latency at 1, 20 and 100 nodes, xenops (SshPool, cold and warm) against OpenSSH's
 * parallel-ssh running the same commands against the same simulated servers.
 *
 * The commands a reference-flavour snapshot runs on every node (src/drivers/xen, drbd8, heartbeat):
 *   xm list · xm info · cat /proc/drbd · cl_status hbstatus · cl_status listnodes -n ·
 *   cl_status nodestatus NODE (once per cluster member listed by listnodes) · cl_status rscstatus
 * They are not typed in here: one snapshot runs through a recording runner and parallel-ssh gets exactly
 * what it recorded (quoted as the SSH runner quotes them). xenops sends a node's own reads as one batch
 * (one SSH exec running them in turn, src/ssh/batch.ts) and its HA reads as another (HA observers
 * only); parallel-ssh runs each command on its own. BENCH_BATCH_LANES=0 measures xenops unbatched.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { takeSnapshot } from "../src/cluster/snapshot";
import type { CommandRunner } from "../src/command-runner";
import { driversFor } from "../src/drivers/registry";
import { SshPool } from "../src/ssh/pool";
import { quoteArgv } from "../src/ssh/quote";
import { startSimProcess } from "./support/sim-client";
import { fmt, median, percentile, say, table, timedRuns, verdict } from "./util";

export const PARALLEL_SSH = "/usr/bin/parallel-ssh";
/** Command and connect timeouts of the rows above 100 nodes (see newPool). */
const LARGE_TIMEOUT_MS = 180_000;
/** At most this many ssh client processes at once (parallel-ssh invocations × hosts each). */
const MAX_SSH_PROCESSES = 400;

export interface SnapshotBenchOptions {
  sizes: readonly number[];
  runs: number;
  /** Time budget of each of the cold and warm series per size. */
  seriesBudgetMs: number;
  /** parallel-ssh: at most this many repetitions per size, within this budget; one attempt is cut off at abortMs. */
  psshRuns: number;
  psshBudgetMs: number;
  psshAbortMs: number;
  logger: Logger;
  /** Toolstack of the simulated nodes (default "modern": one crm_mon per node). */
  flavour?: "reference" | "modern";
  /** SnapshotOptions.batchLanes (default 1: one batch of node reads and one of HA reads per node; 0: unbatched). */
  batchLanes?: number;
  /**
   * Added to every command on every simulated node, to model a real dom0 (xm/xl and drbdsetup take
   * tens of milliseconds there); 0 measures xenops and the in-process simulator alone.
   */
  commandLatencyMs?: number;
}

interface PsshResult {
  ms: number;
  /** Cut off at the abort time: ms is a lower bound. */
  aborted: boolean;
  invocations: number;
  finished: number;
  /** Invocations whose exit status was not 0 (a host failed or a command exited non-zero). */
  failed: number;
}

export interface SnapshotRow {
  nodes: number;
  commands: string[];
  commandsPerSnapshot: number;
  /** SSH execs those commands took (fewer than commands when batched). */
  execsPerSnapshot: number;
  cold: number[];
  warm: number[];
  pssh: PsshResult[];
  unreachable: number;
  /** xenops' CPU (this process: the simulator runs in its own) per warm snapshot, in ms. */
  warmCpuMs: number;
  /** The simulator process's CPU per warm snapshot, in ms (not xenops'; for context). */
  simCpuMs: number;
  /** How the row is named when `nodes` alone does not say it (several clusters). */
  label?: string;
}

/** Records each command (batched or not) per node, and counts the execs they took. */
function recordingRunner(
  inner: CommandRunner,
  sink: Map<string, Set<string>>,
  execs: { count: number },
): CommandRunner {
  const record = (argv: readonly string[]) => {
    const set = sink.get(inner.node) ?? new Set<string>();
    set.add(quoteArgv(argv));
    sink.set(inner.node, set);
  };
  return {
    node: inner.node,
    run(argv, options) {
      record(argv);
      execs.count++;
      return inner.run(argv, options);
    },
    ...(inner.runBatch
      ? {
          runBatch(commands, options) {
            for (const c of commands) record(c.argv);
            execs.count++;
            return inner.runBatch!(commands, options);
          },
        }
      : {}),
  };
}

function runPsshOnce(
  commands: readonly string[],
  files: { hosts: string; key: string; knownHosts: string; out: string },
  hosts: number,
  abortMs: number,
): Promise<PsshResult> {
  const limit = Math.max(1, Math.floor(MAX_SSH_PROCESSES / hosts));
  const running = new Set<ChildProcess>();
  let next = 0;
  let finished = 0;
  let failed = 0;
  let aborted = false;
  const started = performance.now();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - started, aborted, invocations: commands.length, finished, failed });
    };
    const timer = setTimeout(() => {
      aborted = true;
      // Each invocation leads its own process group (detached): end it and its ssh children.
      for (const child of running) if (child.pid) process.kill(-child.pid, "SIGKILL");
    }, abortMs);
    const launch = (): void => {
      while (!aborted && running.size < limit && next < commands.length) {
        const i = next++;
        const child = spawn(
          PARALLEL_SSH,
          [
            "-h",
            files.hosts,
            "-l",
            "root",
            "-p",
            String(hosts),
            "-t",
            "60",
            "-o",
            join(files.out, String(i)),
            "-x",
            `-i ${files.key} -o UserKnownHostsFile=${files.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
            commands[i] as string,
          ],
          { stdio: "ignore", detached: true },
        );
        running.add(child);
        child.once("close", (code) => {
          running.delete(child);
          if (!aborted) {
            finished++;
            if (code !== 0) failed++;
          }
          if (running.size === 0 && (aborted || next >= commands.length)) done();
          else launch();
        });
      }
    };
    launch();
  });
}

async function benchSize(n: number, opts: SnapshotBenchOptions): Promise<SnapshotRow> {
  const { logger } = opts;
  const dir = await mkdtemp(join(tmpdir(), `xenops-bench-${n}-`));
  // scaleLab needs two nodes at least: the 1-node row snapshots one node of a 2-node lab. The simulator
  // runs in its own process: its CPU is not xenops'.
  const sim = await startSimProcess({
    nodes: Math.max(2, n),
    flavour: opts.flavour ?? "modern",
    latencyMs: opts.commandLatencyMs ?? 0,
    dir,
  });
  try {
    const key = sim.keyFile;
    const config = sim.cluster;
    const nodes = n === 1 ? config.nodes.slice(0, 1) : config.nodes;
    const only = nodes.map((x) => x.name);
    const infos = sim.nodes.filter((x) => only.includes(x.name));
    const knownHosts = join(dir, "known_hosts");
    await writeFile(knownHosts, `${infos.map((x) => x.hostKeyLine).join("\n")}\n`);
    const hosts = join(dir, "hosts");
    await writeFile(hosts, `${infos.map((x) => `127.0.0.1:${x.port}`).join("\n")}\n`);

    const newPool = () =>
      new SshPool({
        nodes: sim.nodes.map((x) => ({
          name: x.name,
          host: x.host,
          port: x.port,
          user: x.user,
          privateKey: sim.privateKey,
          hostKeyPin: x.hostKey,
        })),
        logger,
        // One simulator process answers every node: at 1,000 nodes its handshakes and commands queue
        // for seconds, which is the simulator's cost, not a node that does not answer.
        ...(n > 100
          ? { options: { connectTimeoutMs: LARGE_TIMEOUT_MS, defaultTimeoutMs: LARGE_TIMEOUT_MS } }
          : {}),
      });
    const drivers = driversFor(config.toolstack);
    let unreachable = 0;
    const snapshot = async (pool: SshPool, wrap?: (r: CommandRunner) => CommandRunner) => {
      const state = await takeSnapshot(
        config,
        { runnerFor: (node) => (wrap ? wrap(pool.runner(node)) : pool.runner(node)), drivers, logger },
        {
          nodes: only,
          ...(n > 100 ? { timeoutMs: LARGE_TIMEOUT_MS } : {}),
          ...(opts.batchLanes !== undefined ? { batchLanes: opts.batchLanes } : {}),
        },
      );
      unreachable = Math.max(unreachable, state.nodes.filter((x) => !x.reachable).length);
    };

    // The commands, from one snapshot through a recording runner.
    const perNode = new Map<string, Set<string>>();
    const execs = { count: 0 };
    const recorder = newPool();
    await snapshot(recorder, (r) => recordingRunner(r, perNode, execs));
    await recorder.close();
    const commands = [...new Set([...perNode.values()].flatMap((s) => [...s]))];
    const commandsPerSnapshot = [...perNode.values()].reduce((a, s) => a + s.size, 0);

    const cold = await timedRuns(opts.runs, opts.seriesBudgetMs, async () => {
      const pool = newPool();
      try {
        const t = performance.now();
        await snapshot(pool);
        return performance.now() - t;
      } finally {
        await pool.close();
      }
    });
    const warmPool = newPool();
    await snapshot(warmPool); // connect once
    const cpu0 = process.cpuUsage();
    const sim0 = sim.cpuMs();
    const warm = await timedRuns(opts.runs, opts.seriesBudgetMs, () => snapshot(warmPool));
    const cpu = process.cpuUsage(cpu0);
    const warmCpuMs = (cpu.user + cpu.system) / 1000 / warm.length;
    const simCpuMs = (sim.cpuMs() - sim0) / warm.length;
    await warmPool.close();

    const pssh: PsshResult[] = [];
    // Beyond 100 nodes parallel-ssh would start thousands of ssh processes: that row is xenops alone.
    if (existsSync(PARALLEL_SSH) && n <= 100) {
      const started = performance.now();
      for (let i = 0; i < opts.psshRuns; i++) {
        if (i > 0 && performance.now() - started > opts.psshBudgetMs) break;
        const out = join(dir, `pssh-out-${i}`);
        const r = await runPsshOnce(
          commands,
          { hosts, key, knownHosts, out },
          nodes.length,
          opts.psshAbortMs,
        );
        pssh.push(r);
        await rm(out, { recursive: true, force: true });
        if (r.aborted) break;
      }
    }
    return {
      nodes: n,
      commands,
      commandsPerSnapshot,
      execsPerSnapshot: execs.count,
      cold,
      warm,
      pssh,
      unreachable,
      warmCpuMs,
      simCpuMs,
    };
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * 1,000 nodes as a deployment has them: 10 clusters of 100 (one Pacemaker cluster stops far earlier),
 * snapshotted at once by this one xenops process, each cluster's simulator in a process of its own. A
 * single simulator process serving 1,000 SSH servers spends minutes per snapshot on its own work, which
 * would measure the simulator, not xenops.
 */
async function benchFleet(
  clusters: number,
  perCluster: number,
  opts: SnapshotBenchOptions,
): Promise<SnapshotRow> {
  const { logger } = opts;
  const dir = await mkdtemp(join(tmpdir(), `xenops-bench-fleet-`));
  const sims: Awaited<ReturnType<typeof startSimProcess>>[] = [];
  const pools: SshPool[] = [];
  try {
    for (let i = 0; i < clusters; i++)
      sims.push(
        await startSimProcess({
          nodes: perCluster,
          flavour: opts.flavour ?? "modern",
          latencyMs: opts.commandLatencyMs ?? 0,
          dir,
        }),
      );
    for (const sim of sims)
      pools.push(
        new SshPool({
          nodes: sim.nodes.map((x) => ({
            name: x.name,
            host: x.host,
            port: x.port,
            user: x.user,
            privateKey: sim.privateKey,
            hostKeyPin: x.hostKey,
          })),
          logger,
          options: { connectTimeoutMs: LARGE_TIMEOUT_MS, defaultTimeoutMs: LARGE_TIMEOUT_MS },
        }),
      );
    let unreachable = 0;
    let commandsPerSnapshot = 0;
    let execsPerSnapshot = 0;
    const round = async () => {
      let commands = 0;
      let execs = 0;
      const states = await Promise.all(
        sims.map((sim, i) => {
          const pool = pools[i] as SshPool;
          return takeSnapshot(
            sim.cluster,
            {
              runnerFor: (node) => {
                const inner = pool.runner(node);
                return {
                  node: inner.node,
                  run: (argv, o) => {
                    commands++;
                    execs++;
                    return inner.run(argv, o);
                  },
                  ...(inner.runBatch
                    ? {
                        runBatch: (batch, o) => {
                          commands += batch.length;
                          execs++;
                          return inner.runBatch!(batch, o);
                        },
                      }
                    : {}),
                };
              },
              drivers: driversFor(sim.cluster.toolstack),
              logger,
            },
            {
              timeoutMs: LARGE_TIMEOUT_MS,
              ...(opts.batchLanes !== undefined ? { batchLanes: opts.batchLanes } : {}),
            },
          );
        }),
      );
      commandsPerSnapshot = commands;
      execsPerSnapshot = execs;
      unreachable = Math.max(
        unreachable,
        states.flatMap((st) => st.nodes).filter((x) => !x.reachable).length,
      );
    };
    const cold = await timedRuns(1, 0, round);
    const cpu0 = process.cpuUsage();
    const sim0 = sims.reduce((a, sim) => a + sim.cpuMs(), 0);
    const warm = await timedRuns(opts.runs, opts.seriesBudgetMs, round);
    const cpu = process.cpuUsage(cpu0);
    const simCpu = sims.reduce((a, sim) => a + sim.cpuMs(), 0) - sim0;
    return {
      nodes: clusters * perCluster,
      label: `${clusters * perCluster} (${clusters} clusters x ${perCluster})`,
      commands: [],
      commandsPerSnapshot,
      execsPerSnapshot,
      cold,
      warm,
      pssh: [],
      unreachable,
      warmCpuMs: (cpu.user + cpu.system) / 1000 / warm.length,
      simCpuMs: simCpu / warm.length,
    };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await Promise.all(sims.map((sim) => sim.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

export async function snapshotBench(opts: SnapshotBenchOptions): Promise<SnapshotRow[]> {
  const rows: SnapshotRow[] = [];
  for (const n of opts.sizes) {
    const row = n > 100 && n % 100 === 0 ? await benchFleet(n / 100, 100, opts) : await benchSize(n, opts);
    rows.push(row);
    const p = row.pssh;
    say(
      `  n=${row.label ?? n}: ${row.commandsPerSnapshot} commands in ${row.execsPerSnapshot} SSH execs per snapshot (${row.commands.length} distinct); ` +
        `cold ${row.cold.length} runs, warm ${row.warm.length} runs, parallel-ssh ${p.length} run(s)` +
        `${p.some((r) => r.aborted) ? " (cut off)" : ""}${row.unreachable ? `; ${row.unreachable} node(s) UNREACHABLE` : ""}` +
        `${p.some((r) => r.failed) ? `; parallel-ssh: ${Math.max(...p.map((r) => r.failed))} invocation(s) reported failures` : ""}`,
    );
  }
  return rows;
}

function psshCell(results: readonly PsshResult[]): { text: string; ms: number; lowerBound: boolean } {
  if (results.length === 0) return { text: "n/a", ms: Number.NaN, lowerBound: false };
  const aborted = results.find((r) => r.aborted);
  if (aborted) return { text: `>${fmt(aborted.ms, 0)}`, ms: aborted.ms, lowerBound: true };
  const ms = median(results.map((r) => r.ms));
  return { text: fmt(ms, 0), ms, lowerBound: false };
}

/** `ratioTarget`: judge the warm 100-node/1-node ratio (the target is stated with 25 ms per command). */
export function printSnapshotTables(rows: readonly SnapshotRow[], ratioTarget = true): string[] {
  const base = rows.find((r) => r.nodes === 1) ?? rows[0];
  const warm1 = base ? median(base.warm) : Number.NaN;
  const out: string[] = [];
  say(
    table(
      [
        "nodes",
        "cold ms (p50 / p95)",
        "warm ms (p50 / p95)",
        "parallel-ssh ms",
        "warm(n)/warm(1)",
        "pssh/warm",
        "xenops CPU ms/node/snapshot",
        "sim CPU ms/snapshot",
      ],
      rows.map((r) => {
        const warm = median(r.warm);
        const p = psshCell(r.pssh);
        return [
          r.label ?? String(r.nodes),
          `${fmt(median(r.cold))} / ${fmt(percentile(r.cold, 95))}`,
          `${fmt(median(r.warm))} / ${fmt(percentile(r.warm, 95))}`,
          p.text,
          `${fmt(warm / warm1, 2)}x`,
          `${p.lowerBound ? ">" : ""}${fmt(p.ms / warm, 1)}x`,
          fmt(r.warmCpuMs / r.nodes, 2),
          fmt(r.simCpuMs, 0),
        ];
      }),
    ),
  );
  const big = rows.find((r) => r.nodes === 100);
  if (big && base && big !== base && ratioTarget) {
    const ratio = median(big.warm) / warm1;
    out.push(
      verdict(
        `warm ${big.nodes}-node snapshot within 2x of 1-node`,
        ratio <= 2,
        `${fmt(median(big.warm))} ms vs ${fmt(warm1)} ms = ${fmt(ratio, 2)}x; ` +
          `the ${big.nodes}-node snapshot costs ${fmt(big.warmCpuMs, 0)} ms of xenops CPU and ${fmt(big.simCpuMs, 0)} ms ` +
          `of simulator CPU, at least ${fmt((big.warmCpuMs + big.simCpuMs) / cpus().length, 0)} ms of wall time on ` +
          `${cpus().length} core(s) shared by both`,
      ),
    );
  }
  const thousand = rows.find((r) => r.nodes === 1000);
  if (thousand)
    out.push(
      `INFO  ${thousand.label ?? thousand.nodes} nodes: warm snapshot ${fmt(median(thousand.warm))} ms, xenops CPU ${fmt(thousand.warmCpuMs / thousand.nodes, 2)} ms per node per snapshot (simulator CPU ${fmt(thousand.simCpuMs, 0)} ms per snapshot, in its own processes)`,
    );
  for (const r of rows) {
    if (r.nodes > 100) continue;
    const p = psshCell(r.pssh);
    if (!Number.isFinite(p.ms)) {
      out.push(
        `MISS  xenops >= 5x faster than parallel-ssh at ${r.nodes} node(s): parallel-ssh not available`,
      );
      continue;
    }
    const ratio = p.ms / median(r.warm);
    out.push(
      verdict(
        `xenops (warm) >= 5x faster than parallel-ssh at ${r.nodes} node(s)`,
        ratio >= 5,
        `${p.lowerBound ? "more than " : ""}${fmt(ratio, 1)}x`,
      ),
    );
  }
  for (const line of out) say(line);
  return out;
}
