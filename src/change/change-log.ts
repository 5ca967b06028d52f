import type { EntityMetadata } from 'typeorm';
import type { Cursor } from './cursor';
import type { RowChange } from './row-change';

/**
 * One committed transaction of the log — or, for a transaction larger than
 * a read may hold, a part of it: its position and its changes, collapsed
 * per row (within the part), and where reading goes on.
 */
export interface LoggedTransaction {
  position: bigint;
  changes: RowChange[];
  /** The cursor after what was read of it: after the transaction, or inside it when only a part was. */
  through: Cursor;
}

/**
 * What the live engine needs of a change log to resume subscribers: owned
 * here, implemented by a capture that keeps history (database capture's
 * outbox reader).
 */
export interface ChangeLog {
  /** Just after the last change handed to the engine. */
  readonly position: Cursor;
  /**
   * Transactions after `after` (within the transaction of `after` itself,
   * only the changes after it), up to the change `upto`, at most `limit` of
   * them and a bounded number of changes (the last one then partial, see
   * `through`); with `tables`, only changes of those tables.
   */
  readTransactions(after: Cursor, upto: Cursor | undefined, limit: number, tables?: Set<EntityMetadata>): Promise<LoggedTransaction[]>;
  /** Whether every change after `cursor` is still kept (false once pruning may have removed some). */
  retains(cursor: Cursor): Promise<boolean>;
}
