/**
 * Reads what the checks need from every node, read-only: configuration files with `cat`, versions,
 * interfaces, `date`. Every command's exit status and output are kept as they are (a missing file is
 * a fact too); a node that cannot be reached is marked so and read no further. The one fence-device
 * status query is made here, from one node, and only by the doctor: serial devices such as APC
 * Smart-UPS units hold the line heartbeat needs, so status and the monitor never query them.
 */
import { setMaxListeners } from "node:events";
import type { CommandRunner } from "../command-runner";
import type { ClusterConfig } from "../config/schema";
import type { SecretEnv } from "../config/secrets";
import { parseDrbdDump } from "../drivers/drbd-conf";
import { fenceDriverFor } from "../drivers/fence";
import { parseXendomainsDefaults, XENDOMAINS_FILES } from "../drivers/xendomains/parse";
import { ExecError, errorMessage } from "../errors";
import { redactValues, resolveFenceSecrets } from "../operations/context";
import { fenceProgram } from "./checks/nodes";
import { guestNodes } from "./checks/util";
import { parseEpoch, parseIpAddr, parseSxpConfig } from "./parse";
import { type DoctorFacts, type FenceQuery, type NodeFacts, READ, type Read } from "./types";

const ANY_EXIT = Array.from({ length: 256 }, (_, i) => i);
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export interface GatherDeps {
  runnerFor(node: string): CommandRunner;
  /** Where fence secrets are resolved from (the device query); without it secret parameters cannot be sent. */
  secretEnv?: SecretEnv;
  /** xenops' clock (tests inject one). */
  now?: () => number;
}

export interface GatherOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Query the fence device (default true). */
  queryFence?: boolean;
  /**
   * Nodes read at a time (default: all at once). The monitor's background run reads a few at a time:
   * nobody waits on it, and reading a large cluster's every node at once is the worker's largest burst
   * of memory (each node's HA configuration is the whole cluster's).
   */
  nodesAtOnce?: number;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return out;
}

function isTransport(err: unknown): boolean {
  return err instanceof ExecError && err.exitCode === null;
}

/** Runs one read on a node and files it in its facts, whatever its exit status. */
async function readInto(
  facts: NodeFacts,
  runner: CommandRunner,
  key: string,
  argv: string[],
  options: GatherOptions,
): Promise<Read> {
  try {
    const res = await runner.run(argv, {
      okExitCodes: ANY_EXIT,
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    facts.reads[key] = { argv, exitCode: res.exitCode, stdout: res.stdout, stderr: res.stderr };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    facts.reads[key] = { argv, exitCode: null, stdout: "", stderr: "", error: errorMessage(err) };
    if (isTransport(err) && Object.keys(facts.reads).length === 1) {
      facts.reachable = false;
      facts.error = errorMessage(err);
    }
  }
  return facts.reads[key] as Read;
}

async function readNode(
  cluster: ClusterConfig,
  node: string,
  deps: GatherDeps,
  options: GatherOptions,
): Promise<NodeFacts> {
  const runner = deps.runnerFor(node);
  const now = deps.now ?? Date.now;
  const facts: NodeFacts = { node, reachable: true, reads: {} };
  const read = (key: string, argv: string[]): Promise<Read> => readInto(facts, runner, key, argv, options);

  // The clock first: it also tells whether the node answers at all.
  const sentAt = now();
  const date = await read("date", ["date", "+%s.%N"]);
  const receivedAt = now();
  if (!facts.reachable) return facts;
  const remoteMs = date.exitCode === 0 ? parseEpoch(date.stdout) : null;
  if (remoteMs !== null) facts.clock = { sentAt, receivedAt, remoteMs };

  const ts = cluster.toolstack;
  const xm = ts.hypervisor === "xm";
  const program = fenceProgram({ cluster, nodes: [], fence: null, readAt: 0 });
  const jobs: Promise<unknown>[] = [
    read(READ.uname, ["uname", "-n"]),
    read(READ.drbdDump, ["drbdadm", "dump"]),
    read(READ.procDrbd, ["cat", "/proc/drbd"]),
    read(READ.drbdVersion, ["drbdadm", ts.drbd === 9 ? "--version" : "-V"]),
    read(READ.xenConfig, ["cat", xm ? "/etc/xen/xend-config.sxp" : "/etc/xen/xl.conf"]),
    read(READ.xenInfo, [ts.hypervisor, "info"]),
    read(READ.hosts, ["cat", "/etc/hosts"]),
    read(READ.ipAddr, ["ip", "-o", "addr", "show"]),
    read(READ.ipLink, ["ip", "-o", "link", "show"]),
    (async () => {
      const r = await read(
        READ.bridges,
        xm ? ["brctl", "show"] : ["ip", "-o", "link", "show", "type", "bridge"],
      );
      if (xm && r.exitCode === 127) await read(READ.bridges, ["ip", "-o", "link", "show", "type", "bridge"]);
    })(),
    (async () => {
      let settings: Record<string, string> = {};
      for (const file of XENDOMAINS_FILES) {
        const r = await read(READ.xendomains, ["cat", file]);
        if (r.exitCode === 0) {
          try {
            settings = parseXendomainsDefaults(r.stdout);
          } catch {
            // The startup check reports the unreadable file.
          }
          break;
        }
      }
      const dir = settings.XENDOMAINS_AUTO || "/etc/xen/auto";
      await read(READ.autoDir, ["ls", "-l", SAFE_PATH.test(dir) ? dir : "/etc/xen/auto"]);
    })(),
  ];
  if (program)
    jobs.push(
      (async () => {
        const r = await read(READ.fenceCommand, ["command", "-v", program]);
        // `command` is a shell builtin: under `sudo -n --` there is no such program, so ask `which`.
        if (r.exitCode !== 0 && /command: (command )?not found/.test(r.stderr))
          await read(READ.fenceCommand, ["which", program]);
      })(),
    );
  if (ts.ha === "heartbeat")
    jobs.push(
      read(READ.haresources, ["cat", "/etc/ha.d/haresources"]),
      read(READ.haCf, ["cat", "/etc/ha.d/ha.cf"]),
      read(READ.authkeysMode, ["stat", "-c", "%a", "/etc/ha.d/authkeys"]),
    );
  if (ts.ha === "pacemaker")
    jobs.push(
      read(READ.crmVerify, ["crm_verify", "-L"]),
      read(READ.corosync, ["cat", "/etc/corosync/corosync.conf"]),
    );
  const probe = { cluster, nodes: [], fence: null, readAt: 0 };
  for (const g of cluster.guests) {
    if (!guestNodes(probe, g.name).includes(node)) continue;
    const path = g.configFile ?? `/etc/xen/${g.name}${xm ? "" : ".cfg"}`;
    jobs.push(
      read(READ.guestConfig(g.name), ["cat", path]),
      read(READ.guestSha(g.name), ["sha256sum", path]),
    );
  }
  await Promise.all(jobs);

  // Second round: what the first one named (backing disks, the replication NIC, the network script).
  const second: Promise<unknown>[] = [];
  const dump = facts.reads[READ.drbdDump];
  if (dump?.exitCode === 0) {
    try {
      const conf = parseDrbdDump(dump.stdout);
      const own = new Set<string>();
      for (const r of conf.resources) {
        const self = r.hosts.find((h) => h.name === node);
        if (self?.disk && SAFE_PATH.test(self.disk))
          second.push(read(READ.backingSize(r.name), ["blockdev", "--getsize64", self.disk]));
        if (self?.address) own.add(self.address.replace(/:\d+$/, ""));
      }
      const addrs = facts.reads[READ.ipAddr];
      const iface =
        addrs?.exitCode === 0 ? parseIpAddr(addrs.stdout).find((a) => own.has(a.address))?.iface : undefined;
      if (iface && /^[A-Za-z0-9._-]+$/.test(iface))
        second.push(read(READ.linkSpeed, ["cat", `/sys/class/net/${iface}/speed`]));
    } catch {
      // The DRBD checks report an unreadable dump.
    }
  }
  const xen = facts.reads[READ.xenConfig];
  if (xm && xen?.exitCode === 0) {
    const script = (parseSxpConfig(xen.stdout)["network-script"]?.value ?? "").split(/\s+/)[0] ?? "";
    const path = script.startsWith("/") ? script : `/etc/xen/scripts/${script}`;
    if (script && SAFE_PATH.test(path)) second.push(read(READ.networkScript, ["test", "-e", path]));
  }
  await Promise.all(second);
  return facts;
}

/** One status query of the fence device, from the first node that has the method's program. */
async function queryFence(
  cluster: ClusterConfig,
  nodes: readonly NodeFacts[],
  deps: GatherDeps,
  options: GatherOptions,
): Promise<FenceQuery | null> {
  const driver = fenceDriverFor(cluster.toolstack.fence);
  const from = nodes.find((n) => n.reachable && n.reads[READ.fenceCommand]?.exitCode === 0);
  if (!driver || !from) return null;
  const target = cluster.nodes.find((n) => n.name !== from.node)?.name ?? from.node;
  const runner = deps.runnerFor(from.node);
  const call = {
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  let secrets = new Map<string, string>();
  try {
    secrets = await resolveFenceSecrets(driver, cluster.name, deps.secretEnv ?? {});
  } catch (err) {
    return {
      from: from.node,
      target,
      shown: "(not run)",
      ok: false,
      detail: `cannot resolve the fence secrets: ${errorMessage(err)}`,
    };
  }
  let order: string[] | undefined;
  const orderQuery = driver.paramOrderQuery();
  if (orderQuery) {
    try {
      order = driver.parseParamOrder((await runner.run(orderQuery, call)).stdout);
    } catch (err) {
      return {
        from: from.node,
        target,
        shown: orderQuery.join(" "),
        ok: false,
        detail: `the plugin's parameter order cannot be read: ${errorMessage(err)}`,
      };
    }
  }
  let check: ReturnType<typeof driver.deviceCheck>;
  try {
    check = driver.deviceCheck(target, order);
  } catch (err) {
    return { from: from.node, target, shown: "(not run)", ok: false, detail: errorMessage(err) };
  }
  if (!check)
    return {
      from: from.node,
      target,
      shown: "(none)",
      ok: null,
      detail: `${driver.label} checks its device itself when it fences`,
    };
  const shown = check.argv.join(" ");
  try {
    const res = await runner.run(check.argv, {
      ...call,
      okExitCodes: ANY_EXIT,
      ...(check.stdin ? { stdin: check.stdin(secrets) } : {}),
    });
    const said = redactValues(
      `${res.stdout}${res.stderr}`.trim().split("\n").slice(-1)[0] ?? "",
      secrets,
    ).slice(0, 200);
    const answered = driver.deviceOk(res.exitCode);
    return {
      from: from.node,
      target,
      shown,
      ok: answered,
      detail: `${driver.label} ${answered ? "answered" : "did not answer"} from ${from.node} (exit ${res.exitCode})${said ? `: ${said}` : ""}`,
    };
  } catch (err) {
    return {
      from: from.node,
      target,
      shown,
      ok: false,
      detail: redactValues(errorMessage(err), secrets).slice(0, 200),
    };
  }
}

/** Everything the checks need, read from every node of the cluster. */
export async function gatherFacts(
  cluster: ClusterConfig,
  deps: GatherDeps,
  options: GatherOptions = {},
): Promise<DoctorFacts> {
  const now = deps.now ?? Date.now;
  const readAt = now();
  // Every read in flight listens on the job's signal: a few dozen at once is expected here.
  if (options.signal) setMaxListeners(100, options.signal);
  const nodes = await mapLimited(cluster.nodes, options.nodesAtOnce ?? cluster.nodes.length, (n) =>
    readNode(cluster, n.name, deps, options),
  );
  if (cluster.toolstack.ha === "pacemaker") await readCibOnce(nodes, deps, options);
  const fence = options.queryFence === false ? null : await queryFence(cluster, nodes, deps, options);
  return { cluster, nodes, fence, readAt };
}

const CIBADMIN_QUERY = ["cibadmin", "--query", "--scope", "configuration"];

/**
 * The CIB's configuration, from the first node (in inventory order) that gives it. Every node of a
 * partition holds the same one and the checks read one copy; asking all of them would move and keep
 * the whole cluster's configuration once per node (half a megabyte each at 100 nodes). A node that
 * fails to give it keeps its failed read as evidence, and the next one is asked.
 */
async function readCibOnce(
  nodes: readonly NodeFacts[],
  deps: GatherDeps,
  options: GatherOptions,
): Promise<void> {
  for (const facts of nodes) {
    if (!facts.reachable) continue;
    const r = await readInto(facts, deps.runnerFor(facts.node), READ.cib, [...CIBADMIN_QUERY], options);
    if (r.exitCode === 0) return;
  }
}
