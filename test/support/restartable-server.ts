import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A test upstream's HTTP server: started on any free port, stopped and started again on the same one (an upstream outage). */
export abstract class RestartableServer {
  /** The address it listens on (a network namespace's address in the topology tests). */
  host = '127.0.0.1';
  protected port = 0;
  private server?: http.Server;

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): void;

  async start(port = this.port): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(port, this.host, resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and drops open connections (the port is kept for a restart). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
