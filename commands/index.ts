/** Every `/xen` verb, in the order help lists them. Adding a verb: one file here and one line below. */
import type { CommandSpec } from "../src/chat/spec";
import { approveCommand } from "./approve";
import { attestOffCommand } from "./attest-off";
import { cancelCommand } from "./cancel";
import { createCommand } from "./create";
import { doctorCommand } from "./doctor";
import { drbdCommand } from "./drbd";
import { evacuateCommand } from "./evacuate";
import { fenceCommand } from "./fence";
import { helpCommand } from "./help";
import { historyCommand } from "./history";
import { jobsCommand } from "./jobs";
import { maintenanceCommand } from "./maintenance";
import { migrateCommand } from "./migrate";
import { statusCommand } from "./status";

export const commands: readonly CommandSpec[] = [
  statusCommand,
  doctorCommand,
  drbdCommand,
  migrateCommand,
  createCommand,
  evacuateCommand,
  fenceCommand,
  attestOffCommand,
  approveCommand,
  jobsCommand,
  cancelCommand,
  historyCommand,
  maintenanceCommand,
  helpCommand,
];
