import type { JobSummary } from "../src/chat/job-admin";
import { type CommandSpec, UsageError } from "../src/chat/spec";
import { escapeMrkdwn, formatDuration, mentionOrText } from "../src/message/text";

interface JobsArgs {
  clusters: string[];
}

function who(id: string | null): string {
  if (!id) return "";
  return ` · ${mentionOrText(id)}`;
}

function line(j: JobSummary, now: number): string {
  const n = j.number !== null ? `*${j.number}*` : `\`${j.jobId.slice(0, 16)}\``;
  const title = escapeMrkdwn(j.title);
  switch (j.state) {
    case "running": {
      const since = j.startedAt !== null ? ` · running ${formatDuration(now - j.startedAt)}` : " · running";
      const doing = j.progress ? ` · ${escapeMrkdwn(j.progress.slice(0, 120))}` : "";
      return `• ${n} ${title}${since}${doing}${who(j.requestedBy)}`;
    }
    case "queued":
      return `• ${n} ${title} · waiting ${formatDuration(now - j.createdAt)}${who(j.requestedBy)}`;
    case "completed":
    case "failed": {
      const ago = j.finishedAt !== null ? ` ${formatDuration(now - j.finishedAt)} ago` : "";
      const took =
        j.finishedAt !== null && j.startedAt !== null
          ? ` (${formatDuration(j.finishedAt - j.startedAt)})`
          : "";
      const icon = j.state === "completed" ? ":white_check_mark: done" : ":x: failed";
      const detail = j.detail ? `: ${escapeMrkdwn(j.detail.slice(0, 120))}` : "";
      return `• ${n} ${title} · ${icon}${ago}${took}${detail}${who(j.requestedBy)}`;
    }
  }
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
    const parts = [`*Jobs in ${args.clusters.join(", ")}*`];
    parts.push(
      running.length
        ? `:gear: *Running*\n${running.map((j) => line(j, now)).join("\n")}`
        : ":gear: Nothing running.",
    );
    if (queued.length)
      parts.push(`:hourglass_flowing_sand: *Queued*\n${queued.map((j) => line(j, now)).join("\n")}`);
    if (finished.length) parts.push(`:clipboard: *Recent*\n${finished.map((j) => line(j, now)).join("\n")}`);
    if (running.length || queued.length)
      parts.push("Stop one with `/xen cancel NUMBER` (requester, approvers, admins).");
    return { text: parts.join("\n") };
  },
};
