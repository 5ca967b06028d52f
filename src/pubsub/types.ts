/**
 * How routed events travel from capture to subscribers. In-process by
 * default; a Redis transport implements the same two methods for several
 * server processes. Listeners are called only for the exact topic they asked
 * for, in publish order.
 */
export interface PubSub<E = unknown> {
  publish(topic: string, event: E): void;
  /** Returns the function that stops listening. */
  subscribe(topic: string, listener: (event: E) => void): () => void;
  close?(): Promise<void>;
}
