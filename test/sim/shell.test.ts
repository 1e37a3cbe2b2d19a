/**
 * `sh -c SCRIPT` on a simulated node (src/sim/shell.ts): the subset of sh a snapshot's batch is made
 * of, run command by command through the same programs as single execs, and nothing else.
 */
import { describe, expect, it } from "vitest";
import {
  createFaults,
  execInProcess,
  handleCommand,
  modernLab,
  referenceLab,
  type Simulation,
} from "../../src/sim";
import { garbageOutput } from "../../src/sim/tamper";
import { batchCommandLine, splitBatchOutput } from "../../src/ssh/batch";
import { quoteArgv } from "../../src/ssh/quote";
import { lab, run } from "./helpers";

const M = "xenops-00112233445566778899aabbccddeeff";

/** Runs argvs as one batch on the node and splits the frames back. */
async function batch(sim: Simulation, node: string, argvs: readonly (readonly string[])[]) {
  const res = await run(sim, node, batchCommandLine(argvs.map(quoteArgv), M));
  expect(res.exitCode).toBe(0);
  return splitBatchOutput(res.stdout, res.stderr, M, argvs.length);
}

const sh = (script: string) => quoteArgv(["sh", "-c", script]);

describe("sh -c on a simulated node", () => {
  it("runs a batch exactly as the same commands run one by one", async () => {
    const sim = lab(modernLab());
    const argvs = [
      ["xl", "list"],
      ["xl", "info"],
      ["drbdsetup", "status", "--json"],
      ["crm_mon", "-1", "--output-as=xml"],
      ["cibadmin", "--query", "--scope", "configuration"],
      ["cat", "/etc/default/xendomains"],
      ["ls", "-l", "/etc/xen/auto"],
      ["cat", "/nonexistent"],
      ["xm", "list"],
      ["sudo", "-n", "--", "xl", "list"],
      ["echo", "it's", "a b"],
    ];
    const frames = await batch(sim, "hv1", argvs);
    const single = await Promise.all(argvs.map((a) => run(sim, "hv1", quoteArgv(a))));
    expect(frames).toEqual(single);
    expect(frames.map((f) => f.exitCode)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 127, 0, 0]);
    expect(frames[0]!.stdout).toMatch(/^Name\s+ID/);
  });

  it("keeps $? per command, and the script's status is its last statement's", async () => {
    const sim = lab(referenceLab());
    expect(await run(sim, "ics1", sh("false\ns=$?\necho st:$s\ntrue; echo now:$?\necho err >&2"))).toEqual({
      stdout: "st:1\nnow:0\n",
      stderr: "err\n",
      exitCode: 0,
    });
    expect((await run(sim, "ics1", sh("true; false"))).exitCode).toBe(1);
    expect((await run(sim, "ics1", sh("echo $unset:x"))).stdout).toBe(":x\n");
  });

  it("refuses, before running anything, a script outside the subset", async () => {
    const sim = lab(referenceLab());
    for (const script of [
      "echo first\nxm list | grep x",
      "echo $(id)",
      "if true; then echo x; fi",
      "echo a > /tmp/x",
      "xm list &",
      "s=$(xm list)",
      "echo 'unterminated",
      "echo `id`",
    ]) {
      const res = await run(sim, "ics1", sh(script));
      expect(res, script).toMatchObject({ stdout: "", exitCode: 2 });
      expect(res.stderr, script).toMatch(
        /^sh: 1: script needs a real shell: .*\(the simulated node runs a subset of sh\)\n$/,
      );
    }
    // Other forms of sh are not this subset either: no such program there.
    expect((await run(sim, "ics1", "sh -x -c true")).exitCode).toBe(127);
  });

  it("applies a node's command latency to every program of the script, not to shell builtins", async () => {
    const sim = lab(referenceLab());
    const paced: string[] = [];
    const io = (out: string[]) => ({
      stdout: (t: string) => out.push(t),
      stderr: () => {},
      readStdin: async () => "",
      signal: new AbortController().signal,
    });
    const pace = async () => {
      paced.push("cmd");
    };
    const out: string[] = [];
    const { exitCode } = await handleCommand(
      { sim, node: "ics1" },
      sh("echo a\nhostname\ns=$?\necho b:$s\nuname -r\ntrue"),
      io(out),
      { pace },
    );
    expect(exitCode).toBe(0);
    expect(paced).toHaveLength(3);
    expect(out.join("")).toBe("a\nics1\nb:0\n2.6.18-6-xen-686\n");
    await handleCommand({ sim, node: "ics1" }, "hostname", io([]), { pace });
    expect(paced).toHaveLength(4);
  });

  it("lab faults apply to the command inside a batch, and to it alone", async () => {
    const sim = lab(referenceLab());
    const faults = createFaults(sim);
    faults.tamper("ics1", "xm list", "garbage");
    const frames = await batch(sim, "ics1", [["xm", "list"], ["hostname"]]);
    expect(frames[0]).toMatchObject({ stdout: garbageOutput("xm"), exitCode: 0 });
    expect(frames[1]).toEqual({ stdout: "ics1\n", stderr: "", exitCode: 0 });
    // Same code path in-process as over SSH.
    expect(await execInProcess(sim, "ics1", "hostname")).toEqual(frames[1]);
  });
});
