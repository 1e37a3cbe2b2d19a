/** DRBD 8.0-8.4 mutations (drbdadm); the syntax follows the module version (see ../drbdadm). */
import { drbdadmCommands } from "../drbdadm";
import type { DrbdCommands } from "../types";

export const drbd8Commands: DrbdCommands = drbdadmCommands(8);
