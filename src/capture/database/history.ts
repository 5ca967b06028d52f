import type { DataSource, EntityMetadata } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { RowHistory, RowState } from '../../change/history';
import type { Cursor } from '../../change/cursor';
import type { RowChange } from '../../change/row-change';
import { NowHistory } from '../../change/now-history';
import { compareIds } from '../../model/ids';
import { qualifiedTable, quotedTable } from '../../model/tables';
import { decodeRow } from '../decode-row';
import type { outboxObjects } from './migration';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Rows as of a change, from the outbox: a row's state just after change
 * `(position, seq)` is the old image of its first outbox change after that
 * point, or the row as it is now when it has none. Both are read in one
 * statement, so in one snapshot: a commit between them cannot slip through.
 * Exact for every exposed table (their triggers record every write); a table
 * without a trigger is read as it is now.
 *
 * Cost: a row's later changes are found through the outbox's `(table_name,
 * row_key)` index, the current rows through the table's primary key, so a
 * lookup costs the same however far routing has fallen behind (the rows
 * committed after the change) — a backlog never makes catching up slower.
 */
export class OutboxHistory implements RowHistory {
  private readonly now: NowHistory;

  constructor(private readonly dataSource: DataSource, private readonly o: ReturnType<typeof outboxObjects>) {
    this.now = new NowHistory(dataSource);
  }

  /** Outbox changes of `table` committed after the point of `after` (`o` the outbox, `t` its transaction). */
  private later(table: string, after: Cursor, params: unknown[]): string {
    params.push(after.position.toString(), after.seq.toString(), table);
    const [p, s, t] = [params.length - 2, params.length - 1, params.length];
    return `${this.o.outbox} o JOIN ${this.o.tx} t ON t.xid = o.xid
      WHERE o.table_name = $${t} AND t.position IS NOT NULL AND (t.position > $${p} OR (t.position = $${p} AND o.seq > $${s}))`;
  }

  /** For each key that `keys` (an SQL condition on `o.row_key`) admits, its first change after `after`: `(k, old)`. */
  private firstLater(table: string, after: Cursor, params: unknown[], keys: string): string {
    return `SELECT DISTINCT ON (o.row_key) o.row_key AS k, o.old FROM ${this.later(table, after, params)}
      AND ${keys} ORDER BY o.row_key, t.position, o.seq`;
  }

  async rowsAsOf(metadata: EntityMetadata, ids: (string | number)[], at: RowChange | undefined): Promise<Map<string, RowState>> {
    // With no point in the log (a custom event), the rows as they are now.
    if (!at?.cursor) return this.now.rowsAsOf(metadata, ids);
    const out = new Map<string, RowState>();
    if (!ids.length) return out;
    const pk = q(metadata.primaryColumns[0].databaseName);
    const keys = ids.map(String);
    // $1: the keys as text; $2: the same, typed by the key column (so its index serves).
    const params: unknown[] = [keys, keys];
    const later = this.firstLater(qualifiedTable(metadata), at.cursor, params, 'o.row_key = ANY($1::text[])');
    const rows: { k: string; found: boolean | null; old: Record<string, unknown> | null; now: Record<string, unknown> | null }[] = await this.dataSource.query(
      `WITH later AS (${later})
       SELECT ids.k, later.k IS NOT NULL AS found, later.old, cur.now
       FROM unnest($1::text[]) AS ids(k)
       LEFT JOIN later ON later.k = ids.k
       LEFT JOIN (SELECT c.${pk}::text AS k, to_jsonb(c) AS now FROM ${quotedTable(metadata)} c WHERE c.${pk} = ANY($2)) cur ON cur.k = ids.k`,
      params,
    );
    for (const row of rows) out.set(row.k, decodeRow(metadata, row.found ? row.old : row.now) ?? null);
    return out;
  }

  /**
   * The rows of `dependant` whose `relation` pointed at `id` just after
   * `at`: those that do now and have not changed since, and those whose
   * first later change shows they did (moved away, or deleted, since).
   */
  async dependentsAsOf(dependant: EntityMetadata, relation: RelationMetadata, id: string | number, at: RowChange): Promise<Record<string, unknown>[]> {
    if (!at.cursor) return this.now.dependentsAsOf(dependant, relation, id);
    const pk = q(dependant.primaryColumns[0].databaseName);
    const fk = relation.joinColumns[0].databaseName;
    const table = qualifiedTable(dependant);
    // $1: the id typed by the foreign key column; $2: as text; $3: the key's name.
    const params: unknown[] = [String(id), String(id), fk];
    const moved = `SELECT o.row_key FROM ${this.later(table, at.cursor, params)} AND o.old ->> $3 = $2`;
    const later = this.firstLater(table, at.cursor, params, 'o.row_key IN (SELECT k FROM candidates)');
    const rows: { row: Record<string, unknown> }[] = await this.dataSource.query(
      `WITH cur AS (SELECT c.${pk}::text AS k, to_jsonb(c) AS row FROM ${quotedTable(dependant)} c WHERE c.${q(fk)} = $1),
       candidates AS (SELECT k FROM cur UNION ${moved}),
       later AS (${later})
       SELECT cur.row FROM cur WHERE NOT EXISTS (SELECT 1 FROM later WHERE later.k = cur.k)
       UNION ALL
       SELECT later.old FROM later WHERE later.old IS NOT NULL AND later.old ->> $3 = $2`,
      params,
    );
    const pkProperty = dependant.primaryColumns[0].propertyName;
    return rows
      .map((r) => decodeRow(dependant, r.row)!)
      .sort((a, b) => compareIds(a[pkProperty], b[pkProperty]));
  }
}
