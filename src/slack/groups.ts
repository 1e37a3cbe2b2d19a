/**
 * GroupDirectory on Slack user groups (`usergroups.users.list`), for authorisation on immutable IDs.
 * Members are cached per group and refreshed in the background; a lookup that fails counts as "not a
 * member" (fail closed) and is logged.
 */
import type { Logger } from "pino";
import type { GroupDirectory } from "../chat/types";
import { classifySlackError, type WebClient } from "./client";

export interface SlackGroupDirectoryOptions {
  /** The user-group IDs the configuration refers to (roles, on-call). Others are never looked up. */
  groups: readonly string[];
  /** How long a member list is trusted; also the background refresh period. */
  ttlMs: number;
  /** After a failed lookup, the next on-demand attempt waits at least this long; default min(ttlMs, 30 s). */
  failureRetryMs?: number;
  now?: () => number;
}

export interface SlackGroupDirectory extends GroupDirectory {
  /** Re-reads every configured group now. */
  refresh(): Promise<void>;
  /** Stops the background refresh. */
  stop(): void;
}

interface Entry {
  /** null: the last lookup failed. */
  members: ReadonlySet<string> | null;
  fetchedAt: number;
}

export function createSlackGroupDirectory(
  client: WebClient,
  logger: Logger,
  opts: SlackGroupDirectoryOptions,
): SlackGroupDirectory {
  const log = logger.child({ component: "slack-groups" });
  const now = opts.now ?? Date.now;
  const failureRetryMs = opts.failureRetryMs ?? Math.min(opts.ttlMs, 30_000);
  const groups = [...new Set(opts.groups)];
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();

  const fetchGroup = (group: string): Promise<Entry> => {
    const running = inflight.get(group);
    if (running) return running;
    const work = (async (): Promise<Entry> => {
      try {
        const res = (await client.apiCall("usergroups.users.list", { usergroup: group })) as {
          users?: unknown;
        };
        const users = Array.isArray(res.users)
          ? res.users.filter((u): u is string => typeof u === "string")
          : [];
        return { members: new Set(users), fetchedAt: now() };
      } catch (err) {
        log.warn(
          { group, error: classifySlackError(err).code },
          "user group lookup failed; treating as not a member",
        );
        return { members: null, fetchedAt: now() };
      }
    })().then((entry) => {
      cache.set(group, entry);
      inflight.delete(group);
      return entry;
    });
    inflight.set(group, work);
    return work;
  };

  const membersOf = async (group: string): Promise<ReadonlySet<string> | null> => {
    const entry = cache.get(group);
    if (!entry) return (await fetchGroup(group)).members;
    const age = now() - entry.fetchedAt;
    if (entry.members === null) return age >= failureRetryMs ? (await fetchGroup(group)).members : null;
    // Serve the cached list while a refresh runs, so authorisation never waits on Slack once warm.
    if (age >= opts.ttlMs) void fetchGroup(group);
    return entry.members;
  };

  const refresh = async (): Promise<void> => {
    await Promise.all(groups.map(fetchGroup));
  };

  const timer = setInterval(() => void refresh(), opts.ttlMs);
  timer.unref();

  return {
    async groupsOf(userId: string): Promise<readonly string[]> {
      const lists = await Promise.all(groups.map(async (g) => [g, await membersOf(g)] as const));
      return lists.filter(([, members]) => members?.has(userId) === true).map(([g]) => g);
    },
    refresh,
    stop: () => clearInterval(timer),
  };
}
