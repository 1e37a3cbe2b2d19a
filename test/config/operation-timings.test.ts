import { describe, expect, it } from "vitest";
import { OperationTimingsConfig } from "../../src/config/schema";
import { DEFAULT_OPERATION_SETTINGS, operationSettingsOf } from "../../src/operations/context";

describe("inventory operations: timings", () => {
  it("reads durations into the operations' millisecond settings", () => {
    const timings = OperationTimingsConfig.parse({
      migrateBaseTimeout: "5m",
      migratePerGiBTimeout: "1m30s",
      pollInterval: "500ms",
      leaseTtl: "45s",
      stepGrace: "2m",
    });
    expect(operationSettingsOf(timings)).toEqual({
      migrateBaseTimeoutMs: 300_000,
      migratePerGiBTimeoutMs: 90_000,
      pollIntervalMs: 500,
      leaseTtlMs: 45_000,
      stepGraceMs: 120_000,
    });
    expect(operationSettingsOf(undefined)).toEqual({});
  });

  it("names only settings the operations have", () => {
    const all = Object.fromEntries(Object.keys(OperationTimingsConfig.shape).map((k) => [k, "1s"]));
    const settings = operationSettingsOf(OperationTimingsConfig.parse(all));
    for (const key of Object.keys(settings)) expect(DEFAULT_OPERATION_SETTINGS).toHaveProperty(key);
    expect(Object.keys(settings)).toHaveLength(Object.keys(OperationTimingsConfig.shape).length);
  });

  it("says what to fix in a bad duration or an unknown name", () => {
    const bad = OperationTimingsConfig.safeParse({ leaseTtl: "30 seconds", lockTtl: "0s" });
    expect(bad.success).toBe(false);
    const messages = bad.error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    expect(messages).toContain('leaseTtl: a duration such as "90s", "2m", "1h" or "500ms"');
    expect(messages).toContain("lockTtl: a duration longer than zero");
    expect(OperationTimingsConfig.safeParse({ leaseTTL: "30s" }).success).toBe(false);
  });
});
