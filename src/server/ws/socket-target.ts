import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { execute as executeGraphQL } from 'graphql';
import { isPromise } from 'graphql-yoga';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { LiveContext } from '../../define/context';
import type { EndingStream } from '../../live/delivery/ending-stream';
import type { DirectTarget } from '../../live/delivery/direct-target';
import { operationKey } from '../../live/operation-key';
import { rawSocketOf, textFrame } from './frame-writer';

/** What every {@link SocketTarget} of a transport shares. */
export interface SocketTransport {
  /** A subscription result as the JSON of a `next` payload, errors masked and formatted as the transport's `onNext` does. */
  serialize(result: ExecutionResult): string;
  /** How a stream failure reaches the client: a `next` with the masked error (then the stream is done, and graphql-ws completes). */
  failure(error: unknown): IteratorResult<ExecutionResult>;
  /** A subscription's lasting bytes (its message prefix), see {@link slabEncoder}. */
  encode(text: string): Buffer;
}


/** The subscribe message's payload, as graphql-ws parsed it. */
export type SubscribePayload = { query: string; operationName?: string | null; variables?: Record<string, unknown> | null };


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
 * With compression negotiated it falls back to `ws.send`. `unflushedBytes`
 * is what the TCP socket (or ws) still holds for the connection: the engine
 * bounds it in bytes.
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
export class SocketTarget implements DirectTarget, AsyncIterableIterator<ExecutionResult> {
  private readonly head: Buffer;
  private readonly raw: Socket | undefined;
  private member: EndingStream<never> | undefined;

  constructor(
    private readonly socket: WebSocket,
    id: string,
    private readonly payload: SubscribePayload,
    private readonly args: ExecutionArgs,
    private readonly transport: SocketTransport,
  ) {
    this.head = transport.encode(`{"id":${JSON.stringify(id)},"type":"next","payload":`);
    this.raw = rawSocketOf(socket);
  }

  get operationKey(): string {
    const { operationName, variables } = this.payload;
    return operationKey(this.args.document, operationName, variables);
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

  get unflushedBytes(): number {
    return this.raw ? this.raw.writableLength : this.socket.bufferedAmount;
  }

  /** Whether graphql-ws should iterate this target instead of the field's (wrapped) result. */
  get following(): boolean {
    return this.member !== undefined;
  }

  joined(member: EndingStream<never>): void {
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
    if (!this.raw) {
      const length = this.head.length + json.length + 1;
      this.socket.send(Buffer.concat([this.head, json, CLOSE_BRACE], length), { binary: false });
      return;
    }
    this.raw.write(textFrame(this.head, json));
  }
}

const CLOSE_BRACE = Buffer.from('}');
