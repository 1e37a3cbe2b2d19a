/**
 * Test time for code that paces itself with setTimeout/setInterval and Date.now(): vitest's fake
 * timers, moved on by the test, so spacing and durations are exact whatever the machine's load.
 */
import { vi } from "vitest";

/** Installs fake timers and Date; undo with vi.useRealTimers() (in an afterEach). */
export function useTestTime(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
}

/**
 * Moves test time on in steps of `stepMs` until `work` settles, and returns its result with the test
 * time it took. Fails, with the time in the message, when it has not settled after `limitMs`.
 */
export async function inTestTime<T>(
  work: Promise<T>,
  { stepMs = 100, limitMs = 120_000 }: { stepMs?: number; limitMs?: number } = {},
): Promise<{ value: T; tookMs: number }> {
  const started = Date.now();
  let settled = false;
  const done = work.finally(() => {
    settled = true;
  });
  done.catch(() => undefined);
  while (!settled) {
    if (Date.now() - started > limitMs) throw new Error(`still not settled after ${limitMs} ms of test time`);
    await vi.advanceTimersByTimeAsync(stepMs);
  }
  return { value: await done, tookMs: Date.now() - started };
}
