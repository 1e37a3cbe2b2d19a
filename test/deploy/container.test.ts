/**
 * The container image and docker-compose.yml, for real: the image is built on a local base (this
 * machine's node and redis-server imported with `docker import`: no registry is reachable here) from a
 * prebuilt bundle (`--target runtime-prebuilt`), and the compose stack (Redis with AOF, bot, worker,
 * secrets from files, init, healthchecks) runs against the simulated cluster over SSH and the fake Slack
 * on this host (host networking: the test's servers listen on loopback). It must reach a healthy
 * /readyz and answer `/xen status`.
 *
 * Runs wherever a Docker engine answers or can be started (as root with `dockerd` installed:
 * `node scripts/bootstrap.mjs --docker`, which CI runs), else skips and prints why (see
 * test/support/docker.ts). XENOPS_DOCKER_TEST=0 turns it off.
 */
import { randomBytes } from "node:crypto";
import { chmod, chown, copyFile, cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { LAB_CHANNEL, type Lab, startLab } from "../../src/lab/lab";
import { APP_TOKEN, awaitCard, BOT_TOKEN, blockTexts, cardMark } from "../e2e/harness";
import { type DockerEngine, dockerEngine, importBaseImage } from "../support/docker";
import { FakeSlack } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { buildBundle, freePort, pollHttp, type Ran, ROOT, run } from "./helpers";

const ENABLED = process.env.XENOPS_DOCKER_TEST !== "0";
if (!ENABLED) process.stderr.write("container test skipped: XENOPS_DOCKER_TEST=0\n");
const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });
/** The image's user (Dockerfile USER). */
const UID = 10001;

describe.skipIf(!ENABLED)("container image and compose stack", () => {
  let engine: DockerEngine | null = null;
  let skipReason: string | null = null;
  let dir: string;
  let slack: FakeSlack;
  let lab: Lab;
  const id = randomBytes(3).toString("hex");
  const baseImage = `xenops-test-base:${id}`;
  const project = `xenops-test-${id}`;
  let composeEnv: NodeJS.ProcessEnv;
  let composeArgs: string[];
  let botOps: string;
  let workerOps: string;
  let redisPort: number;

  const compose = (args: string[], timeoutMs = 300_000): Promise<Ran> =>
    run("docker-compose", [...composeArgs, ...args], { env: composeEnv, cwd: dir, timeoutMs });

  beforeAll(async () => {
    const found = await dockerEngine();
    if ("skip" in found) {
      skipReason = found.skip;
      process.stderr.write(`container test skipped: ${found.skip}\n`);
      return;
    }
    engine = found;
    dir = await mkdtemp(join(tmpdir(), "xenops-container-"));
    await chmod(dir, 0o755);

    // The build context: what the repository ships, with a fresh bundle.
    const ctx = join(dir, "ctx");
    await buildBundle(join(ctx, "dist"));
    for (const f of ["Dockerfile", ".dockerignore", "docker-compose.yml"])
      await copyFile(join(ROOT, f), join(ctx, f));
    await cp(join(ROOT, "contrib", "docker"), join(ctx, "contrib", "docker"), { recursive: true });
    importBaseImage(engine, baseImage);

    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 3_000 });

    // /etc/xenops as an operator lays it out: the inventory and the SSH key, readable by the image's user.
    const etc = join(dir, "etc-xenops");
    await mkdir(etc, { mode: 0o750 });
    await chown(etc, UID, UID);
    const key = join(etc, "id_ed25519");
    await copyFile(join(lab.dir, "id_ed25519"), key);
    const inventory = {
      ...lab.inventory,
      clusters: lab.inventory.clusters.map((c) => ({
        ...c,
        nodes: c.nodes.map((n) => ({ ...n, privateKey: { file: "/etc/xenops/id_ed25519" } })),
      })),
    };
    await writeFile(join(etc, "xenops.yml"), stringify(inventory));
    for (const f of [key, join(etc, "xenops.yml")]) {
      await chown(f, UID, UID);
      await chmod(f, 0o400);
    }
    const secrets = join(dir, "secrets");
    await mkdir(secrets, { mode: 0o700 });
    for (const [name, value] of [
      ["slack_bot_token", `${BOT_TOKEN}\n`],
      ["slack_app_token", `${APP_TOKEN}\n`],
    ] as const) {
      await writeFile(join(secrets, name), value, { mode: 0o400 });
      await chown(join(secrets, name), UID, UID);
    }
    // Settings only; the tokens come from the secrets.
    const envFile = join(dir, "xenops.env");
    await writeFile(envFile, `LOG_LEVEL=info\nXENOPS_QUEUE_PREFIX=${uniquePrefix("container")}\n`);

    redisPort = await freePort();
    const botPort = await freePort();
    const workerPort = await freePort();
    botOps = `http://127.0.0.1:${botPort}`;
    workerOps = `http://127.0.0.1:${workerPort}`;
    const hostEnv = (opsPort: number) => ({
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      SLACK_API_URL: slack.apiUrl,
      XENOPS_OPS_PORT: String(opsPort),
      XENOPS_OPS_HOST: "127.0.0.1",
    });
    // The test's servers (fake Slack, simulated nodes) listen on this host's loopback: host networking.
    const override = {
      services: {
        redis: {
          network_mode: "host",
          command: [
            "redis-server",
            "--port",
            String(redisPort),
            "--bind",
            "127.0.0.1",
            "--appendonly",
            "yes",
            "--dir",
            "/data",
          ],
          healthcheck: { test: ["CMD", "redis-cli", "-p", String(redisPort), "ping"], interval: "1s" },
        },
        bot: {
          network_mode: "host",
          environment: hostEnv(botPort),
          healthcheck: { interval: "2s", start_period: "60s" },
        },
        worker: {
          network_mode: "host",
          environment: hostEnv(workerPort),
          healthcheck: { interval: "2s", start_period: "60s" },
        },
      },
    };
    // JSON is YAML too, and unambiguous for compose v1's YAML 1.1 parser (where a bare yes is a boolean).
    await writeFile(join(dir, "override.yml"), JSON.stringify(override, null, 2));
    composeArgs = ["-p", project, "-f", join(ctx, "docker-compose.yml"), "-f", join(dir, "override.yml")];
    composeEnv = {
      ...engine.env,
      DOCKER_BUILDKIT: "0",
      COMPOSE_DOCKER_CLI_BUILD: "0",
      XENOPS_IMAGE: `xenops:test-${id}`,
      XENOPS_BASE_IMAGE: baseImage,
      XENOPS_BUILD_TARGET: "runtime-prebuilt",
      XENOPS_REDIS_IMAGE: baseImage,
      XENOPS_ETC: etc,
      XENOPS_ENV_FILE: envFile,
      XENOPS_SECRETS_DIR: secrets,
    };
  }, 600_000);

  afterAll(async () => {
    if (engine && composeArgs) {
      const logs = await compose(["logs", "--no-color", "--tail", "40"], 60_000);
      if (process.env.E2E_LOG_LEVEL) process.stderr.write(logs.stdout);
      await compose(["down", "-v", "--rmi", "local", "--timeout", "20"], 120_000);
      await run("docker", ["rmi", "-f", baseImage, `xenops:test-${id}`], {
        env: engine.env,
        timeoutMs: 60_000,
      });
    }
    await lab?.close();
    await slack?.close();
    try {
      await engine?.stop();
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("builds, starts healthy, answers /xen status through Slack, keeps Redis AOF on", async (ctx) => {
    if (!engine) {
      ctx.skip(skipReason ?? "no Docker engine");
      return;
    }
    const up = await compose(["up", "-d", "--build"]);
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);

    const readyOk = (s: number, b: string) =>
      s === 200 && (JSON.parse(b) as { status: string }).status === "ok";
    const describeFailure = async (err: Error) => {
      const logs = await compose(["logs", "--no-color", "--tail", "60"], 60_000);
      throw new Error(`${err.message}\n${logs.stdout}`);
    };
    const worker = await pollHttp(`${workerOps}/readyz`, readyOk, 90_000).catch(describeFailure);
    expect(JSON.parse(worker.body)).toMatchObject({
      checks: {
        redis: { ok: true },
        redis_persistence: { ok: true },
        workers: { ok: true, clusters: ["lab"] },
      },
    });
    const bot = await pollHttp(`${botOps}/readyz`, readyOk, 90_000).catch(describeFailure);
    expect(JSON.parse(bot.body)).toMatchObject({ checks: { slack: { ok: true } } });
    expect((await fetch(`${botOps}/livez`)).status).toBe(200);

    // Docker's own view: the compose healthchecks (readyz) turn healthy.
    await expect
      .poll(
        async () => {
          const ps = await compose(["ps"], 30_000);
          return ps.stdout.split("\n").filter((l) => /_(bot|worker)_1\b/.test(l) && l.includes("(healthy)"))
            .length;
        },
        { timeout: 90_000, interval: 1_000 },
      )
      .toBe(2);

    await slack.waitForSocketConnection(30_000);
    const mark = cardMark(slack);
    const ack = await slack.sendSlashCommand({
      text: "status",
      user_id: "UVIEWER1",
      channel_id: LAB_CHANNEL,
    });
    expect(String(ack.payload.text)).toMatch(/^Queued as job \d+: status of lab\./);
    const { card } = await awaitCard(slack, LAB_CHANNEL, mark);
    expect(blockTexts(card.args.blocks).join("\n")).toContain("2/2 nodes reachable");
    // Both processes read their token from the secret file (one trailing newline stripped).
    expect(card.token).toBe(BOT_TOKEN);

    const aof = await compose(
      ["exec", "-T", "redis", "redis-cli", "-p", String(redisPort), "config", "get", "appendonly"],
      30_000,
    );
    expect(aof.stdout).toContain("yes");
    const user = await compose(["exec", "-T", "bot", "node", "-e", "console.log(process.getuid())"], 30_000);
    expect(user.stdout.trim()).toBe(String(UID));
  }, 600_000);
});
