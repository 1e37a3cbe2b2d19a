/**
 * The two-writer hunter from the command line (src/lab/fuzz):
 *
 *   npm run fuzz -- --runs 500            seeds 1..500
 *   npm run fuzz -- --seed 1234           replays seed 1234, printing every step
 *   npm run fuzz -- --seed 100 --runs 50  seeds 100..149
 *   options: --verbose (every sequence's steps), --detail (why each refused check failed),
 *            --concurrency N (sequences at once, default 2), --min-steps / --max-steps (10, 30)
 *
 * Uses $REDIS_URL, else starts its own redis-server. Prints every sequence that broke an invariant
 * (seed, steps, problems, ground truth) and exits 1 when there was one.
 */
import { parseArgs } from "node:util";
import { formatResult, runMany } from "../src/lab/fuzz";
import { startEmbeddedRedis } from "../src/queue/embedded-redis";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seed: { type: "string" },
    verbose: { type: "boolean", short: "v", default: false },
    detail: { type: "boolean", default: false },
    concurrency: { type: "string" },
    "min-steps": { type: "string" },
    "max-steps": { type: "string" },
  },
  strict: true,
});

function int(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${what} needs a whole number, got "${text}"`);
  return n;
}

async function main(): Promise<number> {
  const single = values.seed !== undefined && values.runs === undefined;
  const first = int(values.seed, 1, "seed");
  const runs = single ? 1 : int(values.runs, 100, "runs");
  const length = {
    min: int(values["min-steps"], 10, "min-steps"),
    max: int(values["max-steps"], 30, "max-steps"),
  };
  const verbose = values.verbose || single;
  const external = process.env.REDIS_URL;
  const redis = external ? null : await startEmbeddedRedis();
  const redisUrl = external ?? (redis?.url as string);
  let bad = 0;
  const started = performance.now();
  try {
    let done = 0;
    const seeds = Array.from({ length: runs }, (_, i) => first + i);
    await runMany(seeds, {
      redisUrl,
      length,
      detail: values.detail || single,
      concurrency: int(values.concurrency, 2, "concurrency"),
      onResult: (result) => {
        done += 1;
        if (result.violation) bad += 1;
        if (result.violation || verbose) console.log(formatResult(result));
        else if (done % 25 === 0) console.log(`... ${done}/${runs} sequences, ${bad} with a violation`);
      },
    });
  } finally {
    await redis?.stop();
  }
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${runs} sequence(s) from seed ${first} in ${secs} s: ${bad} broke an invariant`);
  return bad > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(2);
  },
);
