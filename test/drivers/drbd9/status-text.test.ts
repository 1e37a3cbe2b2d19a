import { describe, expect, it } from "vitest";
import { parseDrbdStatusText, parsers, toDrbdResourceStates } from "../../../src/drivers/drbd9";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { fixture } from "./helpers";

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

describe("drbdadm status text", () => {
  it("reads the non-verbose two-resource sample", () => {
    const res = parseDrbdStatusText(fixture("drbd9", "handmade-drbdadm-status-two-resources.txt"));
    expect(res.map((r) => r.name)).toEqual(["internet", "mail"]);
    const [internet, mail] = res;
    expect(internet?.role).toBe("Primary");
    expect(internet?.devices).toMatchObject([{ volume: 0, diskState: "UpToDate", minor: null }]);
    expect(internet?.connections).toMatchObject([
      {
        name: "ics1",
        connectionState: "Connected",
        peerRole: "Secondary",
        peerDevices: [{ volume: 0, replicationState: "Established", peerDiskState: "UpToDate" }],
      },
    ]);
    expect(mail?.devices.map((d) => [d.volume, d.diskState])).toEqual([
      [0, "UpToDate"],
      [1, "Inconsistent"],
    ]);
    expect(mail?.connections[0]?.peerDevices).toMatchObject([
      { volume: 0, replicationState: "Established", peerDiskState: "UpToDate", donePercent: null },
      { volume: 1, replicationState: "SyncTarget", peerDiskState: "UpToDate", donePercent: 37.5 },
    ]);

    const state = toDrbdResourceStates(res);
    for (const s of state) DrbdResourceState.parse(s);
    expect(state).toEqual([
      {
        name: "internet",
        minor: null,
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
            outOfSyncKiB: null,
            sync: null,
          },
        ],
      },
      {
        name: "mail",
        minor: null,
        role: "Secondary",
        // The worst volume wins: volume 1 is still being synced.
        diskState: "Inconsistent",
        unconfigured: false,
        peers: [
          {
            node: "ics1",
            connectionState: "Connected",
            replicationState: "SyncTarget",
            role: "Primary",
            diskState: "UpToDate",
            outOfSyncKiB: null,
            sync: { percent: 37.5, etaSec: null, speedKiBps: null },
          },
        ],
      },
    ]);
  });

  it("reads suspended/quorum and peers that are not connected", () => {
    const [web] = parseDrbdStatusText(fixture("drbd9", "handmade-drbdadm-status-quorum-lost.txt"));
    expect(web).toMatchObject({ name: "web", role: "Primary", suspended: "quorum" });
    expect(web?.devices).toMatchObject([{ volume: 0, diskState: "UpToDate", quorum: false }]);
    expect(web?.connections.map((c) => [c.name, c.connectionState, c.peerDevices.length])).toEqual([
      ["xen2", "Connecting", 0],
      ["xen3", "StandAlone", 0],
    ]);
    expect(toDrbdResourceStates(web ? [web] : [])[0]?.peers).toEqual([
      {
        node: "xen2",
        connectionState: "Connecting",
        replicationState: null,
        role: "Unknown",
        diskState: "DUnknown",
        outOfSyncKiB: null,
        sync: null,
      },
      {
        node: "xen3",
        connectionState: "StandAlone",
        replicationState: null,
        role: "Unknown",
        diskState: "DUnknown",
        outOfSyncKiB: null,
        sync: null,
      },
    ]);
  });

  it("reads --verbose --statistics output wrapped at 80 columns", () => {
    const res = parseDrbdStatusText(fixture("drbd9", "handmade-drbdsetup-status-verbose-statistics.txt"));
    expect(res.map((r) => r.name)).toEqual(["internet", "mail"]);
    const mail = res[1];
    expect(mail).toMatchObject({
      nodeId: 0,
      role: "Primary",
      suspended: "no",
      forceIoFailures: false,
      writeOrdering: "flush",
    });
    expect(mail?.devices[0]).toMatchObject({
      volume: 0,
      minor: 1,
      diskState: "UpToDate",
      backingDev: "/dev/vg0/mail",
      quorum: true,
      open: true,
      sizeKiB: 10485760,
      upperPending: 0,
      lowerPending: 0,
      alSuspended: false,
      blocked: "no",
    });
    const ics1 = mail?.connections[0];
    expect(ics1).toMatchObject({ name: "ics1", peerNodeId: 1, connectionState: "Connected", tls: false });
    expect(ics1?.peerDevices[0]).toMatchObject({
      replicationState: "SyncSource",
      peerDiskState: "Inconsistent",
      donePercent: 37.5,
      resyncSuspended: "no",
      outOfSyncKiB: 6553600,
      sentKiB: 3932160,
      speedKiBps: 61.25 * 1024,
      etaSec: 104,
    });
    const state = toDrbdResourceStates(res);
    expect(
      state.map((s) => [s.name, s.minor, s.peers.map((p) => [p.node, p.connectionState, p.outOfSyncKiB])]),
    ).toEqual([
      [
        "internet",
        0,
        [
          ["ics1", "Connected", 0],
          ["ics2", "Connecting", 20480],
        ],
      ],
      [
        "mail",
        1,
        [
          ["ics1", "Connected", 6553600],
          ["ics2", "Connecting", 10485760],
        ],
      ],
    ]);
    expect(state[1]?.peers[0]?.sync).toEqual({ percent: 37.5, etaSec: 104, speedKiBps: 62720 });
    // A Connecting peer is never reported with a replication state or sync progress.
    expect(state[1]?.peers[1]).toMatchObject({ replicationState: null, sync: null, role: "Unknown" });
  });

  it("reads the empty answer", () => {
    expect(parseDrbdStatusText(fixture("drbd9", "handmade-drbdadm-status-none.txt"))).toEqual([]);
    expect(parseDrbdStatusText("")).toEqual([]);
  });

  it("reads the drbdsetup(8) example, whose peer devices print disk: and an old replication name", () => {
    const text = [
      "drbd0 node-id:1 role:Primary suspended:no",
      "  volume:0 minor:1 disk:UpToDate blocked:no",
      "  host2.example.com local:ipv4:192.168.123.4:7788",
      "      peer:ipv4:192.168.123.2:7788 node-id:0 connection:WFReportParams",
      "      role:Secondary congested:no",
      "    volume:0 replication:Connected disk:UpToDate resync-suspended:no",
    ].join("\n");
    const [r] = parseDrbdStatusText(text);
    expect(r?.connections[0]).toMatchObject({
      name: "host2.example.com",
      peerNodeId: 0,
      connectionState: "WFReportParams",
      peerRole: "Secondary",
      congested: false,
      extra: { local: "ipv4:192.168.123.4:7788", peer: "ipv4:192.168.123.2:7788" },
    });
    expect(r?.connections[0]?.peerDevices[0]).toMatchObject({
      replicationState: "Connected",
      peerDiskState: "UpToDate",
    });
  });

  it("derives what non-verbose output leaves out", () => {
    const [r] = parseDrbdStatusText(
      [
        "r0 role:Secondary",
        "  volume:0 disk:UpToDate",
        "  volume:1 disk:UpToDate",
        "  peer role:Primary",
        "    volume:0 peer-disk:UpToDate",
        // peer-disk is omitted only while replication is Off and the peer disk DUnknown.
        "    volume:1",
      ].join("\n"),
    );
    expect(r?.connections[0]?.connectionState).toBe("Connected");
    expect(r?.connections[0]?.peerDevices.map((p) => [p.replicationState, p.peerDiskState])).toEqual([
      ["Established", "UpToDate"],
      ["Off", "DUnknown"],
    ]);
    // The normalized peer shows the worst volume.
    expect(toDrbdResourceStates(r ? [r] : [])[0]?.peers[0]).toMatchObject({
      replicationState: "Off",
      diskState: "DUnknown",
    });
  });

  it("treats an absent out-of-sync as 0 only when statistics were printed", () => {
    const [r] = parseDrbdStatusText(
      [
        "r0 role:Primary",
        "  disk:UpToDate",
        "  peer role:Secondary",
        "    peer-disk:UpToDate",
        "        received:0 sent:12",
      ].join("\n"),
    );
    expect(r?.connections[0]?.peerDevices[0]?.outOfSyncKiB).toBe(0);
  });

  it("reads a nameless connection, colour codes and CRLF line ends", () => {
    const esc = String.fromCharCode(27);
    const text = `r0 role:${esc}[1;36mPrimary${esc}[0m\r\n  disk:${esc}[1;32mUpToDate${esc}[0m\r\n  node-id:2 connection:StandAlone\r\n`;
    const [r] = parseDrbdStatusText(text);
    expect(r?.role).toBe("Primary");
    expect(r?.devices[0]?.diskState).toBe("UpToDate");
    expect(r?.connections[0]).toMatchObject({ name: null, peerNodeId: 2, connectionState: "StandAlone" });
    expect(toDrbdResourceStates(r ? [r] : [])[0]?.peers[0]?.node).toBeNull();
  });

  it("keeps unknown keys and turns nan into null", () => {
    const [r] = parseDrbdStatusText(
      [
        "r0 role:Primary future-key:x",
        "  disk:UpToDate",
        "  p role:Secondary",
        "    replication:SyncSource peer-disk:Inconsistent done:1.00",
        "        dbdt1:0.00 eta:nan",
      ].join("\n"),
    );
    expect(r?.extra).toEqual({ "future-key": "x" });
    expect(r?.connections[0]?.peerDevices[0]).toMatchObject({ etaSec: null, speedKiBps: 0 });
  });

  it.each([
    ["indentation that is not a column of the format", "r0 role:Primary\n   disk:UpToDate", 2],
    ["a device line before any resource", "  disk:UpToDate", 1],
    ["a token without a colon", "r0 role:Primary\n  disk:UpToDate extra", 2],
    ["a non-numeric volume", "r0 role:Primary\n  volume:x disk:UpToDate", 2],
    ["a bad yes/no value", "r0 role:Primary\n  disk:UpToDate quorum:maybe", 2],
    ["a duplicate volume", "r0 role:Primary\n  volume:0 disk:UpToDate\n  volume:0 disk:UpToDate", 3],
    ["a continuation of nothing", "r0 role:Primary\n  disk:UpToDate\n        received:1", 3],
    ["a resource line without name", "role:Primary", 1],
    ["an unknown comment", "# something else", 1],
    ["/proc/drbd of DRBD 8", " 0: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----", 1],
  ])("rejects %s", (_what, text, line) => {
    const err = catchError(() => parseDrbdStatusText(text));
    expect(err).toBeInstanceOf(ParseError);
    expect(err).toMatchObject({ kind: "drbd-status", line, code: "parse_error" });
  });

  it("is registered as the drbd-status kind with JSON-friendly output", () => {
    const entry = parsers.find((p) => p.kind === "drbd-status");
    const out = entry?.parse(fixture("drbd9", "handmade-drbdadm-status-two-resources.txt")) as {
      resources: unknown[];
      state: unknown[];
    };
    expect(out.resources).toHaveLength(2);
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });
});
