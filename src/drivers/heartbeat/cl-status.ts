/**
 * Heartbeat (v1/v2 without Pacemaker's CRM) `cl_status` outputs, as printed by cl_status.c in the
 * heartbeat sources:
 *
 *   hbstatus          "Heartbeat is running on this machine."            exit 0
 *                     "Heartbeat is stopped on this machine."            exit 1
 *                     "Heartbeat is apparently running on this machine, but refuses my connection"  exit 0
 *   listnodes [-n|-p] one node name per line (`-m` adds "The nodes are as follow:")
 *   nodestatus NODE   the node's status word: active | up | dead | ping | ...  (exit 0 for
 *                     active/up/ping, 1 otherwise; `-m`: "The cluster node NODE is STATUS")
 *   rscstatus         none | local | foreign | all | transition (`-m`: "This node is holding X
 *                     resources."); exit 1 with nothing on stdout when Pacemaker manages resources
 *
 * Mapping to the normalized HaNodeStatus: active/up/ping → online (cl_status itself counts them as
 * up), dead → offline, any other word (init, a future status) → unknown: an unrecognized word is
 * never read as offline.
 */
import { ParseError } from "../../errors";
import type { HaNodeStatus, HaView } from "../../model";

export const CL_STATUS_KIND = "cl-status";

export interface HbStatus {
  running: boolean;
  /** heartbeat runs but refused cl_status's API sign-on: the other subcommands will fail. */
  refusesConnection: boolean;
}

const RUNNING = "Heartbeat is running on this machine.";
const STOPPED = "Heartbeat is stopped on this machine.";
const REFUSES = "Heartbeat is apparently running on this machine, but refuses my connection";

interface Line {
  /** 1-based within the text. */
  n: number;
  text: string;
}

/** Non-blank lines with their line numbers. */
function lines(text: string): Line[] {
  return text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .map((l, i) => ({ n: i + 1, text: l.trim() }))
    .filter((l) => l.text !== "");
}

/** `cl_status hbstatus`. With `exitCode`, also checks it agrees with the text (0 running, 1 stopped). */
export function parseHbStatus(text: string, exitCode?: number, baseLine = 0): HbStatus {
  const ls = lines(text);
  const head = ls[0];
  const first = head?.text;
  const fail = (msg: string): never => {
    throw new ParseError(CL_STATUS_KIND, head ? baseLine + head.n : 0, msg, first);
  };
  let status: HbStatus;
  if (first === RUNNING) status = { running: true, refusesConnection: false };
  else if (first === STOPPED) status = { running: false, refusesConnection: false };
  else if (first === REFUSES) status = { running: true, refusesConnection: true };
  else return fail(first === undefined ? "hbstatus printed nothing" : "not a cl_status hbstatus answer");
  const extra = ls[1];
  if (extra) {
    throw new ParseError(
      CL_STATUS_KIND,
      baseLine + extra.n,
      "unexpected extra output (hbstatus -v is not supported)",
      extra.text,
    );
  }
  if (exitCode !== undefined && exitCode !== (status.running ? 0 : 1)) {
    fail(`exit code ${exitCode} contradicts "${first}"`);
  }
  return status;
}

/** `cl_status listnodes [-n|-p] [-m]`: node names in heartbeat's order. */
export function parseListNodes(text: string, baseLine = 0): string[] {
  const out: string[] = [];
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((raw, i) => {
      const l = raw.trim();
      if (l === "" || l === "The nodes are as follow:") return;
      if (/\s/.test(l)) {
        throw new ParseError(
          CL_STATUS_KIND,
          baseLine + i + 1,
          "expected one node name per line (listnodes -v is not supported)",
          raw,
        );
      }
      out.push(l);
    });
  return out;
}

/** `cl_status nodestatus NODE [-m]`: the raw status word (active, up, dead, ping, ...). */
export function parseNodeStatus(text: string, baseLine = 0): string {
  const l = singleLine(text, baseLine, "nodestatus");
  const word = /^The cluster node \S+ is (\S+)$/.exec(l.text)?.[1] ?? l.text;
  if (!/^[A-Za-z][\w-]*$/.test(word)) {
    throw new ParseError(CL_STATUS_KIND, baseLine + l.n, "not a node status word", l.text);
  }
  return word;
}

function singleLine(text: string, baseLine: number, sub: string): Line {
  const [first, second] = lines(text);
  if (!first) throw new ParseError(CL_STATUS_KIND, baseLine, `${sub} printed nothing`);
  if (second)
    throw new ParseError(CL_STATUS_KIND, baseLine + second.n, "expected a single line", second.text);
  return first;
}

export const RSC_STATUSES = ["none", "local", "foreign", "all", "transition"] as const;
export type RscStatus = (typeof RSC_STATUSES)[number];

/** `cl_status rscstatus [-m]`: which haresources groups this node holds. */
export function parseRscStatus(text: string, baseLine = 0): RscStatus {
  const l = singleLine(text, baseLine, "rscstatus");
  const word = /^This node is holding (\S+) resources\.$/.exec(l.text)?.[1] ?? l.text;
  if (!(RSC_STATUSES as readonly string[]).includes(word)) {
    throw new ParseError(CL_STATUS_KIND, baseLine + l.n, `unknown rscstatus "${word}"`, l.text);
  }
  return word as RscStatus;
}

export function heartbeatNodeStatus(word: string): HaNodeStatus {
  switch (word) {
    case "active":
    case "up":
    case "ping":
      return "online";
    case "dead":
      return "offline";
    default:
      return "unknown";
  }
}

export interface HeartbeatFacts {
  hbstatus: HbStatus;
  /** listnodes order; null when not asked. */
  nodes: string[] | null;
  /** nodestatus words by node; a missing node is unknown. */
  nodeStatus: ReadonlyMap<string, string | null>;
  /** rscstatus answer, or null when it gave none (Pacemaker-managed, or not asked). */
  rscstatus: RscStatus | null;
}

/**
 * The normalized view. heartbeat has no DC and cl_status lists no resources (the haresources groups
 * are only summarized by rscstatus), so dc is null and resources/fenceHistory are empty.
 */
export function heartbeatView(observer: string, facts: HeartbeatFacts): HaView {
  const names = [...(facts.nodes ?? [])];
  for (const n of facts.nodeStatus.keys()) if (!names.includes(n)) names.push(n);
  return {
    stack: "heartbeat",
    observer,
    running: facts.hbstatus.running,
    dc: null,
    nodes: names.map((name) => {
      const word = facts.nodeStatus.get(name);
      return { name, status: word == null ? "unknown" : heartbeatNodeStatus(word) };
    }),
    resources: [],
    localResources: facts.rscstatus,
    fenceHistory: [],
  };
}

/**
 * `xenops parse cl-status`: a transcript of `$ cl_status SUB [ARGS]` lines, each followed by that
 * command's standard output, e.g.
 *
 *   $ cl_status hbstatus
 *   Heartbeat is running on this machine.
 *   $ cl_status listnodes
 *   xen1
 *   $ cl_status nodestatus xen1
 *   active
 *
 * hbstatus is required (it alone says whether heartbeat runs); listnodes, nodestatus and rscstatus
 * are optional, and a command with no output answered nothing (node status unknown, rscstatus null).
 */
export function parseClStatusTranscript(text: string, observer = "-"): HaView {
  interface Block {
    line: number;
    text: string;
    sub: string;
    args: string[];
    output: string[];
  }
  const blocks: Block[] = [];
  text
    .replace(/\r\n?/g, "\n")
    .split("\n")
    .forEach((raw, i) => {
      const cmd = /^\$\s+(?:\S*\/)?cl_status(?:\s+(.*))?$/.exec(raw.trim());
      if (cmd) {
        const words = (cmd[1] ?? "").trim().split(/\s+/).filter(Boolean);
        const [sub = "", ...args] = words;
        blocks.push({ line: i + 1, text: raw, sub, args, output: [] });
        return;
      }
      if (raw.trim().startsWith("$"))
        throw new ParseError(CL_STATUS_KIND, i + 1, "only cl_status commands are understood", raw);
      const current = blocks.at(-1);
      if (!current) {
        if (raw.trim() === "") return;
        throw new ParseError(CL_STATUS_KIND, i + 1, 'output before the first "$ cl_status" line', raw);
      }
      current.output.push(raw);
    });

  let hbstatus: HbStatus | null = null;
  let nodes: string[] | null = null;
  const nodeStatus = new Map<string, string | null>();
  let rscstatus: RscStatus | null = null;
  for (const b of blocks) {
    const out = b.output.join("\n");
    const empty = out.trim() === "";
    const positional = b.args.filter((a) => !a.startsWith("-"));
    const unknownOption = b.args.find((a) => a.startsWith("-") && !/^-[mnp]+$/.test(a));
    if (unknownOption)
      throw new ParseError(CL_STATUS_KIND, b.line, `unsupported option ${unknownOption}`, b.text);
    switch (b.sub) {
      case "hbstatus":
        hbstatus = parseHbStatus(out, undefined, b.line);
        break;
      case "listnodes":
        nodes = parseListNodes(out, b.line);
        break;
      case "nodestatus": {
        const node = positional[0];
        if (node === undefined || positional.length > 1) {
          throw new ParseError(CL_STATUS_KIND, b.line, "nodestatus takes one node name", b.text);
        }
        nodeStatus.set(node, empty ? null : parseNodeStatus(out, b.line));
        break;
      }
      case "rscstatus":
        rscstatus = empty ? null : parseRscStatus(out, b.line);
        break;
      default:
        throw new ParseError(CL_STATUS_KIND, b.line, `unsupported cl_status sub-command "${b.sub}"`, b.text);
    }
  }
  if (!hbstatus)
    throw new ParseError(CL_STATUS_KIND, 0, 'the transcript needs "$ cl_status hbstatus" and its answer');
  return heartbeatView(observer, { hbstatus, nodes, nodeStatus, rscstatus });
}
