import type { EntityMetadata } from 'typeorm';
import type { Cursor } from './cursor';

export type RowOp = 'insert' | 'update' | 'delete';

/**
 * One committed change of one row, however it was captured. `before` and
 * `after` are column snapshots keyed by entity property (no relations):
 * insert has only `after`, delete only `before`. Exception: a row deleted by
 * ON DELETE CASCADE carries the row it went with as its loaded relation,
 * since that row is gone by the time the change is routed.
 */
export interface RowChange {
  metadata: EntityMetadata;
  op: RowOp;
  id: string | number;
  before?: Record<string, unknown>;
  after?: Record<string, unknown>;
  /** Where the change sits in a change log (database capture), exposed to clients as `XChange.cursor`. */
  cursor?: Cursor;
}

/**
 * Where a capture hands committed changes: one transaction's, in commit
 * order. A promise makes the capture wait (database capture reads on only
 * when the engine has taken them).
 */
export type ChangeSink = (changes: RowChange[]) => void | Promise<void>;

/** Column values of an entity object, keyed by property: a copy that later mutations of the entity cannot change. */
export function snapshot(metadata: EntityMetadata, entity: Record<string, any> | undefined | null): Record<string, unknown> | undefined {
  if (!entity) return undefined;
  const out: Record<string, unknown> = {};
  for (const column of metadata.columns) {
    const value = column.getEntityValue(entity);
    if (value !== undefined) out[column.propertyName] = value instanceof Date ? new Date(value.getTime()) : value;
  }
  return out;
}

export function rowKey(metadata: EntityMetadata, id: string | number): string {
  return `${metadata.name}:${String(id)}`;
}

/**
 * Several changes of one row in one transaction become one, as DCRF does:
 * insert+update → insert with the last state, insert+delete → nothing,
 * update+update → one update from the first `before` to the last `after`,
 * delete+insert → update.
 */
export function collapse(changes: RowChange[]): RowChange[] {
  const byRow = new Map<string, RowChange | null>();
  for (const change of changes) {
    const key = rowKey(change.metadata, change.id);
    const prev = byRow.get(key);
    if (prev === undefined) {
      byRow.set(key, change);
      continue;
    }
    // Re-insert keeps the row's place in commit order at its last change.
    byRow.delete(key);
    if (prev === null) {
      byRow.set(key, change);
    } else if (prev.op === 'insert') {
      byRow.set(key, change.op === 'delete' ? null : { ...change, op: 'insert', before: undefined });
    } else if (prev.op === 'update') {
      byRow.set(key, { ...change, before: prev.before });
    } else {
      byRow.set(key, change.op === 'insert' ? { ...change, op: 'update', before: prev.before } : change);
    }
  }
  return [...byRow.values()].filter((c): c is RowChange => c !== null);
}
