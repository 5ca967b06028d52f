import type { DocumentNode, ExecutionArgs, ExecutionResult, GraphQLFormattedError } from 'graphql';
import { execute as executeGraphQL, getOperationAST, GraphQLError, Kind, visit } from 'graphql';
import type { Disposable } from 'graphql-ws';
import { createGraphQLError, isAsyncIterable, isPromise, mapAsyncIterator, maskError } from 'graphql-yoga';
import type { YogaServerInstance } from 'graphql-yoga';
import type { Socket } from 'node:net';
import { WebSocket, type WebSocketServer } from 'ws';
import type { AuthUser, LiveContext } from '../define/context';
import { DIRECT_DELIVERY, type DirectMember, type DirectTarget } from '../live/delivery';
import { resolveCaller, type Authenticate } from './auth';
import { useGraphqlWs } from './graphql-ws';

/**
 * Key under which the WebSocket caller travels into yoga's context function.
 * A symbol, so no client-supplied field can impersonate it.
 */
export const WS_USER = Symbol('typeorm-graphql-live.wsUser');

/** What graphql-ws keeps per connection in `ctx.extra` (besides the socket). */
interface ConnectionExtra extends Record<PropertyKey, unknown> {
  user: AuthUser | null;
}

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

      onSubscribe: async (ctx, id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          [WS_USER]: ctx.extra.user ?? null,
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

/** What every {@link SocketTarget} of a transport shares. */
interface SocketTransport {
  /** A subscription result as the JSON of a `next` payload, errors masked and formatted as {@link onNext} does. */
  serialize(result: ExecutionResult): string;
  /** How a stream failure reaches the client: a `next` with the masked error (then the stream is done, and graphql-ws completes). */
  failure(error: unknown): IteratorResult<ExecutionResult>;
  /** A subscription's lasting bytes (its message prefix), see {@link slabEncoder}. */
  encode(text: string): Buffer;
}

/**
 * Encodes small strings that live as long as a subscription into slabs of
 * their own. `Buffer.from` would cut them from Node's shared 8 kB pool, and
 * each would then keep its whole pool slab alive — mostly other, long dead
 * buffers: 1.3 kB per subscriber measured, more than the subscriber's own
 * objects. Here a slab holds only such prefixes.
 */
function slabEncoder(slabSize = 2048): (text: string) => Buffer {
  let slab = Buffer.allocUnsafeSlow(0);
  let used = 0;
  return (text) => {
    const length = Buffer.byteLength(text);
    if (length > slabSize / 8) {
      // Rare (a very long operation id): a buffer of its own.
      const bytes = Buffer.allocUnsafeSlow(length);
      bytes.write(text);
      return bytes;
    }
    if (used + length > slab.length) {
      slab = Buffer.allocUnsafeSlow(slabSize);
      used = 0;
    }
    const bytes = slab.subarray(used, used + length);
    bytes.write(text);
    used += length;
    return bytes;
  };
}

/** The subscribe message's payload, as graphql-ws parsed it. */
type SubscribePayload = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };

/**
 * One subscription operation on its socket, offered to the live field as
 * its {@link DirectTarget}.
 *
 * Writing: the graphql-ws `next` message around a result rendered once for
 * its whole class. On an uncompressed connection (ours: the server does not
 * offer permessage-deflate) it writes the WebSocket text frame itself, in
 * one piece — frame header, this operation's `{"id":…,"payload":` prefix
 * (encoded once, at subscribe time), the shared result, `}` — straight to
 * the connection's TCP socket: per subscriber and event that is one small
 * copy and one write, instead of ws's string encoding, header buffer, cork,
 * two-buffer writev and callback. Frames go to the same socket, in the same
 * order, as ws's own (which writes through at once when not compressing).
 * With compression negotiated it falls back to `ws.send`. `unflushed` is
 * estimated from the bytes the TCP socket still holds, in messages of the
 * last size sent: the engine bounds it like a queue.
 *
 * Ending: once the subscriber has joined its class, this is also what
 * graphql-ws iterates for the operation. The subscriber's stream yields
 * nothing and only ends or fails, so graphql-ws follows it directly, not
 * through graphql-js's, envelop's and our own iterator wrappers, each of
 * which would hold a pending `next()` for the life of every subscription.
 * A failure is masked and sent as the wrappers would (yoga's masking is
 * idempotent, so masking once here gives the same bytes and log).
 *
 * It holds only what it needs per subscriber: the operation's key and
 * renderer are derived, when the subscriber joins, from the arguments
 * graphql-ws keeps for the operation anyway.
 */
class SocketTarget implements DirectTarget, AsyncIterableIterator<ExecutionResult> {
  private readonly head: Buffer;
  private readonly raw: Socket | undefined;
  private lastFrame = 1;
  private member: DirectMember | undefined;

  constructor(
    private readonly socket: WebSocket,
    id: string,
    private readonly payload: SubscribePayload,
    private readonly args: ExecutionArgs,
    private readonly transport: SocketTransport,
  ) {
    this.head = transport.encode(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
    const internals = socket as unknown as { _socket?: Socket; _extensions?: Record<string, unknown> };
    this.raw = internals._socket && Object.keys(internals._extensions ?? {}).length === 0 ? internals._socket : undefined;
  }

  get operationKey(): string {
    const { query, operationName, variables } = this.payload;
    return JSON.stringify([query, operationName ?? null, withoutResumeCursor(this.args.document, operationName, variables)]);
  }

  /**
   * Executes the operation for one event, as graphql-js's `subscribe` does
   * per event (`rootValue` is the event's payload), and serializes the
   * result. Made once per class; it keeps nothing of this subscriber.
   */
  get render(): DirectTarget['render'] {
    const { schema, document, operationName, variableValues } = this.args;
    const { serialize } = this.transport;
    return (root: unknown, contextValue: LiveContext) => {
      const result = executeGraphQL({ schema, document, rootValue: root, contextValue, variableValues, operationName });
      return isPromise(result) ? result.then(serialize) : serialize(result);
    };
  }

  get unflushed(): number {
    const buffered = this.raw ? this.raw.writableLength : this.socket.bufferedAmount;
    return Math.ceil(buffered / this.lastFrame);
  }

  /** Whether graphql-ws should iterate this target instead of the field's (wrapped) result. */
  get following(): boolean {
    return this.member !== undefined;
  }

  joined(member: DirectMember): void {
    this.member = member;
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.member!.next().then(undefined, this.transport.failure);
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    return this.member!.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  send(json: Buffer): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const length = this.head.length + json.length + 1;
    if (!this.raw) {
      this.lastFrame = length;
      this.socket.send(Buffer.concat([this.head, json, CLOSE_BRACE], length), { binary: false });
      return;
    }
    const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(header + length);
    frame[0] = 0x81; // FIN, text
    if (header === 2) frame[1] = length;
    else if (header === 4) {
      frame[1] = 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(length, 6);
    }
    this.head.copy(frame, header);
    json.copy(frame, header + this.head.length);
    frame[frame.length - 1] = 0x7d; // }
    this.lastFrame = frame.length;
    this.raw.write(frame);
  }
}

const CLOSE_BRACE = Buffer.from('}');

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

/**
 * The variables that decide what an operation's results look like: all but
 * the one that only carries the root field's `after` cursor, so clients that
 * resume from different cursors still share a delivery class once live.
 */
function withoutResumeCursor(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (!variables) return null;
  const root = getOperationAST(document, operationName)?.selectionSet.selections[0];
  const arg = root?.kind === Kind.FIELD ? root.arguments?.find((a) => a.name.value === 'after') : undefined;
  if (arg?.value.kind !== Kind.VARIABLE || !(arg.value.name.value in variables)) return variables;
  const name = arg.value.name.value;
  let uses = 0;
  visit(document, { Variable: (node) => void (node.name.value === name && uses++), VariableDefinition: () => false });
  if (uses !== 1) return variables;
  const { [name]: _cursor, ...rest } = variables;
  return rest;
}
