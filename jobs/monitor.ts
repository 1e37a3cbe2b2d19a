/** `monitor` job: one snapshot of a cluster turned into events (see src/events/monitor.ts). */
export { createMonitorProcessor, type MonitorDeps, type MonitorResult } from "../src/events/monitor";
