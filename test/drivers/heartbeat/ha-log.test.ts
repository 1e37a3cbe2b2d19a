/**
 * heartbeat's log lines (real formats from heartbeat 2.x/3.x logs) and the read cursor.
 */
import { describe, expect, it } from "vitest";
import {
  classifyHaLog,
  linesAfter,
  parseAutoFailback,
  parseHaLogLine,
} from "../../../src/drivers/heartbeat/ha-log";

const classify = (line: string) => {
  const parsed = parseHaLogLine(line);
  return parsed ? classifyHaLog(parsed) : "unparsed";
};

describe("heartbeat log lines", () => {
  it("reads heartbeat's own format, the scripts' (tab, optional log tag) and ha_logd's syslog format", () => {
    expect(parseHaLogLine("heartbeat[3254]: 2009/01/12_10:00:30 WARN: node ics2: is dead")).toEqual({
      raw: "heartbeat[3254]: 2009/01/12_10:00:30 WARN: node ics2: is dead",
      program: "heartbeat",
      pid: 3254,
      at: "2009-01-12T10:00:30Z",
      level: "WARN",
      message: "node ics2: is dead",
    });
    expect(
      parseHaLogLine(
        "mach_down(default)[3087]:\t2018/03/01_23:20:10 info: mach_down takeover complete for node backup.",
      ),
    ).toMatchObject({
      program: "mach_down",
      pid: 3087,
      message: "mach_down takeover complete for node backup.",
    });
    expect(
      parseHaLogLine("Jan 05 12:06:27 prodlb02 heartbeat: [1643]: WARN: node prodlb01: is dead"),
    ).toMatchObject({
      program: "heartbeat",
      pid: 1643,
      at: null,
      level: "WARN",
      message: "node prodlb01: is dead",
    });
    expect(parseHaLogLine("Starting auto Xen domains: hejsan(skip) *   [done] ")).toBeNull();
  });

  it("classifies death, STONITH, takeover and failback messages", () => {
    expect(classify("heartbeat[1]: 2009/01/12_10:00:30 info: Resetting node ics2 with [APCSmart]")).toEqual({
      kind: "stonith_start",
      node: "ics2",
      device: "APCSmart",
    });
    expect(classify("heartbeat[1]: 2009/01/12_10:00:30 info: node ics2 now reset.")).toEqual({
      kind: "stonith_ok",
      node: "ics2",
    });
    expect(classify("heartbeat[1]: 2009/01/12_10:00:30 ERROR: Host ics2 not reset!")).toEqual({
      kind: "stonith_failed",
      node: "ics2",
    });
    expect(classify("heartbeat[1]: 2009/01/12_10:00:30 ERROR: STONITH of ics2 failed.  Retrying...")).toEqual(
      {
        kind: "stonith_retry",
        node: "ics2",
      },
    );
    expect(
      classify("heartbeat[1]: 2009/01/12_10:00:30 ERROR: Device APCSmart cannot reset host ics2."),
    ).toEqual({
      kind: "stonith_badhost",
      device: "APCSmart",
      node: "ics2",
    });
    expect(classify("heartbeat[1]: 2012/02/19_13:45:41 WARN: No STONITH device configured.")).toEqual({
      kind: "stonith_none",
    });
    expect(
      classify("heartbeat[1]: 2012/02/19_13:45:41 info: Resources being acquired from slave.org."),
    ).toEqual({
      kind: "takeover_start",
      node: "slave.org",
    });
    expect(
      classify(
        "ResourceManager[29597]:\t2009/06/30_13:46:13 info: Acquiring resource group: ha1.vbm.se xendomainsHA1",
      ),
    ).toEqual({ kind: "takeover_group", resources: ["xendomainsHA1"] });
    expect(classify("heartbeat[28295]: 2009/06/30_13:46:13 info: mach_down takeover complete.")).toEqual({
      kind: "takeover_done",
      node: null,
    });
    expect(classify("heartbeat[1]: 2009/01/12_10:01:36 info: ics1 wants to go standby [foreign]")).toEqual({
      kind: "standby_start",
      holder: "ics1",
      which: "foreign",
    });
    expect(
      classify(
        "heartbeat[1]: 2009/01/12_10:01:49 info: Other node completed standby takeover of foreign resources.",
      ),
    ).toEqual({ kind: "failback_done_holder", which: "foreign" });
    expect(classify("heartbeat[1]: 2009/01/12_10:01:49 ERROR: Both machines own our resources!")).toEqual({
      kind: "both_own",
      which: "our",
    });
    expect(classify("heartbeat[1]: 2009/01/12_10:01:49 info: Link ics2:eth1 dead.")).toBeNull();
  });

  it("a cursor of the last lines read: only newer lines; no cursor is a baseline; a lost cursor returns all", () => {
    const a = ["l1", "l2", "l3", "l4"];
    expect(linesAfter(null, a)).toEqual({ fresh: [], lost: false, cursor: ["l2", "l3", "l4"] });
    expect(linesAfter(["l2", "l3", "l4"], [...a, "l5", "l6"])).toEqual({
      fresh: ["l5", "l6"],
      lost: false,
      cursor: ["l4", "l5", "l6"],
    });
    expect(linesAfter(["l2", "l3", "l4"], a)).toEqual({ fresh: [], lost: false, cursor: ["l2", "l3", "l4"] });
    // The tail moved past the cursor (rotation, or more than a tail's worth written).
    expect(linesAfter(["l2", "l3", "l4"], ["x1", "x2"])).toEqual({
      fresh: ["x1", "x2"],
      lost: true,
      cursor: ["x1", "x2"],
    });
    // An empty log read before: everything now is new.
    expect(linesAfter([], ["l1"])).toEqual({ fresh: ["l1"], lost: false, cursor: ["l1"] });
  });

  it("auto_failback from cl_status hbparameter (plain or -m)", () => {
    expect(parseAutoFailback("on\n")).toBe(true);
    expect(parseAutoFailback("Heartbeat parameter auto_failback's value: off\n")).toBe(false);
    expect(parseAutoFailback("legacy\n")).toBe(false);
    expect(parseAutoFailback("")).toBeNull();
  });
});
