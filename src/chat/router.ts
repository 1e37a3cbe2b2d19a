/**
 * The command core: text → verb → zod-checked arguments → role check → handler (which enqueues a
 * job). Shared by Slack and the console. Everything here must return well within Slack's 3 s: no
 * SSH, no waiting on jobs; the only I/O is the group cache and one Redis write per command.
 */

import type { InventoryConfig } from "../config/schema";
import { errorCode, errorMessage } from "../errors";
import type { Logger } from "../log";
import { Authorizer } from "./authz";
import { EnqueueOutcomeUnknown, type JobEnqueuer } from "./enqueuer";
import type { JobAdmin } from "./job-admin";
import { type CommandContext, type CommandSpec, type ParsedArgs, UsageError } from "./spec";
import type { ActionRequest, CommandCore, CommandRequest, GroupDirectory, Reply } from "./types";

export interface ActionHandler {
  /** Prefix of the action_ids it handles, e.g. `xenops:approval:`. */
  prefix: string;
  handle(request: ActionRequest): Promise<Reply | null>;
}

export interface CoreDeps {
  inventory: InventoryConfig;
  commands: readonly CommandSpec[];
  actions?: readonly ActionHandler[];
  jobs: JobEnqueuer;
  groups: GroupDirectory;
  logger: Logger;
  /** The slash command as users type it, for help texts. */
  slashCommand?: string;
  /** Job listing, cancel and history, for the `jobs`, `cancel` and `history` verbs. */
  jobAdmin?: JobAdmin;
  /**
   * Told about every command once it has been answered (the audit log). Called synchronously; it must not
   * block: the ack is on its way.
   */
  onCommand?: (event: CommandEvent) => void;
}

/** What the core did with one command, for the audit log. */
export interface CommandEvent {
  request: CommandRequest;
  /** The verb as registered; null when the text named none. */
  verb: string | null;
  /** ok: the handler answered; refused: role missing; usage: bad arguments; failed: the handler threw. */
  outcome: "ok" | "refused" | "usage" | "failed" | "unknown_verb" | "too_long";
  /** The validated arguments, when parsing succeeded. */
  parameters?: unknown;
  /** The role the verb needs. */
  role?: string;
  error?: { code: string; message: string };
}

const MAX_TEXT = 500;

export function tokenize(text: string): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Set<string>();
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    if (token.startsWith("--")) flags.add(token);
    else positionals.push(token);
  }
  return { positionals, flags };
}

export function createCommandCore(deps: CoreDeps): CommandCore {
  const slash = deps.slashCommand ?? "/xen";
  const authorizer = new Authorizer(deps.inventory.roles, deps.groups);
  const byVerb = new Map(deps.commands.map((c) => [c.verb, c]));
  const verbs = () => deps.commands.map((c) => c.verb).join(", ");

  function helpReply(prefix: string): Reply {
    return { text: `${prefix}\nVerbs: ${verbs()}. Try \`${slash} help\`.` };
  }

  return {
    async command(request: CommandRequest): Promise<Reply> {
      // Made on first use: most commands log nothing here, and a child logger per command is not free.
      let child: Logger | undefined;
      const logOf = (): Logger =>
        (child ??= deps.logger.child({
          user: request.userId,
          channel: request.channelId,
          delivery: request.deliveryId,
        }));
      const report = (event: Omit<CommandEvent, "request">): void => {
        try {
          deps.onCommand?.({ request, ...event });
        } catch (err) {
          logOf().error({ err }, "command hook failed");
        }
      };
      if (request.text.length > MAX_TEXT) {
        report({ verb: null, outcome: "too_long" });
        return { text: `That command is too long (${request.text.length} characters; at most ${MAX_TEXT}).` };
      }
      const { positionals, flags } = tokenize(request.text);
      const [verb = "help", ...rest] = positionals;
      const spec = byVerb.get(verb.toLowerCase());
      if (!spec) {
        logOf().info({ verb: verb.slice(0, 40) }, "unknown verb");
        report({ verb: null, outcome: "unknown_verb" });
        return helpReply(`Unknown verb "${verb.slice(0, 40)}".`);
      }
      const clustersHere = deps.inventory.clusters.filter((c) => c.channels.includes(request.channelId));
      const ctx: CommandContext = {
        request,
        inventory: deps.inventory,
        clustersHere,
        jobs: deps.jobs,
        get logger() {
          return logOf();
        },
        commands: deps.commands,
        ...(deps.jobAdmin ? { jobAdmin: deps.jobAdmin } : {}),
      };
      if (!(await authorizer.has(request.userId, spec.role))) {
        logOf().warn({ verb: spec.verb, needed: spec.role }, "command refused: missing role");
        report({
          verb: spec.verb,
          role: spec.role,
          outcome: "refused",
          error: { code: "forbidden", message: `needs the ${spec.role} role` },
        });
        return {
          text: `Sorry, \`${slash} ${spec.verb}\` needs the *${spec.role}* role, which you do not have. Ask an admin.`,
        };
      }
      const unknownFlags = [...flags].filter((f) => !(spec.flags ?? []).includes(f));
      let parsed: { args: unknown } | null = null;
      try {
        if (unknownFlags.length > 0)
          throw new UsageError(
            `unknown option ${unknownFlags.map((f) => `"${f.slice(0, 20)}"`).join(", ")}${spec.flags?.length ? `; options: ${spec.flags.join(", ")}` : ""}`,
          );
        const args = spec.parse({ positionals: rest, flags }, ctx);
        parsed = { args };
        const reply = await spec.run(ctx, args);
        report({ verb: spec.verb, role: spec.role, outcome: "ok", parameters: args });
        return reply;
      } catch (err) {
        const given = parsed ? { parameters: parsed.args } : {};
        if (err instanceof UsageError) {
          report({
            verb: spec.verb,
            role: spec.role,
            outcome: "usage",
            ...given,
            error: { code: "invalid_argument", message: err.message },
          });
          return { text: `${err.message}\nUsage: \`${slash} ${spec.usage}\`` };
        }
        logOf().error({ err, verb: spec.verb }, "command failed");
        report({
          verb: spec.verb,
          role: spec.role,
          outcome: "failed",
          ...given,
          error: { code: errorCode(err), message: errorMessage(err) },
        });
        if (err instanceof EnqueueOutcomeUnknown)
          return {
            text: `\`${slash} ${spec.verb}\` may have been queued: ${errorMessage(err)}. See \`${slash} jobs\` before trying again.`,
          };
        return {
          text: `Could not run \`${slash} ${spec.verb}\`: ${errorMessage(err)}. Nothing was queued; try again.`,
        };
      }
    },

    async action(request: ActionRequest): Promise<Reply | null> {
      const handler = deps.actions?.find((a) => request.actionId.startsWith(a.prefix));
      if (!handler) {
        deps.logger.warn({ actionId: request.actionId.slice(0, 80), user: request.userId }, "unknown action");
        return { text: "That button is no longer handled by this bot." };
      }
      return handler.handle(request);
    },
  };
}
