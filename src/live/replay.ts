import type { EntityMetadata } from 'typeorm';
import type { ChangeLog } from '../change/change-log';
import { afterTransaction, parseCursor, type Cursor } from '../change/cursor';
import { BadUserInputError, LiveError } from '../errors';
import type { ResourceModel } from '../model/resource-model';
import type { LiveEvent, Publish } from './events';
import type { Pipeline } from './pipeline';
import type { Router } from './router';

/**
 * Resuming: a subscriber that passes `after: cursor` first gets the changes
 * it missed, routed again for it alone, then live ones — no gap, no
 * duplicate. Needs a change log (database capture's outbox).
 */
export class Replayer {
  private log: ChangeLog | undefined;
  /** The log position of the last transaction routed live. */
  private routed: bigint | undefined;

  constructor(private readonly pipeline: Pipeline, private readonly router: Router) {}

  use(log: ChangeLog): void {
    this.log = log;
  }

  /** A transaction at this log position has been routed live. */
  routedThrough(position: bigint): void {
    this.routed = position;
  }

  /**
   * Checks a client's `after` before it subscribes: BAD_USER_INPUT when it is
   * malformed or changes are not logged (ORM capture), CURSOR_EXPIRED when
   * the log no longer has what follows it.
   */
  async cursor(after: string): Promise<Cursor> {
    if (!this.log) throw new BadUserInputError('Resuming with `after` needs database capture (LIVE_CAPTURE=database)', { field: 'after' });
    const cursor = parseCursor(after);
    if (!(await this.log.retains(cursor))) {
      throw new LiveError('CURSOR_EXPIRED', 'The cursor is older than the changes kept for resuming: refetch, then subscribe without `after`');
    }
    return cursor;
  }

  /**
   * A resuming subscriber's catch-up, run in the pipeline so no change is
   * routed meanwhile: the log's transactions after `after`, up to the last
   * one routed live, routed again for this subscriber alone (with the
   * permissions and related rows of now), then `done()` — after which it
   * receives live events, which all come later.
   */
  replay(
    model: ResourceModel, paths: string[], topicName: string, after: Cursor,
    deliver: (event: LiveEvent) => void, ended: () => boolean, done: (error?: unknown) => void,
  ): void {
    const log = this.log!;
    // The changes that can reach this topic: its own table's, and those of rows its policy reads.
    const tables = new Set([model.metadata, ...paths.map((p) => model.metadata.relations.find((r) => r.propertyName === p.split('.')[0])?.inverseEntityMetadata)]
      .filter((m): m is EntityMetadata => m !== undefined));
    const only: Publish = (name, event) => {
      if (name === topicName) deliver(event);
    };
    void this.pipeline.enqueue([async () => {
      try {
        const upto = this.routed ?? log.position.position;
        let from = after;
        while (!ended()) {
          const batch = await log.readTransactions(from, upto, 100, tables);
          if (!batch.length) break;
          for (const { position, changes } of batch) {
            for (const change of changes) await this.router.route(change, only);
            from = afterTransaction(position);
          }
        }
        done();
      } catch (error) {
        done(error);
      }
    }]);
  }
}
