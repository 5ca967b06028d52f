import type { EntityManager, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';
import type { RowChange } from '../../change/row-change';
import { quotedTable } from '../../model/tables';
import { decodeRow } from '../decode-row';
import { ormCaptureOf } from './subscriber';

/**
 * A bulk write that ORM capture still sees. TypeORM's QueryBuilder
 * `update()`/`delete()` report no ids, so they are invisible in ORM mode;
 * these run one statement that returns the old and new rows and record them
 * into the transaction's buffer (published at commit, dropped on rollback).
 *
 * `where` is SQL over the table's columns with `$1…` parameters.
 *
 * @example await bulkUpdate(manager, Task, { done: true }, '"listId" = $1 AND done = false', [listId])
 */
export async function bulkUpdate<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  set: Partial<T>,
  where: string,
  parameters: unknown[] = [],
): Promise<number> {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const params = [...parameters];
  const assignments = Object.entries(set).map(([property, value]) => {
    const column = metadata.findColumnWithPropertyName(property);
    if (!column) throw new Error(`${metadata.name} has no column ${property}`);
    params.push(driver.preparePersistentValue(value, column));
    return `${driver.escape(column.databaseName)} = $${params.length}`;
  });
  const table = quotedTable(metadata);
  const pk = metadata.primaryColumns.map((c) => driver.escape(c.databaseName));
  // The CTE locks and reads the old rows; the UPDATE joins them to return both states.
  const sql = `WITH old AS (SELECT * FROM ${table} WHERE ${where} FOR UPDATE)
    UPDATE ${table} AS t SET ${assignments.join(', ')} FROM old WHERE ${pk.map((c) => `t.${c} = old.${c}`).join(' AND ')}
    RETURNING row_to_json(old) AS before, row_to_json(t) AS after`;
  const rows = returnedRows<{ before: Record<string, unknown>; after: Record<string, unknown> }>(await manager.query(sql, params));
  record(manager, metadata, rows.map((r) => ({ op: 'update' as const, before: decodeRow(metadata, r.before), after: decodeRow(metadata, r.after) })));
  return rows.length;
}

/** Like {@link bulkUpdate}, for `DELETE … WHERE`. Returns how many rows went. */
export async function bulkDelete<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  where: string,
  parameters: unknown[] = [],
): Promise<number> {
  const metadata = manager.connection.getMetadata(entity);
  const table = quotedTable(metadata);
  const rows = returnedRows<{ before: Record<string, unknown> }>(await manager.query(`DELETE FROM ${table} AS t WHERE ${where} RETURNING row_to_json(t) AS before`, parameters));
  record(manager, metadata, rows.map((r) => ({ op: 'delete' as const, before: decodeRow(metadata, r.before) })));
  return rows.length;
}

/**
 * The rows of `UPDATE/DELETE … RETURNING`: TypeORM's postgres driver answers
 * those statements with `[rows, affectedCount]`, not with the rows.
 */
function returnedRows<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}

function record(
  manager: EntityManager,
  metadata: EntityMetadata,
  rows: { op: 'update' | 'delete'; before?: Record<string, unknown>; after?: Record<string, unknown> }[],
): void {
  const capture = ormCaptureOf(manager.connection);
  if (!capture || rows.length === 0) return;
  const pk = metadata.primaryColumns[0].propertyName;
  const changes: RowChange[] = rows.map((r) => ({ metadata, op: r.op, id: r.before![pk] as string | number, before: r.before, after: r.after }));
  capture.record(manager.queryRunner, changes);
}
