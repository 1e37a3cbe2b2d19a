import { describe, expect, it } from "vitest";
import { parseDrbdStatusJson, parsers, toDrbdResourceStates } from "../../../src/drivers/drbd9";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { fixture } from "./helpers";

describe("drbdsetup status --json", () => {
  const text = fixture("drbd9", "handmade-drbdsetup-status-json.txt");

  it("reads resources, devices, connections, paths and peer devices", () => {
    const [internet, mail] = parseDrbdStatusJson(text);
    expect(internet).toMatchObject({
      name: "internet",
      nodeId: 0,
      role: "Primary",
      suspended: "no",
      forceIoFailures: false,
      writeOrdering: "flush",
    });
    expect(internet?.devices).toMatchObject([
      {
        volume: 0,
        minor: 0,
        diskState: "UpToDate",
        client: false,
        open: true,
        quorum: true,
        sizeKiB: 20971520,
      },
    ]);
    expect(internet?.connections.map((c) => [c.name, c.peerNodeId, c.connectionState, c.peerRole])).toEqual([
      ["ics1", 1, "Connected", "Secondary"],
      ["ics2", 2, "Connecting", "Unknown"],
    ]);
    expect(internet?.connections[0]?.paths).toEqual([
      { local: "ipv4:10.0.0.1:7789", peer: "ipv4:10.0.0.2:7789", established: true },
    ]);
    expect(internet?.connections[1]?.peerDevices[0]).toMatchObject({
      replicationState: "Off",
      peerDiskState: "DUnknown",
      outOfSyncKiB: 20480,
      percentInSync: 99.9,
      donePercent: null,
    });
    expect(mail?.connections[0]?.peerDevices[0]).toMatchObject({
      replicationState: "SyncSource",
      peerDiskState: "Inconsistent",
      outOfSyncKiB: 6553600,
      percentInSync: 37.5,
      donePercent: 37.5,
      etaSec: 104,
      speedKiBps: 61.25 * 1024,
      // Fields without a typed home are kept.
      extra: expect.objectContaining({ "rs-total": 20971520, want: 250, "has-sync-details": true }),
    });
  });

  it("normalizes to the same state as the equivalent text output", () => {
    const state = toDrbdResourceStates(parseDrbdStatusJson(text));
    for (const s of state) DrbdResourceState.parse(s);
    expect(state).toEqual([
      {
        name: "internet",
        minor: 0,
        role: "Primary",
        diskState: "UpToDate",
        unconfigured: false,
        peers: [
          {
            node: "ics1",
            connectionState: "Connected",
            replicationState: "Established",
            role: "Secondary",
            diskState: "UpToDate",
            outOfSyncKiB: 0,
            sync: null,
          },
          {
            node: "ics2",
            connectionState: "Connecting",
            replicationState: null,
            role: "Unknown",
            diskState: "DUnknown",
            outOfSyncKiB: 20480,
            sync: null,
          },
        ],
      },
      {
        name: "mail",
        minor: 1,
        role: "Primary",
        diskState: "UpToDate",
        unconfigured: false,
        peers: [
          {
            node: "ics1",
            connectionState: "Connected",
            replicationState: "SyncSource",
            role: "Secondary",
            diskState: "Inconsistent",
            outOfSyncKiB: 6553600,
            sync: { percent: 37.5, etaSec: 104, speedKiBps: 62720 },
          },
        ],
      },
    ]);
  });

  it("reads an empty list and a resource without devices", () => {
    expect(parseDrbdStatusJson("[\n]\n\n")).toEqual([]);
    const one = JSON.stringify([{ name: "r0", role: "Secondary", devices: [], connections: [] }]);
    expect(toDrbdResourceStates(parseDrbdStatusJson(one))).toEqual([
      { name: "r0", minor: null, role: "Secondary", diskState: "Diskless", unconfigured: true, peers: [] },
    ]);
  });

  it("turns the no-estimate sentinel and nan into null", () => {
    const json = text
      .replace('"estimated-seconds-to-finish": 104', '"estimated-seconds-to-finish": 987654321')
      .replace('"percent-in-sync": 99.90', '"percent-in-sync": -nan');
    const [internet, mail] = parseDrbdStatusJson(json);
    expect(mail?.connections[0]?.peerDevices[0]?.etaSec).toBeNull();
    expect(internet?.connections[1]?.peerDevices[0]?.percentInSync).toBeNull();
  });

  it("spells suspension reasons as the text output does", () => {
    const json = text
      .replace('"suspended": false', '"suspended": true')
      .replace('"suspended-quorum": false', '"suspended-quorum": true');
    expect(parseDrbdStatusJson(json)[0]?.suspended).toBe("quorum");
  });

  it("rejects invalid JSON with the line of the error", () => {
    const broken = text.replace('"role": "Primary",', '"role": "Primary"');
    let err: unknown;
    try {
      parseDrbdStatusJson(broken);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ParseError);
    expect((err as ParseError).kind).toBe("drbd-status-json");
    // JSON.parse notices the missing comma at the next property, on line 6.
    expect((err as ParseError).line).toBe(6);
    expect((err as ParseError).text).toBe('  "suspended": false,');
  });

  it.each([
    ["empty input", ""],
    ["an object instead of a list", '{"name":"r0"}'],
    ["a resource without role", '[{"name":"r0","devices":[],"connections":[]}]'],
    [
      "a string volume",
      '[{"name":"r0","role":"Primary","devices":[{"volume":"0","minor":1,"disk-state":"UpToDate"}],"connections":[]}]',
    ],
    ["status text", "r0 role:Primary\n  disk:UpToDate\n"],
  ])("rejects %s", (_what, input) => {
    expect(() => parseDrbdStatusJson(input)).toThrow(ParseError);
  });

  it("is registered as the drbd-status-json kind", () => {
    const out = parsers.find((p) => p.kind === "drbd-status-json")?.parse(text) as { state: unknown[] };
    expect(out.state).toHaveLength(2);
  });
});
