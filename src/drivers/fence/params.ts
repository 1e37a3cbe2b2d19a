/** Checks on fence parameters: they end up as name=value words or stdin lines, so neither may smuggle in another. */
import { XenopsError } from "../../errors";

const KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

export function checkKey(key: string, what: string): string {
  if (!KEY.test(key))
    throw new XenopsError(
      "invalid_argument",
      `${what}: bad parameter name ${JSON.stringify(key.slice(0, 64))}`,
    );
  return key;
}

/** A value on one line: no newline, carriage return or NUL (each would start another option). */
export function checkValue(value: string, what: string): string {
  if (/[\n\r\0]/.test(value))
    throw new XenopsError("invalid_argument", `${what}: a parameter value contains a line break or NUL`);
  return value;
}

/** A resolved secret: one trailing newline (files usually end with one) is dropped; others are refused. */
export function secretValue(value: string, name: string): string {
  const v = value.endsWith("\r\n") ? value.slice(0, -2) : value.endsWith("\n") ? value.slice(0, -1) : value;
  if (/[\n\r\0]/.test(v))
    throw new XenopsError("config_invalid", `fence secret ${name}: the value spans several lines`);
  return v;
}

export function requireSecret(secrets: ReadonlyMap<string, string>, name: string): string {
  const v = secrets.get(name);
  if (v === undefined) throw new XenopsError("config_invalid", `fence secret ${name} was not resolved`);
  return secretValue(v, name);
}
