/**
 * The time the SSH pool and its runners go by: command timeouts, the TERM-to-KILL grace, the connect
 * timeout and the reconnect backoff. Injectable so tests move it themselves instead of sleeping;
 * real time by default. (Durations in logs and results are measured, not taken from here.)
 */
export interface SshClock {
  /** Milliseconds, like Date.now(). */
  now(): number;
  setTimeout(callback: () => void, ms: number): SshTimer;
  clearTimeout(timer: SshTimer): void;
}

/** Opaque handle of a timer set on an SshClock; only that clock's clearTimeout reads it. */
export type SshTimer = unknown;

export const realSshClock: SshClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
