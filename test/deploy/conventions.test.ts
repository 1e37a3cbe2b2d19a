/**
 * The deployment files agree with the code: .env.example lists every variable src/config/env.ts reads
 * (and the _FILE form of every secret), and parses as a valid environment; the Slack manifests ask for
 * exactly the scopes `xenops doctor slack` checks; the HTTP manifest has request URLs and no Socket Mode;
 * the systemd units carry the hardening and pass `systemd-analyze verify` where it exists; the compose
 * file has what a production stack needs.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { FILE_SECRET_VARS, RuntimeEnv, readRuntimeEnv } from "../../src/config/env";
import { REQUIRED_BOT_SCOPES } from "../../src/slack/setup-check";
import { MANIFEST_BOT_SCOPES } from "../support/fake-slack";
import { ROOT } from "./helpers";

const read = (f: string) => readFileSync(join(ROOT, f), "utf8");
/** The node flags and malloc settings of the units and the image (contrib/systemd/ says why). */
const NODE_FLAGS = {
  // The bot answers bursts of commands: collecting sooner would cost it ack latency for little memory.
  bot: ["--max-semi-space-size=1", "--heap-growing-percent=50"],
  worker: ["--max-semi-space-size=1", "--heap-growing-percent=30"],
};
const MALLOC_ENV = ["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=32768", "MALLOC_TRIM_THRESHOLD_=262144"];

describe(".env.example", () => {
  const text = read(".env.example");
  const assigned = new Map(
    [...text.matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );

  it("lists every variable the code reads, and the _FILE form of every secret", () => {
    for (const name of Object.keys(RuntimeEnv.shape)) expect(assigned.has(name), name).toBe(true);
    for (const name of FILE_SECRET_VARS) expect(text, `${name}_FILE`).toContain(`${name}_FILE`);
  });

  it("is itself a valid environment", () => {
    const env = readRuntimeEnv(Object.fromEntries(assigned));
    expect(env.XENOPS_OPS_PORT).toBe(9464);
    expect(env.XENOPS_ALLOW_VOLATILE_REDIS).toBe(false);
  });
});

describe("Slack manifests", () => {
  const socket = parse(read("manifest.yml"));
  const http = parse(read("manifest-http.yml"));

  it("ask for exactly the scopes xenops uses (least privilege), the same in both", () => {
    expect([...socket.oauth_config.scopes.bot].sort()).toEqual(Object.keys(REQUIRED_BOT_SCOPES).sort());
    expect([...http.oauth_config.scopes.bot].sort()).toEqual(Object.keys(REQUIRED_BOT_SCOPES).sort());
    expect([...MANIFEST_BOT_SCOPES].sort()).toEqual(Object.keys(REQUIRED_BOT_SCOPES).sort());
    expect(socket.oauth_config.scopes.bot).not.toContain("users:read");
  });

  it("Socket Mode in manifest.yml; request URLs and no Socket Mode in manifest-http.yml", () => {
    expect(socket.settings.socket_mode_enabled).toBe(true);
    expect(http.settings.socket_mode_enabled).toBe(false);
    expect(http.settings.interactivity.request_url).toMatch(/^https:\/\/.+\/slack\/events$/);
    for (const cmd of http.features.slash_commands) expect(cmd.url).toMatch(/^https:\/\/.+\/slack\/events$/);
    expect(read("manifest.yml")).toContain('README "Creating the Slack app"');
    expect(read("README.md")).toContain("## Creating the Slack app");
  });
});

describe("systemd units", () => {
  for (const unit of ["xenops-bot.service", "xenops-worker.service"]) {
    it(`${unit} is hardened, restarts on failure and reads /etc/xenops/xenops.env`, () => {
      const text = read(join("contrib", "systemd", unit));
      for (const line of [
        "User=xenops",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "ReadWritePaths=/var/lib/xenops",
        "EnvironmentFile=/etc/xenops/xenops.env",
        "Restart=on-failure",
      ]) {
        expect(text.split("\n"), line).toContain(line);
      }
      const role = unit.includes("worker") ? "worker" : "bot";
      expect(text.split("\n")).toContain(
        `ExecStart=/usr/bin/node ${NODE_FLAGS[role].join(" ")} /opt/xenops/dist/xenops.js ${role}`,
      );
      // What npm run bench measures: the same flags and environment (bench/deployed.ts reads them here).
      for (const env of MALLOC_ENV) expect(text.split("\n")).toContain(`Environment=${env}`);

      // V8 needs writable+executable memory for its JIT.
      expect(text).not.toContain("MemoryDenyWriteExecute=yes");
    });
  }

  it("start a node that accepts their flags (a V8 flag node does not know stops it at start)", () => {
    expect(
      execFileSync(
        process.execPath,
        [...NODE_FLAGS.bot, ...NODE_FLAGS.worker, "-e", "process.stdout.write('ok')"],
        {
          encoding: "utf8",
        },
      ),
    ).toBe("ok");
  });

  it.skipIf(!existsSync("/usr/bin/systemd-analyze"))("pass systemd-analyze verify", () => {
    // verify wants the unit's file name; a copy outside the checkout keeps it from reading others there.
    const dir = mkdtempSync(join(tmpdir(), "xenops-units-"));
    try {
      const units = ["xenops-bot.service", "xenops-worker.service"].map((u) => {
        copyFileSync(join(ROOT, "contrib", "systemd", u), join(dir, u));
        return join(dir, u);
      });
      const out = execFileSync("systemd-analyze", ["verify", ...units], { encoding: "utf8", stdio: "pipe" });
      expect(out).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docker-compose.yml and Dockerfile", () => {
  const compose = parse(read("docker-compose.yml"), { merge: true });
  const dockerfile = read("Dockerfile");

  it("Redis with AOF on a volume; bot and worker with init, healthchecks, secrets from files, restart", () => {
    expect(compose.services.redis.command).toEqual(expect.arrayContaining(["--appendonly", "yes"]));
    expect(compose.services.redis.volumes).toContain("redis-data:/data");
    for (const name of ["bot", "worker"] as const) {
      const svc = compose.services[name];
      expect(svc.init, name).toBe(true);
      expect(svc.restart, name).toBe("unless-stopped");
      expect(svc.stop_grace_period, name).toBeDefined();
      expect(svc.depends_on.redis.condition, name).toBe("service_healthy");
      expect(svc.healthcheck.test.join(" "), name).toContain("/readyz");
      expect(svc.environment.SLACK_BOT_TOKEN_FILE, name).toBe("/run/secrets/slack_bot_token");
      expect(svc.secrets, name).toContain("slack_bot_token");
      // The systemd units' node flags (the image sets the MALLOC_* variables like the units).
      expect(svc.command, name).toEqual(["node", ...NODE_FLAGS[name], "/opt/xenops/dist/xenops.js", name]);
    }
    expect(compose.services.redis.healthcheck.test).toEqual(["CMD", "redis-cli", "ping"]);
  });

  it("multi-stage, base image as a build argument, non-root, exec-form CMD, /livez healthcheck", () => {
    expect(dockerfile).toMatch(/^ARG BASE=node:\d+-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^FROM \$\{BASE\} AS build$/m);
    expect(dockerfile).toMatch(/^FROM runtime-base AS runtime-prebuilt$/m);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile.split("\n")).toContain(
      `CMD ${JSON.stringify(["node", ...NODE_FLAGS.bot, "/opt/xenops/dist/xenops.js", "bot"]).replaceAll(",", ", ")}`,
    );
    for (const env of MALLOC_ENV) expect(dockerfile).toMatch(new RegExp(`^\\s+${env}( \\\\)?$`, "m"));
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD \[.*\/livez/m);
    // The runtime stages install nothing.
    const runtime = dockerfile.split(/^FROM /m).filter((s) => s.startsWith("runtime-base AS runtime"));
    for (const stage of runtime) expect(stage).not.toMatch(/npm (ci|install)/);
  });
});
