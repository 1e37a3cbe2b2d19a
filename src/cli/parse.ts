/** `xenops parse KIND`: raw node output on stdin → normalized JSON on stdout. */
import type { Command } from "commander";
import { parserFor, parserKinds } from "../drivers/registry";
import { errorMessage, ParseError } from "../errors";

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin)
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

export interface ParseIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Returns the exit status: 0 parsed, 2 unreadable input or unknown kind. */
export async function runParse(kind: string, io: ParseIo): Promise<number> {
  const entry = parserFor(kind);
  if (!entry) {
    io.stderr.write(
      `xenops parse: unknown kind "${kind}"; kinds: ${parserKinds.map((p) => p.kind).join(", ")}\n`,
    );
    return 2;
  }
  const text = await readStdin(io.stdin);
  try {
    io.stdout.write(`${JSON.stringify(entry.parse(text), null, 2)}\n`);
    return 0;
  } catch (err) {
    const message = err instanceof ParseError ? err.message : `${kind}: ${errorMessage(err)}`;
    io.stderr.write(`xenops parse: ${message.split("\n")[0]}\n`);
    return 2;
  }
}

export function registerParseCommand(program: Command): void {
  program
    .command("parse")
    .argument("<kind>", `one of: ${parserKinds.map((p) => p.kind).join(", ")}`)
    .description("read raw command output from a node on stdin and print it as normalized JSON")
    .addHelpText(
      "after",
      `\nKinds:\n${parserKinds.map((p) => `  ${p.kind.padEnd(18)} ${p.description}`).join("\n")}\n\nExample:\n  ssh root@ics1 cat /proc/drbd | xenops parse proc-drbd`,
    )
    .action(async (kind: string) => {
      process.exitCode = await runParse(kind, {
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    });
}
