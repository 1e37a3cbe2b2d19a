/**
 * `npm run bench`: the performance tables (latency, throughput, memory). Not a test: it prints PASS/MISS per
 * target and exits 0 either way (non-zero only when a benchmark could not run).
 *
 *   a. snapshot latency at 1, 20, 100 simulated nodes: xenops cold/warm vs parallel-ssh
 *   b. ack latency of the HTTP-mode bot under 200 concurrent slash commands
 *   c. command-to-card latency at 2 and 100 nodes (Socket Mode bot and worker as processes)
 *   d. RSS of the bot and the worker with 100 nodes
 *
 * Everything listens on loopback. Redis: REDIS_URL, or an embedded redis-server.
 * `--only LIST` runs some sections only, by letter or name, comma-separated: a|snapshot, b|ack,
 * c|card, d|memory (runs c too), e|events; e.g. `npx tsx bench/run.ts --only ack`.
 */
import { cpus } from "node:os";
import { pino } from "pino";
import { startEmbeddedRedis } from "../src/queue/embedded-redis";
import { runEventsBench } from "./events";
import { ackBench, cardBench, printAckTable, printCardTables, printMemoryTable, runtimeLabel } from "./slack";
import { PARALLEL_SSH, printSnapshotTables, snapshotBench } from "./snapshot";
import { fmt, say, section } from "./util";

/** What the xenops child processes logged at warn and above, so it does not interleave with the tables. */
function printChildLog(lines: readonly string[]): void {
  if (lines.length === 0) return;
  say(`  the xenops processes logged ${lines.length} line(s) at warn or above:`);
  for (const l of lines.slice(0, 8)) say(`    ${l}`);
  if (lines.length > 8) say(`    ... ${lines.length - 8} more`);
}

const SECTION_NAMES: Record<string, string> = {
  a: "a",
  snapshot: "a",
  b: "b",
  ack: "b",
  c: "c",
  card: "c",
  d: "d",
  memory: "d",
  e: "e",
  events: "e",
};

/** The sections `--only` selects (all when absent); throws on a name it does not know. */
function selectedSections(argv: readonly string[]): Set<string> {
  const at = argv.indexOf("--only");
  if (at < 0) return new Set(["a", "b", "c", "d", "e"]);
  const names = (argv[at + 1] ?? "").split(",").filter(Boolean);
  if (names.length === 0) throw new Error("--only needs a list of sections, e.g. --only ack");
  const out = new Set<string>();
  for (const name of names) {
    const letter = SECTION_NAMES[name.toLowerCase()];
    if (!letter)
      throw new Error(`--only: unknown section "${name}" (${Object.keys(SECTION_NAMES).join(", ")})`);
    out.add(letter);
  }
  // The memory table reads the processes of the card series.
  if (out.has("d")) out.add("c");
  return out;
}

async function main(): Promise<number> {
  const started = performance.now();
  const only = selectedSections(process.argv.slice(2));
  const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" });
  say(
    `xenops bench: node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? "unknown"}); ` +
      "the simulated nodes share this machine with xenops and with the load.",
  );
  say(
    `xenops' bot and worker processes run from ${runtimeLabel()}; the simulator runs in a process of its own\n` +
      "(bench/support/sim-process.ts), so its CPU and memory are not counted as xenops'. The snapshot series\n" +
      "(a) run xenops' takeSnapshot in this process from the sources (same code as the build, bundled or not).",
  );
  const external = process.env.REDIS_URL;
  const needsRedis = ["b", "c", "d", "e"].some((x) => only.has(x));
  const redis = external || !needsRedis ? null : await startEmbeddedRedis({ logger });
  const redisUrl = external ?? redis?.url ?? "";
  const verdicts: string[] = [];
  try {
    // A 100-node cluster runs Pacemaker (heartbeat v1 pairs two nodes), so scale rows use the modern
    // flavour: per node xl list, xl info, drbdsetup status --json, crm_mon. Two series: the simulator
    // answering at once (CPU-bound: xenops and 100 SSH servers share this machine), and every command
    // taking 25 ms as on a real dom0, where the latency of the slowest node is what a user waits for.
    for (const latency of only.has("a") ? [0, 25] : []) {
      section(
        `a. snapshot latency, modern flavour, ${latency} ms per command on the nodes: takeSnapshot over SshPool vs parallel-ssh`,
      );
      say(
        "  cold: new pool per run (connects included); warm: one pool, connected; medians and p95 of up to 10 runs.\n" +
          `  parallel-ssh (${PARALLEL_SSH}): one invocation per distinct command of the snapshot, -p n, run concurrently\n` +
          "  (at most 400 ssh processes at once); the 1-node row snapshots one node of scaleLab(2) (scaleLab needs 2).",
      );
      const rows = await snapshotBench({
        // The 1,000-node row with real-dom0 latency only: CPU per node is the figure of interest there.
        sizes: latency > 0 ? [1, 20, 100, 1000] : [1, 20, 100],
        runs: 10,
        seriesBudgetMs: 12_000,
        psshRuns: 3,
        psshBudgetMs: 12_000,
        psshAbortMs: 30_000,
        logger,
        flavour: "modern",
        commandLatencyMs: latency,
        // BENCH_BATCH_LANES=0 measures the unbatched snapshot (every command its own exec).
        ...(process.env.BENCH_BATCH_LANES ? { batchLanes: Number(process.env.BENCH_BATCH_LANES) } : {}),
      });
      const label = `(${latency} ms/command)`;
      verdicts.push(...printSnapshotTables(rows, latency === 25).map((v) => `${v} ${label}`));
      const listed = rows.filter((r) => r.commands.length > 0).at(-1)?.commands ?? [];
      say(`  commands per node: ${listed.join(" · ")}`);
    }

    if (only.has("b")) {
      section("b. ack latency: 200 concurrent signed /xen status to the HTTP-mode bot (own process)");
      say(
        "  each request signed before its timer; node:http, kept-alive connections opened by an untimed warm-up\n" +
          "  burst; each burst starts once the bot is idle. ack: request sent → ack read; reply: → the command's\n" +
          "  answer seen (in the ack, or POSTed to its response_url); failed: no 200 or no right answer.",
      );
      const ackLog: string[] = [];
      const acks = await ackBench({ redisUrl, logger, concurrency: 200, bursts: 2, log: ackLog });
      verdicts.push(...printAckTable(acks));
      printChildLog(ackLog);
    }

    if (only.has("c")) {
      section(
        "c. command-to-card latency: Socket Mode bot and worker (own processes), fake Slack, simulated lab",
      );
      const cardLog: string[] = [];
      const small = await cardBench({ redisUrl, logger, nodes: 2, runs: 6, budgetMs: 15_000, log: cardLog });
      const large = await cardBench({
        redisUrl,
        logger,
        nodes: 100,
        runs: 4,
        budgetMs: 30_000,
        log: cardLog,
      });
      printCardTables([small, large]);
      say(
        "  from sending /xen status (Socket Mode envelope) to the chat.update carrying the card at the fake Slack",
      );
      printChildLog(cardLog);

      section("d. memory of the bot and the worker (separate processes) after the status commands above");
      say("  2 nodes (reference lab):");
      printMemoryTable(small, false);
      say("  100 nodes (scaleLab(100)):");
      verdicts.push(...printMemoryTable(large, true));
    }

    if (only.has("e")) {
      const events = await runEventsBench({ redisUrl, logger });
      verdicts.push(...events.verdicts);
    }

    section("targets");
    for (const v of verdicts) say(v);
    say(`\nbench finished in ${fmt((performance.now() - started) / 1000, 1)} s`);
    return 0;
  } finally {
    await redis?.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
