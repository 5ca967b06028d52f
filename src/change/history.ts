import type { EntityMetadata } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { RowChange } from './row-change';

/** A row's column values keyed by entity property, or null: the row did not exist. */
export type RowState = Record<string, unknown> | null;

/**
 * Rows as they were at a point of the change stream, for routing. The
 * engine routes one committed change at a time; by then the database may
 * already hold later commits (a list turned private after a task moved out
 * of it). Deciding membership and visibility with those later states would
 * send a subscriber nothing for a row it was shown. So every related row a
 * policy reads, and every row that points at a changed row, is taken as it
 * was just after the change being routed: the captures know what committed
 * since (the outbox; ORM capture's committed-but-not-routed changes).
 *
 * Owned by the engine, implemented by each capture.
 */
export interface RowHistory {
  /** The rows of `metadata` with these primary keys as of just after `at` (now when `at` is undefined), by `String(id)`. */
  rowsAsOf(metadata: EntityMetadata, ids: (string | number)[], at: RowChange | undefined): Promise<Map<string, RowState>>;
  /** The rows of `dependant` whose many-to-one `relation` pointed at row `id` of its target just after `at`, in primary-key order. */
  dependentsAsOf(dependant: EntityMetadata, relation: RelationMetadata, id: string | number, at: RowChange): Promise<Record<string, unknown>[]>;
  /** `change` has been routed: it no longer lies between the routing position and now. */
  routed?(change: RowChange): void;
}
