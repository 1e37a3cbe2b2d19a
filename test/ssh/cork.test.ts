/** corkPerTick: a tick's writes leave together, in order, and nothing waits past the tick. */
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { corkPerTick } from "../../src/ssh/cork";

describe("corkPerTick", () => {
  it("holds the writes of one tick, sends them in order at its end, and corks each tick anew", async () => {
    const server = createServer();
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    const accepted = once(server, "connection") as Promise<[Socket]>;
    const client = connect(address.port, "127.0.0.1");
    await once(client, "connect");
    const [peer] = await accepted;
    let received = "";
    peer.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8");
    });
    try {
      corkPerTick(client);
      client.write("a");
      client.write("b");
      expect(client.writableCorked).toBe(1);
      client.write("c");
      await new Promise((resolve) => process.nextTick(resolve));
      expect(client.writableCorked).toBe(0);
      client.write("d");
      expect(client.writableCorked).toBe(1);
      await new Promise((resolve) => setImmediate(resolve));
      expect(client.writableCorked).toBe(0);
      client.end("e");
      await once(peer, "end");
      expect(received).toBe("abcde");
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});
