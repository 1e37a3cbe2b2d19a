import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createSlackWebClient } from "../../src/slack/client";
import { createSlackGroupDirectory, type SlackGroupDirectory } from "../../src/slack/groups";
import { FakeSlack } from "../support/fake-slack";
import { BOT_TOKEN, captureLogger } from "./helpers";

describe("createSlackGroupDirectory", () => {
  let slack: FakeSlack;
  let dir: SlackGroupDirectory | null = null;
  let now = 1_000_000;
  const log = captureLogger();

  beforeEach(async () => {
    now = 1_000_000;
    slack = await FakeSlack.start({
      validTokens: [BOT_TOKEN],
      usergroups: { S0OPS: ["U0ALICE", "U0BOB"], S0ADMINS: ["U0ALICE"], S0OTHER: ["U0BOB"] },
    });
  });
  afterEach(async () => {
    dir?.stop();
    await slack.close();
  });

  function directory(groups: string[], ttlMs = 60_000): SlackGroupDirectory {
    const client = createSlackWebClient(BOT_TOKEN, { slackApiUrl: slack.apiUrl, logger: log.logger });
    dir = createSlackGroupDirectory(client, log.logger, {
      groups,
      ttlMs,
      failureRetryMs: 5_000,
      now: () => now,
    });
    return dir;
  }

  it("returns the configured groups the user is in, looking each group up once", async () => {
    const d = directory(["S0OPS", "S0ADMINS"]);
    const [alice, bob, carol] = await Promise.all([
      d.groupsOf("U0ALICE"),
      d.groupsOf("U0BOB"),
      d.groupsOf("U0CAROL"),
    ]);
    expect(alice).toEqual(["S0OPS", "S0ADMINS"]);
    expect(bob).toEqual(["S0OPS"]);
    expect(carol).toEqual([]);
    // Concurrent lookups share one call per group; S0OTHER is not configured and never asked for.
    expect(
      slack
        .callsTo("usergroups.users.list")
        .map((c) => c.args.usergroup)
        .sort(),
    ).toEqual(["S0ADMINS", "S0OPS"]);
  });

  it("serves from the cache within the TTL and refreshes in the background after it", async () => {
    const d = directory(["S0OPS"]);
    expect(await d.groupsOf("U0CAROL")).toEqual([]);
    slack.usergroups.set("S0OPS", ["U0CAROL"]);
    now += 30_000;
    expect(await d.groupsOf("U0CAROL")).toEqual([]); // still cached
    expect(slack.callsTo("usergroups.users.list")).toHaveLength(1);
    now += 31_000;
    expect(await d.groupsOf("U0CAROL")).toEqual([]); // stale answer served while refreshing
    await vi.waitFor(() => expect(slack.callsTo("usergroups.users.list")).toHaveLength(2), {
      timeout: 10_000,
    });
    await d.refresh(); // joins the background lookup if it is still in flight
    expect(await d.groupsOf("U0CAROL")).toEqual(["S0OPS"]);
  });

  it("treats a failed lookup as 'not a member', logs it, and retries after the failure delay", async () => {
    const d = directory(["S0OPS"]);
    slack.failWith("usergroups.users.list", "missing_scope");
    expect(await d.groupsOf("U0ALICE")).toEqual([]);
    const warn = log.entries().find((e) => e.msg === "user group lookup failed; treating as not a member");
    expect(warn).toMatchObject({ group: "S0OPS", error: "missing_scope" });
    expect(await d.groupsOf("U0ALICE")).toEqual([]); // not retried at once
    expect(slack.callsTo("usergroups.users.list")).toHaveLength(1);
    now += 5_000;
    expect(await d.groupsOf("U0ALICE")).toEqual(["S0OPS"]);
  });

  it("drops a member list whose background refresh failed", async () => {
    const d = directory(["S0OPS"]);
    expect(await d.groupsOf("U0BOB")).toEqual(["S0OPS"]);
    slack.failWith("usergroups.users.list", "internal_error");
    await d.refresh();
    expect(await d.groupsOf("U0BOB")).toEqual([]);
  });
});
