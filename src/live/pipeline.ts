/**
 * The one ordered lane of the engine: changes are routed, custom events
 * published and replays run one after another, each after everything queued
 * before it. A failing item is reported, not fatal, and does not stop the
 * items behind it.
 */
export class Pipeline {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Runs `work` in order behind everything queued so far; resolves when the last item has run. */
  enqueue(work: (() => Promise<void>)[]): Promise<void> {
    this.tail = this.tail.then(async () => {
      for (const item of work) {
        try {
          await item();
        } catch (error) {
          this.onError(error);
        }
      }
    });
    return this.tail;
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }
}
