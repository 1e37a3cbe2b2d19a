#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so an installed checkout needs no build step.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register();
await import(join(dirname(fileURLToPath(import.meta.url)), "..", "src", "cli", "main.ts"));
