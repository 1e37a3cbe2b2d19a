import { describe, expect, it } from "vitest";
import {
  heartbeatNodeStatus,
  parseClStatusTranscript,
  parseHbStatus,
  parseListNodes,
  parseNodeStatus,
  parseRscStatus,
  parsers,
} from "../../../src/drivers/heartbeat";
import { ParseError } from "../../../src/errors";
import { HaView } from "../../../src/model";
import { fixture } from "../drbd9/helpers";

describe("cl_status sub-command parsers", () => {
  it("reads hbstatus and checks the exit code", () => {
    expect(parseHbStatus("Heartbeat is running on this machine.\n", 0)).toEqual({
      running: true,
      refusesConnection: false,
    });
    expect(parseHbStatus("Heartbeat is stopped on this machine.\n", 1)).toEqual({
      running: false,
      refusesConnection: false,
    });
    expect(
      parseHbStatus("Heartbeat is apparently running on this machine, but refuses my connection\n", 0),
    ).toEqual({
      running: true,
      refusesConnection: true,
    });
    expect(() => parseHbStatus("Heartbeat is running on this machine.\n", 1)).toThrow(ParseError);
    expect(() => parseHbStatus("Heartbeat is stopped on this machine.\n", 0)).toThrow(ParseError);
  });

  it.each([
    ["nothing", ""],
    ["another sentence", "Heartbeat is sleeping on this machine.\n"],
    ["-v output", "Heartbeat is running on this machine.\nversion:\t3.0.6\n"],
    ["the stderr of a broken install", "cl_status: error while loading shared libraries\n"],
  ])("rejects an hbstatus answer of %s", (_what, text) => {
    expect(() => parseHbStatus(text)).toThrow(ParseError);
  });

  it("reads listnodes, plain and -m", () => {
    expect(parseListNodes("xen1\nxen2\n")).toEqual(["xen1", "xen2"]);
    expect(parseListNodes("The nodes are as follow:\nxen1\nxen2\n")).toEqual(["xen1", "xen2"]);
    expect(parseListNodes("")).toEqual([]);
    expect(() => parseListNodes("\nxen1\tactive\t(nodetype: normal)\n", 10)).toThrow(
      expect.objectContaining({ kind: "cl-status", line: 12 }),
    );
  });

  it("reads nodestatus, plain and -m", () => {
    expect(parseNodeStatus("active\n")).toBe("active");
    expect(parseNodeStatus("The cluster node xen2 is dead\n")).toBe("dead");
    expect(() => parseNodeStatus("")).toThrow(ParseError);
    expect(() => parseNodeStatus("active\ndead\n")).toThrow(ParseError);
    expect(() => parseNodeStatus("Error. May be due to incorrect node name\n")).toThrow(ParseError);
  });

  it("reads rscstatus, plain and -m", () => {
    for (const s of ["none", "local", "foreign", "all", "transition"])
      expect(parseRscStatus(`${s}\n`)).toBe(s);
    expect(parseRscStatus("This node is holding foreign resources.\n")).toBe("foreign");
    expect(() => parseRscStatus("some\n")).toThrow(ParseError);
    expect(() => parseRscStatus("")).toThrow(ParseError);
  });

  it("maps status words without ever guessing offline", () => {
    expect(heartbeatNodeStatus("active")).toBe("online");
    expect(heartbeatNodeStatus("up")).toBe("online");
    expect(heartbeatNodeStatus("ping")).toBe("online");
    expect(heartbeatNodeStatus("dead")).toBe("offline");
    for (const w of ["init", "Active", "down", "unknown", ""]) expect(heartbeatNodeStatus(w)).toBe("unknown");
  });
});

describe("cl-status transcript", () => {
  it("reads a running node with a dead peer", () => {
    const view = parseClStatusTranscript(fixture("ha", "handmade-cl-status-running-peer-dead.txt"), "xen1");
    HaView.parse(view);
    expect(view).toEqual({
      stack: "heartbeat",
      observer: "xen1",
      running: true,
      dc: null,
      nodes: [
        { name: "xen1", status: "online" },
        { name: "xen2", status: "offline" },
      ],
      resources: [],
      localResources: "all",
      fenceHistory: [],
    });
  });

  it("reads heartbeat stopped", () => {
    expect(parseClStatusTranscript(fixture("ha", "handmade-cl-status-stopped.txt"))).toEqual({
      stack: "heartbeat",
      observer: "-",
      running: false,
      dc: null,
      nodes: [],
      resources: [],
      localResources: null,
      fenceHistory: [],
    });
  });

  it("reads the -m forms, up and ping", () => {
    const view = parseClStatusTranscript(fixture("ha", "handmade-cl-status-human-readable-ping-node.txt"));
    expect(view.nodes).toEqual([
      { name: "xen1", status: "online" },
      { name: "xen2", status: "online" },
      { name: "gw", status: "online" },
    ]);
    expect(view.localResources).toBe("local");
  });

  it("keeps an unrecognized status unknown and an unanswered rscstatus null", () => {
    const view = parseClStatusTranscript(
      fixture("ha", "handmade-cl-status-pacemaker-managed-unknown-status.txt"),
    );
    expect(view.nodes).toEqual([
      { name: "xen1", status: "online" },
      { name: "xen2", status: "unknown" },
    ]);
    expect(view.localResources).toBeNull();
  });

  it("lists nodes asked about but not listed, and listed nodes not asked about as unknown", () => {
    const view = parseClStatusTranscript(
      [
        "$ cl_status hbstatus",
        "Heartbeat is running on this machine.",
        "$ cl_status listnodes",
        "a",
        "b",
        "$ /usr/bin/cl_status nodestatus c",
        "dead",
      ].join("\n"),
    );
    expect(view.nodes).toEqual([
      { name: "a", status: "unknown" },
      { name: "b", status: "unknown" },
      { name: "c", status: "offline" },
    ]);
  });

  it.each([
    ["no hbstatus", "$ cl_status listnodes\nxen1\n", 0],
    ["output before any command", "xen1\n$ cl_status hbstatus\nHeartbeat is running on this machine.\n", 1],
    ["another command", "$ cl_status hbstatus\nHeartbeat is running on this machine.\n$ crm_mon -1\n", 3],
    [
      "an unsupported sub-command",
      "$ cl_status hbstatus\nHeartbeat is running on this machine.\n$ cl_status nodetype xen1\nnormal\n",
      3,
    ],
    ["an unsupported option", "$ cl_status hbstatus -v\nHeartbeat is running on this machine.\n", 1],
    [
      "nodestatus without node",
      "$ cl_status hbstatus\nHeartbeat is running on this machine.\n$ cl_status nodestatus\nactive\n",
      3,
    ],
    ["a garbled hbstatus", "$ cl_status hbstatus\nHeartbeat is confused.\n", 2],
    [
      "a garbled rscstatus",
      "$ cl_status hbstatus\nHeartbeat is running on this machine.\n$ cl_status rscstatus\nplenty\n",
      4,
    ],
  ])("rejects %s", (_what, text, line) => {
    expect(() => parseClStatusTranscript(text)).toThrow(expect.objectContaining({ kind: "cl-status", line }));
  });

  it("is registered as the cl-status kind", () => {
    const entry = parsers.find((p) => p.kind === "cl-status");
    expect(entry?.parse(fixture("ha", "handmade-cl-status-stopped.txt"))).toMatchObject({ running: false });
  });
});
