import { UnrecoverableError } from "bullmq";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, ExecError, ParseError, retryClassOf, XenopsError } from "../../src/errors";
import {
  isFinalFailure,
  retryCannotHelp,
  toQueueFailure,
  UnrecoverableJobError,
} from "../../src/queue/retry";

const job = (attemptsMade: number, attempts: number) => ({ attemptsMade, opts: { attempts } });

describe("retry classes of error codes", () => {
  it("retries only transient failures", () => {
    const retryable = Object.entries(ERROR_CODES)
      .filter(([, c]) => c === "retryable")
      .map(([code]) => code)
      .sort();
    expect(retryable).toEqual([
      "exec_failed",
      "internal",
      "page_failed",
      "redis_not_durable",
      "ssh_connect_failed",
      "ssh_disconnected",
      "ssh_timeout",
      "state_unknown",
    ]);
  });

  it("classes errors by their code; an error without one is internal, so retryable", () => {
    expect(retryClassOf(new XenopsError("config_invalid", "x"))).toBe("unrecoverable");
    expect(retryClassOf(new ParseError("xm list", 3, "no Domain-0"))).toBe("unrecoverable");
    const exec = { node: "ics1", argv: ["xm", "list"], exitCode: null, signal: null, stdout: "", stderr: "" };
    expect(retryClassOf(new ExecError("ssh_timeout", "timed out", exec))).toBe("retryable");
    expect(retryClassOf(new Error("connect ECONNREFUSED 127.0.0.1:6379"))).toBe("retryable");
    expect(retryCannotHelp(new UnrecoverableError("no such job"))).toBe(true);
  });
});

describe("isFinalFailure", () => {
  it("ends the job on an unrecoverable code even with attempts left", () => {
    expect(isFinalFailure(job(0, 3), new XenopsError("forbidden", "no"))).toBe(true);
    expect(isFinalFailure(job(0, 3), new XenopsError("preflight_failed", "refused"))).toBe(true);
  });

  it("leaves a transient failure to the retries, until the last attempt", () => {
    const err = new XenopsError("ssh_disconnected", "lost");
    expect(isFinalFailure(job(0, 3), err)).toBe(false);
    expect(isFinalFailure(job(1, 3), err)).toBe(false);
    expect(isFinalFailure(job(2, 3), err)).toBe(true);
    expect(isFinalFailure(job(0, 1), err)).toBe(true);
  });

  it("ends a cancelled job", () => {
    const ctl = new AbortController();
    ctl.abort("by UOPER1");
    expect(isFinalFailure(job(0, 3), new XenopsError("ssh_timeout", "x"), ctl.signal)).toBe(true);
  });
});

describe("toQueueFailure", () => {
  it("turns an unrecoverable code into BullMQ's UnrecoverableError with the same message and code", () => {
    const original = new XenopsError("unknown_guest", 'no guest "web9" in lab');
    const failure = toQueueFailure(original);
    expect(failure).toBeInstanceOf(UnrecoverableError);
    expect(failure).toBeInstanceOf(UnrecoverableJobError);
    expect(failure).toMatchObject({
      name: "UnrecoverableError",
      message: 'no guest "web9" in lab',
      code: "unknown_guest",
      cause: original,
    });
    expect((failure as Error).stack).toMatch(/^UnrecoverableError: unknown_guest: no guest "web9" in lab\n/);
  });

  it("passes transient failures and BullMQ's own errors through unchanged", () => {
    const transient = new XenopsError("redis_not_durable", "no replica");
    expect(toQueueFailure(transient)).toBe(transient);
    const plain = new Error("boom");
    expect(toQueueFailure(plain)).toBe(plain);
    const own = new UnrecoverableError("unknown job");
    expect(toQueueFailure(own)).toBe(own);
  });
});
