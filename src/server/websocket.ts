import type { ExecutionArgs, GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import type { Disposable } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createGraphQLError, isAsyncIterable, mapAsyncIterator, maskError } from 'graphql-yoga';
import type { YogaServerInstance } from 'graphql-yoga';
import type { WebSocketServer } from 'ws';
import type { AuthUser } from '../define/context';
import { resolveCaller, type Authenticate } from './auth';

/**
 * Key under which the WebSocket caller travels into yoga's context function.
 * A symbol, so no client-supplied field can impersonate it.
 */
export const WS_USER = Symbol('typeorm-graphql-live.wsUser');

/** What graphql-ws keeps per connection in `ctx.extra` (besides socket and request). */
interface ConnectionExtra extends Record<PropertyKey, unknown> {
  user: AuthUser | null;
}

type Enveloped = ReturnType<YogaServerInstance<any, any>['getEnveloped']>;

/** The recipe's trick: the enveloped execute/subscribe ride along in rootValue. */
type EnvelopedArgs = ExecutionArgs & {
  rootValue: { execute: Enveloped['execute']; subscribe: Enveloped['subscribe'] };
};

export interface WebSocketTransportOptions {
  authenticate: Authenticate;
  /** Same switch as yoga's `maskedErrors`; also hides internal messages in close reasons. */
  maskedErrors: boolean;
}

/**
 * Serves graphql-ws (`graphql-transport-ws`) on `wss` through yoga's envelop,
 * following yoga's graphql-ws recipe, so WebSocket operations share the
 * parse/validate cache, the context function, plugins and error masking
 * with HTTP and SSE. Authentication happens once per connection, in
 * `onConnect`.
 */
export function useWebSocketTransport(
  yoga: YogaServerInstance<any, any>,
  wss: WebSocketServer,
  { authenticate, maskedErrors }: WebSocketTransportOptions,
): Disposable {
  /**
   * Errors that escape envelop (a subscription source that throws mid-stream,
   * a context factory that rejects) would otherwise close the socket with
   * 4500 and the raw message; report them as GraphQL errors, masked like HTTP.
   */
  const toClientError = (error: unknown): GraphQLError => {
    const masked = maskedErrors ? maskError(error, 'Unexpected error.') : error;
    if (masked !== error) yoga.logger.error(error);
    if (masked instanceof GraphQLError) return masked;
    return createGraphQLError(masked instanceof Error ? masked.message : String(masked));
  };

  return useServer<Record<string, unknown> | undefined, ConnectionExtra>(
    {
      // In production mode useServer keeps internal error messages out of close reasons.
      isProd: maskedErrors,

      onConnect: async (ctx) => {
        const params = ctx.connectionParams ?? {};
        const caller = await resolveCaller(params.authorization ?? params.Authorization, authenticate);
        if (caller.refused !== undefined) {
          yoga.logger.debug(`WebSocket connection refused: ${caller.refused}`);
          return false; // graphql-ws closes with 4403 Forbidden
        }
        ctx.extra.user = caller.user;
        return true;
      },

      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          [WS_USER]: ctx.extra.user ?? null,
          connectionParams: ctx.connectionParams,
          req: ctx.extra.request,
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
          return args;
        } catch (error) {
          return [toClientError(error)];
        }
      },

      execute: (args) => (args as EnvelopedArgs).rootValue.execute(args),

      subscribe: async (args) => {
        const result = await (args as EnvelopedArgs).rootValue.subscribe(args);
        if (!isAsyncIterable(result)) return result;
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

/**
 * yoga tags errors with server-side hints — `http` (a status for HTTP
 * responses) and `unexpected` (masked) — and strips them when it answers
 * over HTTP; they mean nothing on a socket either.
 */
function formatError(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  const formatted = error instanceof GraphQLError ? error.toJSON() : error;
  if (!formatted.extensions) return formatted;
  const { http: _http, unexpected: _unexpected, ...extensions } = formatted.extensions;
  const { extensions: _all, ...rest } = formatted;
  return Object.keys(extensions).length > 0 ? { ...rest, extensions } : rest;
}
