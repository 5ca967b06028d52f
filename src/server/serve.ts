import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createYoga, type GraphiQLOptions, type LogLevel, type YogaInitialContext, type YogaLogger, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Authenticate, AuthUser, LiveContext } from '../define/context';
import { UnauthenticatedError } from '../errors';
import type { LiveRuntime } from '../runtime/create-live-runtime';
import { resolveCaller } from './auth';
import { limitPlugins, noIntrospection, type OperationLimits } from './limits';
import { maskServerError } from './error-format';
import { Revalidation, type Revalidate } from './revalidation';
import { connectionLimits } from './ws/connection-limits';
import { useWebSocketTransport, WS_USER } from './ws/transport';

/** Node's request/response pair, which yoga passes as its server context. */
export interface NodeServerContext {
  req: IncomingMessage;
  res: ServerResponse;
}

/**
 * The part of a {@link LiveRuntime} the transports need: they only adapt, so
 * they never look at resources or models.
 */
export type ServedSchema = Pick<LiveRuntime, 'schema' | 'createContext'>;

export interface ServeOptions {
  /**
   * TCP port to listen on. `0` picks a free port; read it back from
   * {@link LiveServer.port}.
   *
   * @default 4000
   */
  port?: number;
  /**
   * Interface to bind, e.g. `'127.0.0.1'`.
   *
   * @default undefined // every interface
   */
  host?: string;
  /**
   * The one endpoint for HTTP queries, SSE subscriptions, GraphiQL and the
   * WebSocket.
   *
   * @default '/graphql'
   */
  path?: string;
  /**
   * Resolves the token of `Authorization: Bearer <token>` (HTTP and SSE) or
   * of the `connection_init` payload `{ authorization: 'Bearer <token>' }`
   * (WebSocket) to a user. Requests without a credential are anonymous and
   * never reach this function.
   *
   * Returning `null` or throwing refuses the token: HTTP answers 401 with
   * `extensions.code = 'UNAUTHENTICATED'`, the WebSocket is closed with
   * `4403: Forbidden`.
   */
  authenticate: Authenticate;
  /**
   * Serve GraphiQL on GET requests that accept HTML. Subscriptions typed
   * into it run over the WebSocket. `false` turns it off; an object is
   * passed to yoga's GraphiQL.
   *
   * @default process.env.NODE_ENV !== 'production'
   */
  graphiql?: boolean | GraphiQLOptions;
  /**
   * Answer introspection (`__schema`, `__type`); `__typename` always works.
   *
   * @default process.env.NODE_ENV !== 'production'
   */
  introspection?: boolean;
  /**
   * Depth, aliases, tokens, directives and cost of one operation, on every
   * transport; see {@link OperationLimits} for each default. `false` turns
   * them off.
   *
   * @default {}
   */
  limits?: OperationLimits | false;
  /**
   * Largest HTTP request body: a larger one is answered 413 with
   * `LIMIT_EXCEEDED` before it is read (and a POST without a length, 411).
   *
   * @default 65536 // bytes
   */
  maxBodyBytes?: number;
  /**
   * Largest WebSocket message: a larger one closes the socket with 1009
   * (message too big).
   *
   * @default 65536 // bytes
   */
  maxMessageBytes?: number;
  /**
   * Operations one WebSocket may run at once; one more is refused with
   * `LIMIT_EXCEEDED`.
   *
   * @default 100
   */
  maxSubscriptionsPerConnection?: number;
  /**
   * Open WebSockets per client address; one more is closed with 4429.
   *
   * @default 100
   */
  maxConnectionsPerAddress?: number;
  /**
   * WebSockets a client address may open per window (a client that
   * reconnects in a loop); one more is closed with 4429. `false`: unbounded.
   *
   * @default { max: 100, seconds: 10 }
   */
  connectRatePerAddress?: { max: number; seconds: number } | false;
  /**
   * Operations (subscribe messages) a client address may start per window
   * on its WebSockets; over it, RATE_LIMITED with `retryAfter`, and a
   * connection refused ten times is closed with 4429. Stops a client that
   * reconnects and resubscribes in a loop. `false`: unbounded.
   *
   * @default { max: 1000, seconds: 10 }
   */
  subscribeRatePerAddress?: { max: number; seconds: number } | false;
  /**
   * WebSocket messages one connection may send within a second; one more
   * closes it with 4429 at once and nothing else it sent is handled
   * (graphql-ws clients send a few: subscribe, complete, pong).
   *
   * @default 200
   */
  maxMessagesPerSecond?: number;
  /**
   * ms a WebSocket may take to send `connection_init`; then it is closed
   * with 4408.
   *
   * @default 3000
   */
  connectionInitTimeout?: number;
  /**
   * Asked every `revalidateInterval` whether each signed-in caller holding a
   * WebSocket or an SSE stream may go on (once per distinct token): `false`
   * revokes it — its operations get UNAUTHENTICATED and its WebSocket closes
   * with 4403, its SSE streams end with UNAUTHENTICATED. For a password
   * changed, an account locked or deleted. HTTP requests are checked by
   * `authenticate` anyway; make it refuse the same tokens.
   */
  revalidate?: Revalidate;
  /**
   * ms between revalidations.
   *
   * @default 60000
   */
  revalidateInterval?: number;
  /**
   * yoga's logger: `true` logs at `'info'`, `false` is silent, a level name,
   * or your own logger. Masked errors are logged here with their stack.
   *
   * @default true
   */
  logging?: boolean | YogaLogger | LogLevel;
  /**
   * Hide unexpected errors (anything that is not a `GraphQLError`) from
   * clients as `Unexpected error.` with `extensions.code =
   * 'INTERNAL_SERVER_ERROR'`, on every transport. `false` shows raw messages;
   * use it only in development.
   *
   * @default true
   */
  maskedErrors?: boolean;
  /**
   * How long `close()` waits for in-flight HTTP requests before cutting
   * them. Open SSE subscriptions and WebSockets are ended at once.
   *
   * @default 5000 // milliseconds
   */
  shutdownTimeout?: number;
  /**
   * Called by `close()` after both transports have stopped; a good place to
   * stop change capture. A rejection is passed on to the caller of `close()`.
   */
  onClose?: () => void | Promise<void>;
}

export interface LiveServer {
  /** The HTTP endpoint, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** The WebSocket endpoint, e.g. `ws://localhost:4000/graphql`. */
  wsUrl: string;
  /** The port actually bound (useful with `port: 0`). */
  port: number;
  httpServer: Server;
  yoga: YogaServerInstance<NodeServerContext, LiveContext>;
  /**
   * Stops accepting connections, closes every WebSocket with `1001: Going
   * away`, ends open SSE streams, waits for in-flight requests (up to
   * `shutdownTimeout`), disposes yoga and runs `onClose`. Safe to call twice.
   * The DataSource is left open: the caller owns it.
   */
  close(): Promise<void>;
}

/**
 * Serves a live schema ({@link ServedSchema}) on one port: queries, mutations and SSE
 * subscriptions over HTTP (graphql-yoga), everything over WebSocket
 * (graphql-ws), GraphiQL on GET. Prints nothing; log `url` yourself.
 *
 * @example
 * const server = await serveLiveSchema(live, {
 *   port: 4000,
 *   authenticate: (token) => verifyToken(token), // AuthUser | null
 * });
 * console.log(`GraphQL on ${server.url}`);
 * process.on('SIGTERM', () => server.close());
 */
export async function serveLiveSchema(live: ServedSchema, options: ServeOptions): Promise<LiveServer> {
  const {
    port = 4000,
    host,
    path = '/graphql',
    authenticate,
    graphiql = process.env.NODE_ENV !== 'production',
    introspection = process.env.NODE_ENV !== 'production',
    limits = {},
    maxBodyBytes = 65_536,
    maxMessageBytes = 65_536,
    maxSubscriptionsPerConnection = 100,
    maxConnectionsPerAddress = 100,
    connectionInitTimeout = 3000,
    subscribeRatePerAddress = { max: 1000, seconds: 10 },
    connectRatePerAddress = { max: 100, seconds: 10 },
    maxMessagesPerSecond = 200,
    revalidate,
    revalidateInterval = 60_000,
    logging = true,
    maskedErrors = true,
    shutdownTimeout = 5000,
    onClose,
  } = options;

  let revalidation: Revalidation | undefined;
  const yoga = createYoga<NodeServerContext, LiveContext>({
    schema: live.schema,
    graphqlEndpoint: path,
    logging,
    maskedErrors: maskedErrors && { maskError: maskServerError },
    landingPage: false,
    plugins: [...limitPlugins(limits), ...(introspection ? [] : [noIntrospection()])],
    graphiql: graphiql === false ? false : { subscriptionsProtocol: 'WS', ...(graphiql === true ? {} : graphiql) },
    // The one place a LiveContext is made, for HTTP, SSE and WebSocket alike.
    context: async (initial: YogaInitialContext & Partial<NodeServerContext> & { [WS_USER]?: { user: AuthUser | null; expiresAt?: number; address?: string } }) => {
      const ws = initial[WS_USER];
      if (ws) return withAddress(live.createContext(ws.user, ws.expiresAt), ws.address);
      const caller = await resolveCaller(initial.request.headers.get('authorization'), authenticate);
      if (caller.refused !== undefined) {
        yoga.logger.debug(`HTTP request refused: ${caller.refused}`);
        throw new UnauthenticatedError(caller.refused); // 401 via extensions.http
      }
      const ctx = withAddress(live.createContext(caller.user, caller.expiresAt), initial.req?.socket.remoteAddress);
      const { user, token } = caller;
      if (revalidation && user && token) ctx.watchCredential = (held) => revalidation!.watch(token, user, held);
      return ctx;
    },
  });
  if (revalidate) revalidation = new Revalidation(revalidate, revalidateInterval, (error) => yoga.logger.error(error));

  // SSE responses never finish on their own; remember them so close() can end them.
  const eventStreams = new Set<ServerResponse>();
  const httpServer = createServer((req, res) => {
    const refused = bodyRefusal(req, maxBodyBytes);
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: refused.message, extensions: { code: 'LIMIT_EXCEEDED' } }] }));
      return;
    }
    if (req.headers.accept?.includes('text/event-stream')) {
      eventStreams.add(res);
      res.once('close', () => eventStreams.delete(res));
    }
    void yoga(req, res);
  });
  const perAddress = connectionLimits(maxConnectionsPerAddress, connectRatePerAddress);
  const wss = new WebSocketServer({ server: httpServer, path, maxPayload: maxMessageBytes, verifyClient: perAddress.verifyClient });
  perAddress.track(wss);
  const graphqlWs = useWebSocketTransport(yoga, wss, { authenticate, maskedErrors, maxOperations: maxSubscriptionsPerConnection, connectionInitTimeout, revalidation, subscribeRate: subscribeRatePerAddress, maxMessagesPerSecond });

  try {
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(port, host, () => {
        httpServer.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    revalidation?.close();
    await graphqlWs.dispose();
    await yoga.dispose();
    throw error;
  }

  const bound = (httpServer.address() as AddressInfo).port;
  const authority = `${urlHost(host)}:${bound}`;
  let closing: Promise<void> | undefined;

  const close = async (): Promise<void> => {
    revalidation?.close();
    // Stop accepting first, so nothing new arrives while we drain.
    const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
    httpServer.closeIdleConnections();
    for (const res of eventStreams) res.destroy();
    // graphql-ws's dispose sends 1001 to every client and waits for their
    // close handshakes; a peer that never answers would hold us up to ws's
    // own 30 s, so cut stragglers after the grace period.
    const straggler = setTimeout(() => wss.clients.forEach((socket) => socket.terminate()), shutdownTimeout);
    const cutRequests = setTimeout(() => httpServer.closeAllConnections(), shutdownTimeout);
    try {
      await graphqlWs.dispose();
      await httpClosed;
    } finally {
      clearTimeout(straggler);
      clearTimeout(cutRequests);
    }
    await yoga.dispose();
    await onClose?.();
  };

  return {
    url: `http://${authority}${path}`,
    wsUrl: `ws://${authority}${path}`,
    port: bound,
    httpServer,
    yoga,
    close: () => (closing ??= close()),
  };
}

function withAddress(ctx: LiveContext, address: string | undefined): LiveContext {
  if (address !== undefined) ctx.address = address;
  return ctx;
}

/** Why a request body is refused before it is read: over `max` bytes (413), or a POST that does not say how long it is (411). */
function bodyRefusal(req: IncomingMessage, max: number): { status: number; message: string } | undefined {
  if (req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH') return undefined;
  const length = req.headers['content-length'];
  if (length === undefined) {
    return req.headers['transfer-encoding'] ? { status: 411, message: 'A request body must give its Content-Length' } : undefined;
  }
  return Number(length) > max ? { status: 413, message: `Request body over ${max} bytes` } : undefined;
}

/** A host for URLs: wildcard binds are reached via localhost, IPv6 needs brackets. */
function urlHost(host: string | undefined): string {
  if (!host || host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
