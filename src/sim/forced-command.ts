/**
 * sshd ForceCommand for the OpenSSH interop lab: relays $SSH_ORIGINAL_COMMAND to a running
 * simulator's control endpoint (stdio.ts) and reproduces its output and exit status.
 *
 *   ForceCommand env XENOPS_SIM_URL=... XENOPS_SIM_TOKEN=... XENOPS_SIM_NODE=ics1 \
 *                node --import tsx /path/to/src/sim/forced-command.ts
 *
 * Standard input is forwarded only to programs that read it (fence agents), so a client that
 * keeps its stdin open does not stall every other command.
 */
const url = process.env.XENOPS_SIM_URL;
const token = process.env.XENOPS_SIM_TOKEN;
const node = process.env.XENOPS_SIM_NODE;
const command = process.env.SSH_ORIGINAL_COMMAND ?? "";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => (text ? stream.write(text, () => resolve()) : resolve()));
}

async function main(): Promise<number> {
  if (!url || !token || !node) {
    process.stderr.write("forced-command: set XENOPS_SIM_URL, XENOPS_SIM_TOKEN and XENOPS_SIM_NODE\n");
    return 255;
  }
  const program = /^\s*(?:sudo\s+(?:-n\s+)*(?:--\s+)?)?(?:\S*\/)?(fence_\w+)/.exec(command);
  const stdin = program ? await readStdin() : "";
  let res: Response;
  try {
    res = await fetch(`${url}/exec`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ node, command, stdin }),
    });
  } catch (error) {
    process.stderr.write(
      `forced-command: simulator unreachable: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 255;
  }
  const data = (await res.json()) as { stdout?: string; stderr?: string; exitCode?: number; error?: string };
  if (!res.ok || typeof data.exitCode !== "number") {
    process.stderr.write(`forced-command: simulator refused: ${data.error ?? res.status}\n`);
    return 255;
  }
  await write(process.stdout, data.stdout ?? "");
  await write(process.stderr, data.stderr ?? "");
  return data.exitCode;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`forced-command: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(255);
  },
);
