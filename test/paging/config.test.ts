/** The inventory's paging settings: per-cluster service, on-call timers, Alertmanager credentials. */
import { describe, expect, it } from "vitest";
import { InventoryConfig } from "../../src/config/schema";
import { PagerRegistry } from "../../src/paging/registry";

function inventory(over: { cluster?: Record<string, unknown>; top?: Record<string, unknown> } = {}) {
  return {
    clusters: [
      {
        name: "lab",
        channels: ["C0LAB"],
        toolstack: { hypervisor: "xm", drbd: 9, ha: "heartbeat" },
        nodes: [
          { name: "ics1", host: "10.0.0.1", privateKey: { file: "/k" }, hostKey: `SHA256:${"A".repeat(43)}` },
        ],
        ...over.cluster,
      },
    ],
    ...over.top,
  };
}

describe("paging configuration", () => {
  it("accepts PagerDuty or Opsgenie with secret references, not both, not inline keys", () => {
    expect(
      InventoryConfig.safeParse(
        inventory({ cluster: { paging: { pagerduty: { routingKey: { env: "PD_KEY" } } } } }),
      ).success,
    ).toBe(true);
    expect(
      InventoryConfig.safeParse(
        inventory({
          cluster: {
            paging: {
              opsgenie: { apiKey: { file: "/etc/xenops/genie" }, url: "https://api.eu.opsgenie.com" },
            },
          },
        }),
      ).success,
    ).toBe(true);
    expect(
      InventoryConfig.safeParse(
        inventory({
          cluster: {
            paging: { pagerduty: { routingKey: { env: "A" } }, opsgenie: { apiKey: { env: "B" } } },
          },
        }),
      ).success,
    ).toBe(false);
    expect(
      InventoryConfig.safeParse(
        inventory({ cluster: { paging: { pagerduty: { routingKey: "inline-key" } } } }),
      ).success,
    ).toBe(false);
  });

  it("on-call timers are durations; an escalation step names someone", () => {
    const ok = InventoryConfig.parse(
      inventory({
        top: {
          oncall: {
            groups: ["SONCALL1"],
            renotifyAfter: "15m",
            escalation: [
              { after: "30m", users: ["UBOSS1"] },
              { after: "1h", groups: ["SMGMT1"] },
            ],
          },
        },
      }),
    );
    expect(ok.oncall.escalation?.map((s) => s.after)).toEqual(["30m", "1h"]);
    const digest = (digestAt: string) =>
      InventoryConfig.safeParse(inventory({ top: { oncall: { digestAt } } }));
    expect(digest("08:00").success).toBe(true);
    expect(digest("24:00").success).toBe(false);
    expect(InventoryConfig.safeParse(inventory({ top: { oncall: { renotifyAfter: "soon" } } })).success).toBe(
      false,
    );
    expect(InventoryConfig.safeParse(inventory({ top: { oncall: { renotifyAfter: "0m" } } })).success).toBe(
      false,
    );
    expect(
      InventoryConfig.safeParse(inventory({ top: { oncall: { escalation: [{ after: "30m" }] } } })).success,
    ).toBe(false);
  });

  it("Alertmanager takes a bearer token or basic authentication", () => {
    const webhook = (alertmanager: unknown) =>
      inventory({ top: { webhook: { secret: { env: "WH" }, alertmanager } } });
    expect(InventoryConfig.safeParse(webhook({ bearerToken: { env: "AM_TOKEN" } })).success).toBe(true);
    expect(
      InventoryConfig.safeParse(webhook({ basic: { username: "am", password: { file: "/etc/xenops/am" } } }))
        .success,
    ).toBe(true);
    expect(InventoryConfig.safeParse(webhook({ bearerToken: "inline" })).success).toBe(false);
  });

  it("resolves the key once, trimmed; a missing secret is a config error", async () => {
    const inv = InventoryConfig.parse(
      inventory({
        cluster: { paging: { pagerduty: { routingKey: { env: "PD_KEY" }, url: "http://127.0.0.1:1/x" } } },
      }),
    );
    const made: string[] = [];
    const registry = new PagerRegistry(inv, { PD_KEY: " key \n" }, (_c, secret) => {
      made.push(secret);
      return { service: "pagerduty", send: async () => {} };
    });
    expect(registry.configured("lab")).toBe(true);
    await registry.for("lab");
    await registry.for("lab");
    expect(made).toEqual(["key"]);
    await expect(new PagerRegistry(inv, {}).for("lab")).rejects.toMatchObject({ code: "config_invalid" });
  });
});
