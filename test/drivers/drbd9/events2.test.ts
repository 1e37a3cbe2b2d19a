import { describe, expect, it } from "vitest";
import { Events2State, parseEvents2Line, parseEvents2Stream, parsers } from "../../../src/drivers/drbd9";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { fixture } from "./helpers";

describe("parseEvents2Line", () => {
  it("splits action, object and fields; values keep their colons", () => {
    expect(
      parseEvents2Line(
        "create path name:r0 peer-node-id:1 conn-name:xen2 local:ipv4:10.0.0.1:7789 peer:ipv4:10.0.0.2:7789 established:no",
        7,
      ),
    ).toEqual({
      line: 7,
      timestamp: null,
      action: "create",
      object: "path",
      fields: {
        name: "r0",
        "peer-node-id": "1",
        "conn-name": "xen2",
        local: "ipv4:10.0.0.1:7789",
        peer: "ipv4:10.0.0.2:7789",
        established: "no",
      },
      previous: {},
    });
  });

  it("reads the end-of-initial-state marker, with and without timestamp", () => {
    expect(parseEvents2Line("exists -")).toMatchObject({ action: "exists", object: "-", fields: {} });
    expect(parseEvents2Line("2024-05-14T10:31:02.118490+02:00 exists -")).toMatchObject({
      timestamp: "2024-05-14T10:31:02.118490+02:00",
      object: "-",
    });
  });

  it("reads --diff values as new value plus previous", () => {
    const e = parseEvents2Line(
      "change connection name:r0 peer-node-id:1 conn-name:p connection:StandAlone->Connected role:Unknown->Secondary",
    );
    expect(e?.fields).toMatchObject({ connection: "Connected", role: "Secondary", "conn-name": "p" });
    expect(e?.previous).toEqual({ connection: "StandAlone", role: "Unknown" });
  });

  it("strips --color escapes and ignores blank lines", () => {
    const esc = String.fromCharCode(27);
    expect(
      parseEvents2Line(`change device name:r0 volume:0 minor:1 disk:${esc}[1;32mUpToDate${esc}[0m`)?.fields
        .disk,
    ).toBe("UpToDate");
    expect(parseEvents2Line("   ")).toBeNull();
  });

  it("reads rename and helper lines", () => {
    expect(parseEvents2Line("rename resource name:old new_name:new")).toMatchObject({
      action: "rename",
      fields: { name: "old", new_name: "new" },
    });
    expect(
      parseEvents2Line(
        "response helper name:r0 peer-node-id:1 conn-name:p volume:0 helper:before-resync-target status:1",
      ),
    ).toMatchObject({
      action: "response",
      object: "helper",
      fields: { helper: "before-resync-target", status: "1" },
    });
  });

  it.each([
    ["the 2013 sequence-numbered log", "7 create resource name:drbd0 role:Secondary suspended:no"],
    [
      "its continuation marker",
      "35* create connection name:drbd0 conn-name:x connection:StandAlone role:Unknown",
    ],
    ["its skip marker", "- skipped 4294967294"],
    ["an unknown action", "modify resource name:r0"],
    ["an unknown object", "change volume name:r0"],
    ["a token without colon", "change resource name:r0 Primary"],
    ["a line without name", "change resource role:Primary"],
    ["a misplaced -", "change -"],
    ["a placeholder instead of a timestamp", "2024 exists -"],
  ])("rejects %s", (_what, line) => {
    expect(() => parseEvents2Line(line, 3)).toThrow(ParseError);
    try {
      parseEvents2Line(line, 3);
    } catch (err) {
      expect(err).toMatchObject({ kind: "drbd-events2", line: 3 });
    }
  });
});

describe("Events2State", () => {
  it("replays the hand-written failover stream", () => {
    const text = fixture("drbd9", "handmade-events2-timestamps-failover.txt");
    const state = new Events2State();
    const lines = text.split("\n");
    // Before `exists -` the initial state is incomplete.
    for (const [i, l] of lines.slice(0, 4).entries()) state.applyLine(l, i + 1);
    expect(state.initialStateComplete).toBe(false);
    expect(state.toResourceStates()[0]).toMatchObject({ role: "Secondary", peers: [{ role: "Primary" }] });
    state.applyLine(lines[4] ?? "", 5);
    expect(state.initialStateComplete).toBe(true);

    // Peer lost: disconnected, no replication state, peer disk unknown.
    for (const [i, l] of lines.slice(5, 13).entries()) state.applyLine(l, i + 6);
    expect(state.toResourceStates()[0]).toEqual({
      name: "internet",
      minor: 0,
      role: "Primary",
      diskState: "UpToDate",
      unconfigured: false,
      peers: [
        {
          node: "ics1",
          connectionState: "Connecting",
          replicationState: null,
          role: "Unknown",
          diskState: "DUnknown",
          outOfSyncKiB: null,
          sync: null,
        },
      ],
    });
    // Reconnected and resyncing; `done` alone updates the progress.
    for (const [i, l] of lines.slice(13, 19).entries()) state.applyLine(l, i + 14);
    expect(state.toResourceStates()[0]?.peers[0]).toMatchObject({
      connectionState: "Connected",
      replicationState: "SyncSource",
      diskState: "Inconsistent",
      sync: { percent: 80, etaSec: null, speedKiBps: null },
    });
    // Resync over: the progress is gone.
    state.applyLine(lines[19] ?? "", 20);
    expect(state.toResourceStates()[0]?.peers[0]).toMatchObject({
      replicationState: "Established",
      diskState: "UpToDate",
      sync: null,
    });
    const [res] = state.snapshot();
    expect(res).toMatchObject({ mayPromote: false, promotionScore: 10101 });
    expect(res?.devices[0]).toMatchObject({ open: true, backingDev: "/dev/vg0/internet", quorum: true });
    expect(res?.connections[0]?.paths).toEqual([
      { local: "ipv4:10.0.0.1:7789", peer: "ipv4:10.0.0.2:7789", established: true },
    ]);
  });

  it("parses a whole stream into events and the final state", () => {
    const out = parseEvents2Stream(fixture("drbd9", "handmade-events2-timestamps-failover.txt"));
    expect(out.events).toHaveLength(20);
    expect(out.events.every((e) => e.timestamp?.startsWith("2024-05-14T"))).toBe(true);
    expect(
      out.events.filter((e) => e.object === "helper").map((e) => [e.action, e.fields.status ?? null]),
    ).toEqual([
      ["call", null],
      ["response", "0"],
    ]);
    expect(out.initialStateComplete).toBe(true);
    for (const s of out.state) DrbdResourceState.parse(s);
    expect(out.state[0]?.peers[0]?.replicationState).toBe("Established");
    const entry = parsers.find((p) => p.kind === "drbd-events2");
    expect(
      JSON.parse(JSON.stringify(entry?.parse(fixture("drbd9", "handmade-events2-timestamps-failover.txt")))),
    ).toEqual(out);
  });

  it("destroys objects and renames resources", () => {
    const state = new Events2State();
    for (const l of [
      "exists -",
      "create resource name:r0 role:Secondary suspended:no",
      "create device name:r0 volume:0 minor:7 disk:UpToDate client:no",
      "create device name:r0 volume:1 minor:8 disk:UpToDate client:no",
      "create connection name:r0 peer-node-id:1 conn-name:xen2 connection:Connected role:Secondary",
      "create peer-device name:r0 peer-node-id:1 conn-name:xen2 volume:0 replication:Established peer-disk:UpToDate",
      "destroy peer-device name:r0 peer-node-id:1 conn-name:xen2 volume:0",
      "destroy device name:r0 volume:0",
      "rename resource name:r0 new_name:r1",
    ]) {
      state.applyLine(l);
    }
    const [r] = state.snapshot();
    expect(r?.name).toBe("r1");
    expect(r?.devices.map((d) => d.minor)).toEqual([8]);
    expect(r?.connections[0]?.peerDevices).toEqual([]);
    state.applyLine("destroy connection name:r1 peer-node-id:1 conn-name:xen2");
    expect(state.snapshot()[0]?.connections).toEqual([]);
    state.applyLine("destroy resource name:r1");
    expect(state.snapshot()).toEqual([]);
    // Destroying what is not there is no error.
    state.applyLine("destroy device name:r9 volume:0");
    expect(state.snapshot()).toEqual([]);
  });

  it("creates objects first seen in a change, with everything else unknown", () => {
    const state = new Events2State();
    state.applyLine(
      "change peer-device name:r0 peer-node-id:3 conn-name:xen3 volume:0 replication:SyncTarget done:5.00",
    );
    expect(state.toResourceStates()).toEqual([
      {
        name: "r0",
        minor: null,
        role: "Unknown",
        diskState: "Diskless",
        unconfigured: true,
        peers: [
          {
            node: "xen3",
            connectionState: "Unknown",
            replicationState: null,
            role: "Unknown",
            diskState: "DUnknown",
            outOfSyncKiB: null,
            sync: null,
          },
        ],
      },
    ]);
  });

  it("keeps connections apart by peer-node-id when they have no name", () => {
    const state = new Events2State();
    state.applyLine("create connection name:r0 peer-node-id:1 connection:Connecting role:Unknown");
    state.applyLine("create connection name:r0 peer-node-id:2 connection:StandAlone role:Unknown");
    state.applyLine("change connection name:r0 peer-node-id:1 connection:Connected role:Secondary");
    expect(state.snapshot()[0]?.connections.map((c) => [c.peerNodeId, c.connectionState])).toEqual([
      [1, "Connected"],
      [2, "StandAlone"],
    ]);
  });

  it("reports the line of a bad value", () => {
    expect(() =>
      parseEvents2Stream("exists -\ncreate device name:r0 volume:x minor:1 disk:UpToDate"),
    ).toThrow(expect.objectContaining({ kind: "drbd-events2", line: 2 }));
    expect(() => parseEvents2Stream("exists -\nchange resource name:r0 may_promote:perhaps")).toThrow(
      expect.objectContaining({ line: 2 }),
    );
  });
});
