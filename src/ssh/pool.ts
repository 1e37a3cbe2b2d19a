/**
 * SSH connection pool: one persistent ssh2 connection per node, opened on first use, reused by every
 * command, with keepalives, bounded concurrency per node, and host keys checked against pins.
 * The only other module allowed to import ssh2 is the rest of src/ssh.
 */
import { Socket } from "node:net";
import type { Logger } from "pino";
import type { Client, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import ssh2 from "ssh2";
import type { CommandRunner } from "../command-runner";
import type { NodeConfig } from "../config/schema";
import { XenopsError } from "../errors";
import { realSshClock, type SshClock } from "./clock";
import { corkPerTick } from "./cork";
import {
  fingerprintOfBlob,
  type HostKeyPin,
  hostKeyAlgorithmsFor,
  keyTypeOfBlob,
  parseHostKeyPin,
  verifyHostKey,
} from "./hostkey";
import { abortable, type NodeHandle, SshCommandRunner } from "./runner";

/** Connection settings of one node, secrets already resolved. */
export interface SshNodeSettings {
  name: string;
  host: string;
  port: number;
  user: string;
  /** Private key text (OpenSSH or PEM). Never logged. */
  privateKey: string;
  passphrase?: string;
  /** `SHA256:...` or a known_hosts line. Empty: refuse and report the presented key (onboarding). */
  hostKeyPin: string;
  /** Run commands as `sudo -n -- argv`. */
  sudo?: boolean;
}

/** Connection settings from a validated node config plus its resolved secrets. */
export function sshNodeSettings(
  node: NodeConfig,
  secrets: { privateKey: string; passphrase?: string },
): SshNodeSettings {
  return {
    name: node.name,
    host: node.host,
    port: node.port,
    user: node.user,
    privateKey: secrets.privateKey,
    // A passphrase file ends in a newline like every other secret file; the newline is not part of it.
    ...(secrets.passphrase !== undefined ? { passphrase: secrets.passphrase.replace(/\r?\n$/, "") } : {}),
    hostKeyPin: node.hostKey,
    ...(node.sudo !== undefined ? { sudo: node.sudo } : {}),
  };
}

export interface SshPoolOptions {
  /** Commands running at once per node; the rest queue. Keep below sshd's MaxSessions (10). */
  maxConcurrentPerNode?: number;
  /** TCP connect + SSH handshake + authentication. */
  connectTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the connection counts as dropped. */
  keepaliveCountMax?: number;
  /** Timeout of run() when the caller gives none. Covers queueing, connecting and running. */
  defaultTimeoutMs?: number;
  /** Per stream (stdout, stderr) of one command; more fails the command. */
  maxOutputBytes?: number;
  /** Between TERM and KILL on sudo nodes. */
  killGraceMs?: number;
  /**
   * After a failed connect, commands fail at once (with the last error) until the backoff has passed,
   * so a dead node costs one connect timeout per backoff period, not one per command. The delay
   * doubles per consecutive failure. A drop of an established connection reconnects at once.
   */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
}

export interface SshNodeStats {
  connected: boolean;
  connecting: boolean;
  /** Connections established so far (1 = everything reused one connection). */
  connects: number;
  inFlight: number;
  queued: number;
  streams: number;
  consecutiveFailures: number;
}

export interface SshPoolStats {
  /** Connections open now. */
  connections: number;
  nodes: Record<string, SshNodeStats>;
}

const DEFAULTS = {
  maxConcurrentPerNode: 4,
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  defaultTimeoutMs: 15_000,
  maxOutputBytes: 4 * 1024 * 1024,
  killGraceMs: 1000,
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
};

interface Waiter {
  grant: () => void;
}

class NodeState implements NodeHandle {
  readonly name: string;
  readonly sudo: boolean;
  readonly pin: HostKeyPin | undefined;
  client: Client | undefined;
  connecting: Promise<Client> | undefined;
  /** The client of the attempt in progress, so close() can cut it. */
  pending: Client | undefined;
  active = 0;
  readonly queue: Waiter[] = [];
  streams = 0;
  connects = 0;
  failures = 0;
  retryAt = 0;
  lastError: XenopsError | undefined;
  runner: SshCommandRunner | undefined;

  constructor(
    readonly settings: SshNodeSettings,
    readonly pool: SshPool,
    readonly logger: Logger,
    readonly defaultTimeoutMs: number,
    readonly maxOutputBytes: number,
    readonly killGraceMs: number,
    readonly clock: SshClock,
  ) {
    this.name = settings.name;
    this.sudo = settings.sudo === true;
    this.pin = settings.hostKeyPin.trim() === "" ? undefined : parseHostKeyPin(settings.hostKeyPin);
  }

  get closed(): boolean {
    return this.pool.isClosed;
  }

  acquireSlot(signal: AbortSignal): Promise<() => void> {
    return this.pool.acquire(this, signal);
  }

  connection(signal: AbortSignal): Promise<Client> {
    return abortable(this.pool.connect(this), signal);
  }

  streamOpened(delta: 1 | -1): void {
    this.streams += delta;
  }
}

export interface SshPoolParams {
  nodes: readonly SshNodeSettings[];
  logger: Logger;
  options?: SshPoolOptions;
  /** Real time unless a test brings its own. */
  clock?: SshClock;
}

export class SshPool {
  private readonly nodes = new Map<string, NodeState>();
  private readonly logger: Logger;
  private readonly opts: typeof DEFAULTS;
  private readonly clock: SshClock;
  private closed = false;

  constructor(params: SshPoolParams) {
    this.logger = params.logger.child({ component: "ssh" });
    this.clock = params.clock ?? realSshClock;
    const o = params.options ?? {};
    this.opts = {
      maxConcurrentPerNode: o.maxConcurrentPerNode ?? DEFAULTS.maxConcurrentPerNode,
      connectTimeoutMs: o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      keepaliveIntervalMs: o.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
      keepaliveCountMax: o.keepaliveCountMax ?? DEFAULTS.keepaliveCountMax,
      defaultTimeoutMs: o.defaultTimeoutMs ?? DEFAULTS.defaultTimeoutMs,
      maxOutputBytes: o.maxOutputBytes ?? DEFAULTS.maxOutputBytes,
      killGraceMs: o.killGraceMs ?? DEFAULTS.killGraceMs,
      initialDelayMs: o.reconnect?.initialDelayMs ?? DEFAULTS.initialDelayMs,
      maxDelayMs: o.reconnect?.maxDelayMs ?? DEFAULTS.maxDelayMs,
    };
    if (!Number.isInteger(this.opts.maxConcurrentPerNode) || this.opts.maxConcurrentPerNode < 1) {
      throw new XenopsError("config_invalid", "maxConcurrentPerNode must be a positive integer");
    }
    for (const node of params.nodes) {
      if (this.nodes.has(node.name)) throw new XenopsError("config_invalid", `duplicate node "${node.name}"`);
      let state: NodeState;
      try {
        state = new NodeState(
          node,
          this,
          this.logger,
          this.opts.defaultTimeoutMs,
          this.opts.maxOutputBytes,
          this.opts.killGraceMs,
          this.clock,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new XenopsError("config_invalid", `node ${node.name}: ${message}`, { cause: error });
      }
      // Read the key now so a bad key or passphrase is a config error, not a failure per command.
      const key = ssh2.utils.parseKey(node.privateKey, node.passphrase);
      if (key instanceof Error) {
        throw new XenopsError("config_invalid", `node ${node.name}: cannot read private key: ${key.message}`);
      }
      // A public key parses too, and ssh2 would refuse it only at connect time.
      if ((Array.isArray(key) ? key[0] : key)?.getPrivatePEM() == null) {
        throw new XenopsError(
          "config_invalid",
          `node ${node.name}: privateKey holds no private key (a public key?); give the private key file`,
        );
      }
      this.nodes.set(node.name, state);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The CommandRunner for a node (the same object on every call). */
  runner(node: string): CommandRunner {
    const state = this.nodes.get(node);
    if (!state) {
      throw new XenopsError(
        "unknown_node",
        `unknown node "${node}"; known: ${[...this.nodes.keys()].join(", ")}`,
      );
    }
    state.runner ??= new SshCommandRunner(state);
    return state.runner;
  }

  stats(): SshPoolStats {
    const nodes: Record<string, SshNodeStats> = {};
    let connections = 0;
    for (const [name, s] of this.nodes) {
      if (s.client) connections++;
      nodes[name] = {
        connected: s.client !== undefined,
        connecting: s.connecting !== undefined,
        connects: s.connects,
        inFlight: s.active,
        queued: s.queue.length,
        streams: s.streams,
        consecutiveFailures: s.failures,
      };
    }
    return { connections, nodes };
  }

  /** @internal FIFO semaphore per node. */
  acquire(state: NodeState, signal: AbortSignal): Promise<() => void> {
    if (this.closed) return Promise.reject(this.closedError(state));
    if (signal.aborted) return Promise.reject(signal.reason);
    const makeRelease = (): (() => void) => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        state.active--;
        const next = state.queue.shift();
        next?.grant();
      };
    };
    if (state.active < this.opts.maxConcurrentPerNode) {
      state.active++;
      return Promise.resolve(makeRelease());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          state.active++;
          resolve(makeRelease());
        },
      };
      const onAbort = (): void => {
        const i = state.queue.indexOf(waiter);
        if (i >= 0) state.queue.splice(i, 1);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      state.queue.push(waiter);
    });
  }

  private closedError(state: NodeState): XenopsError {
    return new XenopsError("ssh_disconnected", `${state.name}: the SSH pool is closed`);
  }

  /** @internal The node's connected client, connecting (once, shared) if needed. */
  connect(state: NodeState): Promise<Client> {
    if (this.closed) return Promise.reject(this.closedError(state));
    if (state.client) return Promise.resolve(state.client);
    if (state.connecting) return state.connecting;
    const wait = state.retryAt - this.clock.now();
    if (wait > 0 && state.lastError) {
      return Promise.reject(
        new XenopsError(state.lastError.code, `${state.lastError.message} (next attempt in ${wait} ms)`, {
          cause: state.lastError,
        }),
      );
    }
    const attempt = this.open(state).finally(() => {
      state.connecting = undefined;
    });
    state.connecting = attempt;
    attempt.catch(() => {}); // waiters observe it; this only keeps an abandoned attempt quiet
    return attempt;
  }

  private open(state: NodeState): Promise<Client> {
    const { settings } = state;
    const started = performance.now();
    const log = this.logger;
    return new Promise<Client>((resolve, reject) => {
      const client = new ssh2.Client();
      state.pending = client;
      // Many concurrent commands each watch the client for a drop.
      client.setMaxListeners(0);
      let settled = false;
      let hostKeyError: XenopsError | undefined;

      const fail = (error: XenopsError): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (state.pending === client) state.pending = undefined;
        state.failures++;
        const delay = Math.min(this.opts.maxDelayMs, this.opts.initialDelayMs * 2 ** (state.failures - 1));
        state.retryAt = this.clock.now() + delay;
        state.lastError = error;
        log.warn(
          {
            node: state.name,
            host: settings.host,
            port: settings.port,
            code: error.code,
            durationMs: Math.round(performance.now() - started),
            retryInMs: delay,
          },
          "ssh connect failed",
        );
        client.destroy();
        reject(error);
      };

      // Covers the TCP connect, the handshake and authentication (ssh2's own readyTimeout is off).
      const timer = this.clock.setTimeout(() => {
        fail(
          new XenopsError(
            "ssh_connect_failed",
            `${state.name}: no SSH handshake from ${settings.host}:${settings.port} within ${this.opts.connectTimeoutMs} ms`,
          ),
        );
      }, this.opts.connectTimeoutMs);

      client.once("ready", () => {
        if (settled) {
          client.end();
          return;
        }
        if (this.closed) {
          fail(this.closedError(state));
          return;
        }
        settled = true;
        this.clock.clearTimeout(timer);
        state.pending = undefined;
        state.client = client;
        state.connects++;
        state.failures = 0;
        state.retryAt = 0;
        state.lastError = undefined;
        log.info(
          {
            node: state.name,
            host: settings.host,
            port: settings.port,
            durationMs: Math.round(performance.now() - started),
          },
          "ssh connected",
        );
        resolve(client);
      });
      client.on("error", (err: Error & { level?: string; code?: string }) => {
        if (settled) {
          // After ready, errors (keepalive timeout, resets) are followed by "close", handled there.
          log.debug({ node: state.name, level: err.level, errCode: err.code }, "ssh connection error");
          return;
        }
        fail(this.closed ? this.closedError(state) : (hostKeyError ?? this.connectError(state, err)));
      });
      client.once("close", () => {
        if (!settled) {
          fail(
            (this.closed ? this.closedError(state) : hostKeyError) ??
              new XenopsError(
                "ssh_connect_failed",
                `${state.name}: ${settings.host}:${settings.port} closed the connection during the SSH handshake`,
              ),
          );
          return;
        }
        if (state.client === client) {
          state.client = undefined;
          if (!this.closed) {
            log.warn(
              { node: state.name, inFlight: state.active, streams: state.streams },
              "ssh connection lost",
            );
          }
        }
      });

      const algorithms = hostKeyAlgorithmsFor(state.pin?.keyType);
      const config: ConnectConfig = {
        host: settings.host,
        port: settings.port,
        username: settings.user,
        privateKey: settings.privateKey,
        ...(settings.passphrase !== undefined ? { passphrase: settings.passphrase } : {}),
        // The timer above bounds the whole connect on the pool's clock; a second, real-time one in
        // ssh2 would race it.
        readyTimeout: 0,
        keepaliveInterval: this.opts.keepaliveIntervalMs,
        keepaliveCountMax: this.opts.keepaliveCountMax,
        // Only the key: no agent, no password, no keyboard-interactive fallbacks.
        authHandler: ["publickey"],
        hostVerifier: (key: Buffer): boolean => {
          if (!state.pin) {
            // Never trust on first use: report what was presented so an operator can verify and pin it.
            const actual = fingerprintOfBlob(key);
            hostKeyError = new XenopsError(
              "ssh_host_key_unknown",
              `${state.name}: no host key is pinned for ${settings.host}:${settings.port}; it presents ${actual}` +
                ` (${keyTypeOfBlob(key) ?? "unknown type"}). Verify it out of band, then set hostKey to it.`,
            );
            log.warn({ node: state.name, actual }, "ssh host key not pinned");
            return false;
          }
          const v = verifyHostKey(state.pin, key);
          if (!v.ok) {
            hostKeyError = new XenopsError(
              "ssh_host_key_mismatch",
              `${state.name}: host key mismatch for ${settings.host}:${settings.port}: expected ${v.expected}, ` +
                `server presented ${v.actual} (${v.actualKeyType ?? "unknown type"}); connection refused. ` +
                "If the host was reinstalled, verify the new key out of band and update the pin.",
            );
            log.error({ node: state.name, expected: v.expected, actual: v.actual }, "ssh host key mismatch");
          }
          return v.ok;
        },
        ...(algorithms ? { algorithms: { serverHostKey: algorithms as ServerHostKeyAlgorithm[] } } : {}),
      };
      // The pool's own socket, so that its writes can be sent a tick at a time (ssh2 takes a socket
      // that is still connecting and waits for it).
      const sock = new Socket();
      try {
        corkPerTick(sock);
        sock.connect({ host: settings.host, port: settings.port });
        client.connect({ ...config, sock });
        // Commands are small request/response exchanges: Nagle + delayed ACK would add ~40 ms each.
        client.setNoDelay(true);
      } catch (err) {
        // ssh2 refused the configuration before it took the socket: nothing else would ever end it,
        // nor hear its errors (an unheard "error" event ends the process).
        sock.on("error", () => {});
        sock.destroy();
        fail(this.connectError(state, err as Error));
      }
    });
  }

  private connectError(state: NodeState, err: Error & { level?: string; code?: string }): XenopsError {
    const { host, port, user } = state.settings;
    const where = `${host}:${port}`;
    let why: string;
    if (err.level === "client-authentication") {
      why = `authentication as ${user} failed: ${where} did not accept the key`;
    } else if (err.level === "client-timeout") {
      why = `no SSH handshake from ${where} within ${this.opts.connectTimeoutMs} ms`;
    } else if (err.code === "ECONNREFUSED") {
      why = `connection to ${where} refused`;
    } else if (err.code === "ECONNRESET") {
      why = `connection to ${where} reset`;
    } else if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN") {
      why = `cannot resolve ${host}`;
    } else if (err.code) {
      why = `cannot connect to ${where}: ${err.code}`;
    } else {
      why = `cannot connect to ${where}: ${err.message}`;
    }
    return new XenopsError("ssh_connect_failed", `${state.name}: ${why}`, { cause: err });
  }

  /** Ends every connection; in-flight and queued commands fail with ssh_disconnected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const state of this.nodes.values()) {
      for (const waiter of state.queue.splice(0)) waiter.grant(); // they see the closed pool next
      state.pending?.destroy();
      const client = state.client;
      state.client = undefined;
      if (client) {
        waits.push(
          new Promise<void>((resolve) => {
            const timer = this.clock.setTimeout(() => {
              client.destroy();
              resolve();
            }, 2000);
            client.once("close", () => {
              this.clock.clearTimeout(timer);
              resolve();
            });
            client.end();
          }),
        );
      }
    }
    await Promise.all(waits);
    this.logger.debug({ nodes: this.nodes.size }, "ssh pool closed");
  }
}
