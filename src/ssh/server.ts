/**
 * A small SSH server for the cluster simulator: public-key auth, exec requests only, each handed to
 * an async handler with plain streams. The simulator decides what commands do; this module only
 * speaks SSH. Not meant for production use.
 */

import { timingSafeEqual } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { PassThrough, type Writable } from "node:stream";
import type { Connection, ParsedKey, ServerChannel, Session } from "ssh2";
import ssh2 from "ssh2";
import { XenopsError } from "../errors";
import { corkPerTick } from "./cork";
import { fingerprintOfBlob } from "./hostkey";

export interface ExecRequest {
  command: string;
  username: string;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Aborted when the client sends a signal or closes the channel (or the connection/server goes). */
  signal: AbortSignal;
}
export type ExecHandler = (req: ExecRequest) => Promise<{ exitCode: number }>;
/** refuse = destroy the socket at once; hang = accept TCP, never answer. */
export type ConnectionPolicy = () => "accept" | "refuse" | "hang";

export interface SshServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Private host keys. */
  hostKeys: string[];
  /** `ssh-ed25519 AAAA...` lines. */
  authorizedKeys: string[];
  onExec: ExecHandler;
  connectionPolicy?: ConnectionPolicy;
}

export interface RunningSshServer {
  host: string;
  port: number;
  /** Fingerprint of the first host key. */
  hostKeyFingerprint: string;
  /** Stops listening and cuts every open connection (a "node down" fault). */
  close(): Promise<void>;
  /** Open accepted connections (not counting refused or hanging sockets). */
  connections(): number;
}

function parseKeyOrThrow(text: string, what: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(text);
  if (parsed instanceof Error) throw new XenopsError("invalid_argument", `${what}: ${parsed.message}`);
  return Array.isArray(parsed) ? (parsed[0] as ParsedKey) : parsed;
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Resolves once everything written so far has been handed to the SSH channel (or it closed). */
function flushed(stream: Writable, closed: Promise<void>): Promise<void> {
  return Promise.race([
    closed,
    new Promise<void>((resolve) => {
      // A zero-length write is queued behind the others; its callback runs when they are all sent.
      stream.write(Buffer.alloc(0), () => resolve());
    }),
  ]);
}

export async function startSshServer(opts: SshServerOptions): Promise<RunningSshServer> {
  if (opts.hostKeys.length === 0)
    throw new XenopsError("invalid_argument", "startSshServer needs a host key");
  const hostKey = parseKeyOrThrow(opts.hostKeys[0]!, "host key");
  const hostKeyFingerprint = fingerprintOfBlob(hostKey.getPublicSSH());
  const authorized = opts.authorizedKeys.map((line, i) => parseKeyOrThrow(line, `authorized key ${i + 1}`));

  const sockets = new Set<Socket>();
  const accepted = new Set<Socket>();
  const running = new Set<AbortController>();

  const handleExec = (
    channel: ServerChannel,
    command: string,
    username: string,
    ac: AbortController,
  ): void => {
    running.add(ac);
    let channelClosed = false;
    let signalName: string | undefined;
    ac.signal.addEventListener("abort", () => {
      if (typeof ac.signal.reason === "string" && ac.signal.reason.startsWith("signal ")) {
        signalName = ac.signal.reason.slice("signal ".length);
      }
    });
    let markClosed = (): void => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    channel.once("close", () => {
      channelClosed = true;
      markClosed();
      if (!ac.signal.aborted) ac.abort("channel closed");
      running.delete(ac);
    });
    channel.on("error", () => {});

    // Flowing copy of stdin: ssh2 only reports the channel closed once its input was read, and a
    // handler may never read stdin.
    const stdin = new PassThrough();
    channel.on("data", (chunk: Buffer) => stdin.write(chunk));
    channel.once("end", () => stdin.end());

    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on("data", (chunk: Buffer) => {
      if (!channelClosed) channel.write(chunk);
    });
    stderr.on("data", (chunk: Buffer) => {
      if (!channelClosed) channel.stderr.write(chunk);
    });

    const finish = async (exitCode: number): Promise<void> => {
      for (const s of [stdout, stderr]) if (!s.writableEnded) s.end();
      await Promise.all(
        [stdout, stderr].map((s) => new Promise((r) => (s.readableEnded ? r(null) : s.once("end", r)))),
      );
      if (channelClosed) return;
      await Promise.all([flushed(channel, closed), flushed(channel.stderr, closed)]);
      if (channelClosed) return;
      // A signalled command "dies" of it, as a real process would: exit-signal, not exit-status.
      if (signalName !== undefined) channel.exit(signalName, false, "");
      else channel.exit(exitCode);
      channel.end();
    };

    let result: Promise<{ exitCode: number }>;
    try {
      result = opts.onExec({ command, username, stdin, stdout, stderr, signal: ac.signal });
    } catch (error) {
      result = Promise.reject(error);
    }
    result.then(
      ({ exitCode }) => finish(exitCode),
      (error: unknown) => {
        stderr.write(`exec handler failed: ${error instanceof Error ? error.message : String(error)}\n`);
        return finish(255);
      },
    );
  };

  const handleSession = (session: Session, username: string, connectionGone: AbortSignal): void => {
    const ac = new AbortController();
    const onGone = (): void => ac.abort("connection closed");
    connectionGone.addEventListener("abort", onGone, { once: true });
    ac.signal.addEventListener("abort", () => connectionGone.removeEventListener("abort", onGone), {
      once: true,
    });
    session.on("pty", (_accept, reject) => reject?.());
    session.on("env", (_accept, reject) => reject?.());
    session.on("subsystem", (_accept, reject) => reject?.());
    session.on("sftp", (_accept, reject) => reject?.());
    session.on("auth-agent", (_accept, reject) => reject?.());
    session.on("x11", (_accept, reject) => reject?.());
    session.on("shell", (accept) => {
      const channel = accept();
      if (!channel) return; // the client went away meanwhile
      channel.stderr.write("this server runs commands only (ssh HOST COMMAND); no interactive shell\n");
      channel.exit(1);
      channel.end();
    });
    // ssh2's server marks a session "ending" at the client's EOF on stdin and then drops every later
    // channel request, signals included. Clients (ours, OpenSSH's) send EOF first and may signal
    // afterwards, as sshd allows; so undo that mark (CHANNEL_CLOSE sets it again).
    session.on("eof", () => {
      (session as unknown as { _ending: boolean })._ending = false;
    });
    session.on("signal", (accept, _reject, info) => {
      accept?.();
      if (!ac.signal.aborted) ac.abort(`signal ${info.name}`);
    });
    session.on("exec", (accept, _reject, info) => {
      const channel = accept();
      if (channel) handleExec(channel, info.command, username, ac);
    });
  };

  const handleClient = (client: Connection): void => {
    let username = "";
    const gone = new AbortController();
    client.on("error", () => {}); // resets from cut connections are expected
    client.once("close", () => gone.abort());
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey") {
        ctx.reject(["publickey"]);
        return;
      }
      const key = authorized.find((k) => sameBytes(k.getPublicSSH(), ctx.key.data));
      if (!key) {
        ctx.reject(["publickey"]);
        return;
      }
      // Without a signature the client only asks whether the key would do; accepting makes it sign.
      if (ctx.signature) {
        if (!ctx.blob || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
          ctx.reject(["publickey"]);
          return;
        }
        username = ctx.username;
      }
      ctx.accept();
    });
    client.on("ready", () => {
      client.on("session", (accept) => handleSession(accept(), username, gone.signal));
    });
  };

  const sshServer = new ssh2.Server({ hostKeys: opts.hostKeys }, handleClient);

  const tcp = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      accepted.delete(socket);
    });
    socket.on("error", () => {});
    const policy = opts.connectionPolicy?.() ?? "accept";
    if (policy === "refuse") {
      socket.destroy();
      return;
    }
    if (policy === "hang") return; // keep it open, never read or answer
    accepted.add(socket);
    socket.setNoDelay(true); // see SshPool: small exchanges, no Nagle delay
    corkPerTick(socket);
    sshServer.injectSocket(socket);
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      tcp.removeListener("error", reject);
      resolve();
    });
  });
  const address = tcp.address();
  if (address === null || typeof address === "string")
    throw new XenopsError("internal", "server has no TCP address");

  return {
    host: address.address,
    port: address.port,
    hostKeyFingerprint,
    connections: () => accepted.size,
    close: async () => {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      for (const ac of running) if (!ac.signal.aborted) ac.abort("server closed");
      const gone = [...sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve)));
      for (const socket of sockets) socket.destroy();
      await Promise.all([closed, ...gone]);
    },
  };
}
