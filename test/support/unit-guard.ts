/**
 * Setup file of the `unit` vitest project: a unit test opens no socket (Redis, SSH, HTTP, even on
 * loopback) and starts no process. Each attempt throws at once with the way out, so a test that lands
 * in the wrong project fails loudly instead of hanging or passing by luck. Which project a file runs
 * in is decided by vitest.config.ts from what the file and its test helpers use.
 */
import childProcess, { ChildProcess } from "node:child_process";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import { expect } from "vitest";

function refuse(what: string): never {
  const file = expect.getState().testPath ?? "this test file";
  throw new Error(
    `${file} is a unit test but tried to ${what}. Unit tests use no Redis, SSH, sockets or child ` +
      "processes. If it needs them, it is an integration test: see INTEGRATION_MARKERS in vitest.config.ts for the markers " +
      "that send a file to the integration project, or add the comment `// test-project: integration`.",
  );
}

net.Socket.prototype.connect = function connect(this: net.Socket, ...args: unknown[]): never {
  // net.connect() hands over [options, callback]; a direct call gives (options | port[, host] | path).
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const o = (typeof first === "object" && first !== null ? first : {}) as Record<string, unknown>;
  const target = o.path ?? (o.port !== undefined ? `${o.host ?? "localhost"}:${o.port}` : String(first));
  refuse(`open a connection to ${String(target)}`);
} as typeof net.Socket.prototype.connect;

net.Server.prototype.listen = function listen(): never {
  refuse("listen on a socket");
} as typeof net.Server.prototype.listen;

// spawn, exec, execFile and fork all go through ChildProcess#spawn (internal, so not in the types).
Object.assign(ChildProcess.prototype, {
  spawn(options: { file?: string }): never {
    refuse(`start a process (${options?.file ?? "?"})`);
  },
});

for (const name of ["spawnSync", "execSync", "execFileSync"] as const) {
  Object.assign(childProcess, {
    [name]: (file: unknown) => refuse(`start a process (${String(file)})`),
  });
}
// The ESM named exports of a builtin (import { execSync } from "node:child_process") follow the patch.
syncBuiltinESMExports();
