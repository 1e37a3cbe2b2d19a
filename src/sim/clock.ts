/**
 * Time and randomness for the simulator. Both are injectable so a run is reproducible: the same seed
 * and the same sequence of commands and ticks always give the same output, byte for byte.
 */

/** Milliseconds since the Unix epoch, like Date.now(). */
export interface Clock {
  now(): number;
}

/** A clock that only moves when told to: tests and benchmarks drive it with advance(). */
export class ManualClock implements Clock {
  private t: number;
  constructor(start: number | Date = Date.UTC(2009, 0, 12, 10, 0, 0)) {
    this.t = typeof start === "number" ? start : start.getTime();
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot move a clock by ${ms} ms`);
    this.t += ms;
  }
}

/** Wall-clock time, shifted so the simulation may start at a chosen instant. */
export class SystemClock implements Clock {
  private readonly offset: number;
  constructor(start?: number | Date) {
    const begin = start === undefined ? Date.now() : typeof start === "number" ? start : start.getTime();
    this.offset = begin - Date.now();
  }
  now(): number {
    return Date.now() + this.offset;
  }
}

/**
 * mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Cryptographic quality is not needed; a
 * stable sequence per seed is.
 */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  /** Lowercase hex string of n digits. */
  hex(n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += this.int(0, 15).toString(16);
    return s;
  }
  /** A child generator, so adding draws in one place does not shift every other sequence. */
  fork(label: string): Rng {
    let h = this.state ^ 0x9e3779b9;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Rng(h >>> 0);
  }
}
