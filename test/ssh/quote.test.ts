import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecError, XenopsError } from "../../src/errors";
import { SshPool } from "../../src/ssh/pool";
import { quoteArg, quoteArgv, splitCommandLine } from "../../src/ssh/quote";
import { captureLogger, nodeSettings, type ShellServer, startShellServer } from "./helpers";

const scratch = mkdtempSync(join(tmpdir(), "xenops-quote-"));
const marker = join(scratch, "PWNED");

/** Strings a shell would love to interpret. Each must come back verbatim and do nothing. */
const HOSTILE = [
  "x; rm -rf /",
  `x; touch ${marker}`,
  `$(touch ${marker})`,
  `\`touch ${marker}\``,
  `x && touch ${marker}`,
  `x | touch ${marker}`,
  `> ${marker}`,
  "$(id)",
  "`id`",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal shell expansion is the point
  "${HOME}",
  "$HOME",
  "$",
  "'",
  '"',
  "''",
  `a'b"c`,
  `'"'"'`,
  "\\",
  "\\'",
  "a\\nb",
  "\n",
  "line1\nline2",
  "trailing newline\n",
  "\r\n",
  "\t",
  " ",
  "  two  spaces  ",
  "",
  "*",
  "?",
  "[a-z]*",
  "~",
  "~root",
  "#not a comment",
  "a#b",
  "!",
  "!!",
  "{a,b}",
  "a=b",
  "-n",
  "--",
  "-e",
  "%s%d%%",
  "héllo wörld ✓ 日本語",
  "😀 emoji",
  "\u00a0nbsp",
  "\x01\x02\x1b[31mred\x7f",
];

describe("quoteArgv", () => {
  it("leaves plainly safe words alone and single-quotes the rest", () => {
    expect(quoteArgv(["drbdadm", "status", "r0"])).toBe("drbdadm status r0");
    expect(quoteArgv(["xm", "list", "--long", "vm-1.example.com:22", "a@b%c+d=e,f/g"])).toBe(
      "xm list --long vm-1.example.com:22 a@b%c+d=e,f/g",
    );
    expect(quoteArgv(["echo", "a b", "", "it's"])).toBe(`echo 'a b' '' 'it'\\''s'`);
    expect(quoteArgv(["echo", "$(id)"])).toBe("echo '$(id)'");
  });

  it("quotes assignments and reserved words in command position only", () => {
    expect(quoteArgv(["A=b", "A=b"])).toBe("'A=b' A=b");
    expect(quoteArgv(["time", "time"])).toBe("'time' time");
    expect(quoteArg("if", true)).toBe("'if'");
    expect(quoteArg("if")).toBe("if");
  });

  it("refuses what argv cannot carry", () => {
    expect(() => quoteArgv([])).toThrow(XenopsError);
    expect(() => quoteArgv(["echo", "a\0b"])).toThrow(/NUL/);
  });
});

describe("splitCommandLine", () => {
  it("reads words, quotes and escapes like sh", () => {
    expect(splitCommandLine("drbdadm  status\tr0")).toEqual(["drbdadm", "status", "r0"]);
    expect(splitCommandLine(`echo 'a b' "c d" e\\ f '' ""`)).toEqual(["echo", "a b", "c d", "e f", "", ""]);
    expect(splitCommandLine(`echo "a\\"b\\\\c\\$d\\\`e\\xf"`)).toEqual(["echo", 'a"b\\c$d`e\\xf']);
    expect(splitCommandLine(`echo 'it'\\''s'`)).toEqual(["echo", "it's"]);
    expect(splitCommandLine("echo a\\\nb")).toEqual(["echo", "ab"]);
    expect(splitCommandLine(`echo "x\\\ny"`)).toEqual(["echo", "xy"]);
    expect(splitCommandLine("echo 'multi\nline'")).toEqual(["echo", "multi\nline"]);
    expect(splitCommandLine("sudo -n -- xl list")).toEqual(["sudo", "-n", "--", "xl", "list"]);
    expect(splitCommandLine("'A=b' x")).toEqual(["A=b", "x"]);
    expect(splitCommandLine("'if' x")).toEqual(["if", "x"]);
    expect(splitCommandLine("   ")).toEqual([]);
    expect(splitCommandLine("echo héllo")).toEqual(["echo", "héllo"]);
  });

  it.each([
    ["echo a; rm -rf /", '";"'],
    ["echo a | cat", '"|"'],
    ["echo a & b", '"&"'],
    ["echo a > f", '">"'],
    ["cat < f", '"<"'],
    ["(echo a)", '"("'],
    ["echo $(id)", '"$"'],
    ["echo $HOME", '"$"'],
    ["echo `id`", '"`"'],
    ['echo "$HOME"', "inside double quotes"],
    ['echo "`id`"', "inside double quotes"],
    ["ls *", '"*"'],
    ["ls ?", '"?"'],
    ["ls [ab]", '"["'],
    ["ls ~", '"~"'],
    ["echo {a,b}", '"{"'],
    ["echo a\nrm -rf /", "newline"],
    ["echo a # comment", '"#"'],
    ["! true", '"!"'],
    ["A=b cmd", "assignment"],
    ["A=b'c' cmd", "assignment"],
    ["if true", "reserved word"],
    ["echo a\rb", "carriage return"],
  ])("refuses %j", (cmd, why) => {
    let error: unknown;
    try {
      splitCommandLine(cmd);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(XenopsError);
    expect((error as XenopsError).code).toBe("invalid_argument");
    expect((error as XenopsError).message).toContain(why);
  });

  it("refuses unterminated quoting", () => {
    expect(() => splitCommandLine("echo 'a")).toThrow(/unterminated single quote/);
    expect(() => splitCommandLine('echo "a')).toThrow(/unterminated double quote/);
    expect(() => splitCommandLine("echo a\\")).toThrow(/backslash/);
  });

  it("inverts quoteArgv for hostile strings", () => {
    for (const s of HOSTILE) {
      expect(splitCommandLine(quoteArgv(["printf", s, s]))).toEqual(["printf", s, s]);
      expect(splitCommandLine(quoteArgv([s]))).toEqual([s]);
    }
  });
});

/** Runs `printf '%s\0' ARGS` through a real local sh and returns what it printed, split on NUL. */
function shellEcho(args: readonly string[]): string[] {
  const out = spawnSync("/bin/sh", ["-c", quoteArgv(["printf", "%s\\0", ...args])], { cwd: scratch });
  expect(out.status).toBe(0);
  const parts = out.stdout.toString("utf8").split("\0");
  expect(parts.pop()).toBe("");
  return parts;
}

describe("quoteArgv against a real /bin/sh", () => {
  it("gives back random strings byte for byte", () => {
    // Deterministic pseudo-random generator: failures are reproducible.
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = [...Array.from({ length: 126 }, (_, i) => String.fromCharCode(i + 1)), "é", "日", "😀"];
    const args = Array.from({ length: 300 }, () =>
      Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join(""),
    );
    expect(shellEcho(args)).toEqual(args);
    for (const arg of args) expect(splitCommandLine(quoteArgv([arg]))).toEqual([arg]);
  });
});

describe("quoting end to end: SshPool -> SSH server -> /bin/sh -c", () => {
  let server: ShellServer;
  let pool: SshPool;

  beforeAll(async () => {
    server = await startShellServer({ cwd: scratch });
    pool = new SshPool({ nodes: [nodeSettings(server)], logger: captureLogger().logger });
  });
  afterAll(async () => {
    await pool.close();
    await server.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("echoes every hostile argument back verbatim, with no side effect", async () => {
    const runner = pool.runner("n1");
    const result = await runner.run(["printf", "%s\\0", ...HOSTILE]);
    expect(result.stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);
    // The simulator reads the same request with splitCommandLine: it must see the same argv.
    expect(splitCommandLine(server.execs[0]!.command)).toEqual(["printf", "%s\\0", ...HOSTILE]);
    for (const s of HOSTILE) {
      const one = await runner.run(["printf", "%s", s]);
      expect(one.stdout).toBe(s);
    }
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(scratch)).toEqual([]);
  });

  it("runs a program named like an assignment instead of assigning", async () => {
    const error = await pool
      .runner("n1")
      .run(["PATH=/nonexistent", "true"])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecError);
    expect((error as ExecError).exitCode).toBe(127);
  });
});
