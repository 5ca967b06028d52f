import type { EntityMetadata } from 'typeorm';
import type { Cursor } from './cursor';
import type { RowChange } from './row-change';

/** One committed transaction of the log: its position and its changes, collapsed per row. */
export interface LoggedTransaction {
  position: bigint;
  changes: RowChange[];
}

/**
 * What the live engine needs of a change log to resume subscribers: owned
 * here, implemented by a capture that keeps history (database capture's
 * outbox reader).
 */
export interface ChangeLog {
  /** Just after the last transaction handed to the engine. */
  readonly position: Cursor;
  /**
   * Whole transactions after `after` (within the transaction of `after`
   * itself, only the changes after it), up to position `upto`, at most
   * `limit`; with `tables`, only changes of those tables.
   */
  readTransactions(after: Cursor, upto: bigint | undefined, limit: number, tables?: Set<EntityMetadata>): Promise<LoggedTransaction[]>;
  /** Whether every change after `cursor` is still kept (false once pruning may have removed some). */
  retains(cursor: Cursor): Promise<boolean>;
}
