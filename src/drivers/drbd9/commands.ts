/** DRBD 9 mutations (drbdadm, 8.4+ syntax); see ../drbdadm. */
import { drbdadmCommands } from "../drbdadm";
import type { DrbdCommands } from "../types";

export const drbd9Commands: DrbdCommands = drbdadmCommands(9);
