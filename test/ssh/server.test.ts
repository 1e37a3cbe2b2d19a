import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ExecError } from "../../src/errors";
import { SshPool } from "../../src/ssh/pool";
import { type ExecRequest, type RunningSshServer, startSshServer } from "../../src/ssh/server";
import { captureLogger, clientKeys, hostKeys, nodeSettings, rejectionOf } from "./helpers";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(
  onExec: (req: ExecRequest) => Promise<{ exitCode: number }>,
): Promise<RunningSshServer> {
  const s = await startSshServer({
    hostKeys: [hostKeys.privateKey],
    authorizedKeys: [clientKeys.publicKey],
    onExec,
  });
  cleanups.push(() => s.close());
  return s;
}

function pool(s: RunningSshServer, maxConcurrentPerNode = 4, user = "root") {
  const p = new SshPool({
    nodes: [nodeSettings(s, { user })],
    logger: captureLogger().logger,
    options: { maxConcurrentPerNode },
  });
  cleanups.push(() => p.close());
  return p.runner("n1");
}

describe("startSshServer", () => {
  it("listens on a free loopback port and reports its host key fingerprint", async () => {
    const s = await server(async () => ({ exitCode: 0 }));
    expect(s.host).toBe("127.0.0.1");
    expect(s.port).toBeGreaterThan(0);
    expect(s.hostKeyFingerprint).toBe(hostKeys.fingerprint);
  });

  it("hands the handler the command, the user and working streams", async () => {
    const seen: Array<{ command: string; username: string; input: string }> = [];
    const s = await server(async (req) => {
      let input = "";
      for await (const chunk of req.stdin) input += String(chunk);
      seen.push({ command: req.command, username: req.username, input });
      req.stdout.write(input.toUpperCase());
      req.stderr.write("note\n");
      // A big write must arrive whole before the exit status (SSH window handling).
      req.stdout.write("x".repeat(3 * 1024 * 1024));
      return { exitCode: 7 };
    });
    const error = (await rejectionOf(
      pool(s, 4, "xenops").run(["tool", "a b"], { stdin: "hello" }),
    )) as ExecError;
    expect(error).toBeInstanceOf(ExecError);
    expect(error.exitCode).toBe(7);
    expect(error.stderr).toBe("note\n");
    expect(error.stdout.length).toBe(5 + 3 * 1024 * 1024);
    expect(error.stdout.startsWith("HELLOxxx")).toBe(true);
    expect(seen).toEqual([{ command: "tool 'a b'", username: "xenops", input: "hello" }]);
  });

  it("runs many channels of one connection concurrently", async () => {
    // Every handler holds until all eight are in at once: only concurrent channels get there.
    let running = 0;
    let release!: () => void;
    const allIn = new Promise<void>((r) => {
      release = r;
    });
    const s = await server(async () => {
      if (++running === 8) release();
      await allIn;
      return { exitCode: 0 };
    });
    const runner = pool(s, 8);
    await Promise.all(Array.from({ length: 8 }, () => runner.run(["x"])));
    expect(running).toBe(8);
    expect(s.connections()).toBe(1);
  });

  it("turns a failing handler into exit 255 with the reason on stderr", async () => {
    const s = await server(async () => {
      throw new Error("simulator exploded");
    });
    const error = (await rejectionOf(pool(s).run(["x"]))) as ExecError;
    expect(error.exitCode).toBe(255);
    expect(error.stderr).toBe("exec handler failed: simulator exploded\n");
  });

  it("close() cuts open connections and aborts running handlers", async () => {
    const reasons: string[] = [];
    let handlerRunning!: () => void;
    const running = new Promise<void>((r) => {
      handlerRunning = r;
    });
    const s = await server(
      (req) =>
        new Promise((resolve) => {
          req.signal.addEventListener("abort", () => {
            reasons.push(String(req.signal.reason));
            resolve({ exitCode: 1 });
          });
          handlerRunning();
        }),
    );
    const failure = rejectionOf(pool(s).run(["hang"]));
    // The handler, not only the connection: closing between the two would abort nothing.
    await running;
    expect(s.connections()).toBe(1);
    await s.close();
    expect(s.connections()).toBe(0);
    expect(((await failure) as ExecError).code).toBe("ssh_disconnected");
    expect(reasons).toHaveLength(1);
    expect(["server closed", "channel closed", "connection closed"]).toContain(reasons[0]);
  });
});

describe.runIf(existsSync("/usr/bin/ssh"))("startSshServer with the OpenSSH client", () => {
  function ssh(s: RunningSshServer, options: string[], command: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), "xenops-sshc-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const key = join(dir, "id");
    writeFileSync(key, clientKeys.privateKey, { mode: 0o600 });
    const knownHosts = join(dir, "known_hosts");
    writeFileSync(knownHosts, `[${s.host}]:${s.port} ${hostKeys.publicKey}\n`);
    // Asynchronous on purpose: the server runs in this very process.
    const child = spawn(
      "/usr/bin/ssh",
      [
        "-F",
        "none",
        "-i",
        key,
        "-p",
        String(s.port),
        "-o",
        `UserKnownHostsFile=${knownHosts}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        ...options,
        `root@${s.host}`,
        ...command,
      ],
      { stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8");
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
  }

  const echoServer = () =>
    server(async (req) => {
      req.stdout.write(`ran: ${req.command}\n`);
      return { exitCode: 4 };
    });

  it("runs exec requests from ssh(1), which verifies the host key", async () => {
    const s = await echoServer();
    const out = await ssh(s, [], ["drbdadm", "status"]);
    expect(out.stdout).toBe("ran: drbdadm status\n");
    expect(out.status).toBe(4);
  });

  it("answers a shell request politely and refuses a pty", async () => {
    const s = await echoServer();
    const shell = await ssh(s, ["-T"]);
    expect(shell.status).toBe(1);
    expect(shell.stderr).toContain("runs commands only");
    const pty = await ssh(s, ["-tt"], ["uptime"]);
    // OpenSSH's client gives up when a forced (-tt) pty is refused; the command never ran.
    expect(pty.stderr).toContain("PTY allocation request failed");
    expect(pty.stdout).toBe("");
  });
});
