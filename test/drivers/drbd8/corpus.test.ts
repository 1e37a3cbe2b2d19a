/**
 * Runs the /proc/drbd parser over every file of the shared fixture corpus (../shared/fixtures/drbd8)
 * when it is present. Each file is either a proc-drbd capture or listed as excluded with the reason;
 * a new, unclassified file fails the test so that someone decides.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { parseProcDrbd, toResourceStates } from "../../../src/drivers/drbd8/parse-proc-drbd";
import { ParseError } from "../../../src/errors";
import { DrbdResourceState } from "../../../src/model";
import { describeSharedCorpus, sharedCorpusDir } from "../../support/fixtures";

const EXCLUDED: Record<string, string> = {
  "drbdsetup-show-8.0-ganeti.txt": "`drbdsetup show` prints configuration, not state; not a supported kind",
  "drbdsetup-show-8.4-ganeti.txt": "`drbdsetup show` prints configuration, not state; not a supported kind",
};

const dir = sharedCorpusDir("drbd8");
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".txt")) : [];

describeSharedCorpus("drbd8")("shared DRBD 8 fixture corpus", () => {
  it("has files to check", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)("%s", (file) => {
    const text = readFileSync(path.join(dir ?? "", file), "utf8");
    if (file in EXCLUDED) {
      // Excluded formats must be refused, never misread as /proc/drbd.
      expect(() => parseProcDrbd(text)).toThrow(ParseError);
      return;
    }
    if (!/^drbd8\d-/.test(file))
      throw new Error(`${file}: unclassified; name it drbd8N-* if it is /proc/drbd or add it to EXCLUDED`);

    const parsed = parseProcDrbd(text);
    expect(parsed.version.gitHash ?? parsed.version.srcversion).not.toBeNull();
    if (parsed.version.version !== null) expect(parsed.version.version).toMatch(/^8\.[0-4]\./);
    expect(parsed.minors.length).toBeGreaterThan(0);

    const states = toResourceStates(parsed, []);
    expect(states).toHaveLength(parsed.minors.length);
    for (const s of states) {
      expect(DrbdResourceState.safeParse(s).success).toBe(true);
      // DRBD 8 has exactly one peer per configured minor, none for an unconfigured one.
      expect(s.peers).toHaveLength(s.unconfigured ? 0 : 1);
      const peer = s.peers[0];
      if (peer && peer.replicationState !== null) expect(peer.connectionState).toBe("Connected");
      if (peer?.sync) expect(peer.sync.percent).toBeGreaterThanOrEqual(0);
    }
  });
});
