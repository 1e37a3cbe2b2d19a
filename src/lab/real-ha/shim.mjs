// The simulated `xm` / `drbdadm` of a real-HA lab node: heartbeat's resource scripts run inside the
// node's namespaces and call this, which hands the command to the simulator's node over the lab's
// control socket (a Unix socket: the node's network namespace has no route to the lab's loopback).
// Plain Node, no dependencies: it starts quickly and needs nothing from the project at run time.
//
//   node shim.mjs NODE SOCKET TOKEN_FILE PROGRAM [ARG...]
import { readFileSync } from "node:fs";
import { request } from "node:http";

const [node, socketPath, tokenFile, ...argv] = process.argv.slice(2);
const quote = (w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);

function main() {
  if (!node || !socketPath || !tokenFile || argv.length === 0) {
    process.stderr.write("usage: shim.mjs NODE SOCKET TOKEN_FILE PROGRAM [ARG...]\n");
    process.exit(2);
  }
  const body = JSON.stringify({ node, command: argv.map(quote).join(" ") });
  const token = readFileSync(tokenFile, "utf8").trim();
  const req = request(
    {
      socketPath,
      path: "/exec",
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    },
    (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        let data;
        try {
          data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          data = {};
        }
        if (res.statusCode !== 200 || typeof data.exitCode !== "number") {
          process.stderr.write(`${argv[0]}: simulator refused: ${data.error ?? res.statusCode}\n`);
          process.exit(255);
        }
        process.stdout.write(data.stdout ?? "", () =>
          process.stderr.write(data.stderr ?? "", () => process.exit(data.exitCode)),
        );
      });
    },
  );
  req.on("error", (e) => {
    process.stderr.write(`${argv[0]}: simulator unreachable: ${e.message}\n`);
    process.exit(255);
  });
  req.end(body);
}

main();
