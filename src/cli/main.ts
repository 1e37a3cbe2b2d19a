/**
 * The `xenops` command line: a thin entry point that composes the pieces.
 *
 * Exit status: 0 success; 1 a failure (a check that found problems, a process that could not start);
 * 2 a usage error (unknown command or option, missing argument) or unreadable input.
 */
import { Command, CommanderError } from "commander";
import { registerAuditCommands } from "./audit";
import { registerConfigCommands } from "./config-check";
import { registerDoctorCommand } from "./doctor";
import { registerDoctorSlackCommand } from "./doctor-slack";
import { registerParseCommand } from "./parse";
import { registerServeCommands } from "./serve";
import { xenopsVersion } from "./version";

export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("xenops")
    .description("Slack chat-ops for high-availability Xen clusters")
    .version(xenopsVersion(), "-V, --version", "print the xenops version")
    // Before the subcommands are added: they inherit it, so every usage error throws to runCli.
    .exitOverride()
    .showHelpAfterError();
  registerConfigCommands(program);
  registerParseCommand(program);
  registerServeCommands(program);
  registerAuditCommands(program);
  registerDoctorCommand(program);
  // Last: it attaches `slack` to an existing `doctor` command when one was registered above.
  registerDoctorSlackCommand(program);
  return program;
}

/** Parses argv and runs the command; resolves to the exit status (commander's own exits mapped). */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; anything else commander refuses is a usage error.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    throw err;
  }
}

process.exitCode = await runCli(process.argv);
