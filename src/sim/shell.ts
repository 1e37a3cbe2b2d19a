/**
 * The part of `sh -c SCRIPT` a simulated node understands: what a real dash or bash would do with a
 * script made only of
 *   - statements separated by newlines or `;`,
 *   - simple commands of plain words and quoting (the same words splitCommandLine accepts),
 *   - the builtin `echo` of plain words in which `$?` and `$NAME` expand (a trailing `>&2` writes to
 *     stderr),
 *   - `NAME=$?` (the status of the last command).
 * Commands run one after the other; `$?` is the last status; the script's status is its last
 * statement's. Anything else is refused before anything runs, so the simulator never runs a script
 * differently from a real node: it stands in for `sh`, it does not approximate it.
 */
import { XenopsError } from "../errors";
import { splitCommandLine } from "../ssh/quote";

export type Statement =
  | { kind: "command"; argv: string[] }
  | { kind: "echo"; words: string[]; toStderr: boolean }
  | { kind: "assign"; name: string };

const PLAIN_WORD = /^(?:[A-Za-z0-9_@%+=:,./-]|\$\?|\$[A-Za-z_][A-Za-z0-9_]*)+$/;
const ASSIGN_STATUS = /^([A-Za-z_][A-Za-z0-9_]*)=\$\?$/;

function refused(what: string): XenopsError {
  return new XenopsError("invalid_argument", `script needs a real shell: ${what}`);
}

/** Cuts a script at unquoted newlines and semicolons, keeping quoted text whole. */
function statementsOf(script: string): string[] {
  const out: string[] = [];
  let current = "";
  for (let i = 0; i < script.length; i++) {
    const ch = script[i] as string;
    if (ch === "'") {
      const end = script.indexOf("'", i + 1);
      if (end < 0) throw refused(`unterminated single quote at offset ${i}`);
      current += script.slice(i, end + 1);
      i = end;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < script.length && script[j] !== '"') j += script[j] === "\\" ? 2 : 1;
      if (j >= script.length) throw refused(`unterminated double quote at offset ${i}`);
      current += script.slice(i, j + 1);
      i = j;
    } else if (ch === "\\") {
      current += script.slice(i, i + 2);
      i++;
    } else if (ch === "\n" || ch === ";") {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter((s) => s !== "");
}

/** The statements of a script; throws XenopsError("invalid_argument") for anything outside the subset. */
export function parseScript(script: string): Statement[] {
  return statementsOf(script).map((text): Statement => {
    const assign = ASSIGN_STATUS.exec(text);
    if (assign) return { kind: "assign", name: assign[1] as string };
    const words = text.split(/[ \t]+/);
    const toStderr = words.at(-1) === ">&2";
    const args = words.slice(1, toStderr ? -1 : undefined);
    // echo of plain words (expansions included) is the shell's builtin; quoted words go to the
    // simulated echo program like any command, and anything else is refused by the word splitter.
    if (words[0] === "echo" && args.every((w) => PLAIN_WORD.test(w)))
      return { kind: "echo", words: args, toStderr };
    try {
      return { kind: "command", argv: splitCommandLine(text) };
    } catch (err) {
      throw refused(err instanceof Error ? err.message : String(err));
    }
  });
}

export interface ScriptIO {
  stdout(text: string): void;
  stderr(text: string): void;
  signal: AbortSignal;
}

/** Runs parsed statements; `run` runs one simple command and resolves with its status. */
export async function runScript(
  statements: readonly Statement[],
  io: ScriptIO,
  run: (argv: string[]) => Promise<number>,
): Promise<number> {
  const vars = new Map<string, string>();
  let status = 0;
  for (const st of statements) {
    if (io.signal.aborted) return 255;
    if (st.kind === "assign") {
      vars.set(st.name, String(status));
      status = 0;
    } else if (st.kind === "echo") {
      const text = st.words
        .map((w) =>
          w.replace(/\$(\?|[A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) =>
            name === "?" ? String(status) : (vars.get(name) ?? ""),
          ),
        )
        .join(" ");
      (st.toStderr ? io.stderr : io.stdout)(`${text}\n`);
      status = 0;
    } else {
      status = await run(st.argv);
    }
  }
  return status;
}
