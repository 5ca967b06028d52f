import type { EntityMetadata } from 'typeorm';
import type { ChangeLog } from '../change/change-log';
import { atOrAfter, parseCursor, type Cursor } from '../change/cursor';
import { BadUserInputError, LiveError } from '../errors';
import type { ResourceModel } from '../model/resource-model';
import type { LiveEvent, Publish } from './events';
import type { Pipeline } from './pipeline';
import type { Router } from './router';

/** Transactions a replay reads and routes in one turn of the pipeline. */
const PAGE = 50;

/**
 * Resuming: a subscriber that passes `after: cursor` first gets the changes
 * it missed, routed again for it alone, then live ones — no gap, no
 * duplicate. Needs a change log (database capture's outbox).
 *
 * A replay never holds up live delivery: it runs a page at a time, each
 * page one turn of the pipeline, queued behind whatever live work arrived
 * meanwhile. Its cost is bounded: only the tables the subscriber's topic
 * can be reached from are read, and a cursor more than `maxTransactions`
 * behind is refused with CURSOR_EXPIRED (the client refetches, which is
 * cheaper than replaying that much).
 */
export class Replayer {
  private log: ChangeLog | undefined;
  /** The last change routed live. */
  private routed: Cursor | undefined;

  constructor(private readonly pipeline: Pipeline, private readonly router: Router, private readonly maxTransactions = 10_000) {}

  use(log: ChangeLog): void {
    this.log = log;
  }

  /** The change at this cursor has been routed live. */
  routedThrough(cursor: Cursor): void {
    this.routed = cursor;
  }

  /**
   * Checks a client's `after` before it subscribes: BAD_USER_INPUT when it is
   * malformed or changes are not logged (ORM capture), CURSOR_EXPIRED when
   * the log no longer has what follows it.
   */
  async cursor(after: string): Promise<Cursor> {
    if (!this.log) throw new BadUserInputError('Resuming with `after` needs database capture (LIVE_CAPTURE=database)', { field: 'after' });
    const cursor = parseCursor(after);
    const behind = (this.routed ?? this.log.position).position - cursor.position;
    if (behind > BigInt(this.maxTransactions) || !(await this.log.retains(cursor))) {
      throw new LiveError('CURSOR_EXPIRED', 'The cursor is older than the changes kept for resuming: refetch, then subscribe without `after`');
    }
    return cursor;
  }

  /**
   * A resuming subscriber's catch-up: the log's transactions after `after`,
   * routed again for this subscriber alone, a page per turn of the
   * pipeline. Each page reads up to the last transaction routed live so far
   * (live events routed between pages are not delivered to the paused
   * subscriber: the next page reads them from the log). The page that
   * reaches it calls `done()` in the same turn, so the subscriber receives
   * live events from exactly the next transaction on.
   */
  replay(
    model: ResourceModel, paths: string[], topicName: string, after: Cursor,
    deliver: (event: LiveEvent) => void, ended: () => boolean, done: (error?: unknown) => void,
  ): void {
    const log = this.log!;
    // The changes that can reach this topic: its own table's, and those of rows its policy reads.
    const tables = new Set([model.metadata, ...paths.map((p) => model.metadata.relations.find((r) => r.propertyName === p.split('.')[0])?.inverseEntityMetadata)]
      .filter((m): m is EntityMetadata => m !== undefined));
    // Resuming inside a change's burst of dependent events: the change is routed again, and what the client had is skipped.
    const inside = after.part !== undefined;
    const only: Publish = (name, event) => {
      if (name !== topicName) return;
      if (inside && event.cursor && !atOrAfter(parseCursor(event.cursor), { ...after, part: after.part! + 1 })) return;
      deliver(event);
    };
    let from: Cursor = inside ? { position: after.position, seq: after.seq - 1n } : after;
    const page = async (): Promise<void> => {
      try {
        if (ended()) return done();
        const upto = this.routed ?? log.position;
        const batch = await log.readTransactions(from, upto, PAGE, tables);
        for (const { changes, through } of batch) {
          for (const change of changes) await this.router.route(change, only);
          from = through;
        }
        // Through what was routed live (or nothing left to read): the subscriber goes live in this same turn.
        const last = batch[batch.length - 1];
        if (!last || atOrAfter(last.through, upto)) return done();
        // More to read: behind the live work queued meanwhile.
        void this.pipeline.enqueue([page]);
      } catch (error) {
        done(error);
      }
    };
    void this.pipeline.enqueue([page]);
  }
}
