import { describe, expect, it } from "vitest";
import { XenopsError } from "../../src/errors";
import { deriveJobId, queueName } from "../../src/queue/names";
import {
  isJobName,
  JOBS,
  JobName,
  parseJobPayload,
  payloadCluster,
  retryPolicy,
  retryPolicyFor,
} from "../../src/queue/schema";

const status = {
  cluster: "lab",
  target: "ics1",
  channel: "C0123ABC",
  requestedBy: "U0123ABC",
  deliveryId: "trigger-1",
  requestText: "status lab ics1",
};

describe("job schema", () => {
  it("names every registered job", () => {
    expect(JobName.options).toEqual(Object.keys(JOBS));
    expect(isJobName("status")).toBe(true);
    expect(isJobName("toString")).toBe(false);
    expect(isJobName("migrate")).toBe(false);
  });

  it("parses a valid status payload and drops unknown fields", () => {
    expect(parseJobPayload("status", { ...status, extra: 1 })).toEqual(status);
    expect(parseJobPayload("status", { ...status, target: null }).target).toBeNull();
  });

  it("rejects an invalid payload naming the fields", () => {
    let caught: unknown;
    try {
      parseJobPayload("status", { ...status, cluster: "bad name", channel: "" });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(XenopsError);
    expect((caught as XenopsError).code).toBe("invalid_argument");
    expect((caught as XenopsError).message).toMatch(/cluster/);
    expect((caught as XenopsError).message).toMatch(/channel/);
    expect(() => parseJobPayload("status", "nope")).toThrow(XenopsError);
  });

  it("retries read-only jobs with exponential backoff and never mutating ones", () => {
    expect(retryPolicy("status")).toEqual({ attempts: 3, backoff: { type: "exponential", delay: 1000 } });
    expect(retryPolicy("status", 50).backoff?.delay).toBe(50);
    expect(retryPolicyFor({ mutating: true })).toEqual({ attempts: 1 });
  });

  it("finds the cluster of a payload", () => {
    expect(payloadCluster(status)).toBe("lab");
    expect(payloadCluster({})).toBeUndefined();
    expect(payloadCluster(null)).toBeUndefined();
  });
});

describe("job ids", () => {
  it("are stable per (cluster, job, delivery) and differ otherwise", () => {
    const id = deriveJobId("lab", "status", "trigger-1");
    expect(deriveJobId("lab", "status", "trigger-1")).toBe(id);
    expect(deriveJobId("lab", "status", "trigger-2")).not.toBe(id);
    expect(deriveJobId("prod", "status", "trigger-1")).not.toBe(id);
    expect(id).toMatch(/^status-[0-9a-f]{32}$/);
    expect(id).not.toContain(":");
  });

  it("names queues per cluster", () => {
    expect(queueName("lab")).toBe("xenops-lab");
  });
});
