/**
 * Fencing (the method exists where it would run, covers every node, the device answers: queried once,
 * by the doctor only) and the nodes themselves (/etc/hosts, clock skew, the replication link).
 */
import { parseDrbdDump } from "../../drivers/drbd-conf";
import { fenceDoctorFor } from "../../drivers/fence";
import { parseHosts, parseIpAddr, parseIpLink } from "../parse";
import { type CheckResult, type DoctorFacts, type Evidence, READ } from "../types";
import { failedLines, ok, reachable, readOf, result, unreachableEvidence } from "./util";

/** The program a fence method runs on the surviving node. */
export function fenceProgram(f: DoctorFacts): string | null {
  return fenceDoctorFor(f.cluster.toolstack.fence)?.program ?? null;
}

export function checkFencing(f: DoctorFacts): CheckResult[] {
  const fence = fenceDoctorFor(f.cluster.toolstack.fence);
  const names = f.cluster.nodes.map((n) => n.name);
  const out: CheckResult[] = [];
  if (!fence) {
    out.push(
      result(
        "fencing.method",
        "fencing",
        null,
        "fail",
        "no fence method configured: a dead node can never be proven off, and split brains are left to chance",
        [],
        "in the inventory, toolstack.fence: { method: stonith, type: ..., params: ... } (or fence-agent / stonith_admin)",
      ),
    );
    return out;
  }
  const program = fence.program;
  const evidence: Evidence[] = [];
  const problems: string[] = [];
  for (const n of reachable(f)) {
    const r = readOf(n, READ.fenceCommand);
    evidence.push({
      node: n.node,
      lines: [`$ command -v ${program}`, r?.exitCode === 0 ? r.stdout.trim() : "(not found)"],
    });
    if (r?.exitCode !== 0) problems.push(`${program} is not installed on ${n.node}`);
  }
  // Coverage from the inventory: each node must be addressable by the method.
  const uncovered = fence.uncovered(names);
  if (uncovered) problems.push(uncovered);
  out.push(
    result(
      "fencing.method",
      "fencing",
      null,
      problems.length ? "fail" : "pass",
      problems.length
        ? problems.join("; ")
        : `${program} installed on every node that would fence, covering every node`,
      [...evidence, ...unreachableEvidence(f)],
      fence.fix(names),
    ),
  );
  const q = f.fence;
  out.push(
    result(
      "fencing.device",
      "fencing",
      null,
      q === null ? "warn" : q.ok === false ? "fail" : "pass",
      q === null
        ? "the fence device was not queried (no node could run the method)"
        : `${q.ok === false ? "the fence device does not answer" : q.ok === null ? "the fence method checks its device itself" : "the fence device answers"}: ${q.detail}`,
      q ? [{ node: q.from, lines: [`$ ${q.shown}`, q.detail, "(queried once, by the doctor only)"] }] : [],
      "check the device's cable/network and its credentials in the inventory (toolstack.fence), then run the doctor again",
    ),
  );
  return out;
}

export function checkNodes(f: DoctorFacts): CheckResult[] {
  const out: CheckResult[] = [];
  const names = f.cluster.nodes.map((n) => n.name);
  // A node that cannot be read makes every comparison partial: said once, here.
  const silent = f.nodes.filter((n) => !n.reachable);
  out.push(
    result(
      "nodes.reachable",
      "nodes",
      null,
      silent.length ? "warn" : "pass",
      silent.length
        ? `${silent.map((n) => n.node).join(", ")} could not be read: the checks compare the other nodes only`
        : `every node read (${names.length})`,
      unreachableEvidence(f),
      "check SSH to the node (`/xen status` shows why it does not answer) and run the doctor again",
    ),
  );
  // /etc/hosts names every node, the same way everywhere.
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    const addrOf = new Map<string, Set<string>>();
    const missingFrom: string[] = [];
    for (const n of reachable(f)) {
      const text = ok(n, READ.hosts);
      if (text === null) {
        problems.push(`${n.node}: /etc/hosts cannot be read`);
        evidence.push({ node: n.node, lines: failedLines(readOf(n, READ.hosts)) });
        continue;
      }
      const hosts = parseHosts(text);
      const lines = text
        .split("\n")
        .filter((l) => names.some((x) => new RegExp(`\\s${x.replace(/\./g, "\\.")}(\\s|$)`).test(l)));
      evidence.push({ node: n.node, lines: lines.length ? lines : ["(no line names a cluster node)"] });
      for (const name of names) {
        const a = hosts.get(name.toLowerCase());
        if (!a) {
          problems.push(`${n.node}: /etc/hosts does not name ${name}`);
          missingFrom.push(name);
        } else for (const x of a) addrOf.set(name, new Set([...(addrOf.get(name) ?? []), x]));
      }
    }
    for (const [name, addrs] of addrOf)
      if (addrs.size > 1)
        problems.push(`${name} has different addresses in the nodes' /etc/hosts (${[...addrs].join(", ")})`);
    out.push(
      result(
        "nodes.hosts",
        "nodes",
        null,
        problems.length ? "fail" : "pass",
        problems.length
          ? problems.join("; ")
          : "every node names every node in /etc/hosts, with the same address",
        [...evidence, ...unreachableEvidence(f)],
        `in /etc/hosts on every node, one line per node, the same everywhere: ${(missingFrom.length
          ? [...new Set(missingFrom)]
          : names
        )
          .map((name) => `\`${[...(addrOf.get(name) ?? [])][0] ?? "ADDRESS"} ${name}\``)
          .join(", ")}`,
      ),
    );
  }
  // Clock skew, corrected by each read's round trip.
  {
    const clocks = reachable(f).filter((n) => n.clock);
    const evidence: Evidence[] = clocks.map((n) => {
      const c = n.clock as NonNullable<typeof n.clock>;
      return {
        node: n.node,
        lines: [`date +%s.%N: ${(c.remoteMs / 1000).toFixed(3)}`, `round trip ${c.receivedAt - c.sentAt} ms`],
      };
    });
    let worst = 0;
    let pair = "";
    for (let i = 0; i < clocks.length; i++)
      for (let j = i + 1; j < clocks.length; j++) {
        const a = (clocks[i] as (typeof clocks)[number]).clock as NonNullable<
          (typeof clocks)[number]["clock"]
        >;
        const b = (clocks[j] as (typeof clocks)[number]).clock as NonNullable<
          (typeof clocks)[number]["clock"]
        >;
        // Each remote time is taken somewhere within its round trip: compare against the midpoints.
        const offA = a.remoteMs - (a.sentAt + a.receivedAt) / 2;
        const offB = b.remoteMs - (b.sentAt + b.receivedAt) / 2;
        const slack = (a.receivedAt - a.sentAt + (b.receivedAt - b.sentAt)) / 2;
        const skew = Math.max(0, Math.abs(offA - offB) - slack);
        if (skew > worst) {
          worst = skew;
          pair = `${clocks[i]?.node} and ${clocks[j]?.node}`;
        }
      }
    const s = worst / 1000;
    out.push(
      result(
        "nodes.clock",
        "nodes",
        null,
        clocks.length < 2 ? "warn" : s > 30 ? "fail" : s > 1 ? "warn" : "pass",
        clocks.length < 2
          ? "the clocks could not be compared (fewer than two nodes read)"
          : s > 1
            ? `the clocks of ${pair} are ${s.toFixed(1)} s apart (logs, DRBD and HA timestamps disagree)`
            : "the clocks agree within a second",
        evidence,
        "run an NTP client on every node (`apt-get install ntp`) against the same servers",
      ),
    );
  }
  // The replication link's interface is up.
  {
    const evidence: Evidence[] = [];
    const problems: string[] = [];
    const down: string[] = [];
    for (const n of reachable(f)) {
      const dump = ok(n, READ.drbdDump);
      const addrs = ok(n, READ.ipAddr);
      const links = ok(n, READ.ipLink);
      if (dump === null || addrs === null || links === null) {
        evidence.push({ node: n.node, lines: ["(the DRBD configuration or the interfaces cannot be read)"] });
        continue;
      }
      let own: string[] = [];
      try {
        own = parseDrbdDump(dump).resources.flatMap((r) =>
          r.hosts
            .filter((h) => h.name === n.node && h.address)
            .map((h) => (h.address as string).replace(/:\d+$/, "")),
        );
      } catch {
        evidence.push({ node: n.node, lines: ["(drbdadm dump unreadable)"] });
        continue;
      }
      const ifaces = new Set(
        parseIpAddr(addrs)
          .filter((a) => own.includes(a.address))
          .map((a) => a.iface),
      );
      const state = parseIpLink(links);
      const lines: string[] = [];
      for (const i of ifaces) {
        const s = state.get(i);
        lines.push(s?.line ?? `${i}: (not listed)`);
        if (!s?.up) {
          problems.push(`${n.node}: ${i}, which carries DRBD, is down`);
          down.push(`\`ip link set ${i} up\` on ${n.node}`);
        }
      }
      evidence.push({
        node: n.node,
        lines: lines.length ? lines : ["(no interface holds this node's DRBD address)"],
      });
    }
    out.push(
      result(
        "nodes.replication-link",
        "nodes",
        null,
        problems.length ? "fail" : "pass",
        problems.length ? problems.join("; ") : "the replication interfaces are up",
        [...evidence, ...unreachableEvidence(f)],
        `${down.join(", ") || "bring the interface up"} (check the cable first), and \`auto IFACE\` for it in /etc/network/interfaces`,
      ),
    );
  }
  return out;
}
