/** `xenops config check [FILE]`: validate an inventory file and list every problem. */
import type { Command } from "commander";
import { readRuntimeEnv } from "../config/env";
import { formatProblems, loadInventoryFile } from "../config/load";

export const DEFAULT_CONFIG_FILE = "xenops.yml";

export async function runConfigCheck(
  file: string,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const result = await loadInventoryFile(file);
  if (!result.ok) {
    err.write(`${formatProblems(file, result.problems)}\n`);
    err.write(`${result.problems.length} problem${result.problems.length === 1 ? "" : "s"} in ${file}\n`);
    return 1;
  }
  const { clusters } = result.config;
  const summary = clusters.map(
    (c) =>
      `  ${c.name}: ${c.nodes.length} node(s), ${c.guests.length} guest(s), ${c.drbd.length} DRBD resource(s); ${c.toolstack.hypervisor}, DRBD ${c.toolstack.drbd}, ${c.toolstack.ha}, fence ${c.toolstack.fence.method}`,
  );
  out.write(`${file}: OK\n${summary.join("\n")}\n`);
  return 0;
}

export function registerConfigCommands(program: Command): void {
  const config = program.command("config").description("inventory configuration");
  config
    .command("check")
    .argument("[file]", "inventory YAML (default: $XENOPS_CONFIG or ./xenops.yml)")
    .description("validate the inventory file and print every problem with its place")
    .action(async (file: string | undefined) => {
      const target = file ?? readRuntimeEnv().XENOPS_CONFIG ?? DEFAULT_CONFIG_FILE;
      process.exitCode = await runConfigCheck(target, process.stdout, process.stderr);
    });
}
