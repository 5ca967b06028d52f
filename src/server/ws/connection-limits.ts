import type { IncomingMessage } from 'node:http';
import type { WebSocketServer } from 'ws';

/** Close code for a refused connection: too many from one address (graphql-ws leaves 4400–4499 to applications). */
export const TOO_MANY_CONNECTIONS = 4429;

/**
 * Bounds per client address. At most `rate.max` WebSockets opened per
 * `rate.seconds` (a client reconnecting in a loop): decided on the HTTP
 * upgrade request, before the handshake and before graphql-ws sees the
 * socket, so a refusal costs next to nothing — answered HTTP 429 (a
 * browser sees a failed connection; its client's retry backoff takes
 * over). At most `max` open at once: one more is accepted and closed with
 * 4429, so the client learns why. Counted from the TCP peer
 * (`remoteAddress`); behind a proxy every client shares the proxy's
 * address, so raise the bounds there.
 */
export function connectionLimits(max: number, rate: { max: number; seconds: number } | false = false) {
  const open = new Map<string, number>();
  const windows = new Map<string, { start: number; count: number }>();
  const windowMs = rate ? rate.seconds * 1000 : 0;
  let swept = Date.now();
  return {
    /** ws's `verifyClient`: whether to accept this upgrade (429 otherwise). */
    verifyClient: (info: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void): void => {
      const address = info.req.socket.remoteAddress ?? 'unknown';
      if (rate && rate.max !== Infinity) {
        const now = Date.now();
        if (now - swept > windowMs) {
          // Forget addresses whose window is over, so the map holds only recent ones.
          for (const [key, w] of windows) if (now - w.start >= windowMs) windows.delete(key);
          swept = now;
        }
        let w = windows.get(address);
        if (!w || now - w.start >= windowMs) windows.set(address, (w = { start: now, count: 0 }));
        if (++w.count > rate.max) return done(false, 429, 'Too many new connections: retry later');
      }
      done(true);
    },
    /** Counts an accepted socket until it closes. */
    track(wss: WebSocketServer): void {
      wss.on('connection', (socket, request) => {
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
    },
  };
}
