/**
 * Every job's processor, built from one JobDeps. The result is the worker's typed registry
 * (`Processors`: one entry per job name in src/queue/schema.ts), so a job without a processor here
 * does not compile.
 */
import { withDoctorRuns } from "../src/doctor/monitor";
import type { Processors } from "../src/queue/worker";
import { createApproveProcessor } from "./approve";
import { createDoctorProcessor } from "./doctor";
import { createDrbdWatchProcessor } from "./drbd-watch";
import { createMaintenanceProcessor } from "./maintenance";
import { createMonitorProcessor } from "./monitor";
import { createOperationExecuteProcessor } from "./operation-execute";
import { createOperationPlanProcessor } from "./operation-plan";
import { createSplitBrainPlanProcessor } from "./split-brain";
import { createStatusProcessor } from "./status";
import type { JobDeps } from "./types";

export type { JobDeps } from "./types";

export function createProcessors(deps: JobDeps): Processors {
  const { inventory, events } = deps;
  // The card jobs log under component "job"; the monitor and maintenance jobs under the process's logger.
  const jobLogger = deps.logger.child({ component: "job" });
  return {
    status: createStatusProcessor({ ...deps, logger: jobLogger }),
    doctor: createDoctorProcessor({ ...deps, logger: jobLogger }),
    "drbd-watch": createDrbdWatchProcessor({
      ...deps,
      logger: jobLogger,
      registry: deps.watchRegistry,
      ...(deps.watch ? { settings: deps.watch } : {}),
    }),
    // The monitor also runs the doctor's checks daily (monitor.doctorEvery) and reports regressions.
    ...withDoctorRuns(
      {
        monitor: createMonitorProcessor({ ...deps, pipeline: events.pipeline, ...events.monitorHooks() }),
        maintenance: createMaintenanceProcessor({
          ...deps,
          maintenance: events.maintenance,
          pipeline: events.pipeline,
        }),
      },
      deps.doctorRuns,
      (name) => inventory.clusters.find((c) => c.name === name),
    ),
    "operation-plan": createOperationPlanProcessor(deps.operations),
    // The split-brain card's "Keep X's data": planned like operation-plan, in the incident's thread.
    "split-brain-plan": createSplitBrainPlanProcessor(deps.operations),
    // A finished fence tells its node's incident, which then offers "Start its guests on SURVIVOR".
    "operation-execute": events.observeExecutions(createOperationExecuteProcessor(deps.operations)),
    approve: createApproveProcessor(deps),
  };
}
