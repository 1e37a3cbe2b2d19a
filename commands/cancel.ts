import { type CommandSpec, UsageError } from "../src/chat/spec";

interface CancelArgs {
  job: string;
}

export const cancelCommand: CommandSpec<CancelArgs> = {
  verb: "cancel",
  summary:
    "stop a queued or running job (requester, approvers, admins); a job past its point of no return finishes and verifies",
  usage: "cancel JOB",
  role: "viewer",
  parse({ positionals }) {
    const [job, ...rest] = positionals;
    if (job === undefined) throw new UsageError("name the job number (see `/xen jobs`)");
    if (rest.length > 0) throw new UsageError(`too many arguments: ${rest.join(" ").slice(0, 60)}`);
    const ref = job.replace(/^#/, "");
    if (!/^\d{1,12}$/.test(ref) && !/^[a-z-]+-[0-9a-f]{32}$/.test(ref))
      throw new UsageError(`"${job.slice(0, 40)}" is not a job number`);
    return { job: ref };
  },
  async run(ctx, args) {
    if (!ctx.jobAdmin) return { text: "Cancelling is not available in this process." };
    return ctx.jobAdmin.cancel(args.job, {
      userId: ctx.request.userId,
      channelId: ctx.request.channelId,
      via: "command",
      deliveryId: ctx.request.deliveryId,
    });
  },
};
