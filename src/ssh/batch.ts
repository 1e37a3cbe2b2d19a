/**
 * Several read commands in one SSH exec. Each exec costs a channel open, an exec request and a close
 * on both ends; a snapshot used to pay that for every command on every node.
 *
 * The exec runs `sh -c SCRIPT`, where SCRIPT runs the commands one after the other (a POSIX shell has
 * no way to run them at once and keep their outputs apart without writing files on the node), each
 * framed on stdout and on stderr by a boundary marker drawn at random for the batch, its exit status
 * printed after it:
 *
 *     echo MARKER:b:0
 *     echo MARKER:b:0 >&2
 *     sudo -n -- xl list                      (quoteArgv, exactly as a single exec would send it)
 *     s=$?
 *     echo MARKER:e:0:$s
 *     echo MARKER:e:0:$s >&2
 *     ...
 *
 * splitBatchOutput cuts the two streams back into one result per command. Any sign of a broken frame
 * (a marker missing, out of order or seen inside an output, statuses that disagree, output around the
 * frames) throws BatchFrameError: the caller must then treat every command of the batch as unread,
 * never trust part of it.
 */
import { randomBytes } from "node:crypto";
import { XenopsError } from "../errors";
import { quoteArgv } from "./quote";

/** What one framed command printed and how it ended. */
export interface BatchFrame {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * Programs a batch must not run: shell builtins that would change the script itself (end it, replace
 * it, change its variables or directory), so that the commands after them would not run as framed.
 */
const SHELL_BUILTINS = new Set([
  ".",
  ":",
  "alias",
  "break",
  "cd",
  "command",
  "continue",
  "eval",
  "exec",
  "exit",
  "export",
  "getopts",
  "hash",
  "read",
  "readonly",
  "return",
  "set",
  "shift",
  "source",
  "trap",
  "ulimit",
  "umask",
  "unalias",
  "unset",
  "wait",
]);

export class BatchFrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BatchFrameError";
  }
}

/** A fresh marker: 128 random bits, in characters no shell treats specially. */
export function newBatchMarker(): string {
  return `xenops-${randomBytes(16).toString("hex")}`;
}

/** Throws XenopsError("invalid_argument") for argv a batch cannot run (see SHELL_BUILTINS). */
export function checkBatchArgv(argv: readonly string[]): void {
  const program = argv[0];
  if (program === undefined) throw new XenopsError("invalid_argument", "empty command: argv needs a program");
  if (SHELL_BUILTINS.has(program))
    throw new XenopsError("invalid_argument", `${program} is a shell builtin: it cannot run inside a batch`);
}

/**
 * The script for these command lines (each already quoted, sudo included). The marker must come from
 * newBatchMarker: it is pasted unquoted.
 */
export function batchScript(commandLines: readonly string[], marker: string): string {
  if (!/^[a-z0-9-]+$/.test(marker))
    throw new XenopsError("invalid_argument", "batch marker is not a plain word");
  return commandLines
    .map((line, i) =>
      [
        `echo ${marker}:b:${i}`,
        `echo ${marker}:b:${i} >&2`,
        line,
        "s=$?",
        `echo ${marker}:e:${i}:$s`,
        `echo ${marker}:e:${i}:$s >&2`,
      ].join("\n"),
    )
    .join("\n");
}

/** The exec request of a batch: `sh -c SCRIPT`, so the script means the same under any login shell. */
export function batchCommandLine(commandLines: readonly string[], marker: string): string {
  return quoteArgv(["sh", "-c", batchScript(commandLines, marker)]);
}

interface StreamFrame {
  body: string;
  exitCode: number;
}

const STATUS = /^(\d{1,3})\n/;

function splitStream(text: string, name: string, marker: string, count: number): StreamFrame[] {
  const frames: StreamFrame[] = [];
  let pos = 0;
  for (let i = 0; i < count; i++) {
    const begin = `${marker}:b:${i}\n`;
    if (!text.startsWith(begin, pos))
      throw new BatchFrameError(
        `${name}: begin marker of command ${i + 1} of ${count} missing${pos >= text.length ? " (output cut short)" : ""}`,
      );
    pos += begin.length;
    const endTag = `${marker}:e:${i}:`;
    // The first marker after the begin line must be this command's end: one scan finds the end and
    // proves the output does not hold the marker.
    const end = text.indexOf(marker, pos);
    if (end < 0)
      throw new BatchFrameError(
        `${name}: end marker of command ${i + 1} of ${count} missing (output cut short)`,
      );
    if (!text.startsWith(endTag, end))
      throw new BatchFrameError(`${name}: marker found inside the output of command ${i + 1} of ${count}`);
    const body = text.slice(pos, end);
    const status = STATUS.exec(text.slice(end + endTag.length, end + endTag.length + 5));
    const exitCode = status ? Number(status[1]) : Number.NaN;
    if (!status || exitCode > 255)
      throw new BatchFrameError(`${name}: exit status of command ${i + 1} of ${count} unreadable`);
    frames.push({ body, exitCode });
    pos = end + endTag.length + (status[0]?.length ?? 0);
  }
  if (pos !== text.length)
    throw new BatchFrameError(`${name}: ${text.length - pos} byte(s) after the last frame`);
  return frames;
}

/**
 * One result per command, in order, from the whole stdout and stderr of a batch that exited 0.
 * Throws BatchFrameError at the first sign of a broken frame.
 */
export function splitBatchOutput(
  stdout: string,
  stderr: string,
  marker: string,
  count: number,
): BatchFrame[] {
  const out = splitStream(stdout, "stdout", marker, count);
  const err = splitStream(stderr, "stderr", marker, count);
  return out.map((o, i) => {
    const e = err[i] as StreamFrame;
    if (e.exitCode !== o.exitCode)
      throw new BatchFrameError(
        `command ${i + 1} of ${count}: exit status ${o.exitCode} on stdout, ${e.exitCode} on stderr`,
      );
    return { stdout: o.body, stderr: e.body, exitCode: o.exitCode };
  });
}

/**
 * How far a batch cut short (timeout) got: the number of commands whose frames both began on stdout,
 * so the one running when it was cut is that number minus one (-1 when nothing was printed at all).
 */
export function batchCommandsStarted(stdout: string, marker: string): number {
  let started = 0;
  while (stdout.includes(`${marker}:b:${started}\n`)) started++;
  return started;
}
