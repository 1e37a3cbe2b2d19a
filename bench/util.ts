/** Small helpers for the benchmarks: statistics, tables, bounded loops. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export function fmt(ms: number, digits = 1): string {
  return Number.isFinite(ms) ? ms.toFixed(digits) : "n/a";
}

/** A plain-text table with right-aligned numeric-looking cells. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = /^[<>~≈]?[-+]?\d[\d.,]*\s?(x|%|ms|MB)?$/;
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric.test(c) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join(" | ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("-|-");
  return [line(header), rule, ...rows.map(line)].join("\n");
}

export function section(title: string): void {
  process.stdout.write(`\n=== ${title} ===\n`);
}

export function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function verdict(name: string, ok: boolean, detail: string): string {
  return `${ok ? "PASS" : "MISS"}  ${name}: ${detail}`;
}

/**
 * Runs `fn` up to `maxRuns` times, stopping early once `budgetMs` has been spent (at least one run).
 * Returns the duration of each run in ms: what `fn` returns, or else the time it took.
 */
export async function timedRuns(
  maxRuns: number,
  budgetMs: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number[]> {
  const out: number[] = [];
  const started = performance.now();
  for (let i = 0; i < maxRuns; i++) {
    if (i > 0 && performance.now() - started > budgetMs) break;
    const t = performance.now();
    const measured = await fn(i);
    out.push(typeof measured === "number" ? measured : performance.now() - t);
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects after `ms` with a message naming what did not finish. */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
