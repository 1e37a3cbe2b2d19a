/**
 * Splitters for the two kinds of upstream test transcripts found in /work/shared/fixtures.
 *
 * LINBIT drbd-utils `*-transcript.txt` (tests/v9/*.test): each command line starts with `$ `; what
 * follows until the next `$ ` line is that command's output, in which the harness's `echo $?` left
 * bare numeric lines (exit codes). Whether the code comes before or after the output depends on the
 * command line, so numeric lines are collected apart and the remaining lines are the output.
 *
 * Pacemaker CTS regression transcripts (cts/cli/regression.*.exp): tests framed by
 * `=#=#=#= Begin test: NAME =#=#=#=` and `=#=#=#= End test: NAME - RESULT (CODE) =#=#=#=`, each
 * followed by a `* Passed: ...` summary line that belongs to no test.
 */

export interface CommandBlock {
  /** The command text after `$ `. */
  command: string;
  /** 1-based line number of the `$ ` line. */
  line: number;
  /** Output lines without the exit-code lines, in order. */
  output: string[];
  /** Bare numeric lines found in the block, in order (the harness's `echo $?`). */
  exitCodes: number[];
}

export function splitCommandTranscript(text: string): CommandBlock[] {
  const blocks: CommandBlock[] = [];
  let current: CommandBlock | null = null;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  // A trailing newline yields one empty last element that is not an output line.
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((line, i) => {
    if (line.startsWith("$ ")) {
      current = { command: line.slice(2), line: i + 1, output: [], exitCodes: [] };
      blocks.push(current);
      return;
    }
    if (current === null) throw new Error(`transcript line ${i + 1}: output before the first "$ " line`);
    if (/^\d+$/.test(line)) current.exitCodes.push(Number(line));
    else current.output.push(line);
  });
  return blocks;
}

export interface CtsTest {
  name: string;
  /** 1-based line number of the Begin marker. */
  line: number;
  /** Lines between the Begin and End markers. */
  body: string[];
  /** e.g. `OK`; null when the End marker did not say. */
  result: string | null;
  exitCode: number | null;
}

const BEGIN = /^=#=#=#= Begin test: (.*) =#=#=#=$/;
const END = /^=#=#=#= End test: (.*?)(?: - (\S+) \((\d+)\))? =#=#=#=$/;

export function splitCtsTranscript(text: string): CtsTest[] {
  const tests: CtsTest[] = [];
  let current: CtsTest | null = null;
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  lines.forEach((line, i) => {
    const begin = BEGIN.exec(line);
    if (begin) {
      if (current) throw new Error(`transcript line ${i + 1}: Begin test inside test "${current.name}"`);
      current = { name: begin[1] ?? "", line: i + 1, body: [], result: null, exitCode: null };
      return;
    }
    const end = END.exec(line);
    if (end) {
      if (!current) throw new Error(`transcript line ${i + 1}: End test without Begin`);
      current.result = end[2] ?? null;
      current.exitCode = end[3] === undefined ? null : Number(end[3]);
      tests.push(current);
      current = null;
      return;
    }
    if (current) current.body.push(line);
  });
  if (current) throw new Error(`transcript: test "${(current as CtsTest).name}" has no End marker`);
  return tests;
}

/**
 * The XML document inside a CTS test body: from the first line that opens an element (stderr
 * messages may come first) to the end of the body. Null when the body holds no XML (text output).
 */
export function extractXml(body: readonly string[]): string | null {
  const start = body.findIndex((l) => /^<[?A-Za-z]/.test(l));
  if (start < 0) return null;
  return `${body.slice(start).join("\n")}\n`;
}
