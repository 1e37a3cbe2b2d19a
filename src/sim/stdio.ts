/**
 * Control endpoint for serving simulated commands to other processes, e.g. OpenSSH's sshd running
 * forced-command.ts: `POST /exec` with `{node, command, stdin}` and `Authorization: Bearer TOKEN`
 * answers `{stdout, stderr, exitCode}`. Loopback only; the token is random per start.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage } from "node:http";
import { z } from "zod";
import { execInProcess } from "./commands";
import type { Simulation } from "./simulation";

export interface ControlServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

const ExecBody = z
  .object({ node: z.string().min(1), command: z.string(), stdin: z.string().optional() })
  .strict();
export type ExecBody = z.infer<typeof ExecBody>;

const MAX_BODY = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

function tokenOk(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.startsWith("Bearer ") ? header.slice(7) : "");
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export async function startControlServer(
  sim: Simulation,
  options: {
    host?: string;
    port?: number /** A Unix socket instead of TCP (reachable from other network namespaces). */;
    socketPath?: string;
  } = {},
): Promise<ControlServer> {
  const token = randomBytes(24).toString("base64url");
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "POST" || req.url !== "/exec") return reply(404, { error: "POST /exec only" });
    if (!tokenOk(req.headers.authorization, token)) return reply(401, { error: "bad token" });
    // The command runs until done, or until the caller hangs up (a streaming command).
    const ac = new AbortController();
    res.once("close", () => ac.abort("client closed"));
    readBody(req)
      .then(async (text) => {
        const parsed = ExecBody.safeParse(JSON.parse(text));
        if (!parsed.success) return reply(400, { error: parsed.error.message });
        const { node, command, stdin } = parsed.data;
        if (!sim.node(node)) return reply(404, { error: `unknown node ${node}` });
        const out = await execInProcess(sim, node, command, { stdin: stdin ?? "", signal: ac.signal });
        if (!res.writableEnded && !res.destroyed) reply(200, out);
      })
      .catch((error: unknown) => {
        if (!res.headersSent) reply(400, { error: error instanceof Error ? error.message : String(error) });
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (options.socketPath) server.listen(options.socketPath, () => resolve());
    else server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (options.socketPath)
    return {
      url: `unix:${options.socketPath}`,
      token,
      close: () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  if (address === null || typeof address === "string") throw new Error("control server has no TCP address");
  return {
    url: `http://${address.address}:${address.port}`,
    token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Client side of the endpoint (what forced-command.ts uses). */
export async function execViaControl(
  url: string,
  token: string,
  body: ExecBody,
): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const res = await fetch(`${url}/exec`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = (await res.json()) as { stdout?: string; stderr?: string; exitCode?: number; error?: string };
  if (!res.ok || typeof data.exitCode !== "number")
    throw new Error(`simulator refused: ${data.error ?? res.status}`);
  return { stdout: data.stdout ?? "", stderr: data.stderr ?? "", exitCode: data.exitCode };
}
