/** Logger factory. Secrets are redacted by key wherever they appear in a log object. */
import { type DestinationStream, type Logger, pino } from "pino";

export const REDACT_PATHS = [
  "password",
  "passphrase",
  "privateKey",
  "token",
  "botToken",
  "appToken",
  "signingSecret",
  "secret",
  "stdin",
  "authorization",
  "*.password",
  "*.passphrase",
  "*.privateKey",
  "*.token",
  "*.botToken",
  "*.appToken",
  "*.signingSecret",
  "*.secret",
  "*.stdin",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
];

export type { Logger };

export function createLogger(
  options: { level?: string; name?: string } = {},
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name ?? "xenops",
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination ?? pino.destination(2),
  );
}

/** A logger that drops everything (tests, CLI parsing). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
