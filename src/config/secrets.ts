/** Resolves SecretRefs. Secret values are only ever held in memory and never logged. */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { XenopsError } from "../errors";
import { registerLogSecret } from "../log";
import type { SecretRef } from "./schema";

export type SecretEnv = Readonly<Record<string, string | undefined>>;

function expandHome(path: string): string {
  return path.startsWith("~/") ? `${homedir()}${path.slice(1)}` : path;
}

export async function resolveSecret(ref: SecretRef, env: SecretEnv, what: string): Promise<string> {
  if ("env" in ref) {
    const value = env[ref.env];
    if (value === undefined || value === "")
      throw new XenopsError("config_invalid", `${what}: environment variable ${ref.env} is not set`);
    registerLogSecret(value);
    return value;
  }
  try {
    const value = await readFile(expandHome(ref.file), "utf8");
    // Private keys are multi-line; a logged error never quotes one whole, but may quote the passphrase.
    registerLogSecret(value);
    return value;
  } catch (err) {
    throw new XenopsError("config_invalid", `${what}: cannot read ${ref.file}: ${(err as Error).message}`);
  }
}
