/** xendomains: its settings file, `ls -l /etc/xen/auto`, and what they start at boot. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseLsLong, parseXendomainsDefaults, startupConfig } from "../../../src/drivers/xendomains";
import { ParseError } from "../../../src/errors";

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/xen/${name}`, import.meta.url), "utf8");

describe("parseXendomainsDefaults", () => {
  it("reads Debian's file: comments, quoting, trailing comments", () => {
    const s = parseXendomainsDefaults(fixture("handmade-etc-default-xendomains-debian-restore.txt"));
    expect(s).toEqual({
      XENDOMAINS_MIGRATE: "",
      XENDOMAINS_SAVE: "/var/lib/xen/save",
      XENDOMAINS_SHUTDOWN: "--halt --wait",
      XENDOMAINS_RESTORE: "true",
      XENDOMAINS_AUTO: "/etc/xen/auto",
      XENDOMAINS_AUTO_ONLY: "false",
    });
  });

  it("later assignments win; export is allowed; `NAME = v` is not shell", () => {
    expect(parseXendomainsDefaults('XENDOMAINS_SAVE=/a\nexport XENDOMAINS_SAVE=""\n')).toEqual({
      XENDOMAINS_SAVE: "",
    });
    expect(() => parseXendomainsDefaults("XENDOMAINS_RESTORE = true\n")).toThrow(ParseError);
    expect(() => parseXendomainsDefaults('XENDOMAINS_SAVE="/a\n')).toThrow(/unterminated/);
  });
});

describe("parseLsLong", () => {
  it("reads symlinks, files and directories with any time style", () => {
    expect(parseLsLong(fixture("handmade-ls-l-etc-xen-auto.txt"))).toEqual([
      { type: "l", name: "internet", target: "/etc/xen/internet" },
      { type: "l", name: "web.cfg", target: "../web.cfg" },
      { type: "-", name: "backup.cfg", target: null },
      { type: "d", name: "old", target: null },
    ]);
    expect(parseLsLong("total 0\n")).toEqual([]);
    expect(() => parseLsLong("total 0\nls: cannot open directory\n")).toThrow(ParseError);
  });
});

describe("startupConfig", () => {
  it("maps entries to inventory guests by link target, file name or name; skips directories", () => {
    const s = startupConfig(
      "/etc/default/xendomains",
      { XENDOMAINS_RESTORE: "true", XENDOMAINS_SAVE: "/var/lib/xen/save" },
      parseLsLong(fixture("handmade-ls-l-etc-xen-auto.txt")),
      [
        { name: "internet", configFile: "/etc/xen/internet" },
        { name: "web", configFile: "/etc/xen/web.cfg" },
        { name: "backup" },
      ],
    );
    expect(s.autoDir).toBe("/etc/xen/auto");
    expect(s.restore).toBe(true);
    expect(s.save).toBe("/var/lib/xen/save");
    expect(s.auto).toEqual([
      { name: "internet", target: "/etc/xen/internet", guest: "internet" },
      { name: "web.cfg", target: "../web.cfg", guest: "web" },
      { name: "backup.cfg", target: null, guest: "backup" },
    ]);
  });

  it("XENDOMAINS_RESTORE is true only when it says `true`; unset is unknown", () => {
    expect(startupConfig(null, { XENDOMAINS_RESTORE: "yes" }, [], []).restore).toBe(false);
    expect(startupConfig(null, {}, [], []).restore).toBeNull();
  });
});
