import { type Logger, pino } from "pino";
import type { ActionRequest, CommandCore, CommandRequest, Reply } from "../../src/chat/types";

export const BOT_TOKEN = "xoxb-test-bot-token-1234567890";
export const APP_TOKEN = "xapp-1-test-app-token-0987654321";
export const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";

/** A pino logger whose JSON lines are kept in memory, to assert on fields and on the absence of secrets. */
export function captureLogger(level = "debug"): {
  logger: Logger;
  lines: string[];
  entries: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (s: string) => void lines.push(s) });
  return { logger, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A CommandCore double that records what the front end handed it. */
export function stubCore(
  opts: {
    command?: (r: CommandRequest) => Promise<Reply>;
    action?: (r: ActionRequest) => Promise<Reply | null>;
  } = {},
): CommandCore & { commands: CommandRequest[]; actions: ActionRequest[] } {
  const commands: CommandRequest[] = [];
  const actions: ActionRequest[] = [];
  return {
    commands,
    actions,
    async command(r) {
      commands.push(r);
      return opts.command ? opts.command(r) : { text: `ok: ${r.text}` };
    },
    async action(r) {
      actions.push(r);
      return opts.action ? opts.action(r) : null;
    },
  };
}
