/**
 * Issue 2: snapshot latency at 1, 20 and 100 nodes, xenops (SshPool, cold and warm) against OpenSSH's
 * parallel-ssh running the same commands against the same simulated servers.
 *
 * The commands a reference-flavour snapshot runs on every node (src/drivers/xen, drbd8, heartbeat):
 *   xm list · xm info · cat /proc/drbd · cl_status hbstatus · cl_status listnodes -n ·
 *   cl_status nodestatus NODE (once per cluster member listed by listnodes) · cl_status rscstatus
 * They are not typed in here: one snapshot runs through a recording runner and parallel-ssh gets exactly
 * what it recorded (quoted as the SSH runner quotes them).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { takeSnapshot } from "../src/cluster/snapshot";
import { ClusterConfig } from "../src/config/schema";
import { driversFor } from "../src/drivers/registry";
import type { CommandRunner } from "../src/exec/runner";
import { type SimulatedCluster, scaleLab, startSimulatedCluster } from "../src/sim";
import { SshPool } from "../src/ssh/pool";
import { quoteArgv } from "../src/ssh/quote";
import { fmt, median, percentile, say, table, timedRuns, verdict } from "./util";

export const PARALLEL_SSH = "/usr/bin/parallel-ssh";
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
  cold: number[];
  warm: number[];
  pssh: PsshResult[];
  unreachable: number;
}

function recordingRunner(inner: CommandRunner, sink: Map<string, Set<string>>): CommandRunner {
  return {
    node: inner.node,
    run(argv, options) {
      const set = sink.get(inner.node) ?? new Set<string>();
      set.add(quoteArgv(argv));
      sink.set(inner.node, set);
      return inner.run(argv, options);
    },
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
  // scaleLab needs two nodes at least: the 1-node row snapshots one node of a 2-node lab.
  const sim: SimulatedCluster = await startSimulatedCluster(
    scaleLab(Math.max(2, n), { flavour: opts.flavour ?? "modern" }),
  );
  if (opts.commandLatencyMs)
    for (const node of sim.nodes) sim.faults.slowSsh(node.name, opts.commandLatencyMs);
  const dir = await mkdtemp(join(tmpdir(), `xenops-bench-${n}-`));
  try {
    const key = join(dir, "id_ed25519");
    await writeFile(key, sim.clientKey.privateKey, { mode: 0o600 });
    const config = ClusterConfig.parse(sim.toClusterConfig(key));
    const nodes = n === 1 ? config.nodes.slice(0, 1) : config.nodes;
    const only = nodes.map((x) => x.name);
    const infos = sim.nodes.filter((x) => only.includes(x.name));
    const knownHosts = join(dir, "known_hosts");
    await writeFile(knownHosts, `${infos.map((x) => x.hostKeyLine).join("\n")}\n`);
    const hosts = join(dir, "hosts");
    await writeFile(hosts, `${infos.map((x) => `127.0.0.1:${x.port}`).join("\n")}\n`);

    const inv = sim.inventory();
    const newPool = () =>
      new SshPool({
        nodes: inv.nodes.map((x) => ({
          name: x.name,
          host: x.host,
          port: x.port,
          user: x.user,
          privateKey: inv.privateKey,
          hostKeyPin: x.hostKey,
        })),
        logger,
      });
    const drivers = driversFor(config.toolstack);
    let unreachable = 0;
    const snapshot = async (pool: SshPool, wrap?: (r: CommandRunner) => CommandRunner) => {
      const state = await takeSnapshot(
        config,
        { runnerFor: (node) => (wrap ? wrap(pool.runner(node)) : pool.runner(node)), drivers, logger },
        { nodes: only },
      );
      unreachable = Math.max(unreachable, state.nodes.filter((x) => !x.reachable).length);
    };

    // The commands, from one snapshot through a recording runner.
    const perNode = new Map<string, Set<string>>();
    const recorder = newPool();
    await snapshot(recorder, (r) => recordingRunner(r, perNode));
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
    const warm = await timedRuns(opts.runs, opts.seriesBudgetMs, () => snapshot(warmPool));
    await warmPool.close();

    const pssh: PsshResult[] = [];
    if (existsSync(PARALLEL_SSH)) {
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
    return { nodes: n, commands, commandsPerSnapshot, cold, warm, pssh, unreachable };
  } finally {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function snapshotBench(opts: SnapshotBenchOptions): Promise<SnapshotRow[]> {
  const rows: SnapshotRow[] = [];
  for (const n of opts.sizes) {
    const row = await benchSize(n, opts);
    rows.push(row);
    const p = row.pssh;
    say(
      `  n=${n}: ${row.commandsPerSnapshot} commands per snapshot (${row.commands.length} distinct); ` +
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

export function printSnapshotTables(rows: readonly SnapshotRow[]): string[] {
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
      ],
      rows.map((r) => {
        const warm = median(r.warm);
        const p = psshCell(r.pssh);
        return [
          String(r.nodes),
          `${fmt(median(r.cold))} / ${fmt(percentile(r.cold, 95))}`,
          `${fmt(median(r.warm))} / ${fmt(percentile(r.warm, 95))}`,
          p.text,
          `${fmt(warm / warm1, 2)}x`,
          `${p.lowerBound ? ">" : ""}${fmt(p.ms / warm, 1)}x`,
        ];
      }),
    ),
  );
  const big = rows.at(-1);
  if (big && base && big !== base) {
    const ratio = median(big.warm) / warm1;
    out.push(
      verdict(
        `warm ${big.nodes}-node snapshot within 2x of 1-node`,
        ratio <= 2,
        `${fmt(median(big.warm))} ms vs ${fmt(warm1)} ms = ${fmt(ratio, 2)}x`,
      ),
    );
  }
  for (const r of rows) {
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
