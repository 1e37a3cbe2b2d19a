/**
 * The App Home tab's view and publisher: state from the stored facts, incidents with the buttons of
 * their messages (whose clicks reach the same action handler), running jobs; a publish at once on
 * open, at most one per user per interval after that, and none when nothing changed.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { JobSummary } from "../../src/chat/job-admin";
import { InventoryConfig as InventorySchema } from "../../src/config/schema";
import { emptyMemory, type Facts } from "../../src/events/facts";
import type { IncidentRecord } from "../../src/events/incidents";
import { buildHomeView, type HomeSource, HomeTab, parseHomeBlockId } from "../../src/forms/home";
import { viewText } from "../../src/forms/text";
import { toActionRequest } from "../../src/slack/app";

const key = (c: string) => `SHA256:${c.repeat(43)}`;
const inventory = InventorySchema.parse({
  clusters: [
    {
      name: "lab",
      channels: ["C0LAB"],
      toolstack: { hypervisor: "xm", drbd: 8, ha: "none", fence: { method: "none" } },
      nodes: [
        { name: "ics1", host: "127.0.0.1", privateKey: { file: "/x" }, hostKey: key("A") },
        { name: "ics2", host: "127.0.0.1", privateKey: { file: "/x" }, hostKey: key("B") },
      ],
      drbd: [{ name: "internet", minor: 0 }],
      guests: [{ name: "internet", home: "ics2", drbd: ["internet"] }],
    },
  ],
  roles: { viewer: { users: ["UVIEWER1"] } },
});

const side = (role: string, peerRole: string) => ({
  role,
  disk: "UpToDate",
  conn: "WFConnection",
  repl: null,
  peer: null,
  peerRole,
  peerDisk: "DUnknown",
  oosKiB: 2048,
  syncPercent: null,
  etaSec: null,
  unconfigured: false,
});

const facts: Facts = {
  cluster: "lab",
  at: "2026-12-04T18:00:00.000Z",
  nodes: {
    ics1: {
      reachable: true,
      error: null,
      ha: { status: "online", observer: "ics1", stack: "heartbeat" },
      haRunning: true,
      guests: [],
      migrating: [],
      drbd: { internet: side("Secondary", "Unknown") },
    },
    ics2: {
      reachable: false,
      error: "connect timeout",
      ha: { status: "offline", observer: "ics1", stack: "heartbeat" },
      haRunning: null,
      guests: null,
      migrating: [],
      drbd: null,
    },
  },
  haResources: null,
  fences: [],
  memory: emptyMemory(),
};

const incident = {
  id: "abcdefgh12345678",
  key: "lab|-|ics2|node",
  cluster: "lab",
  channel: "C0LAB",
  status: "open",
  severity: "critical",
  ts: "1700000000.000042",
  threadTs: "1700000000.000042",
  current: {
    cluster: "lab",
    kind: "node_dead",
    family: "node",
    severity: "critical",
    subject: null,
    node: "ics2",
    title: "ics2 is dead according to heartbeat on ics1",
    evidence: [],
    source: "poll",
    at: "2026-12-04T18:00:00.000Z",
    actions: [{ kind: "fence", node: "ics2" }],
  },
} as unknown as IncidentRecord;

const job: JobSummary = {
  jobId: "j1",
  number: 7,
  cluster: "lab",
  name: "drbd-watch",
  title: "DRBD watch of internet",
  state: "running",
  requestedBy: "UVIEWER1",
  createdAt: 0,
  startedAt: 0,
  finishedAt: null,
  progress: "42%",
  detail: null,
};

function source(over: Partial<HomeSource> = {}): HomeSource {
  return {
    inventory,
    loadFacts: async () => facts,
    activeIncidents: async () => [incident],
    jobs: async () => [job],
    ...over,
  };
}

describe("the Home view", () => {
  it("shows nodes, DRBD, open incidents with their buttons and running jobs, from stored state", async () => {
    const view = await buildHomeView(source());
    expect(view.type).toBe("home");
    const text = viewText(view);
    expect(text).toContain("*lab* (seen 2026-12-04T18:00:00.000Z)");
    expect(text).toContain("ics1: reachable, HA online (heartbeat on ics1); runs no guest");
    expect(text).toContain(
      "ics2: NOT answering (connect timeout), HA offline (heartbeat on ics1); guests unknown",
    );
    expect(text).toContain("internet on ics1: WFConnection Secondary/Unknown UpToDate/DUnknown oos 2048 KiB");
    expect(text).toContain("internet on ics2: unknown");
    expect(text).toContain("🔴 ics2 is dead according to heartbeat on ics1");
    expect(text).toContain("[Fence ics2]");
    expect(text).toContain("job 7 running: DRBD watch of internet (42%)");

    // The button is the incident message's own; its block id names the incident's message.
    const actions = (
      view.blocks as { type: string; block_id?: string; elements?: { action_id: string; value: string }[] }[]
    ).find((b) => b.type === "actions");
    expect(actions?.elements?.[0]?.action_id).toBe("xenops:event:fence:0");
    expect(parseHomeBlockId(actions?.block_id ?? "")).toEqual({ channel: "C0LAB", ts: "1700000000.000042" });

    // A click on the Home tab (no channel, no message) reaches the core as a click on that message.
    const request = toActionRequest({
      type: "block_actions",
      user: { id: "UOPER1" },
      trigger_id: "t1",
      container: { type: "view", view_id: "VHOME" },
      actions: [
        {
          type: "button",
          action_id: "xenops:event:fence:0",
          block_id: actions?.block_id,
          value: actions?.elements?.[0]?.value,
          action_ts: "1700000001.000000",
        },
      ],
    } as never);
    expect(request).toMatchObject({
      channelId: "C0LAB",
      messageTs: "1700000000.000042",
      userId: "UOPER1",
      actionId: "xenops:event:fence:0",
    });
  });

  it("says what it could not read instead of showing nothing", async () => {
    const text = viewText(
      await buildHomeView(
        source({
          loadFacts: async () => null,
          activeIncidents: async () => {
            throw new Error("redis down");
          },
          jobs: async () => {
            throw new Error("redis down");
          },
        }),
      ),
    );
    expect(text).toContain("*lab* (not seen yet)");
    expect(text).toContain("ics1: unknown (not seen yet)");
    expect(text).toContain("*Incidents*: could not be read.");
    expect(text).toContain("*Jobs*: could not be read.");
  });
});

describe("the Home publisher", () => {
  it("publishes on open, not again while nothing changed, and at most once per interval", async () => {
    let now = 1_000_000;
    let seen = facts;
    const published: { user: string; text: string }[] = [];
    const tab = new HomeTab({
      source: source({ loadFacts: async () => seen }),
      publish: async (user, view) => {
        published.push({ user, text: viewText(view) });
      },
      mayView: async (user) => user === "UVIEWER1",
      logger: pino({ level: "silent" }),
      minIntervalMs: 60_000,
      refreshMs: 3_600_000,
      now: () => now,
    });
    try {
      tab.opened("UVIEWER1");
      tab.opened("UNOBODY");
      await tab.idle();
      expect(published.map((p) => p.user).sort()).toEqual(["UNOBODY", "UVIEWER1"]);
      expect(published.find((p) => p.user === "UNOBODY")?.text).toContain("viewers only");

      // Nothing changed: a refresh publishes nothing.
      now += 120_000;
      tab.poke();
      await tab.idle();
      expect(published).toHaveLength(2);

      // A change is published, once.
      seen = { ...facts, at: "2026-12-04T18:00:10.000Z" };
      tab.poke();
      await tab.idle();
      expect(published).toHaveLength(3);
      expect(published[2]?.text).toContain("seen 2026-12-04T18:00:10.000Z");

      // Another change right after: held back until the interval has passed (a timer, not a publish).
      seen = { ...facts, at: "2026-12-04T18:00:20.000Z" };
      tab.poke();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(published).toHaveLength(3);
    } finally {
      tab.stop();
    }
  });
});
