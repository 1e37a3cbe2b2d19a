/**
 * One lab node as a set of Linux namespaces: PID, network, UTS (its own host name) and mount (its own
 * /etc/ha.d, /etc/drbd.conf, /run, /var/lib/heartbeat, /var/log, serial port and the simulated
 * xm/drbdadm; for Pacemaker /etc/corosync, /var/lib/corosync, /var/lib/pacemaker, a private
 * /dev/shm and the lab's OCF agents instead of heartbeat's directories), held by a
 * bash that is PID 1 there. Everything the node runs (heartbeat, its children, STONITH plugins)
 * lives in its PID namespace, so when that bash ends the kernel kills all of it; the bash ends when
 * its stdin (a pipe from the lab) closes, so a lab that dies, even by SIGKILL, takes its nodes along.
 * `unshare --kill-child` covers the window before the bash reads. The network namespace (and with it
 * the node's end of the replication veth) and the bind mounts disappear with the last process.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import type { CommandIO } from "../../sim/commands";

/** argv marker of node holders (leftover cleanup finds them by it). */
export const NODE_MARKER = "xenops-real-ha-node";

const HOLDER = `set -e
hostname "$1"
mount --make-rprivate /
mount -t proc proc /proc
if [ "$5" = pacemaker ]; then
  mount --bind "$2/etc/corosync" /etc/corosync
  mount --bind "$2/var/lib/corosync" /var/lib/corosync
  mount --bind "$2/var/lib/pacemaker" /var/lib/pacemaker
  # libqb's IPC lives in /dev/shm: a shared one would let each node's tools reach the other's daemons.
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  # The packages' OCF providers plus the lab's own (xenops): the node's resource.d is a copy of
  # mount points, each the host's provider directory, and the lab's directory for xenops.
  for d in /usr/lib/ocf/resource.d/*; do
    if [ -d "$2/ocf/\${d##*/}" ]; then mount --bind "$d" "$2/ocf/\${d##*/}"; fi
  done
  mount --rbind "$2/ocf" /usr/lib/ocf/resource.d
else
  mount --bind "$2/etc/ha.d" /etc/ha.d
  mount --bind "$2/var/lib/heartbeat" /var/lib/heartbeat
fi
mount --bind "$2/run" /run
mount --bind "$2/var/log" /var/log
mount --bind "$2/sbin" /usr/local/sbin
if [ -e /sbin/drbdadm ]; then mount --bind "$2/sbin/drbdadm" /sbin/drbdadm; fi
if [ -n "$4" ]; then mount --bind "$4" /dev/ttyS0; fi
if [ -e /etc/drbd.conf ] && [ -e "$2/etc/drbd.conf" ]; then mount --bind "$2/etc/drbd.conf" /etc/drbd.conf; fi
ip link set lo up
echo ready
set +e
while read -r _; do :; done
`;

export interface NodeNamespaceOptions {
  name: string;
  /** The node's root of bind-mounted directories (etc/ha.d, run, var/lib/heartbeat, var/log, sbin). */
  dir: string;
  /** The node's /dev/ttyS0 (a pty slave), or empty. */
  tty: string;
  /** Which HA stack's directories the node gets (default heartbeat). */
  stack?: "heartbeat" | "pacemaker";
}

export class NodeNamespace {
  private constructor(
    readonly name: string,
    readonly dir: string,
    /** PID (host view) of the bash that is PID 1 in the node. */
    readonly pid: number,
    private readonly holder: ChildProcessWithoutNullStreams,
  ) {}

  static async start(opts: NodeNamespaceOptions, labPid = process.pid): Promise<NodeNamespace> {
    const holder = spawn(
      "unshare",
      [
        "--pid",
        "--fork",
        "--kill-child",
        "--net",
        "--uts",
        "--mount",
        "--",
        "bash",
        "-c",
        HOLDER,
        NODE_MARKER,
        opts.name,
        opts.dir,
        String(labPid),
        opts.tty,
        opts.stack ?? "heartbeat",
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    holder.stdin.on("error", () => {});
    let err = "";
    holder.stderr.on("data", (c: Buffer) => {
      err += c.toString("utf8");
    });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      holder.stdout.on("data", (c: Buffer) => {
        out += c.toString("utf8");
        if (out.includes("ready\n")) resolve();
      });
      holder.once("error", reject);
      holder.once("exit", (code) =>
        reject(new Error(`namespace of ${opts.name} did not start (exit ${code}): ${err.trim()}`)),
      );
    });
    // unshare forks the PID-namespace init: the bash is unshare's only child.
    const unsharePid = holder.pid ?? 0;
    const children = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
    const pid = Number(children.split(/\s+/)[0]);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`namespace of ${opts.name}: no init process`);
    return new NodeNamespace(opts.name, opts.dir, pid, holder);
  }

  get alive(): boolean {
    return this.holder.exitCode === null && this.holder.signalCode === null;
  }

  /** nsenter's arguments to run ARGV inside the node. */
  enterArgs(argv: readonly string[]): string[] {
    return ["-t", String(this.pid), "-p", "-n", "-u", "-m", "--", ...argv];
  }

  /** Runs ARGV inside the node; resolves with its output (no shell unless ARGV is one). */
  run(
    argv: readonly string[],
    options: { stdin?: string; timeoutMs?: number } = {},
  ): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    return new Promise((resolve, reject) => {
      const child = spawn("nsenter", this.enterArgs(argv), { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => {
        stdout += c.toString("utf8");
      });
      child.stderr.on("data", (c: Buffer) => {
        stderr += c.toString("utf8");
      });
      const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : null;
      child.once("error", reject);
      child.once("close", (code, signal) => {
        if (timer) clearTimeout(timer);
        resolve({ stdout, stderr, exitCode: code ?? (signal ? 128 + 9 : 1) });
      });
      child.stdin.on("error", () => {});
      child.stdin.end(options.stdin ?? "");
    });
  }

  /** Runs ARGV inside the node, streaming into a simulator command's IO (the SSH pass-through). */
  stream(argv: readonly string[], io: CommandIO): Promise<number> {
    return new Promise((resolve) => {
      const child = spawn("nsenter", this.enterArgs(argv), { stdio: ["pipe", "pipe", "pipe"] });
      child.stdout.on("data", (c: Buffer) => io.stdout(c.toString("utf8")));
      child.stderr.on("data", (c: Buffer) => io.stderr(c.toString("utf8")));
      const abort = () => child.kill("SIGTERM");
      io.signal.addEventListener("abort", abort, { once: true });
      child.once("error", (e) => {
        io.stderr(`nsenter: ${e.message}\n`);
        resolve(127);
      });
      child.once("close", (code, signal) => {
        io.signal.removeEventListener("abort", abort);
        resolve(code ?? (signal === "SIGTERM" ? 143 : 137));
      });
      // The programs passed through (cl_status, stonith, cat...) take no input: a client that keeps
      // its stdin open must not stall them.
      child.stdin.on("error", () => {});
      child.stdin.end();
    });
  }

  /** Power loss: every process of the node dies at once, except its init (the namespace holder). */
  async killAll(): Promise<void> {
    await this.run(["/bin/kill", "-KILL", "-1"]);
  }

  /** Ends the node: the PID namespace, its network and mounts go with its init. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.holder.once("exit", () => resolve()));
    this.holder.stdin.end();
    const t = setTimeout(() => {
      try {
        process.kill(this.pid, "SIGKILL");
      } catch {
        // already gone
      }
      this.holder.kill("SIGKILL");
    }, 3000);
    await exited;
    clearTimeout(t);
  }
}
