import type { DataSource, EntityMetadata } from 'typeorm';
import type { RelationMetadata } from 'typeorm/metadata/RelationMetadata';
import type { RowHistory, RowState } from '../../change/history';
import type { Cursor } from '../../change/cursor';
import type { RowChange } from '../../change/row-change';
import { NowHistory } from '../../change/now-history';
import { compareIds } from '../../model/ids';
import { qualifiedTable, quotedTable } from '../../model/tables';
import { decodeRow } from '../decode-row';
import { literal, outboxMovesIndex, type outboxObjects } from './migration';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Rows as of a change, from the outbox: a row's state just after change
 * `(position, seq)` is the old image of its first outbox change after that
 * point, or the row as it is now when it has none. Both are read in one
 * statement, so in one snapshot: a commit between them cannot slip through.
 * Exact for every exposed table (their triggers record every write); a table
 * without a trigger is read as it is now.
 *
 * Finding a row's first change after a point cheaply: the writes of one row
 * are serialised by its row lock (a second writer waits for the first to
 * commit), so one row's outbox entries are in commit order by `seq`. Its
 * first change after the point is therefore the next entry after its last
 * one at or before the point, and that one is found walking the row's
 * entries backwards through the `(table_name, row_key, seq)` index — as
 * many steps as the row has changes after the point, however long its
 * retained history and however far routing has fallen behind elsewhere.
 * Current rows come through the table's primary key.
 */
export class OutboxHistory implements RowHistory {
  private readonly now: NowHistory;
  /**
   * Rows as of the end of the transaction being routed, by `table:key`: a
   * row whose first change after some point of that transaction lies in a
   * later transaction has the same state as of every later point of it, so
   * the changes of one bulk UPDATE ask once for the row they all point at.
   * Kept with the point it was asked at: an earlier point of the same
   * transaction (a replay routing it again) asks afresh.
   */
  private endOf: { position: bigint; rows: Map<string, { state: RowState; seq: bigint }> } | undefined;

  constructor(private readonly dataSource: DataSource, private readonly o: ReturnType<typeof outboxObjects>) {
    this.now = new NowHistory(dataSource);
  }

  /**
   * SQL for the first change after `after` of the row whose key is `key`
   * (an SQL expression): `(k, old, xid)`, no row when it has none. Pushes
   * its parameters.
   */
  private firstAfter(table: string, after: Cursor, params: unknown[], key: string): string {
    params.push(table, after.position.toString(), after.seq.toString());
    const [t, p, s] = [params.length - 2, params.length - 1, params.length];
    return `SELECT o.row_key AS k, o.old, o.xid FROM ${this.o.outbox} o
      WHERE o.table_name = $${t} AND o.row_key = ${key} AND o.seq > coalesce((
        SELECT b.seq FROM ${this.o.outbox} b JOIN ${this.o.tx} bt ON bt.xid = b.xid
        WHERE b.table_name = $${t} AND b.row_key = ${key} AND (bt.position < $${p} OR (bt.position = $${p} AND b.seq <= $${s}))
        ORDER BY b.seq DESC LIMIT 1), 0)
      ORDER BY o.seq LIMIT 1`;
  }

  async rowsAsOf(metadata: EntityMetadata, ids: (string | number)[], at: RowChange | undefined): Promise<Map<string, RowState>> {
    // With no point in the log (a custom event), the rows as they are now.
    if (!at?.cursor) return this.now.rowsAsOf(metadata, ids);
    const out = new Map<string, RowState>();
    if (!ids.length) return out;
    const { position, seq } = at.cursor;
    if (this.endOf?.position !== position) this.endOf = { position, rows: new Map() };
    const cached = this.endOf.rows;
    const table = qualifiedTable(metadata);
    const keys: string[] = [];
    for (const id of ids) {
      const key = String(id);
      const hit = cached.get(`${table}:${key}`);
      if (hit && hit.seq <= seq) out.set(key, hit.state);
      else keys.push(key);
    }
    if (!keys.length) return out;
    const pk = q(metadata.primaryColumns[0].databaseName);
    // $1: the keys as text; $2: the same, typed by the key column (so its index serves); $3: the change's position.
    const params: unknown[] = [keys, keys, position.toString()];
    const first = this.firstAfter(table, at.cursor, params, 'ids.k');
    const rows: { k: string; found: boolean | null; old: Record<string, unknown> | null; now: Record<string, unknown> | null; later: boolean | null }[] = await this.dataSource.query(
      `SELECT ids.k, later.k IS NOT NULL AS found, later.old, cur.now,
         later.k IS NULL OR (SELECT t.position FROM ${this.o.tx} t WHERE t.xid = later.xid) > $3 AS later
       FROM unnest($1::text[]) AS ids(k)
       LEFT JOIN LATERAL (${first}) later ON true
       LEFT JOIN (SELECT c.${pk}::text AS k, to_jsonb(c) AS now FROM ${quotedTable(metadata)} c WHERE c.${pk} = ANY($2)) cur ON cur.k = ids.k`,
      params,
    );
    for (const row of rows) {
      const state = decodeRow(metadata, row.found ? row.old : row.now) ?? null;
      out.set(row.k, state);
      // Unchanged for the rest of this transaction: its next change is in a later one (or it has none yet).
      if (row.later) cached.set(`${table}:${row.k}`, { state, seq });
    }
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
    // $1: the id typed by the foreign key column; $2: as text; $3: the key's name; $4, $5: the change's position and seq.
    const params: unknown[] = [String(id), String(id), fk, at.cursor.position.toString(), at.cursor.seq.toString()];
    // Rows that pointed at it just after the change and do not now left it since (a move, a delete): found through
    // the index of such entries by the key they left (migration.ts), as many as left it within the retention.
    const moves = outboxMovesIndex(dependant, fk);
    const moved = `SELECT o.row_key FROM ${this.o.outbox} o JOIN ${this.o.tx} t ON t.xid = o.xid
      WHERE ${moves.predicate('o.')} AND (o.old ->> ${literal(fk)}) = $2
        AND t.position IS NOT NULL AND (t.position > $4 OR (t.position = $4 AND o.seq > $5))`;
    const first = this.firstAfter(table, at.cursor, params, 'candidates.k');
    const rows: { row: Record<string, unknown> }[] = await this.dataSource.query(
      `WITH cur AS (SELECT c.${pk}::text AS k, to_jsonb(c) AS row FROM ${quotedTable(dependant)} c WHERE c.${q(fk)} = $1),
       candidates AS (SELECT k FROM cur UNION ${moved}),
       later AS (SELECT f.k, f.old FROM candidates CROSS JOIN LATERAL (${first}) f)
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
