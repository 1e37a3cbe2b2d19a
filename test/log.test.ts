/**
 * Errors are logged as `{ err }`: pino's serializer keeps the type, message and stack (and causes), and
 * the logger scrubs every secret value this process resolved and anything token-shaped, including from
 * the request details HTTP libraries attach to their errors.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { resolveSecret } from "../src/config/secrets";
import { XenopsError } from "../src/errors";
import { createLogger, registerLogSecret } from "../src/log";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { level: "info" },
    new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  );
  return { logger, lines };
}

describe("{ err } logging", () => {
  it("serializes type, message, stack, code and cause", () => {
    const { logger, lines } = capture();
    const err = new XenopsError("ssh_timeout", "no answer from ics1 within 3000 ms", {
      cause: new Error("socket hang up"),
    });
    logger.warn({ err, node: "ics1" }, "could not read the DRBD version");
    const logged = lines[0]?.err as Record<string, unknown>;
    expect(logged).toMatchObject({
      type: "XenopsError",
      // pino appends the causes' messages.
      message: "no answer from ics1 within 3000 ms: socket hang up",
      code: "ssh_timeout",
    });
    expect(String(logged.stack)).toMatch(/^XenopsError: no answer from ics1 within 3000 ms\n\s+at /);
    expect(String(logged.stack)).toContain("socket hang up");
  });

  it("scrubs resolved secrets (fence passwords, passphrases) from messages and stacks", async () => {
    const { logger, lines } = capture();
    const password = await resolveSecret(
      { env: "FENCE_PW" },
      { FENCE_PW: "apc-s3cret-pw" },
      "fence password",
    );
    logger.error({ err: new Error(`fence_apc -p ${password} failed`) }, "fence device check failed");
    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain("apc-s3cret-pw");
    expect(text).toContain("fence_apc -p [redacted] failed");
  });

  it("scrubs tokens, Bearer headers, URL credentials, and omits attached request details", () => {
    const { logger, lines } = capture();
    registerLogSecret("dashboard-pw-123\n");
    const err = Object.assign(new Error("request failed: xoxb-1-2-abcdef dashboard-pw-123"), {
      original: {
        message: "connect ECONNREFUSED redis://:hunter22@10.0.0.5:6379",
        config: { headers: { Authorization: "Bearer xoxb-1-2-abcdef" } },
      },
      data: { token: "xapp-1-A-2-zzz", error: "invalid_auth" },
    });
    logger.warn({ err }, "slack call failed");
    const text = JSON.stringify(lines[0]);
    for (const secret of ["xoxb-1-2-abcdef", "xapp-1-A-2-zzz", "hunter22", "dashboard-pw-123"]) {
      expect(text).not.toContain(secret);
    }
    const logged = lines[0]?.err as { original: Record<string, unknown>; data: Record<string, unknown> };
    expect(logged.original.config).toBe("[omitted]");
    expect(logged.original.message).toBe("connect ECONNREFUSED redis://:[redacted]@10.0.0.5:6379");
    expect(logged.data.error).toBe("invalid_auth");
  });
});
