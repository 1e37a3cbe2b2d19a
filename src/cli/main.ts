/** The `xenops` command line: a thin entry point that composes the pieces. */
import { Command } from "commander";
import { registerAuditCommands } from "./audit";
import { registerConfigCommands } from "./config-check";
import { registerParseCommand } from "./parse";
import { registerServeCommands } from "./serve";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("xenops")
    .description("Slack chat-ops for high-availability Xen clusters")
    .showHelpAfterError();
  registerConfigCommands(program);
  registerParseCommand(program);
  registerServeCommands(program);
  registerAuditCommands(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
