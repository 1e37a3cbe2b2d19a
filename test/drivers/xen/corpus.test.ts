/**
 * Runs the Xen parsers over every file of the shared fixture corpus (../shared/fixtures/xen) when it
 * is present. Each file is either parsed by a supported kind or listed as excluded with the reason;
 * a new, unclassified file fails the test so that someone decides.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { parseXenInfo } from "../../../src/drivers/xen/parse-info";
import { parseXenList, type XenListKind } from "../../../src/drivers/xen/parse-list";
import { ParseError } from "../../../src/errors";
import { Domain, XenInfo } from "../../../src/model";
import { describeSharedCorpus, sharedCorpusDir } from "../../support/fixtures";

const EXCLUDED: Record<string, string> = {
  "xm-list-long-4.0.1-sexpr.txt": "`xm list --long` S-expression, not the list table",
  "xm-uptime-4.0.1.txt": "`xm uptime` is not a supported kind",
  "libxl-domain-config-json-pv.txt": "libxl domain config JSON (`xl list -l` style) is not a supported kind",
  "xend-sexpr-hvm-no-state-cdrom-without-uname.txt":
    "xend S-expression domain record is not a supported kind",
  "xend-sexpr-pv-notes-vfb-vkbd.txt": "xend S-expression domain record is not a supported kind",
  "xend-sexpr-pv-rhel5-blocked.txt": "xend S-expression domain record is not a supported kind",
};

function kindsOf(file: string): (XenListKind | "xen-info")[] | null {
  if (file in EXCLUDED) return [];
  if (file.startsWith("xm-xl-list")) return ["xm-list", "xl-list"];
  if (file.startsWith("xm-list")) return ["xm-list"];
  if (file.startsWith("xl-list")) return ["xl-list"];
  if (file.startsWith("xm-info")) return ["xen-info"];
  return null;
}

const dir = sharedCorpusDir("xen");
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".txt")) : [];

describeSharedCorpus("xen")("shared Xen fixture corpus", () => {
  it("has files to check", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)("%s", (file) => {
    const kinds = kindsOf(file);
    if (kinds === null)
      throw new Error(`${file}: unclassified; give it a kind or add it to EXCLUDED with the reason`);
    const text = readFileSync(path.join(dir ?? "", file), "utf8");

    if (kinds.length === 0) {
      // Excluded formats must be refused, never misread as a table.
      expect(() => parseXenList(text, "xm-list")).toThrow(ParseError);
      return;
    }
    for (const kind of kinds) {
      if (kind === "xen-info") {
        const info = XenInfo.parse(parseXenInfo(text));
        expect(info.host).not.toBeNull();
        expect(info.xenVersion).toMatch(/^\d+\.\d+/);
        expect(info.totalMemoryMiB).toBeGreaterThan(0);
        expect(info.nrCpus).toBeGreaterThan(0);
        continue;
      }
      const domains = parseXenList(text, kind);
      expect(domains.length).toBeGreaterThan(0);
      expect(domains.filter((d) => d.isDom0)).toHaveLength(1);
      for (const d of domains) {
        expect(Domain.safeParse(d).success).toBe(true);
        // A known state always yields flags; an unknown one never pretends to be "not running".
        expect(d.flags === null).toBe(d.state === null);
        expect(d.memoryMiB).toBeGreaterThan(0);
      }
    }
  });
});
