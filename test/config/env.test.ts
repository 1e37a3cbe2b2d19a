/** readRuntimeEnv: `NAME_FILE` variants of the secret variables (Docker/compose secrets, systemd). */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FILE_SECRET_VARS, readRuntimeEnv } from "../../src/config/env";
import { XenopsError } from "../../src/errors";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "xenops-env-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function secretFile(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content, { mode: 0o600 });
  return file;
}

function problem(source: Record<string, string>): string {
  try {
    readRuntimeEnv(source);
  } catch (err) {
    expect(err).toBeInstanceOf(XenopsError);
    return (err as Error).message;
  }
  throw new Error("readRuntimeEnv accepted the environment");
}

describe("*_FILE secrets", () => {
  it("reads every secret variable from its file, stripping one trailing newline", async () => {
    const env = readRuntimeEnv({
      SLACK_BOT_TOKEN_FILE: await secretFile("bot", "xoxb-1-2-abc\n"),
      SLACK_APP_TOKEN_FILE: await secretFile("app", "xapp-1-A-2-def\r\n"),
      SLACK_SIGNING_SECRET_FILE: await secretFile("signing", "0123456789abcdef0123456789abcdef"),
      XENOPS_DASHBOARD_PASSWORD_FILE: await secretFile("dash", "two\nlines\n\n"),
      REDIS_URL_FILE: await secretFile("redis", "redis://:pw@127.0.0.1:6379/0\n"),
    });
    expect(env.SLACK_BOT_TOKEN).toBe("xoxb-1-2-abc");
    expect(env.SLACK_APP_TOKEN).toBe("xapp-1-A-2-def");
    expect(env.SLACK_SIGNING_SECRET).toBe("0123456789abcdef0123456789abcdef");
    // Only one newline goes: the value's own newlines are kept.
    expect(env.XENOPS_DASHBOARD_PASSWORD).toBe("two\nlines\n");
    expect(env.REDIS_URL).toBe("redis://:pw@127.0.0.1:6379/0");
    expect([...FILE_SECRET_VARS].sort()).toEqual(
      [
        "REDIS_URL",
        "SLACK_APP_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "XENOPS_DASHBOARD_PASSWORD",
      ].sort(),
    );
  });

  it("an empty _FILE variable is ignored; the plain variable still works", () => {
    expect(readRuntimeEnv({ SLACK_BOT_TOKEN: "xoxb-plain", SLACK_BOT_TOKEN_FILE: "" }).SLACK_BOT_TOKEN).toBe(
      "xoxb-plain",
    );
  });

  it("refuses both forms at once, a missing file and an empty one, listing every problem without the value", async () => {
    const message = problem({
      SLACK_BOT_TOKEN: "xoxb-inline-secret",
      SLACK_BOT_TOKEN_FILE: await secretFile("bot2", "xoxb-from-file\n"),
      SLACK_APP_TOKEN_FILE: join(dir, "missing"),
      SLACK_SIGNING_SECRET_FILE: await secretFile("empty", "\n"),
    });
    expect(message).toContain(
      "SLACK_BOT_TOKEN_FILE: set either SLACK_BOT_TOKEN or SLACK_BOT_TOKEN_FILE, not both",
    );
    expect(message).toContain(`SLACK_APP_TOKEN_FILE: cannot read ${join(dir, "missing")} (ENOENT)`);
    expect(message).toContain("SLACK_SIGNING_SECRET_FILE:");
    expect(message).toContain("is empty");
    expect(message).not.toContain("xoxb-inline-secret");
    expect(message).not.toContain("xoxb-from-file");
  });
});
