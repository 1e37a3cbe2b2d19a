/**
 * Guards for values that the mutation builders put into argv. argv is never pasted into a shell (the
 * SSH runner quotes every word), but a value starting with '-' would still be read as an option by the
 * program itself, and whitespace or control characters have no business in a name or path.
 */
import { XenopsError } from "../errors";

const WORD = /^[A-Za-z0-9_./:@+=,%-]+$/;

/** Returns `value` when it is one plain word that cannot be taken for an option; throws otherwise. */
export function plainWord(value: string, what: string): string {
  if (value === "" || value.startsWith("-") || !WORD.test(value))
    throw new XenopsError(
      "invalid_argument",
      `refusing ${what} ${JSON.stringify(value.slice(0, 64))}: expected one word without spaces, quotes or a leading '-'`,
    );
  return value;
}

/** An absolute path without spaces (config files). */
export function absolutePath(value: string, what: string): string {
  if (!value.startsWith("/") || value.split("/").includes(".."))
    throw new XenopsError(
      "invalid_argument",
      `refusing ${what} ${JSON.stringify(value.slice(0, 64))}: expected an absolute path without '..'`,
    );
  return plainWord(value, what);
}
