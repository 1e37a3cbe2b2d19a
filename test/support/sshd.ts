/**
 * Test harness: a real OpenSSH sshd on a free loopback port, with its own throw-away config, host key
 * and authorized_keys. Needs root (sshd's privilege separation) and /usr/sbin/sshd.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SSHD_PATH = "/usr/sbin/sshd";

/** Why the OpenSSH tests cannot run here, or undefined when they can. */
export function openSshUnavailableReason(): string | undefined {
  if (!existsSync(SSHD_PATH)) return `${SSHD_PATH} is not installed (apt-get install openssh-server)`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "sshd needs root to run";
  if (!existsSync("/usr/bin/ssh-keygen")) return "ssh-keygen is not installed";
  return undefined;
}

/** OpenSSH's version as [major, minor], from `sshd -V`. */
export function openSshVersion(): [number, number] | undefined {
  const out = spawnSync(SSHD_PATH, ["-V"], { encoding: "utf8" });
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(`${out.stdout}${out.stderr}`);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * Makes sure an unprivileged login user exists (created as a system user without password, home /,
 * shell /bin/sh). The termination tests need one: OpenSSH before 10.0 refuses signal requests for
 * root logins. Returns the user name.
 */
export function ensureLoginUser(name = "xenops-ssh-test"): string {
  if (spawnSync("id", ["-u", name]).status !== 0) {
    // "*" instead of a locked "!" password: sshd (without PAM) refuses locked accounts.
    execFileSync("useradd", [
      "--system",
      "--shell",
      "/bin/sh",
      "--home-dir",
      "/",
      "--no-create-home",
      "-p",
      "*",
      name,
    ]);
  }
  return name;
}

export interface OpenSshOptions {
  /** authorized_keys lines for the login user (root). */
  authorizedKeys: string[];
  /** Body of a script installed as `ForceCommand`; omit for plain sessions (`$SHELL -c COMMAND`). */
  forceCommandScript?: string;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
}

export interface OpenSshServer {
  host: string;
  port: number;
  /** `SHA256:...` of the host key, from ssh-keygen -lf. */
  hostKeyFingerprint: string;
  /** The host's public key (`ssh-ed25519 AAAA...`), for known_hosts style pins. */
  hostPublicKey: string;
  /** Temp dir holding config, keys and logs. */
  dir: string;
  /** sshd's stderr so far (-e): useful in assertion messages. */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port sends an SSH banner. */
async function bannerSeen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.once("data", (d) => done(d.toString("latin1").startsWith("SSH-2.0-")));
  });
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startOpenSsh(options: OpenSshOptions): Promise<OpenSshServer> {
  const reason = openSshUnavailableReason();
  if (reason) throw new Error(`cannot start sshd: ${reason}`);
  // sshd's privilege-separation chroot; Debian creates it from its service unit, which we bypass.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(join(tmpdir(), "xenops-sshd-"));
  // sshd opens AuthorizedKeysFile as the logging-in user: let non-root users read it.
  chmodSync(dir, 0o755);
  const hostKey = join(dir, "ssh_host_ed25519_key");
  execFileSync("/usr/bin/ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    "xenops-test-host",
    "-f",
    hostKey,
  ]);
  const hostPublicKey = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const hostKeyFingerprint = execFileSync("/usr/bin/ssh-keygen", ["-lf", `${hostKey}.pub`], {
    encoding: "utf8",
  })
    .trim()
    .split(/\s+/)[1]!;

  const authorizedKeysFile = join(dir, "authorized_keys");
  writeFileSync(authorizedKeysFile, `${options.authorizedKeys.join("\n")}\n`, { mode: 0o644 });

  const config = [
    "ListenAddress 127.0.0.1",
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${authorizedKeysFile}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    "PermitRootLogin prohibit-password",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    "StrictModes no",
    "PrintMotd no",
    "LogLevel VERBOSE",
    // The tests connect many times quickly; the defaults would start dropping connections.
    "MaxStartups 100",
  ];
  if (options.forceCommandScript !== undefined) {
    const script = join(dir, "force-command.sh");
    writeFileSync(script, options.forceCommandScript, { mode: 0o755 });
    config.push(`ForceCommand ${script}`);
  }
  config.push(...(options.extraConfig ?? []));

  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    // A free port can be taken between the probe and sshd's bind; try again with another.
    const port = await freePort();
    const configFile = join(dir, "sshd_config");
    writeFileSync(configFile, `Port ${port}\n${config.join("\n")}\n`);
    let stderr = "";
    // sshd re-executes itself, so it must be started by absolute path. Own process group: stop()
    // kills the listener and its per-connection children together.
    const child = spawn(SSHD_PATH, ["-D", "-e", "-f", configFile], {
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr += d;
    });
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      if (await bannerSeen(port)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!ready) {
      lastError = stderr;
      if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
      await waitForExit(child, 2000);
      continue;
    }
    // If the test process dies without stop(), do not leave a root sshd listening behind it.
    const killOnExit = (): void => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    };
    process.once("exit", killOnExit);
    return {
      host: "127.0.0.1",
      port,
      hostKeyFingerprint,
      hostPublicKey,
      dir,
      log: () => stderr,
      async stop() {
        process.removeListener("exit", killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(-child.pid!, "SIGTERM");
          } catch {
            // already gone
          }
          if (!(await waitForExit(child, 3000))) {
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // already gone
            }
            await waitForExit(child, 3000);
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`sshd did not start:\n${lastError}`);
}
