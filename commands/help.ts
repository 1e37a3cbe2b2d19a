import type { CommandSpec } from "../src/chat/spec";

export const helpCommand: CommandSpec<null> = {
  verb: "help",
  summary: "list the verbs and what they do",
  usage: "help",
  role: "viewer",
  parse: () => null,
  async run(ctx) {
    const lines = ctx.commands.map((c) => `• \`/xen ${c.usage}\`: ${c.summary} (${c.role})`);
    const clusters = ctx.clustersHere.map((c) => c.name);
    return {
      text: `*xenops*: operate the Xen/DRBD clusters from this channel.\n${lines.join("\n")}\nClusters here: ${clusters.length > 0 ? clusters.join(", ") : "none"}`,
    };
  },
};
