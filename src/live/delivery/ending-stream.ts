const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * The ending half of a subscriber's stream, shared by a subscriber's own
 * bounded queue and the members of a delivery class: `next()` waits until something is
 * handed to it or the stream ends; `return()` (client complete, socket
 * close) and `fail(error)` end it exactly once — `onFinish` runs then — and
 * a failure rejects the pending or the next `next()` once, after which the
 * stream is done.
 */
export abstract class EndingStream<T> implements AsyncIterableIterator<T> {
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;
  private ended = false;
  /** The error it ended with, until a `next()` has rejected with it. */
  private error: unknown = undefined;

  /** Runs once when the stream ends, however it ends, before a waiting `next()` settles. */
  protected abstract onFinish(): void;

  /** Ended, however (complete, close, overflow, failure). */
  get closed(): boolean {
    return this.ended;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
  }

  /** Whether a `next()` is waiting for a value. */
  protected get isWaiting(): boolean {
    return this.waiting !== undefined;
  }

  /** Hands `value` to the waiting `next()` (check {@link isWaiting} first). */
  protected resolveWaiting(value: T): void {
    const resolve = this.waiting!;
    this.waiting = this.failWaiting = undefined;
    resolve({ value, done: false });
  }

  /** Ends the stream with `error`: a waiting or the next `next()` rejects with it. */
  fail(error: unknown): void {
    this.finish(error);
  }

  return(): Promise<IteratorResult<T>> {
    this.error = undefined;
    this.finish(undefined);
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.finish(undefined);
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.onFinish();
    const { waiting, failWaiting } = this;
    this.waiting = this.failWaiting = undefined;
    if (error === undefined) waiting?.(DONE);
    else if (failWaiting) failWaiting(error);
    else this.error = error;
  }
}
