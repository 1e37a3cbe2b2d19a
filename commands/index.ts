/** Every `/xen` verb, in the order help lists them. Adding a verb: one file here and one line below. */
import type { CommandSpec } from "../src/core/spec";
import { helpCommand } from "./help";
import { statusCommand } from "./status";

export const commands: readonly CommandSpec[] = [statusCommand, helpCommand];
