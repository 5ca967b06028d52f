import type { IncomingMessage } from 'node:http';
import type { WebSocket, WebSocketServer } from 'ws';

/** Close code for a refused connection: too many from one address (graphql-ws leaves 4400–4499 to applications). */
export const TOO_MANY_CONNECTIONS = 4429;

/**
 * At most `max` open WebSockets per client address: one more is closed at
 * once with 4429. Counted from the TCP peer (`remoteAddress`); behind a
 * proxy every client shares the proxy's address, so raise the bound there.
 */
export function limitConnectionsPerAddress(wss: WebSocketServer, max: number): void {
  const open = new Map<string, number>();
  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const address = request.socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    open.set(address, count);
    socket.on('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
    if (count > max) socket.close(TOO_MANY_CONNECTIONS, 'Too many connections');
  });
}
