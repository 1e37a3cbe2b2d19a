/**
 * `npm run lab`: Redis (embedded unless REDIS_URL), the simulated reference cluster, a worker and
 * the bot. With SLACK_BOT_TOKEN and SLACK_APP_TOKEN it joins Slack in Socket Mode; otherwise it
 * opens the console (`--script FILE` runs a script and exits).
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { readRuntimeEnv, secretEnv } from "../config/env";
import { errorMessage } from "../errors";
import { createLogger } from "../log";
import { redactRedisUrl } from "../queue/redis";
import { runConsole, startSlackRuntime } from "../runtime/modes";
import { modernLab } from "../sim";
import { labDirectives } from "./directives";
import { startLab } from "./lab";
import { realHaTiming } from "./real-ha/config";

const program = new Command()
  .name("npm run lab --")
  .option("--script <file>", "run console lines from a file ('-' for stdin), then exit")
  .option("--as <user>", "Slack user ID for console lines without a 'USER:' prefix", "UOPER1")
  .option("--oncall", "a fake paging service and short on-call timers (examples/oncall.txt)")
  .option(
    "--ha <mode>",
    "sim: heartbeat simulated; real: Debian's heartbeat and STONITH in per-node namespaces (root)",
    "sim",
  )
  .option(
    "--ha-deadtime <seconds>",
    "real HA: heartbeat's deadtime (default 30, the reference cluster's); modern: corosync's token (default 3)",
  )
  .option(
    "--preset <name>",
    "reference: ics1/ics2, xm, DRBD 8, heartbeat; modern: hv1/hv2, xl, DRBD 9, Pacemaker",
    "reference",
  )
  .parse(process.argv);
const opts = program.opts<{
  script?: string;
  as: string;
  oncall?: boolean;
  ha: string;
  haDeadtime?: string;
  preset: string;
}>();
if (opts.preset !== "reference" && opts.preset !== "modern")
  program.error(`--preset must be reference or modern, not "${opts.preset}"`);
if (opts.ha !== "sim" && opts.ha !== "real") program.error(`--ha must be sim or real, not "${opts.ha}"`);
const haDeadtime = opts.haDeadtime === undefined ? undefined : Number(opts.haDeadtime);
if (haDeadtime !== undefined && !(Number.isInteger(haDeadtime) && haDeadtime >= 2))
  program.error("--ha-deadtime must be a whole number of seconds, at least 2");

const env = readRuntimeEnv();
const slackMode = Boolean(env.SLACK_BOT_TOKEN && env.SLACK_APP_TOKEN) && opts.script === undefined;
// The console prints bot messages on stdout; keep the logs on stderr and quiet unless asked.
const logger = createLogger({
  level: env.LOG_LEVEL === "info" && !slackMode ? "warn" : env.LOG_LEVEL,
  name: "xenops-lab",
});

async function main(): Promise<number> {
  if (opts.ha === "real") {
    // heartbeat, cluster-glue, drbd-utils, corosync and Pacemaker are installed only for this mode
    // (bootstrap --real-ha).
    const bootstrap = fileURLToPath(new URL("../../scripts/bootstrap.mjs", import.meta.url));
    const r = spawnSync(process.execPath, [bootstrap, "--real-ha", "--quiet"], { stdio: "inherit" });
    if (r.status !== 0) return r.status ?? 1;
  }
  const lab = await startLab({
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    logger,
    ...(opts.oncall ? { oncall: { print: (line: string) => process.stdout.write(line) } } : {}),
    ...(opts.preset === "modern" ? { spec: modernLab() } : {}),
    ...(opts.ha === "real" ? { ha: "real" as const } : {}),
    ...(haDeadtime !== undefined ? { haTiming: realHaTiming(haDeadtime) } : {}),
  });
  if (lab.realHa)
    process.stderr.write(
      `lab: real ${lab.realHa.stack === "pacemaker" ? "corosync and Pacemaker" : "heartbeat"} on ${lab.realHa.nodes.map((n) => `${n.name} (pid ${n.ns.pid}, ${n.address})`).join(", ")}; ${lab.realHa.stack === "pacemaker" ? "token" : "deadtime"} ${lab.realHa.deadtime}s; files in ${lab.realHa.dir}\n`,
    );
  // The lab's audit log survives the lab (its Redis does not), so `xenops audit verify` can check it.
  const auditFile = secretEnv().XENOPS_AUDIT_FILE ? env.XENOPS_AUDIT_FILE : ".lab/xenops-audit.jsonl";
  // Operations server on a free port (or XENOPS_OPS_PORT), dashboard behind a per-run password.
  const dashboard = {
    username: env.XENOPS_DASHBOARD_USER ?? "lab",
    password: env.XENOPS_DASHBOARD_PASSWORD ?? randomBytes(9).toString("base64url"),
  };
  const base = {
    inventory: lab.inventory,
    env: { ...env, XENOPS_AUDIT_FILE: auditFile },
    secretEnv: secretEnv(),
    logger,
    redisUrl: lab.redisUrl,
    ops: {
      port: env.XENOPS_OPS_PORT ?? 0,
      ...(env.XENOPS_OPS_HOST ? { host: env.XENOPS_OPS_HOST } : {}),
      dashboard,
    },
    onOpsListening: (url: string) =>
      process.stderr.write(
        `lab: ops ${url}/metrics ${url}/healthz; dashboard ${url}/admin/queues (user ${dashboard.username}, password ${dashboard.password})\n`,
      ),
  };
  try {
    const nodes = lab.sim.nodes.map((n) => `${n.name} ssh://127.0.0.1:${n.port}`).join(", ");
    process.stderr.write(
      `lab: cluster "${lab.inventory.clusters[0]?.name}" (${nodes}); redis ${redactRedisUrl(lab.redisUrl)}\n`,
    );
    process.stderr.write(
      `lab: audit log ${auditFile} (check it: npm run xenops -- audit verify --file ${auditFile})\n`,
    );
    if (slackMode) {
      const running = await startSlackRuntime(base, { bot: true, worker: true });
      process.stderr.write("lab: connected to Slack in Socket Mode; Ctrl-C stops\n");
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await running.close();
      return 0;
    }
    return await runConsole(base, {
      ...(opts.script !== undefined ? { script: opts.script } : {}),
      defaultUser: opts.as,
      write: (t) => process.stdout.write(t),
      directive: labDirectives(lab.sim, lab.realHa),
    });
  } finally {
    await lab.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`lab: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  },
);
