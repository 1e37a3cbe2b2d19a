/**
 * `xenops doctor [--config FILE] [--cluster NAME] [--json]`: the doctor from the command line, over
 * SSH with the inventory's keys. Exit status: 0 every check passes (warnings allowed), 1 a check
 * fails, 2 usage (bad inventory, unknown cluster).
 */
import type { Command } from "commander";
import type { CommandRunner } from "../command-runner";
import { formatProblems, loadInventoryFile } from "../config/load";
import type { ClusterConfig } from "../config/schema";
import { resolveSecret, type SecretEnv } from "../config/secrets";
import { renderDoctorText } from "../doctor/render";
import { runDoctor } from "../doctor/run";
import type { DoctorReport } from "../doctor/types";
import { errorMessage } from "../errors";
import { silentLogger } from "../log";
import type { SshPool } from "../ssh/pool";
import { DEFAULT_CONFIG_FILE } from "./config-check";

export interface DoctorCliOptions {
  config?: string;
  cluster?: string;
  json?: boolean;
}

export interface DoctorCliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: SecretEnv;
  /** Replaces SSH (tests). */
  runnerFor?: (cluster: ClusterConfig, node: string) => CommandRunner;
}

/** 0 all pass (warnings allowed), 1 a check fails, 2 usage. */
export function exitStatus(report: DoctorReport): 0 | 1 {
  return report.counts.fail > 0 ? 1 : 0;
}

export async function runDoctorCli(options: DoctorCliOptions, io: DoctorCliIo): Promise<number> {
  const file = options.config ?? io.env.XENOPS_CONFIG ?? DEFAULT_CONFIG_FILE;
  const loaded = await loadInventoryFile(file);
  if (!loaded.ok) {
    io.stderr.write(`${formatProblems(file, loaded.problems)}\n`);
    return 2;
  }
  const clusters = loaded.config.clusters;
  const cluster = options.cluster
    ? clusters.find((c) => c.name === options.cluster)
    : clusters.length === 1
      ? clusters[0]
      : undefined;
  if (!cluster) {
    io.stderr.write(
      options.cluster
        ? `xenops doctor: unknown cluster "${options.cluster}"; clusters: ${clusters.map((c) => c.name).join(", ")}\n`
        : `xenops doctor: say which cluster with --cluster (${clusters.map((c) => c.name).join(", ")})\n`,
    );
    return 2;
  }
  let pool: SshPool | null = null;
  let runnerFor = io.runnerFor
    ? (node: string) => (io.runnerFor as NonNullable<DoctorCliIo["runnerFor"]>)(cluster, node)
    : null;
  try {
    if (!runnerFor) {
      const { SshPool, sshNodeSettings } = await import("../ssh/pool");
      const nodes = await Promise.all(
        cluster.nodes.map(async (n) => {
          const privateKey = await resolveSecret(
            n.privateKey,
            io.env,
            `${cluster.name}/${n.name} privateKey`,
          );
          const passphrase = n.passphrase
            ? await resolveSecret(n.passphrase, io.env, `${cluster.name}/${n.name} passphrase`)
            : undefined;
          return sshNodeSettings(n, passphrase === undefined ? { privateKey } : { privateKey, passphrase });
        }),
      );
      const p = new SshPool({
        nodes,
        logger: silentLogger(),
        options: { defaultTimeoutMs: cluster.commandTimeoutMs },
      });
      pool = p;
      runnerFor = (node) => p.runner(node);
    }
    const report = await runDoctor(
      cluster,
      { runnerFor, secretEnv: io.env },
      { timeoutMs: cluster.commandTimeoutMs },
    );
    io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderDoctorText(report));
    return exitStatus(report);
  } catch (err) {
    io.stderr.write(`xenops doctor: ${errorMessage(err)}\n`);
    return 2;
  } finally {
    await pool?.close();
  }
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check the cluster's configuration on every node (read-only); exit 1 when a check fails")
    .option("--config <file>", "inventory YAML (default: $XENOPS_CONFIG or ./xenops.yml)")
    .option("--cluster <name>", "the cluster to check (needed when the inventory has several)")
    .option("--json", "print the report as JSON")
    .action(async (opts: DoctorCliOptions) => {
      process.exitCode = await runDoctorCli(opts, {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
      });
    });
}
