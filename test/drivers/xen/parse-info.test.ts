import { describe, expect, it } from "vitest";
import { parseXenInfo } from "../../../src/drivers/xen/parse-info";
import { ParseError } from "../../../src/errors";
import { readFixture } from "../../support/fixtures";

function parseError(fn: () => unknown): ParseError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ParseError) return err;
    throw err;
  }
  throw new Error("expected a ParseError, got a result");
}

describe("parseXenInfo on xm-info-4.0.1", () => {
  const info = parseXenInfo(readFixture("xen", "xm-info-4.0.1.txt"));

  it("extracts host, release, version, memory and CPUs", () => {
    expect({ ...info, raw: undefined }).toEqual({
      host: "host.example.com",
      release: "3.2.0",
      xenVersion: "4.0.1",
      xenMajor: 4,
      xenMinor: 0,
      totalMemoryMiB: 16378,
      freeMemoryMiB: 8004,
      nrCpus: 4,
      raw: undefined,
    });
  });

  it("keeps every key, with empty values, colons in values and trailing spaces trimmed", () => {
    expect(Object.keys(info.raw)).toHaveLength(31);
    expect(info.raw.virt_caps).toBe("");
    expect(info.raw.xen_caps).toBe("xen-3.0-x86_64 xen-3.0-x86_32p");
    expect(info.raw.cc_compiler).toBe("gcc version 4.4.5 (Debian 4.4.5-8)");
    expect(info.raw.hw_caps).toBe("bfebfbff:20100800:00000000:00000940:0004e3bd:00000000:00000001:00000000");
    expect(info.raw.node_to_cpu).toBe("node0:0-3");
    expect(info.raw.version).toBe("#1 SMP Tue Jan  1 00:00:00 UTC 2013");
    expect(info.raw.xen_commandline).toBe("placeholder dom0_mem=1024M com1=115200,8n1 console=com1");
    expect(info.raw.xend_config_format).toBe("4");
  });
});

describe("parseXenInfo edge cases", () => {
  it("builds the version without xen_extra and leaves missing fields null, not zero", () => {
    const info = parseXenInfo("host : n1\nxen_major : 4\nxen_minor : 1\nxen_extra :\n");
    expect(info).toMatchObject({
      host: "n1",
      release: null,
      xenVersion: "4.1",
      totalMemoryMiB: null,
      freeMemoryMiB: null,
      nrCpus: null,
    });
  });

  it("falls back to xen_version when major/minor are absent", () => {
    expect(parseXenInfo("xen_version : 4.11.4-pre\n").xenVersion).toBe("4.11.4-pre");
  });

  it("keeps a -rc extra as printed", () => {
    expect(parseXenInfo("xen_major : 3\nxen_minor : 0\nxen_extra : .3-rc2\n").xenVersion).toBe("3.0.3-rc2");
  });

  it("treats an empty host as unknown", () => {
    expect(parseXenInfo("host :\nnr_cpus : 2\n")).toMatchObject({ host: null, nrCpus: 2 });
  });
});

describe("parseXenInfo rejects what it cannot read", () => {
  it("empty output", () => {
    expect(parseError(() => parseXenInfo("\n\n"))).toMatchObject({ kind: "xen-info", line: 0 });
  });

  it.each([
    ["a line without a colon", "host : n1\nthis is not a pair\n", 2, "this is not a pair"],
    [
      "a table line from xl info -n",
      "host : n1\ncpu:    core    socket     node\n  0:       0        0        0\n",
      3,
      "  0:       0        0        0",
    ],
    ["a repeated key", "host : n1\nhost : n2\n", 2, "host : n2"],
    ["a garbled number", "host : n1\ntotal_memory : 16G\n", 2, "total_memory : 16G"],
    ["a garbled CPU count", "nr_cpus : four\n", 1, "nr_cpus : four"],
    ["an object key", "__proto__ : x\n", 1, "__proto__ : x"],
  ])("%s, naming the line", (_what, text, line, lineText) => {
    expect(parseError(() => parseXenInfo(text))).toMatchObject({ kind: "xen-info", line, text: lineText });
  });
});
