import { LiveError } from '../../errors';
import { EndingStream } from './ending-stream';

/**
 * A bounded async iterator: the engine pushes synchronously, graphql-ws
 * pulls. A subscriber that falls more than `limit` events behind is ended
 * with a SLOW_CONSUMER error and its queue freed, so one stalled socket
 * cannot grow the server's memory. `onEnd` runs exactly once, however it
 * ends (client complete, socket close, overflow).
 */
export class BoundedQueue<T> extends EndingStream<T> {
  private items: T[] = [];

  constructor(private readonly limit: number, private readonly onEnd: () => void, private readonly beforeYield?: () => void) {
    super();
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.isWaiting) {
      this.beforeYield?.();
      this.resolveWaiting(item);
    } else if (this.items.length >= this.limit) this.fail(slowConsumer(this.limit));
    else this.items.push(item);
  }

  get size(): number {
    return this.items.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (!this.items.length) return super.next();
    this.beforeYield?.();
    return Promise.resolve({ value: this.items.shift()!, done: false });
  }

  protected onFinish(): void {
    this.items = [];
    this.onEnd();
  }
}

/** The error a subscriber that fell more than `limit` events behind is ended with. */
export function slowConsumer(limit: number): LiveError {
  return new LiveError('SLOW_CONSUMER', `Subscriber fell more than ${limit} events behind and was ended`);
}

/** The same for a WebSocket subscriber, whose bound is bytes its connection holds unsent. */
export function slowConnection(bytes: number): LiveError {
  return new LiveError('SLOW_CONSUMER', `Subscriber's connection held more than ${bytes} bytes unsent and it was ended`);
}
