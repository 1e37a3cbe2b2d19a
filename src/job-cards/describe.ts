/** One-line titles of jobs, shared by the queued card, the running card and `/xen jobs`. */

function field(data: unknown, key: string): string | null {
  if (typeof data !== "object" || data === null) return null;
  const value = (data as Record<string, unknown>)[key];
  return typeof value === "string" && value !== "" ? value : null;
}

/** "Status of lab", "DRBD watch: internet in lab", "Migrate web1 in lab". */
export function describeJob(name: string, data: unknown): string {
  const cluster = field(data, "cluster");
  const where = cluster ? ` in ${cluster}` : "";
  switch (name) {
    case "status": {
      const target = field(data, "target");
      return target ? `Status of ${target}${where}` : `Status of ${cluster ?? "the cluster"}`;
    }
    case "drbd-watch":
      return `DRBD watch: ${field(data, "resource") ?? "?"}${where}`;
    default: {
      const what =
        field(data, "guest") ?? field(data, "node") ?? field(data, "resource") ?? field(data, "target");
      const verb = name.charAt(0).toUpperCase() + name.slice(1).replace(/-/g, " ");
      return `${verb}${what ? ` ${what}` : ""}${where}`;
    }
  }
}
