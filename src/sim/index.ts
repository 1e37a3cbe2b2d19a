/**
 * The cluster simulator: a stateful model of an HA Xen/DRBD cluster, served over SSH in the real
 * tools' output formats.
 *
 *   const lab = await startSimulatedCluster(referenceLab());   // real time; { clock: "manual" } for tests
 *   lab.inventory();                 // hosts, ports, pinned host keys, client private key
 *   lab.faults.nodeDown("ics2", { rebootAfterMs: 60_000 });
 *   await lab.exec("ics1", "cat /proc/drbd");
 *   await lab.close();
 *
 * Without SSH, `new Simulation(spec)` plus execInProcess() gives the same answers in-process.
 */
export { type Clock, ManualClock, Rng, SystemClock } from "./clock";
export {
  labKeyPair,
  type SimInventory,
  type SimulatedCluster,
  type SimulatedNodeInfo,
  type StartOptions,
  startSimulatedCluster,
  toClusterConfig,
} from "./cluster";
export {
  type CommandIO,
  type CommandTarget,
  type ExecOutput,
  execInProcess,
  handleCommand,
  programsFor,
} from "./commands";
export { createFaults, type Faults } from "./faults";
export type { CommandHold, CommandMatch, CommandWatch, HoldPhase } from "./hooks";
export * from "./model";
export { modernLab, referenceLab, scaleLab } from "./presets";
export { type DrbdView, Simulation, type SimulationOptions } from "./simulation";
export { type ControlServer, execViaControl, startControlServer } from "./stdio";
export { parseTamperMode, type Tamper, type TamperMode } from "./tamper";
export {
  type FenceExecution,
  formatTruth,
  readTruth,
  type SimTruth,
  type TruthDomainState,
  type TruthDrbd,
  type TruthGuest,
  type TruthNode,
  twoWriterViolations,
} from "./truth";
