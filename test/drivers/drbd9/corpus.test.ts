/**
 * The shared DRBD 9 corpus (/work/shared/fixtures/drbd9, GPL: read in place, never copied). Every
 * file is either parsed with exact expectations or excluded with the reason. Without the shared
 * directory: skipped with the reason printed, or failing under CI.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { type Events2StreamResult, parseEvents2Line, parseEvents2Stream } from "../../../src/drivers/drbd9";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { describeSharedCorpus, sharedCorpusDir } from "../../support/fixtures";
import { type CommandBlock, splitCommandTranscript } from "../../support/transcript";

const DIR = sharedCorpusDir("drbd9");

const EXCLUDED: Record<string, string> = {
  "events-prerelease-2013-seq-numbered-log.txt":
    "2013 pre-release DRBD 9 event log (sequence numbers, `*` continuations, `- skipped N`): not drbdsetup events2 and not a supported kind",
  "drbdsetup-show-9-two-peers-cstate.txt":
    "`drbdsetup show` prints configuration, not state: no kind of this driver",
  "drbdsetup-show-json-transcript.txt":
    "`drbdsetup show --json` prints configuration, not `status --json`: no kind of this driver",
};

/**
 * The upstream harness rewrote two things before storing its expectations: `sed` replaced
 * --timestamps prefixes with `TIME`, and `cat -v` turned ESC into `^[`. Undo both so the text is
 * what drbdsetup printed.
 */
function restore(block: CommandBlock): string {
  return block.output
    .map((l) =>
      l.replace(/^TIME /, "2024-01-01T00:00:00.000000+00:00 ").replaceAll("^[", String.fromCharCode(27)),
    )
    .join("\n");
}

type Check = (runs: { block: CommandBlock; out: Events2StreamResult }[]) => void;

const SOME_RESOURCE_PRIMARY = {
  name: "some-resource",
  minor: 1000,
  role: "Primary",
  diskState: "UpToDate",
  unconfigured: false,
};

const EXPECTED: Record<string, Check> = {
  "events2-drbdutils-create-change-plain-diff-statistics-full-transcript.txt": (runs) => {
    expect(runs.map((r) => r.block.command.split("|")[1]?.trim().split(";")[0])).toEqual([
      "drbdsetup_instrumented events2",
      "drbdsetup_instrumented events2 --diff",
      "drbdsetup_instrumented events2 --statistics",
      "drbdsetup_instrumented events2 --full",
      "drbdsetup_instrumented events2 --color",
      "drbdsetup_instrumented events2 --timestamps",
    ]);
    for (const { out } of runs) {
      expect(out.events).toHaveLength(13);
      expect(out.initialStateComplete).toBe(true);
      expect(out.state).toHaveLength(1);
      expect(out.state[0]).toMatchObject(SOME_RESOURCE_PRIMARY);
      expect(out.state[0]?.peers).toMatchObject([
        {
          node: "some-peer",
          connectionState: "Connected",
          replicationState: "Established",
          role: "Secondary",
          diskState: "UpToDate",
          sync: null,
        },
      ]);
      expect(out.resources[0]?.devices[0]).toMatchObject({
        backingDev: "/dev/sda",
        quorum: true,
        open: false,
      });
      expect(out.resources[0]?.connections[0]?.paths).toEqual([
        { local: "ipv4:1.2.3.4:7789", peer: "ipv4:5.6.7.8:7790", established: true },
      ]);
    }
    const [plain, diff, stats, full, , timestamps] = runs.map((r) => r.out);
    expect(plain?.resources[0]).toMatchObject({ mayPromote: false, promotionScore: 10102 });
    expect(diff?.events[1]?.previous).toMatchObject({ role: "UNKNOWN", suspended: "UNKNOWN" });
    expect(diff?.events[12]?.previous).toMatchObject({ role: "Secondary", may_promote: "yes" });
    // --statistics: out-of-sync printed as 0 with the other counters.
    expect(stats?.state[0]?.peers[0]?.outOfSyncKiB).toBe(0);
    expect(stats?.resources[0]?.devices[0]).toMatchObject({
      sizeKiB: 5,
      readKiB: 10,
      writtenKiB: 15,
      blocked: "no",
    });
    expect(stats?.resources[0]?.connections[0]).toMatchObject({
      congested: false,
      apInFlight: 10,
      rsInFlight: 20,
    });
    expect(full?.resources[0]?.writeOrdering).toBe("none");
    expect(plain?.events.every((e) => e.timestamp === null)).toBe(true);
    expect(timestamps?.events.every((e) => e.timestamp !== null)).toBe(true);
  },
  "events2-drbdutils-create-destroy-transcript.txt": ([run]) => {
    expect(run?.out.events.map((e) => `${e.action} ${e.object}`).slice(-5)).toEqual([
      "destroy path",
      "destroy peer-device",
      "destroy connection",
      "destroy device",
      "destroy resource",
    ]);
    expect(run?.out.state).toEqual([]);
  },
  "events2-drbdutils-exists-then-change-primary-transcript.txt": ([run]) => {
    expect(run?.out.events.map((e) => e.action)).toEqual([
      "exists",
      "exists",
      "exists",
      "change",
      "change",
      "change",
    ]);
    expect(run?.out.initialStateComplete).toBe(true);
    expect(run?.out.state).toEqual([{ ...SOME_RESOURCE_PRIMARY, peers: [] }]);
  },
  "events2-drbdutils-exists-without-end-marker-transcript.txt": ([run]) => {
    expect(run?.out.initialStateComplete).toBe(false);
    expect(run?.out.state).toEqual([
      {
        name: "some-resource",
        minor: null,
        role: "Secondary",
        diskState: "Diskless",
        unconfigured: true,
        peers: [],
      },
    ]);
  },
  "events2-drbdutils-helper-call-response-timestamps-transcript.txt": (runs) => {
    expect(runs).toHaveLength(2);
    for (const { out } of runs) {
      const helpers = out.events.filter((e) => e.object === "helper");
      expect(
        helpers.map((e) => [e.action, e.fields.helper, e.fields.volume, e.fields.status ?? null]),
      ).toEqual([
        ["call", "before-resync-target", "0", null],
        ["response", "before-resync-target", "0", "1"],
      ]);
      expect(out.state[0]).toMatchObject({ role: "Secondary", diskState: "Diskless" });
      expect(out.state[0]?.peers).toMatchObject([{ connectionState: "StandAlone", replicationState: null }]);
    }
    expect(runs[1]?.out.events[0]?.timestamp).toBe("2024-01-01T00:00:00.000000+00:00");
  },
  "events2-drbdutils-no-resources-transcript.txt": ([run]) => {
    expect(run?.out.events).toHaveLength(1);
    expect(run?.out.initialStateComplete).toBe(true);
    expect(run?.out.state).toEqual([]);
  },
  "events2-drbdutils-out-of-order-volumes-transcript.txt": ([run]) => {
    expect(run?.out.resources[0]?.devices.map((d) => [d.volume, d.minor])).toEqual([
      [0, 1000],
      [1, 1001],
    ]);
    expect(run?.out.state[0]).toMatchObject({ minor: 1000, diskState: "Diskless" });
  },
  "events2-drbdutils-quorum-lost-transcript.txt": ([run]) => {
    expect(run?.out.resources[0]).toMatchObject({ mayPromote: false, promotionScore: 0 });
    expect(run?.out.resources[0]?.devices[0]).toMatchObject({ quorum: false, diskState: "UpToDate" });
    expect(run?.out.state[0]).toMatchObject({ role: "Secondary", diskState: "UpToDate" });
  },
  "events2-drbdutils-syncsource-done-transcript.txt": ([plain, stats]) => {
    const peer = {
      node: "some-peer",
      connectionState: "Connected",
      replicationState: "SyncSource",
      role: "Secondary",
      diskState: "Inconsistent",
    };
    expect(plain?.out.state[0]?.peers[0]).toEqual({
      ...peer,
      outOfSyncKiB: null,
      sync: { percent: 37.5, etaSec: null, speedKiBps: null },
    });
    expect(stats?.out.state[0]?.peers[0]).toEqual({
      ...peer,
      outOfSyncKiB: 2500,
      sync: { percent: 37.5, etaSec: 10, speedKiBps: 0.24 * 1024 },
    });
  },
};

describeSharedCorpus("drbd9")("shared DRBD 9 corpus", () => {
  const files = existsSync(DIR) ? readdirSync(DIR).sort() : [];

  it("covers every file: parsed with expectations, or excluded with a reason", () => {
    for (const f of files) expect(f in EXPECTED || f in EXCLUDED, f).toBe(true);
    for (const f of [...Object.keys(EXPECTED), ...Object.keys(EXCLUDED)]) expect(files, f).toContain(f);
  });

  for (const [file, check] of Object.entries(EXPECTED)) {
    it(`parses ${file}`, () => {
      const blocks = splitCommandTranscript(readFileSync(path.join(DIR, file), "utf8"));
      expect(blocks.length).toBeGreaterThan(0);
      const runs = blocks.map((block) => {
        // Every recorded run exited 0.
        expect(block.exitCodes).toEqual([0]);
        const out = parseEvents2Stream(restore(block));
        for (const s of out.state) DrbdResourceState.parse(s);
        return { block, out };
      });
      check(runs);
    });
  }

  it("rejects the 2013 pre-release log line by line", () => {
    const lines = readFileSync(path.join(DIR, "events-prerelease-2013-seq-numbered-log.txt"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "");
    expect(lines).toHaveLength(36);
    for (const l of lines) expect(() => parseEvents2Line(l), l).toThrow(ParseError);
  });
});
