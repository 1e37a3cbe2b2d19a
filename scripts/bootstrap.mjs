#!/usr/bin/env node
// Set-up that `npm run lab`, `npm test` and `npm run bench` run first, so a fresh clone on a fresh
// Debian machine with Node.js 20 needs nothing else: npm dependencies, then the Debian packages the
// lab and the tests use (redis-server, OpenSSH's sshd, parallel-ssh for the benchmark).
// Plain Node with no dependencies, because it runs before node_modules exists.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quiet = process.argv.includes("--quiet");
const say = (msg) => {
  if (!quiet) console.error(`bootstrap: ${msg}`);
};

function npmDependenciesStale() {
  const marker = join(root, "node_modules", ".package-lock.json");
  if (!existsSync(marker)) return true;
  return statSync(join(root, "package-lock.json")).mtimeMs > statSync(marker).mtimeMs + 1000;
}

if (npmDependenciesStale()) {
  console.error("bootstrap: installing npm dependencies (npm ci)");
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--no-audit", "--no-fund"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Debian packages: the binary each provides, and whether the lab (not only tests/bench) needs it.
const packages = [
  { pkg: "redis-server", bins: ["/usr/bin/redis-server"] },
  { pkg: "openssh-server", bins: ["/usr/sbin/sshd"] },
  { pkg: "openssh-client", bins: ["/usr/bin/ssh-keygen", "/usr/bin/ssh"] },
  { pkg: "pssh", bins: ["/usr/bin/parallel-ssh"] },
  // The real-HA lab (`npm run lab -- --ha real`) and its tests (CI runs `bootstrap --real-ha`): asked
  // for only then, so `npm test` and the plain lab never wait on apt for them.
  { pkg: "heartbeat", bins: ["/usr/libexec/heartbeat/heartbeat", "/usr/bin/cl_status"], realHa: true },
  {
    pkg: "cluster-glue",
    bins: ["/usr/sbin/stonith", "/usr/lib/stonith/plugins/stonith2/apcsmart.so"],
    realHa: true,
  },
  { pkg: "drbd-utils", bins: ["/etc/ha.d/resource.d/drbddisk", "/usr/lib/drbd/drbdadm-83"], realHa: true },
  // The modern preset's real stack (`--preset modern --ha real`): corosync 3 and Pacemaker 2.1.
  { pkg: "corosync", bins: ["/usr/sbin/corosync"], realHa: true },
  { pkg: "pacemaker", bins: ["/usr/sbin/pacemakerd"], realHa: true },
  { pkg: "pacemaker-cli-utils", bins: ["/usr/sbin/crm_mon", "/usr/sbin/stonith_admin"], realHa: true },
  // The container test (test/deploy/container.test.ts) builds the image and runs the compose stack on
  // a Docker engine it starts itself (CI runs `bootstrap --docker`); elsewhere it skips with a reason.
  { pkg: "docker.io", bins: ["/usr/sbin/dockerd", "/usr/bin/docker"], docker: true },
  { pkg: "docker-compose", bins: ["/usr/bin/docker-compose"], docker: true },
];
const wantRealHa = process.argv.includes("--real-ha") || process.env.XENOPS_REAL_HA === "1";
const wantDocker = process.argv.includes("--docker") || process.env.XENOPS_DOCKER === "1";
const missing = packages
  .filter((p) => (!p.realHa || wantRealHa) && (!p.docker || wantDocker))
  .filter((p) => !p.bins.every((b) => existsSync(b)))
  .map((p) => p.pkg);
if (missing.length > 0) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = existsSync("/usr/bin/apt-get");
  if (isRoot && hasApt) {
    console.error(`bootstrap: installing Debian packages: ${missing.join(" ")}`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    try {
      execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env });
      execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
        stdio: ["ignore", "ignore", "inherit"],
        env,
      });
    } catch {
      console.error(`bootstrap: apt-get failed; install these packages and retry: ${missing.join(" ")}`);
      process.exit(1);
    }
    // The Debian packages start system services we do not use; the lab and tests start their own
    // (the real-HA lab runs heartbeat, corosync and Pacemaker in its node namespaces).
    for (const svc of ["redis-server", "ssh", "heartbeat", "pacemaker", "corosync"])
      spawnSync("service", [svc, "stop"], { stdio: "ignore" });
  } else {
    console.error(
      `bootstrap: missing Debian packages: ${missing.join(" ")}\n` +
        `  install them with: sudo apt-get install ${missing.join(" ")}\n` +
        "  (tests that need them are skipped with a message; the lab needs redis-server unless REDIS_URL is set)",
    );
  }
}
say("ready");
