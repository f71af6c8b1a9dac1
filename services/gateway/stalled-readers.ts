import type http from 'node:http';
import type net from 'node:net';

/**
 * Closes connections whose client stopped reading: bytes are waiting to be written and none has
 * gone out for `idleMs`. Node's own socket timeout does not fire while a write is pending, so a
 * reader that never reads would otherwise hold its connection (and its file stream) for ever.
 * Memory is bounded either way (streams respect backpressure); this bounds time and sockets.
 *
 * @returns a function that stops the sweeper (for shutdown).
 */
export function closeStalledReaders(server: http.Server, idleMs: number, everyMs = Math.min(1_000, idleMs)): () => void {
  const sockets = new Map<net.Socket, { written: number; since: number }>();
  server.on('connection', (socket: net.Socket) => {
    sockets.set(socket, { written: socket.bytesWritten, since: Date.now() });
    socket.once('close', () => sockets.delete(socket));
  });
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [socket, last] of sockets) {
      const written = socket.bytesWritten;
      if (written !== last.written || socket.writableLength === 0) {
        last.written = written;
        last.since = now;
      } else if (now - last.since >= idleMs) {
        socket.destroy();
      }
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
