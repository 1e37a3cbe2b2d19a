import type { JobSummary } from "../src/chat/job-admin";
import { documentReply } from "../src/chat/reply";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { code, emoji, type Inline, joinAll, strong, userOrText } from "../src/message/document";
import { formatDuration } from "../src/message/text";

interface JobsArgs {
  clusters: string[];
}

function who(id: string | null): Inline[] {
  return id ? [" · ", userOrText(id)] : [];
}

function line(j: JobSummary, now: number): Inline[] {
  const n = j.number !== null ? strong(String(j.number)) : code(j.jobId.slice(0, 16));
  const head: Inline[] = ["• ", n, ` ${j.title}`];
  switch (j.state) {
    case "running": {
      const since = j.startedAt !== null ? ` · running ${formatDuration(now - j.startedAt)}` : " · running";
      const doing = j.progress ? ` · ${j.progress.slice(0, 120)}` : "";
      return [...head, `${since}${doing}`, ...who(j.requestedBy)];
    }
    case "queued":
      return [...head, ` · waiting ${formatDuration(now - j.createdAt)}`, ...who(j.requestedBy)];
    case "completed":
    case "failed": {
      const ago = j.finishedAt !== null ? ` ${formatDuration(now - j.finishedAt)} ago` : "";
      const took =
        j.finishedAt !== null && j.startedAt !== null
          ? ` (${formatDuration(j.finishedAt - j.startedAt)})`
          : "";
      const icon: Inline[] =
        j.state === "completed" ? [emoji("white_check_mark"), " done"] : [emoji("x"), " failed"];
      const detail = j.detail ? `: ${j.detail.slice(0, 120)}` : "";
      return [...head, " · ", ...icon, `${ago}${took}${detail}`, ...who(j.requestedBy)];
    }
  }
}

/** A titled list of jobs, one per line. */
function group(icon: string, title: string, jobs: readonly JobSummary[], now: number): Inline[] {
  return [
    emoji(icon),
    " ",
    strong(title),
    "\n",
    ...joinAll(
      jobs.map((j) => line(j, now)),
      "\n",
    ),
  ];
}

export const jobsCommand: CommandSpec<JobsArgs> = {
  verb: "jobs",
  summary: "list running and queued jobs and the latest finished ones (job numbers for cancel)",
  usage: "jobs [cluster]",
  role: "viewer",
  parse({ positionals }, ctx) {
    if (positionals.length > 1)
      throw new UsageError(`too many arguments: ${positionals.slice(1).join(" ").slice(0, 60)}`);
    const [name] = positionals;
    if (name === undefined) {
      if (ctx.clustersHere.length === 0)
        throw new UsageError(
          "no cluster answers in this channel; ask an admin to add it to a cluster's channels",
        );
      return { clusters: ctx.clustersHere.map((c) => c.name) };
    }
    const cluster = ctx.clustersHere.find((c) => c.name === name);
    if (!cluster)
      throw new UsageError(
        `"${name.slice(0, 40)}" is not a cluster answering here; clusters: ${ctx.clustersHere.map((c) => c.name).join(", ") || "(none)"}`,
      );
    return { clusters: [cluster.name] };
  },
  async run(ctx, args) {
    if (!ctx.jobAdmin) return { text: "Job listing is not available in this process." };
    const jobs = await ctx.jobAdmin.list(args.clusters, { recent: 8 });
    const now = Date.now();
    const running = jobs.filter((j) => j.state === "running");
    const queued = jobs.filter((j) => j.state === "queued");
    const finished = jobs.filter((j) => j.state === "completed" || j.state === "failed");
    const parts: Inline[][] = [[strong(`Jobs in ${args.clusters.join(", ")}`)]];
    parts.push(
      running.length ? group("gear", "Running", running, now) : [emoji("gear"), " Nothing running."],
    );
    if (queued.length) parts.push(group("hourglass_flowing_sand", "Queued", queued, now));
    if (finished.length) parts.push(group("clipboard", "Recent", finished, now));
    if (running.length || queued.length)
      parts.push(["Stop one with ", code("/xen cancel NUMBER"), " (requester, approvers, admins)."]);
    return documentReply({ summary: joinAll(parts, "\n"), blocks: [] });
  },
};
