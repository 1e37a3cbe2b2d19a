/** The package version for `xenops --version`: fixed at build time in the bundle, else read from package.json. */
import { readFileSync } from "node:fs";

declare const __XENOPS_VERSION__: string | undefined;

export function xenopsVersion(): string {
  if (typeof __XENOPS_VERSION__ === "string") return __XENOPS_VERSION__;
  // Running from source (tsx): src/cli/version.ts → ../../package.json.
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}
