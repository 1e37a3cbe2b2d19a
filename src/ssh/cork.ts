/** Socket writes sent together. */
import type { Socket } from "node:net";

/**
 * Holds a socket's writes until the end of the tick and sends them together. ssh2 writes every SSH
 * packet on its own, and a command's start or end is several (open, exec request; exit status, EOF,
 * close): each would otherwise be a system call of its own.
 */
export function corkPerTick(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]) => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as Socket["write"];
}
