/**
 * What the job processors are built from: one bag for all of them, filled once by the composition root
 * (src/runtime/deps.ts). Each processor's own deps type is a `Pick` of it, so a new job adds the fields it
 * needs here instead of copying another job's bag.
 */

import type { ApprovalEngine } from "../src/approval/engine";
import type { Notifier } from "../src/chat/types";
import type { CommandRunner } from "../src/command-runner";
import type { InventoryConfig } from "../src/config/schema";
import type { SecretEnv } from "../src/config/secrets";
import type { DoctorRuns } from "../src/doctor/monitor";
import type { ClusterDrivers } from "../src/drivers/types";
import type { Events } from "../src/events";
import type { CardStore } from "../src/job-cards/card-store";
import type { WatchRegistry } from "../src/job-cards/watch-registry";
import type { Logger } from "../src/log";
import type { OperationDeps } from "../src/operations/context";
import type { WatchSettings } from "./drbd-watch";

export interface JobDeps {
  inventory: InventoryConfig;
  /** The process's logger; card jobs log under `component: "job"`. */
  logger: Logger;
  notifier: Notifier;
  secretEnv: SecretEnv;
  runnerFor(cluster: string, node: string): CommandRunner;
  driversFor(cluster: string): ClusterDrivers;
  /** Shares each card with the "queued" message posted at enqueue time. */
  cards: CardStore;
  /** One DRBD watch per resource, across workers. */
  watchRegistry: WatchRegistry;
  /** DRBD resync watch timing (tests shorten it). */
  watch?: Partial<WatchSettings>;
  /** Counts cluster events by kind (the process's metrics). */
  onEvent?: (kind: string) => void;
  /** Cluster events: the monitor's pipeline and hooks, maintenance windows, fence outcomes. */
  events: Pick<Events, "pipeline" | "maintenance" | "monitorHooks" | "observeExecutions">;
  /** The doctor's checks the monitor runs in the background (monitor.doctorEvery). */
  doctorRuns: DoctorRuns;
  /** Risky operations: planner, executor, recovery. */
  operations: OperationDeps;
  approvals: ApprovalEngine;
}
