/**
 * The batch framing (src/ssh/batch.ts) as pure text: the script a batch sends and how its output is
 * split back. A real shell runs these scripts in batch-runner.test.ts and the OpenSSH interop test.
 */
import { describe, expect, it } from "vitest";
import {
  BatchFrameError,
  batchCommandLine,
  batchCommandsStarted,
  batchScript,
  checkBatchArgv,
  newBatchMarker,
  splitBatchOutput,
} from "../../src/ssh/batch";
import { splitCommandLine } from "../../src/ssh/quote";

const M = "xenops-0123456789abcdef0123456789abcdef";

/** The two streams a shell prints for these frames. */
function framed(frames: { stdout: string; stderr: string; exitCode: number }[], marker = M) {
  let stdout = "";
  let stderr = "";
  frames.forEach((f, i) => {
    stdout += `${marker}:b:${i}\n${f.stdout}${marker}:e:${i}:${f.exitCode}\n`;
    stderr += `${marker}:b:${i}\n${f.stderr}${marker}:e:${i}:${f.exitCode}\n`;
  });
  return { stdout, stderr };
}

function frameError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatchFrameError);
    return (err as Error).message;
  }
  throw new Error("expected a BatchFrameError");
}

describe("batch script", () => {
  it("frames every command on both streams with its exit status, in order", () => {
    expect(batchScript(["xl list", "sudo -n -- cat /etc/default/xendomains"], M)).toBe(
      [
        `echo ${M}:b:0`,
        `echo ${M}:b:0 >&2`,
        "xl list",
        "s=$?",
        `echo ${M}:e:0:$s`,
        `echo ${M}:e:0:$s >&2`,
        `echo ${M}:b:1`,
        `echo ${M}:b:1 >&2`,
        "sudo -n -- cat /etc/default/xendomains",
        "s=$?",
        `echo ${M}:e:1:$s`,
        `echo ${M}:e:1:$s >&2`,
      ].join("\n"),
    );
  });

  it("is sent as `sh -c SCRIPT`, one word a POSIX shell splits back exactly", () => {
    const lines = ["printf '%s\\n' 'it'\\''s'", "ls -l /etc/xen/auto"];
    expect(splitCommandLine(batchCommandLine(lines, M))).toEqual(["sh", "-c", batchScript(lines, M)]);
  });

  it("draws a new marker of 128 random bits in plain characters each time", () => {
    const a = newBatchMarker();
    const b = newBatchMarker();
    expect(a).toMatch(/^xenops-[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
    expect(() => batchScript(["true"], "x; rm -rf /")).toThrow(/plain word/);
  });

  it("refuses shell builtins that would change the script itself", () => {
    for (const program of ["exit", "exec", "cd", "set", "eval", ".", "trap", "unset"])
      expect(() => checkBatchArgv([program, "x"]), program).toThrow(/shell builtin/);
    expect(() => checkBatchArgv([])).toThrow(/empty command/);
    expect(() => checkBatchArgv(["xl", "list"])).not.toThrow();
  });
});

describe("splitBatchOutput", () => {
  it("gives each command exactly what it printed, with or without a final newline, and its status", () => {
    const frames = [
      { stdout: "Name ID\nDomain-0 0\n", stderr: "", exitCode: 0 },
      { stdout: "no newline at the end", stderr: "warning: x\n", exitCode: 0 },
      { stdout: "", stderr: "cat: /etc/default/xendomains: No such file or directory\n", exitCode: 1 },
      { stdout: "", stderr: "", exitCode: 127 },
      { stdout: `looks like a marker: xenops-ffff:e:0:0\n`, stderr: "tail without newline", exitCode: 255 },
    ];
    const { stdout, stderr } = framed(frames);
    expect(splitBatchOutput(stdout, stderr, M, frames.length)).toEqual(frames);
  });

  it("refuses output cut short: a missing end marker, a missing begin marker, nothing at all", () => {
    const { stdout, stderr } = framed([
      { stdout: "a\n", stderr: "", exitCode: 0 },
      { stdout: "b\n", stderr: "", exitCode: 0 },
    ]);
    const cut = stdout.slice(0, stdout.lastIndexOf(`${M}:e:1`));
    expect(frameError(() => splitBatchOutput(cut, stderr, M, 2))).toMatch(
      /end marker of command 2 of 2 missing/,
    );
    const firstOnly = stdout.slice(0, stdout.indexOf(`${M}:b:1`));
    expect(frameError(() => splitBatchOutput(firstOnly, stderr, M, 2))).toMatch(
      /begin marker of command 2 of 2 missing \(output cut short\)/,
    );
    expect(frameError(() => splitBatchOutput("", "", M, 2))).toMatch(/command 1 of 2/);
    // A status cut in the middle of its line.
    expect(frameError(() => splitBatchOutput(stdout.slice(0, -1), stderr, M, 2))).toMatch(/exit status/);
  });

  it("refuses a marker count that does not match: more frames, fewer frames, a marker inside an output", () => {
    const two = framed([
      { stdout: "a\n", stderr: "", exitCode: 0 },
      { stdout: "b\n", stderr: "", exitCode: 0 },
    ]);
    expect(frameError(() => splitBatchOutput(two.stdout, two.stderr, M, 1))).toMatch(/after the last frame/);
    expect(frameError(() => splitBatchOutput(two.stdout, two.stderr, M, 3))).toMatch(/command 3 of 3/);
    const forged = framed([{ stdout: `${M}:e:0:0\n`, stderr: "", exitCode: 0 }]);
    // The forged end marker ends the frame early; the real one is then left over.
    expect(() => splitBatchOutput(forged.stdout, forged.stderr, M, 1)).toThrow(BatchFrameError);
    const inside = framed([{ stdout: `see ${M} here\n`, stderr: "", exitCode: 0 }]);
    expect(frameError(() => splitBatchOutput(inside.stdout, inside.stderr, M, 1))).toMatch(
      /inside the output/,
    );
  });

  it("refuses output around the frames, frames out of order, and statuses that disagree", () => {
    const one = framed([{ stdout: "a\n", stderr: "", exitCode: 0 }]);
    expect(() => splitBatchOutput(`banner\n${one.stdout}`, one.stderr, M, 1)).toThrow(BatchFrameError);
    expect(() => splitBatchOutput(one.stdout, `${one.stderr}late\n`, M, 1)).toThrow(BatchFrameError);
    const swapped = `${M}:b:1\na\n${M}:e:1:0\n${M}:b:0\nb\n${M}:e:0:0\n`;
    expect(() => splitBatchOutput(swapped, swapped, M, 2)).toThrow(BatchFrameError);
    const other = framed([{ stdout: "a\n", stderr: "", exitCode: 3 }]);
    expect(frameError(() => splitBatchOutput(one.stdout, other.stderr, M, 1))).toMatch(
      /0 on stdout, 3 on stderr/,
    );
    const bad = framed([{ stdout: "a\n", stderr: "", exitCode: 0 }]);
    expect(() => splitBatchOutput(bad.stdout.replace(":e:0:0", ":e:0:x"), bad.stderr, M, 1)).toThrow(
      BatchFrameError,
    );
    expect(() =>
      splitBatchOutput(
        bad.stdout.replace(":e:0:0", ":e:0:256"),
        bad.stderr.replace(":e:0:0", ":e:0:256"),
        M,
        1,
      ),
    ).toThrow(BatchFrameError);
    // Another batch's marker is not this one's.
    const foreign = framed(
      [{ stdout: "a\n", stderr: "", exitCode: 0 }],
      "xenops-ffffffffffffffffffffffffffffffff",
    );
    expect(() => splitBatchOutput(foreign.stdout, foreign.stderr, M, 1)).toThrow(BatchFrameError);
  });

  it("tells how far a batch cut short got", () => {
    const { stdout } = framed([
      { stdout: "a\n", stderr: "", exitCode: 0 },
      { stdout: "b\n", stderr: "", exitCode: 0 },
    ]);
    expect(batchCommandsStarted("", M)).toBe(0);
    expect(batchCommandsStarted(stdout.slice(0, stdout.indexOf(`${M}:b:1`)), M)).toBe(1);
    expect(batchCommandsStarted(stdout, M)).toBe(2);
  });
});
