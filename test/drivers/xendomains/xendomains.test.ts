/** xendomains: its settings file, `ls -l /etc/xen/auto`, and what they start at boot. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { CommandRunner, ExecResult } from "../../../src/command-runner";
import {
  parseLsLong,
  parseXendomainsDefaults,
  startupConfig,
  xendomainsDriver,
} from "../../../src/drivers/xendomains";
import { ExecError, ParseError } from "../../../src/errors";

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

/** A node answering from a table of files and directories, recording each command as it is asked. */
function node(files: Record<string, string>, dirs: Record<string, string>) {
  const asked: string[] = [];
  const runner: CommandRunner = {
    node: "n1",
    async run(argv, options = {}) {
      asked.push(argv.join(" "));
      const path = argv.at(-1) as string;
      const text = argv[0] === "cat" ? files[path] : dirs[path];
      const res: ExecResult =
        text === undefined
          ? {
              stdout: "",
              stderr: `${argv[0]}: ${path}: No such file or directory\n`,
              exitCode: argv[0] === "cat" ? 1 : 2,
              durationMs: 1,
            }
          : { stdout: text, stderr: "", exitCode: 0, durationMs: 1 };
      if (!(options.okExitCodes ?? [0]).includes(res.exitCode))
        throw new ExecError("exec_failed", `n1: ${argv[0]} exited with code ${res.exitCode}`, {
          node: "n1",
          argv,
          exitCode: res.exitCode,
          signal: null,
          stdout: res.stdout,
          stderr: res.stderr,
        });
      return res;
    },
  };
  return { runner, asked };
}

describe("xendomainsDriver", () => {
  const guests = { guests: [{ name: "internet", configFile: "/etc/xen/internet" }] };
  const auto = "total 0\nlrwxrwxrwx 1 root root 17 Mar  4 10:00 internet -> /etc/xen/internet\n";

  it("lists the usual directory while it reads the settings: one round when they keep it", async () => {
    const { runner, asked } = node(
      { "/etc/default/xendomains": "XENDOMAINS_AUTO=/etc/xen/auto\n" },
      { "/etc/xen/auto": auto },
    );
    const reading = xendomainsDriver.read(runner, guests);
    // Both asked before either answered.
    expect(asked).toEqual(["ls -l /etc/xen/auto", "cat /etc/default/xendomains"]);
    expect((await reading).auto).toEqual([
      { name: "internet", target: "/etc/xen/internet", guest: "internet" },
    ]);
    expect(asked).toHaveLength(2);
  });

  it("lists the directory the settings name instead, never the usual one's entries", async () => {
    const { runner, asked } = node(
      { "/etc/sysconfig/xendomains": "XENDOMAINS_AUTO=/srv/xen/auto\n" },
      { "/etc/xen/auto": auto, "/srv/xen/auto": "total 0\n" },
    );
    const config = await xendomainsDriver.read(runner, guests);
    expect(config.autoDir).toBe("/srv/xen/auto");
    expect(config.auto).toEqual([]);
    expect(asked).toEqual([
      "ls -l /etc/xen/auto",
      "cat /etc/default/xendomains",
      "cat /etc/sysconfig/xendomains",
      "ls -l /srv/xen/auto",
    ]);
  });

  it("an unreadable usual directory does not matter when the settings name another", async () => {
    const { runner } = node(
      { "/etc/default/xendomains": "XENDOMAINS_AUTO=/srv/auto\n" },
      { "/srv/auto": auto },
    );
    const failing: CommandRunner = {
      node: "n1",
      run: (argv, o) =>
        argv.join(" ") === "ls -l /etc/xen/auto"
          ? Promise.reject(
              new ExecError("ssh_timeout", "n1: ls timed out", {
                node: "n1",
                argv,
                exitCode: null,
                signal: null,
                stdout: "",
                stderr: "",
              }),
            )
          : runner.run(argv, o),
    };
    expect((await xendomainsDriver.read(failing, guests)).auto).toHaveLength(1);
  });
});
