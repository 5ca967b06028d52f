import type { LiveContext } from '../../define/context';
import type { EndingStream } from './ending-stream';

/**
 * Shared delivery: subscribers that would compute the same bytes for every
 * event form one class and compute them once.
 *
 * A transport that can write serialized results straight to a client (the
 * WebSocket) offers a {@link DirectTarget} for each subscription operation;
 * a live subscription field that accepts it joins the subscriber to the
 * delivery class (./delivery-class.ts) of its topic, operation and visibility. Per event,
 * the class decides once whether its members get anything, executes the
 * operation once, serializes the result once, and hands the same JSON to
 * every member — per member only the transport's framing (the operation id)
 * and the write remain.
 */

/**
 * Where a transport puts the {@link DirectTarget} of an operation: a key of
 * the operation's `rootValue`, which the subscription field's `subscribe`
 * receives as its first argument. A symbol, so no client input can forge it.
 */
export const DIRECT_DELIVERY = Symbol('typeorm-graphql-live.directDelivery');

/** The direct target a transport offered for this operation, if any (`root` is the subscribe resolver's first argument). */
export function directTargetOf(root: unknown): DirectTarget | undefined {
  return root !== null && typeof root === 'object' ? (root as { [DIRECT_DELIVERY]?: DirectTarget })[DIRECT_DELIVERY] : undefined;
}

/** A subscription operation that a transport can feed serialized results directly. */
export interface DirectTarget {
  /**
   * The operation's document, operation name and variables: members whose
   * keys are equal (and whose visibility is equal) share one execution.
   * Read when the subscriber joins.
   */
  readonly operationKey: string;
  /**
   * Executes the operation for one event, `root` being what the
   * subscription field resolves to, and returns the result as JSON — errors
   * masked and formatted as the transport sends them. Read once, from the
   * member that creates the class; called once per class and event, with a
   * member's context.
   */
  readonly render: (root: unknown, ctx: LiveContext) => string | Promise<string>;
  /** Sends one rendered result (the JSON as UTF-8, encoded once for the class) to this subscriber. */
  send(json: Buffer): void;
  /** Bytes handed to the transport for this subscriber's connection (all its operations) that have not left the process yet. */
  readonly unflushedBytes: number;
  /**
   * The subscriber has joined its class. `member` is the subscription's
   * stream — what the subscription field returns — so a transport may
   * follow it itself (it only ends or fails) instead of through the
   * wrappers around the field's result.
   */
  joined?(member: EndingStream<never>): void;
}

