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
 */
export class OutboxHistory implements RowHistory {
  private readonly now: NowHistory;

  constructor(private readonly dataSource: DataSource, private readonly o: ReturnType<typeof outboxObjects>) {
    this.now = new NowHistory(dataSource);
  }

  /** Outbox changes of `table` after the point of `at`. */
  private later(table: string, after: Cursor, params: unknown[]): string {
    params.push(after.position.toString(), after.seq.toString(), table);
    const [p, s, t] = [params.length - 2, params.length - 1, params.length];
    return `SELECT o.old, o.new, t.position, o.seq FROM ${this.o.outbox} o JOIN ${this.o.tx} t ON t.xid = o.xid
      WHERE t.position IS NOT NULL AND (t.position > $${p} OR (t.position = $${p} AND o.seq > $${s})) AND o.table_name = $${t}`;
  }

  async rowsAsOf(metadata: EntityMetadata, ids: (string | number)[], at: RowChange | undefined): Promise<Map<string, RowState>> {
    // With no point in the log (a custom event), the rows as they are now.
    if (!at?.cursor) return this.now.rowsAsOf(metadata, ids);
    const out = new Map<string, RowState>();
    if (!ids.length) return out;
    const pk = metadata.primaryColumns[0].databaseName;
    const params: unknown[] = [ids.map(String), pk];
    const later = this.later(qualifiedTable(metadata), at.cursor, params);
    const rows: { k: string; found: boolean | null; old: Record<string, unknown> | null; now: Record<string, unknown> | null }[] = await this.dataSource.query(
      `WITH later AS (SELECT DISTINCT ON (k) k, old FROM (SELECT coalesce(l.old, l.new) ->> $2 AS k, l.old, l.position, l.seq FROM (${later}) l) x ORDER BY k, position, seq)
       SELECT ids.k, later.k IS NOT NULL AS found, later.old, to_jsonb(cur) AS now
       FROM unnest($1::text[]) AS ids(k)
       LEFT JOIN later ON later.k = ids.k
       LEFT JOIN ${quotedTable(metadata)} cur ON cur.${q(pk)}::text = ids.k`,
      params,
    );
    for (const row of rows) out.set(row.k, decodeRow(metadata, row.found ? row.old : row.now) ?? null);
    return out;
  }

  async dependentsAsOf(dependant: EntityMetadata, relation: RelationMetadata, id: string | number, at: RowChange): Promise<Record<string, unknown>[]> {
    if (!at.cursor) return this.now.dependentsAsOf(dependant, relation, id);
    const pk = dependant.primaryColumns[0].databaseName;
    const fk = relation.joinColumns[0].databaseName;
    const params: unknown[] = [String(id), pk, fk];
    const later = this.later(qualifiedTable(dependant), at.cursor, params);
    const rows: { row: Record<string, unknown> }[] = await this.dataSource.query(
      `WITH later AS (SELECT DISTINCT ON (k) k, old FROM (SELECT coalesce(l.old, l.new) ->> $2 AS k, l.old, l.position, l.seq FROM (${later}) l) x ORDER BY k, position, seq)
       SELECT to_jsonb(cur) AS row FROM ${quotedTable(dependant)} cur
         WHERE cur.${q(fk)}::text = $1 AND NOT EXISTS (SELECT 1 FROM later WHERE later.k = cur.${q(pk)}::text)
       UNION ALL
       SELECT later.old FROM later WHERE later.old IS NOT NULL AND later.old ->> $3 = $1`,
      params,
    );
    const pkProperty = dependant.primaryColumns[0].propertyName;
    return rows
      .map((r) => decodeRow(dependant, r.row)!)
      .sort((a, b) => compareIds(a[pkProperty], b[pkProperty]));
  }
}
