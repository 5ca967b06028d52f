import { rowKey, type RowChange } from './row-change';

/**
 * A row deleted in the same transaction as the row its many-to-one relation
 * points at (ON DELETE CASCADE, or both removed explicitly) carries that row,
 * as it was, as its loaded relation: when the change is routed the related
 * row is gone, and read policies that look through the relation
 * (`{ list: { private: false } }`) must still see it. Mutates and returns
 * `changes`; one rule for every capture.
 */
export function carryDeletedParents(changes: RowChange[]): RowChange[] {
  const deleted = new Map<string, Record<string, unknown>>();
  for (const change of changes) {
    if (change.op === 'delete' && change.before) deleted.set(rowKey(change.metadata, change.id), change.before);
  }
  if (deleted.size < 2) return changes;
  for (const change of changes) {
    if (change.op !== 'delete' || !change.before) continue;
    for (const relation of change.metadata.manyToOneRelations) {
      const fk = relation.joinColumns[0]?.propertyName;
      const target = fk === undefined ? undefined : change.before[fk];
      if (target === undefined || target === null || typeof target === 'object') continue;
      const gone = deleted.get(rowKey(relation.inverseEntityMetadata, target as string | number));
      if (gone) change.before[relation.propertyName] = { ...gone };
    }
  }
  return changes;
}
