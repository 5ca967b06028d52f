import type { ExecutionArgs } from 'graphql';
import { getOperationAST } from 'graphql';
import type { Disposable } from 'graphql-ws';
import { isAsyncIterable, mapAsyncIterator } from 'graphql-yoga';
import type { YogaServerInstance } from 'graphql-yoga';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Authenticate, AuthUser } from '../../define/context';
import { LiveError } from '../../errors';
import { DIRECT_DELIVERY } from '../../live/delivery/direct-target';
import { resolveCaller } from '../auth';
import type { Revalidation } from '../revalidation';
import { clientErrors, formatError } from '../error-format';
import { slabEncoder } from './frame-writer';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import { TOO_MANY_CONNECTIONS } from './connection-limits';
import { useGraphqlWs } from './graphql-ws';
import { SocketTarget, type SocketTransport } from './socket-target';

/**
 * Key under which the WebSocket caller travels into yoga's context function.
 * A symbol, so no client-supplied field can impersonate it.
 */
export const WS_USER = Symbol('typeorm-graphql-live.wsUser');

/** What graphql-ws keeps per connection in `ctx.extra` (besides the socket). */
interface ConnectionExtra extends Record<PropertyKey, unknown> {
  user: AuthUser | null;
  /** When the connection's credential ends (ms since the epoch), and the timer that ends the connection then. */
  expiresAt?: number;
  expiry?: NodeJS.Timeout;
  /** Operations refused on this connection for being over its limit. */
  refusals?: number;
}

/** Refusals (over `maxOperations`) after which a connection is closed with 4429: a client that keeps sending them is flooding. */
const MAX_REFUSALS = 10;

type Enveloped = ReturnType<YogaServerInstance<any, any>['getEnveloped']>;

/**
 * The recipe's trick: the enveloped execute/subscribe ride along in
 * rootValue — and, for subscriptions, the direct target a live
 * subscription field may take instead of yielding results to graphql-ws.
 */
type EnvelopedArgs = ExecutionArgs & {
  rootValue: { execute: Enveloped['execute']; subscribe: Enveloped['subscribe']; [DIRECT_DELIVERY]?: SocketTarget };
};

export interface WebSocketTransportOptions {
  authenticate: Authenticate;
  /** Same switch as yoga's `maskedErrors`; also hides internal messages in close reasons. */
  maskedErrors: boolean;
  /** Operations one connection may run at once (`ServeOptions.maxSubscriptionsPerConnection`). */
  maxOperations: number;
  /** ms a connection may take to send `connection_init` (`ServeOptions.connectionInitTimeout`). */
  connectionInitTimeout: number;
  /** Messages per connection and second (`ServeOptions.maxMessagesPerSecond`). */
  maxMessagesPerSecond: number;
  /** Operations started per client address and window (`ServeOptions.subscribeRatePerAddress`); false: unbounded. */
  subscribeRate: { max: number; seconds: number } | false;
  /** Revalidates signed-in connections (`ServeOptions.revalidate`). */
  revalidation?: Revalidation;
}

/**
 * Serves graphql-ws (`graphql-transport-ws`) on `wss` through yoga's envelop,
 * following yoga's graphql-ws recipe, so WebSocket operations share the
 * parse/validate cache, the context function, plugins and error masking
 * with HTTP and SSE. Authentication happens once per connection, in
 * `onConnect`.
 *
 * graphql-ws runs the protocol (init, auth, subscribe, validation, errors,
 * complete, ping, close codes) for every operation. Results of the live
 * subscription fields take a shorter way: graphql-ws would execute,
 * serialize and send each event once per subscriber, through a promise chain
 * per subscriber; instead the engine executes and serializes once per
 * delivery class, and each subscriber's {@link SocketTarget} writes the
 * shared JSON inside its own `next` frame. Subscribe-time errors, the end
 * of a subscription and SLOW_CONSUMER still travel through graphql-ws.
 */
export function useWebSocketTransport(
  yoga: YogaServerInstance<any, any>,
  wss: WebSocketServer,
  { authenticate, maskedErrors, maxOperations, connectionInitTimeout, revalidation, subscribeRate, maxMessagesPerSecond }: WebSocketTransportOptions,
): Disposable {
  /**
   * Errors that escape envelop (a subscription source that throws mid-stream,
   * a context factory that rejects) would otherwise close the socket with
   * 4500 and the raw message; report them as GraphQL errors, masked like HTTP.
   */
  const toClientError = clientErrors(maskedErrors, (error) => yoga.logger.error(error));
  const started = subscribeRate && subscribeRate.max !== Infinity ? new RateLimiterMemory({ points: subscribeRate.max, duration: subscribeRate.seconds }) : undefined;
  /** Counts a refusal; the tenth on one connection closes it with 4429, after the refusals already decided have gone out. */
  const refuse = (extra: Partial<ConnectionExtra> & { socket: WebSocket }, error: LiveError): LiveError[] => {
    extra.refusals = (extra.refusals ?? 0) + 1;
    if (extra.refusals === MAX_REFUSALS) setImmediate(() => extra.socket.close(TOO_MANY_CONNECTIONS, 'Too many operations'));
    return [error];
  };

  const direct: SocketTransport = {
    serialize: (result) =>
      JSON.stringify(result.errors?.length ? { ...result, errors: result.errors.map((error) => formatError(toClientError(error))) } : result),
    failure: (error) => ({ value: { errors: [toClientError(error)] }, done: false }),
    encode: slabEncoder(),
  };

  return useGraphqlWs<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      // In production mode internal error messages stay out of close reasons.
      isProd: maskedErrors,
      connectionInitWaitTimeout: connectionInitTimeout,
      maxMessagesPerSecond,

      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const caller = await resolveCaller(params.authorization ?? params.Authorization, authenticate);
        if (caller.refused !== undefined) {
          yoga.logger.debug(`WebSocket connection refused: ${caller.refused}`);
          return false; // graphql-ws closes with 4403 Forbidden
        }
        ctx.extra.user = caller.user;
        if (caller.expiresAt !== undefined) {
          ctx.extra.expiresAt = caller.expiresAt;
          ctx.extra.expiry = expireAt(caller.expiresAt, () => endConnection(ctx.extra.socket, Object.keys(ctx.subscriptions), EXPIRED_MESSAGE));
        }
        if (revalidation && caller.user && caller.token) {
          const socket = ctx.extra.socket;
          revalidation.watch(caller.token, caller.user, {
            get closed() {
              return socket.readyState !== socket.OPEN;
            },
            revoke: () => {
              // Nothing more runs on it: operations arriving before the close are refused too.
              ctx.extra.expiresAt = Date.now();
              endConnection(socket, Object.keys(ctx.subscriptions), REVOKED_MESSAGE);
            },
          });
        }
        return true;
      },

      onClose: (ctx) => {
        clearTimeout(ctx.extra.expiry);
      },

      onSubscribe: async (ctx, id, payload) => {
        if (ctx.extra.expiresAt !== undefined && ctx.extra.expiresAt <= Date.now()) {
          return [new LiveError('UNAUTHENTICATED', EXPIRED_MESSAGE)];
        }
        // graphql-ws holds a place for every operation from its subscribe message on, this one included.
        if (Object.keys(ctx.subscriptions).length > maxOperations) {
          return refuse(ctx.extra, new LiveError('LIMIT_EXCEEDED', `At most ${maxOperations} operations at once on one connection`, { limit: 'subscriptionsPerConnection' }));
        }
        if (started) {
          const limited = await started.consume(ctx.extra.address ?? 'unknown').then(() => undefined, (res: RateLimiterRes) => res);
          if (limited) {
            const retryAfter = Math.max(1, Math.ceil(limited.msBeforeNext / 1000));
            return refuse(ctx.extra, new LiveError('RATE_LIMITED', `Too many operations started from this address: retry in ${retryAfter} s`, { retryAfter }));
          }
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          [WS_USER]: { user: ctx.extra.user ?? null, expiresAt: ctx.extra.expiresAt, address: ctx.extra.address },
          connectionParams: ctx.connectionParams,
          socket: ctx.extra.socket,
          params: payload,
        });
        try {
          // parse throws a GraphQLError on bad syntax: answer it, don't drop the socket.
          const document = parse(payload.query);
          const errors = validate(schema, document);
          if (errors.length > 0) return errors;
          const args: EnvelopedArgs = {
            schema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue: await contextFactory(),
            rootValue: { execute, subscribe },
          };
          if (getOperationAST(document, payload.operationName)?.operation === 'subscription') {
            args.rootValue[DIRECT_DELIVERY] = new SocketTarget(ctx.extra.socket, id, payload, args, direct);
          }
          return args;
        } catch (error) {
          return [toClientError(error)];
        }
      },

      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args),

      subscribe: async (args) => {
        const { rootValue } = args as EnvelopedArgs;
        const result = await rootValue.subscribe(args);
        if (!isAsyncIterable(result)) return result;
        // A live field took the direct target: graphql-ws follows the subscriber itself (see
        // SocketTarget). The wrappers around the field's result are dropped unstarted: yoga's
        // plugins hook nothing into the end of a stream, only into its results and errors.
        const target = rootValue[DIRECT_DELIVERY];
        if (target?.following) return target;
        return mapAsyncIterator(result, (value) => value, (error: unknown) => ({ errors: [toClientError(error)] }));
      },

      // Serialize errors the way yoga's HTTP result processor does, so a
      // client sees the same error on every transport.
      onError: (_ctx, _id, _payload, errors) => errors.map(formatError),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors?.length ? { ...result, errors: result.errors.map(formatError) } : undefined,
    },
    wss,
  );
}

/** The close code of a connection whose credential expired (graphql-ws's Forbidden). */
export const EXPIRED = 4403;

/** Runs `then` at `at` (ms since the epoch); timers longer than Node's maximum are re-armed. */
function expireAt(at: number, then: () => void): NodeJS.Timeout {
  const timer = setTimeout(() => (Date.now() >= at ? then() : void expireAt(at, then)), Math.min(Math.max(at - Date.now(), 0), 2_147_483_647));
  timer.unref();
  return timer;
}

const EXPIRED_MESSAGE = 'The token expired: connect again with a new one';
const REVOKED_MESSAGE = 'The credential was revoked: sign in again';

/**
 * The credential of a connection expired or was revoked: every running
 * operation gets an UNAUTHENTICATED error (so a client knows to sign in
 * again), then the socket is closed with 4403 — nothing more runs on it.
 */
function endConnection(socket: WebSocket, operations: string[], message: string): void {
  if (socket.readyState !== socket.OPEN) return;
  const payload = [{ message, extensions: { code: 'UNAUTHENTICATED' } }];
  for (const id of operations) socket.send(JSON.stringify({ id, type: 'error', payload }));
  socket.close(EXPIRED, message === EXPIRED_MESSAGE ? 'Forbidden: token expired' : 'Forbidden: credential revoked');
}
