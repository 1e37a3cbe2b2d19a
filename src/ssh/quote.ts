/**
 * POSIX shell quoting for SSH exec requests.
 *
 * SSH has no argv: an exec request carries one string that the remote side hands to the user's shell
 * (`$SHELL -c STRING`). quoteArgv turns argv into a string that any POSIX shell (dash, bash, busybox
 * ash) splits back into exactly the same words, with no expansion. splitCommandLine is the inverse
 * used by the cluster simulator; it refuses anything a real shell would interpret, so the simulator
 * can never silently accept a command line that a real node would run differently.
 */
import { XenopsError } from "../errors";

/** Characters no POSIX shell treats specially anywhere in a word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Words the shell gives meaning to when they stand first (reserved words). Quoting them makes the
 * shell run the program of that name (e.g. /usr/bin/time) instead of the keyword.
 */
const RESERVED_WORDS = new Set([
  "!",
  "{",
  "}",
  "case",
  "coproc",
  "do",
  "done",
  "elif",
  "else",
  "esac",
  "fi",
  "for",
  "function",
  "if",
  "in",
  "select",
  "then",
  "time",
  "until",
  "while",
  "[[",
  "]]",
]);

/** `NAME=value` in command position is a variable assignment, not a program name. */
const ASSIGNMENT_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*=/;

function singleQuote(arg: string): string {
  // Inside '...' nothing is special except ' itself, which is closed, escaped and reopened.
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quotes one word. `first` marks the command position, where assignments are also special. */
export function quoteArg(arg: string, first = false): string {
  if (arg.includes("\0")) {
    // A C string (execve argv) cannot hold NUL; the remote shell would cut the word short.
    throw new XenopsError("invalid_argument", "arguments cannot contain NUL bytes");
  }
  if (arg === "") return "''";
  if (SAFE_WORD.test(arg) && !(first && (ASSIGNMENT_PREFIX.test(arg) || RESERVED_WORDS.has(arg)))) {
    return arg;
  }
  return singleQuote(arg);
}

/** Joins argv into one POSIX shell command line that reproduces argv exactly. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new XenopsError("invalid_argument", "empty command: argv needs a program");
  return argv.map((arg, i) => quoteArg(arg, i === 0)).join(" ");
}

/** Characters allowed outside quotes: the safe set, plus non-ASCII text (never special to sh). */
function isPlainChar(ch: string): boolean {
  return /^[A-Za-z0-9_@%+=:,./-]$/.test(ch) || ch.charCodeAt(0) >= 0x80;
}

function describe(ch: string): string {
  if (ch === "\n") return "newline";
  if (ch === "\r") return "carriage return";
  const code = ch.charCodeAt(0);
  if (code < 0x20 || code === 0x7f) return `control character 0x${code.toString(16).padStart(2, "0")}`;
  return `"${ch}"`;
}

function needsShell(what: string, offset: number): XenopsError {
  return new XenopsError(
    "invalid_argument",
    `command line needs a real shell: ${what} at offset ${offset}; only plain words and quoting are accepted`,
  );
}

/**
 * Splits a command line into words the way a POSIX shell would, for lines that contain only words,
 * blanks (space, tab) and quoting: '...', "..." (with \\ \" \$ \` and backslash-newline escapes),
 * and backslash escapes. Anything a shell would expand or interpret (; | & < > ( ) $ ` * ? [ ] { } ~ #
 * ! ^, unquoted newlines, variable assignments or reserved words in command position) is refused with
 * XenopsError("invalid_argument"). A blank line gives [].
 */
export function splitCommandLine(cmd: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  // Length of the current word's leading unquoted part, or -1 while it has no quoting at all. A shell
  // sees an assignment only when `NAME=` is unquoted (`'A=b'` is a program name, `A=b'x'` is not).
  let quotedAt = -1;
  let i = 0;

  const finishWord = (): void => {
    if (!inWord) return;
    if (words.length === 0) {
      const unquoted = quotedAt < 0 ? word : word.slice(0, quotedAt);
      if (ASSIGNMENT_PREFIX.test(unquoted)) throw needsShell("variable assignment before the command", 0);
      if (quotedAt < 0 && RESERVED_WORDS.has(word)) throw needsShell(`reserved word "${word}"`, 0);
    }
    words.push(word);
    word = "";
    inWord = false;
    quotedAt = -1;
  };

  while (i < cmd.length) {
    const ch = cmd[i]!;
    if (ch === "\0") throw needsShell("NUL byte", i);
    if (ch === " " || ch === "\t") {
      finishWord();
      i++;
      continue;
    }
    if (ch === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) throw new XenopsError("invalid_argument", `unterminated single quote at offset ${i}`);
      const text = cmd.slice(i + 1, end);
      if (text.includes("\0")) throw needsShell("NUL byte", i);
      if (quotedAt < 0) quotedAt = word.length;
      word += text;
      inWord = true;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      const start = i;
      i++;
      inWord = true;
      if (quotedAt < 0) quotedAt = word.length;
      for (;;) {
        if (i >= cmd.length) {
          throw new XenopsError("invalid_argument", `unterminated double quote at offset ${start}`);
        }
        const c = cmd[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\") {
          const next = cmd[i + 1];
          if (next === undefined) {
            throw new XenopsError("invalid_argument", `unterminated double quote at offset ${start}`);
          }
          if (next === "\n") {
            i += 2; // line continuation: both characters vanish
          } else if (next === "\\" || next === '"' || next === "$" || next === "`") {
            word += next;
            i += 2;
          } else {
            word += "\\"; // any other backslash is literal inside double quotes
            i++;
          }
          continue;
        }
        if (c === "$" || c === "`") throw needsShell(`${describe(c)} inside double quotes`, i);
        if (c === "\0") throw needsShell("NUL byte", i);
        word += c;
        i++;
      }
      continue;
    }
    if (ch === "\\") {
      const next = cmd[i + 1];
      if (next === undefined) throw new XenopsError("invalid_argument", "command line ends with a backslash");
      if (next === "\0") throw needsShell("NUL byte", i + 1);
      i += 2;
      if (next === "\n") continue; // line continuation
      if (quotedAt < 0) quotedAt = word.length;
      word += next;
      inWord = true;
      continue;
    }
    if (!isPlainChar(ch)) throw needsShell(`unquoted ${describe(ch)}`, i);
    word += ch;
    inWord = true;
    i++;
  }
  finishWord();
  return words;
}
