import { describe, expect, it } from "vitest";
import {
  cancelledBy,
  cancelReason,
  JobCancelled,
  JobControl,
  POINT_OF_NO_RETURN_FIELD,
  pointOfNoReturnOf,
} from "../../src/job-cards/control";
import { fakeJob } from "../jobs/helpers";

describe("JobControl", () => {
  it("aborts its signal on cancel before the point of no return, with who cancelled", () => {
    const source = new AbortController();
    const control = new JobControl(fakeJob("status", {}), source.signal);
    expect(control.signal.aborted).toBe(false);
    source.abort(cancelReason("UOPER1"));
    expect(control.signal.aborted).toBe(true);
    expect(control.cancelRequest).toEqual({ by: "UOPER1", reason: "by UOPER1", tooLate: false });
    expect(() => control.throwIfCancelled()).toThrow(JobCancelled);
  });

  it("refuses to pass the point of no return once cancelled", async () => {
    const source = new AbortController();
    const job = fakeJob("migrate", { a: 1 });
    const control = new JobControl(job, source.signal);
    source.abort("by UADMIN1");
    await expect(control.pointOfNoReturn("moving")).rejects.toBeInstanceOf(JobCancelled);
    expect(pointOfNoReturnOf(job.data)).toBeNull();
  });

  it("after the point of no return, keeps running, records the marker in the job data and notes the late cancel", async () => {
    const source = new AbortController();
    const job = fakeJob("migrate", { a: 1 });
    const control = new JobControl(job, source.signal);
    await control.pointOfNoReturn("the guest is moving");
    const marker = pointOfNoReturnOf(job.data);
    expect(marker?.reason).toBe("the guest is moving");
    expect((job.data as Record<string, unknown>).a).toBe(1);
    expect(Object.keys(job.data)).toContain(POINT_OF_NO_RETURN_FIELD);
    source.abort("by UAPPROVER1");
    expect(control.signal.aborted).toBe(false);
    expect(control.cancelRequest).toEqual({ by: "UAPPROVER1", reason: "by UAPPROVER1", tooLate: true });
    expect(() => control.throwIfCancelled()).not.toThrow();
  });

  it("starts past the point of no return when the job data says so", () => {
    const job = fakeJob("migrate", { pointOfNoReturn: { at: "2024-01-01T00:00:00Z", reason: "fenced" } });
    const source = new AbortController();
    const control = new JobControl(job, source.signal);
    source.abort("by UOPER1");
    expect(control.signal.aborted).toBe(false);
    expect(control.pastPointOfNoReturn?.reason).toBe("fenced");
  });

  it("reads who cancelled from abort reasons", () => {
    expect(cancelledBy("by UOPER1")).toBe("UOPER1");
    expect(cancelledBy("cancelled: by UOPER1")).toBe("UOPER1");
    expect(cancelledBy("shutdown")).toBeNull();
    expect(cancelledBy(new Error("by UADMIN1"))).toBe("UADMIN1");
    expect(cancelledBy(undefined)).toBeNull();
  });
});
