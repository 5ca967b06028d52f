import { LiveError } from '../errors';

/**
 * A bounded async iterator: the engine pushes synchronously, graphql-ws
 * pulls. A subscriber that falls more than `limit` events behind is ended
 * with a SLOW_CONSUMER error and its queue freed, so one stalled socket
 * cannot grow the server's memory. `onEnd` runs exactly once, however it
 * ends (client complete, socket close, overflow).
 */
export class BoundedQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  private error: unknown;

  constructor(private readonly limit: number, private readonly onEnd: () => void, private readonly beforeYield?: () => void) {}

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = undefined;
      this.beforeYield?.();
      resolve({ value: item, done: false });
      return;
    }
    if (this.items.length >= this.limit) {
      this.error = slowConsumer(this.limit);
      this.items = [];
      this.finish();
      return;
    }
    this.items.push(item);
  }

  /** Ends the queue with `error`: a waiting or the next `next()` rejects with it, then the queue is done. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.error = error;
    this.items = [];
    this.finish();
  }

  /** Ended, however (complete, close, overflow, failure). */
  get closed(): boolean {
    return this.ended;
  }

  get size(): number {
    return this.items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length) {
      this.beforeYield?.();
      return Promise.resolve({ value: this.items.shift()!, done: false });
    }
    if (this.error) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.items = [];
    this.error = undefined;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.items = [];
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    if (this.waiting) {
      const resolve = this.waiting;
      const reject = this.failWaiting!;
      this.waiting = this.failWaiting = undefined;
      if (this.error) {
        const error = this.error;
        this.error = undefined;
        reject(error);
      } else resolve({ value: undefined, done: true });
    }
  }
}

/** The error a subscriber that fell more than `limit` events behind is ended with. */
export function slowConsumer(limit: number): LiveError {
  return new LiveError('SLOW_CONSUMER', `Subscriber fell more than ${limit} events behind and was ended`);
}
