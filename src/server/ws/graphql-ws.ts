import { CloseCode, DEPRECATED_GRAPHQL_WS_PROTOCOL, handleProtocols, makeServer, type ConnectionInitMessage, type Disposable, type ServerOptions, type WebSocket as GraphqlWsSocket } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';

/** What graphql-ws's `ctx.extra` holds for a connection here: the socket, nothing else. */
export interface SocketExtra {
  readonly socket: WebSocket;
  /** The client's address (the TCP peer of the upgrade request). */
  readonly address: string | undefined;
}

export type GraphqlWsOptions<P extends ConnectionInitMessage['payload'], E extends Record<PropertyKey, unknown>> = ServerOptions<P, SocketExtra & Partial<E>> & {
  /** Keep internal error messages out of close reasons. Defaults to `NODE_ENV === 'production'`. */
  isProd?: boolean;
  /**
   * Messages one connection may send within a second; one more closes it
   * with 4429 at once, and what else it had sent is not handled. Default 200.
   */
  maxMessagesPerSecond?: number;
};

/** Close code of a connection that sent too much (graphql-ws leaves 4400–4499 to applications). */
const TOO_MANY = 4429;

/**
 * graphql-ws's server on a `ws` WebSocketServer: graphql-ws's own
 * `useServer` (graphql-ws/use/ws, which invites copying it), keeping less
 * per connection.
 *
 * graphql-ws holds a connection's `extra`, and the handler of the message
 * that started an operation, for as long as the operation runs — for a
 * subscription, its whole life. There, `extra` also held the HTTP upgrade
 * request (with all its headers, used by nothing after the upgrade),
 * and each message handler was an async function whose suspended frame kept
 * the message's Buffer. Here `extra` is the socket alone, and a handler
 * keeps only its promise.
 *
 * Everything else is as in the original: protocol negotiation, keep-alive
 * pings every `keepAlive` ms (a socket that does not answer within the next
 * `keepAlive` ms is terminated), close codes and reasons, logging, dispose.
 */
export function useGraphqlWs<P extends ConnectionInitMessage['payload'] = ConnectionInitMessage['payload'], E extends Record<PropertyKey, unknown> = Record<PropertyKey, never>>(
  options: GraphqlWsOptions<P, E>,
  wss: WebSocketServer,
  keepAlive = 12_000,
): Disposable {
  const isProd = typeof options.isProd === 'boolean' ? options.isProd : process.env.NODE_ENV === 'production';
  const server = makeServer(options);
  const closeReason = (error: unknown): string => {
    if (isProd) return 'Internal server error';
    const message = error instanceof Error ? error.message : String(error);
    return message.length < 124 ? message : 'Internal server error'; // close reasons are limited to 123 bytes
  };

  wss.options.handleProtocols = handleProtocols;
  wss.once('error', (error) => {
    console.error('Internal error emitted on the WebSocket server. Please check your implementation.', error);
    let firstError: unknown = null;
    for (const client of wss.clients) {
      try {
        client.close(CloseCode.InternalServerError, closeReason(error));
      } catch (closeError) {
        firstError ??= closeError;
      }
    }
    if (firstError) throw firstError;
  });

  wss.on('connection', (socket, request) => {
    const connection = new Connection(socket, closeReason, keepAlive, options.maxMessagesPerSecond ?? 200);
    const closed = server.opened(connection, { socket, address: request.socket.remoteAddress } as SocketExtra & Partial<E>);
    // ws emits 'close' once; `on` spares the wrapper `once` would keep per connection.
    socket.on('close', (code, reason) => {
      connection.stopKeepAlive();
      if (!isProd && code === CloseCode.SubprotocolNotAcceptable && socket.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) {
        console.warn(
          `Client provided the unsupported and deprecated subprotocol "${socket.protocol}" used by subscriptions-transport-ws.` +
            'Please see https://www.apollographql.com/docs/apollo-server/data/subscriptions/#switching-from-subscriptions-transport-ws.',
        );
      }
      void closed(code, String(reason));
    });
  });

  return {
    dispose: async () => {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/**
 * One connection as graphql-ws's server sees it. Methods on a class rather
 * than closures per connection: fewer objects, and under tsx (esbuild's
 * `keepNames`) every named closure also gets a property dictionary of its
 * own, about 250 bytes.
 */
class Connection implements GraphqlWsSocket {
  readonly protocol: string;
  private pongWait: NodeJS.Timeout | null = null;
  private readonly pingInterval: NodeJS.Timeout | null;
  /** Messages received in the current second, and when that second began. */
  private received = 0;
  private since = 0;

  constructor(private readonly socket: WebSocket, private readonly closeReason: (error: unknown) => string, keepAlive: number, private readonly maxPerSecond: number) {
    this.protocol = socket.protocol;
    socket.once('error', (error) => {
      // A client that broke the WebSocket protocol (a frame over maxPayload: 1009, a bad frame: 1002) is
      // closed by ws with the right code already; that is the client's fault, not worth a log line each.
      if (String((error as NodeJS.ErrnoException).code).startsWith('WS_ERR_')) return;
      console.error('Internal error emitted on a WebSocket socket. Please check your implementation.', error);
      socket.close(CloseCode.InternalServerError, closeReason(error));
    });
    this.pingInterval = keepAlive > 0 && isFinite(keepAlive) ? setInterval(() => this.ping(keepAlive), keepAlive) : null;
  }

  send(data: string): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState !== this.socket.OPEN) return resolve();
      this.socket.send(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    const failed = this.failed.bind(this);
    // Frames still arriving after we closed (a flood) are not handled: the connection is over.
    this.socket.on('message', (data) => {
      if (this.socket.readyState !== this.socket.OPEN) return;
      // Counted as they arrive, synchronously: a burst is cut within the very chunk that carries it.
      const now = Date.now();
      if (now - this.since >= 1000) {
        this.since = now;
        this.received = 0;
      }
      if (++this.received > this.maxPerSecond) return this.socket.close(TOO_MANY, 'Too many messages');
      void handle(String(data)).catch(failed);
    });
  }

  stopKeepAlive(): void {
    if (this.pongWait) clearTimeout(this.pongWait);
    if (this.pingInterval) clearInterval(this.pingInterval);
  }

  private ping(keepAlive: number): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.pongWait = setTimeout(() => this.socket.terminate(), keepAlive);
    this.socket.once('pong', () => {
      if (this.pongWait) {
        clearTimeout(this.pongWait);
        this.pongWait = null;
      }
    });
    this.socket.ping();
  }

  private failed(error: unknown): void {
    console.error('Internal error occurred during message handling. Please check your implementation.', error);
    this.socket.close(CloseCode.InternalServerError, this.closeReason(error));
  }
}
