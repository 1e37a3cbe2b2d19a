/**
 * A Docker engine and a local base image for the container test, in a sandbox where no image can be
 * pulled: use the engine DOCKER_HOST (or the default socket) names when it answers; else, as root with
 * `dockerd` installed (`apt-get install docker.io docker-compose`), start a private one. What works in
 * a container-in-a-sandbox: no iptables, no default bridge, the vfs storage driver, its own data and
 * exec roots and socket under /tmp. The base image is this machine's own node and redis-server with the
 * shared libraries `ldd` names, imported with `docker import` (no registry, no package download).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export interface DockerEngine {
  /** Environment for the docker and docker-compose clients (DOCKER_HOST). */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

function which(cmd: string): string | null {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

function answers(env: NodeJS.ProcessEnv): boolean {
  try {
    execFileSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
      env,
      stdio: "ignore",
      timeout: 10_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** The engine, or the reason there is none (the test then skips and prints it). */
export async function dockerEngine(): Promise<DockerEngine | { skip: string }> {
  if (!which("docker")) return { skip: "no docker client (apt-get install docker.io)" };
  if (!which("docker-compose")) return { skip: "no docker-compose (apt-get install docker-compose)" };
  if (answers(process.env)) return { env: { ...process.env }, stop: async () => {} };
  const dockerd = which("dockerd");
  if (!dockerd)
    return { skip: "no Docker engine answers and dockerd is not installed (apt-get install docker.io)" };
  if (process.getuid?.() !== 0) return { skip: "no Docker engine answers and starting dockerd needs root" };
  const root = mkdtempSync(join(tmpdir(), "xenops-dockerd-"));
  const sock = join(root, "docker.sock");
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}` };
  const child: ChildProcess = spawn(
    dockerd,
    [
      "--iptables=false",
      "--ip-masq=false",
      "--bridge=none",
      "--storage-driver=vfs",
      `--data-root=${join(root, "data")}`,
      `--exec-root=${join(root, "exec")}`,
      `--pidfile=${join(root, "dockerd.pid")}`,
      `--host=unix://${sock}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], detached: false },
  );
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString("utf8")).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    // dockerd leaves its default network namespace mounted; vfs layers are full copies: remove both.
    try {
      execFileSync("umount", [join(root, "exec", "netns", "default")], { stdio: "ignore" });
    } catch {
      // not mounted
    }
    rmSync(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && child.exitCode === null) {
    if (existsSync(sock) && answers(env)) return { env, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  return { skip: `dockerd did not start here: ${log.split("\n").slice(-5).join(" | ")}` };
}

/** Shared libraries a binary needs, per ldd (absolute paths, the loader included). */
function libraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  return [...out.matchAll(/(\/[^\s]+\.so[^\s]*)/g)].map((m) => m[1] as string);
}

function place(staging: string, source: string, target = source): void {
  const dest = join(staging, target);
  mkdirSync(dirname(dest), { recursive: true });
  // cp -L: the file the symlink points to, under the symlink's name.
  copyFileSync(source, dest);
  chmodSync(dest, 0o755);
}

/**
 * `tag`: a minimal root with node at /usr/local/bin/node (where the official node images have it),
 * redis-server and redis-cli, their libraries, /etc/passwd with the image's uid 10001, and /tmp.
 */
export function importBaseImage(engine: DockerEngine, tag: string): void {
  const node = process.execPath;
  const redisServer = which("redis-server");
  const redisCli = which("redis-cli");
  if (!redisServer || !redisCli) throw new Error("redis-server and redis-cli are needed for the base image");
  const staging = mkdtempSync(join(tmpdir(), "xenops-base-"));
  // mkdtemp makes 0700, which would become the image's root directory.
  chmodSync(staging, 0o755);
  try {
    place(staging, node, "/usr/local/bin/node");
    place(staging, redisServer, "/usr/bin/redis-server");
    place(staging, redisCli, "/usr/bin/redis-cli");
    for (const lib of new Set([node, redisServer, redisCli].flatMap(libraries))) place(staging, lib);
    mkdirSync(join(staging, "tmp"), { recursive: true });
    chmodSync(join(staging, "tmp"), 0o1777);
    mkdirSync(join(staging, "data"), { recursive: true });
    // Mount points docker itself uses (docker-init for `init: true`).
    mkdirSync(join(staging, "sbin"), { recursive: true });
    mkdirSync(join(staging, "etc"), { recursive: true });
    writeFileSync(
      join(staging, "etc", "passwd"),
      "root:x:0:0:root:/root:/sbin/nologin\nxenops:x:10001:10001:xenops:/var/lib/xenops:/sbin/nologin\n",
    );
    writeFileSync(join(staging, "etc", "group"), "root:x:0:\nxenops:x:10001:\n");
    const tar = join(staging, "..", `${tag.replace(/[^a-z0-9]/gi, "-")}.tar`);
    execFileSync("tar", ["-C", staging, "-cf", tar, "."]);
    try {
      execFileSync(
        "docker",
        ["import", "--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin", "--change", 'CMD ["node"]', tar, tag],
        { env: engine.env, stdio: "ignore", timeout: 120_000 },
      );
    } finally {
      rmSync(tar, { force: true });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
