/**
 * The production bundle (`npm run build`: esbuild → dist/xenops.js), run with plain node and no
 * node_modules beside it: the CLI's exit statuses and version, and a bot with its worker against a real
 * redis-server, the simulated reference cluster over SSH and the fake Slack (Socket Mode), answering
 * `/xen status`, with /livez, /readyz and the bull-board dashboard (its UI files travel with the bundle).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_CHANNEL, type Lab, startLab } from "../../src/lab/lab";
import { APP_TOKEN, awaitCard, BOT_TOKEN, blockTexts, cardMark } from "../e2e/harness";
import { FakeSlack } from "../support/fake-slack";
import { testRedisUrl, uniquePrefix } from "../support/redis";
import { buildBundle, freePort, pollHttp, ROOT, run, writeLabInventory } from "./helpers";

const logger = pino({ level: process.env.E2E_LOG_LEVEL ?? "silent" });

let dir: string;
/** dist/ copied away from the checkout: nothing can resolve node_modules from there. */
let bundle: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-bundle-"));
  await buildBundle(join(dir, "build"));
  await cp(join(dir, "build"), join(dir, "opt", "xenops", "dist"), { recursive: true });
  bundle = join(dir, "opt", "xenops", "dist", "xenops.js");
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const xenops = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ["--enable-source-maps", bundle, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, LOG_LEVEL: "warn", ...env },
  });

describe("the bundle's command line", () => {
  it("prints the package version and help; exit 2 for usage errors, 1 for failures", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    const version = await xenops(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });

    const help = await xenops(["--help"]);
    expect(help.code).toBe(0);
    for (const cmd of ["bot", "worker", "console", "config", "audit", "doctor"])
      expect(help.stdout).toContain(cmd);

    const unknown = await xenops(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const badOption = await xenops(["config", "check", "--nope"]);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("unknown option '--nope'");

    const ok = await xenops(["config", "check", join(ROOT, "examples", "xenops.yml")]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("examples/xenops.yml: OK");
    const missing = await xenops(["config", "check", join(dir, "missing.yml")]);
    expect(missing.code).toBe(1);

    // A failure to start (no token) is 1, with the reason.
    const noToken = await xenops(["bot", "--config", join(ROOT, "examples", "xenops.yml")], {
      REDIS_URL: testRedisUrl(),
    });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain("SLACK_BOT_TOKEN is not set");
  }, 60_000);
});

describe("the bundled bot and worker against Redis, the simulated cluster over SSH and the fake Slack", () => {
  let slack: FakeSlack;
  let lab: Lab;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let stderr = "";

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await lab?.close();
    await slack?.close();
  });

  it("serves /xen status, /livez, /readyz and the dashboard, and stops cleanly on SIGTERM", async () => {
    slack = await FakeSlack.start({ validTokens: [BOT_TOKEN] });
    lab = await startLab({ redisUrl: testRedisUrl(), logger, commandTimeoutMs: 3_000 });
    const config = await writeLabInventory(lab, join(dir, "xenops.yml"));
    const opsPort = await freePort();
    child = spawn(
      process.execPath,
      ["--enable-source-maps", bundle, "bot", "--with-worker", "--config", config],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH,
          SLACK_BOT_TOKEN: BOT_TOKEN,
          SLACK_APP_TOKEN: APP_TOKEN,
          SLACK_API_URL: slack.apiUrl,
          REDIS_URL: lab.redisUrl,
          XENOPS_QUEUE_PREFIX: uniquePrefix("bundle"),
          XENOPS_AUDIT_FILE: join(dir, "audit.jsonl"),
          XENOPS_OPS_PORT: String(opsPort),
          XENOPS_DASHBOARD_USER: "ops",
          XENOPS_DASHBOARD_PASSWORD: "bundle-dashboard-pw",
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    exited = new Promise((resolve) => child?.on("exit", (code) => resolve(code)));
    const alive = () => child?.exitCode === null;

    const ops = `http://127.0.0.1:${opsPort}`;
    await pollHttp(`${ops}/livez`, (s) => s === 200, 30_000, alive).catch((err: Error) => {
      throw new Error(`${err.message}\nbundle stderr:\n${stderr}`);
    });
    const ready = await pollHttp(
      `${ops}/readyz`,
      (s, b) => s === 200 && JSON.parse(b).status === "ok",
      30_000,
      alive,
    );
    expect(JSON.parse(ready.body)).toMatchObject({
      status: "ok",
      checks: { redis: { ok: true }, slack: { ok: true }, workers: { ok: true, clusters: ["lab"] } },
    });
    await slack.waitForSocketConnection(15_000);

    const mark = cardMark(slack);
    const ack = await slack.sendSlashCommand({
      text: "status",
      user_id: "UVIEWER1",
      channel_id: LAB_CHANNEL,
    });
    expect(String(ack.payload.text)).toMatch(/^Queued as job \d+: status of lab\./);
    const { card } = await awaitCard(slack, LAB_CHANNEL, mark);
    const texts = blockTexts(card.args.blocks).join("\n");
    expect(texts).toContain("2/2 nodes reachable");
    expect(texts).toContain("ics1");
    expect(texts).toContain("ics2");

    // The start-up Slack check ran against the fake too (channel membership).
    await slack.waitForCall((c) => c.method === "conversations.info" && c.args.channel === LAB_CHANNEL);

    const auth = `Basic ${Buffer.from("ops:bundle-dashboard-pw").toString("base64")}`;
    const board = await fetch(`${ops}/admin/queues`, { headers: { authorization: auth } });
    expect(board.status).toBe(200);
    expect(await board.text()).toContain("xenops jobs");

    // `xenops doctor slack` from the bundle, with the bot's environment (tokens from files).
    await writeFile(join(dir, "bot-token"), `${BOT_TOKEN}\n`, { mode: 0o600 });
    const doctor = await xenops(["doctor", "slack", "--config", config], {
      SLACK_BOT_TOKEN_FILE: join(dir, "bot-token"),
      SLACK_APP_TOKEN: APP_TOKEN,
      SLACK_API_URL: slack.apiUrl,
    });
    expect(doctor.stdout).toContain("ok   channel C0LAB (cluster lab): the bot is a member");
    expect(doctor.stdout).toContain("Slack set-up OK");
    expect(doctor.code).toBe(0);

    // A card Slack holds back for 100 s is pending when the process is told to stop: its bounded
    // close gives up on it, and the retry timer must not keep the stopping process alive.
    slack.rateLimit("chat.postMessage", 1, 100);
    const postsBefore = slack.callsTo("chat.postMessage").length;
    await slack.sendSlashCommand({ text: "status", user_id: "UVIEWER1", channel_id: LAB_CHANNEL });
    await slack.waitForCall(
      (c) => c.method === "chat.postMessage" && slack.callsTo("chat.postMessage").indexOf(c) >= postsBefore,
      15_000,
    );
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/"level":(50|60)/);
  }, 90_000);
});
