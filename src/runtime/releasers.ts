/**
 * What a runtime has started, to be stopped in reverse order (Grafast's
 * `makePgService` habit): the last thing started is the first one stopped,
 * so nothing is stopped while something started after it still uses it.
 * Every releaser runs even when an earlier one fails; the first failure is
 * rethrown at the end.
 */
export class Releasers {
  private readonly stack: (() => void | Promise<void>)[] = [];
  private released: Promise<void> | undefined;

  add(release: () => void | Promise<void>): void {
    this.stack.push(release);
  }

  /** Runs every releaser once, newest first; later calls return the same promise. */
  release(): Promise<void> {
    return (this.released ??= (async () => {
      let failure: { error: unknown } | undefined;
      while (this.stack.length) {
        try {
          await this.stack.pop()!();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure) throw failure.error;
    })());
  }
}
