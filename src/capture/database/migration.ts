import { createHash } from 'node:crypto';
import type { DataSource, EntityMetadata } from 'typeorm';
import type { ResourceModel } from '../../model/resource-model';
import { qualifiedTable, quotedTable } from '../../model/tables';

/**
 * Database capture: triggers append every committed write of the exposed
 * tables to an outbox table, and one reader per process tails it.
 *
 * How the order is kept. Each row trigger appends `(seq, xid, table, op, old,
 * new, row_key)` to `live_outbox` (`row_key`: the primary key as text, indexed
 * with the table and `seq`, so the history of one row is found without
 * scanning: src/capture/database/history.ts), and the first one of a transaction also adds the
 * transaction to `live_outbox_tx`. A deferred constraint trigger on that
 * table runs once per transaction, at COMMIT: it takes a transaction-level
 * advisory lock, draws the transaction's `position` from a sequence and sends
 * `NOTIFY live_outbox` (a wake-up, no payload). The lock is held until the
 * commit is visible, so positions become visible strictly in order: a reader
 * that sees position n sees every committed position below n. Reading
 * `position > last` therefore never skips a transaction that commits late,
 * and delivers transactions in commit order (not in `seq` order, which is the
 * order rows were written, not committed). NOTIFY already serialises the
 * commits of notifying transactions on a database-wide lock, so the advisory
 * lock adds no new contention.
 *
 * A cursor is `position:seq` — a transaction and a row within it
 * (src/change/cursor.ts).
 */

/** Quoted, schema-qualified names of the outbox objects. */
export function outboxObjects(schema = 'public') {
  const q = (name: string) => `"${schema.replace(/"/g, '""')}"."${name}"`;
  return {
    schema,
    outbox: q('live_outbox'),
    tx: q('live_outbox_tx'),
    meta: q('live_outbox_meta'),
    readers: q('live_outbox_readers'),
    positions: q('live_outbox_position'),
    capture: q('live_outbox_capture'),
    commit: q('live_outbox_commit'),
    channel: schema === 'public' ? 'live_outbox' : `live_outbox_${schema}`,
    lockKey: `hashtext(${literal(`${schema}.live_outbox`)})`,
  };
}

/** An SQL string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** A table to capture, and the columns the outbox must never hold (write-only fields such as password hashes). */
export interface OutboxTable {
  metadata: EntityMetadata;
  omit?: string[];
}

/** The exposed tables of `models`, each without its write-only columns. */
export function outboxTables(models: readonly ResourceModel[]): OutboxTable[] {
  return models.map((m) => ({
    metadata: m.metadata,
    omit: m.fields.filter((f) => !f.readable && f.column).map((f) => f.column!.databaseName),
  }));
}

/**
 * A partial index of the outbox entries in which a row of `metadata` leaves
 * the row its foreign key `column` pointed at — moved elsewhere, or deleted
 * — by the key it left. Finding the rows that pointed at a row just after a
 * change then costs as many entries as rows left it since, not as many
 * changes as were committed since (src/capture/database/history.ts). Only
 * such entries are indexed, so ordinary updates pay nothing for it. Queries
 * must repeat `predicate` word for word for the index to serve.
 */
export function outboxMovesIndex(metadata: EntityMetadata, column: string): { name: string; column: string; predicate: (alias?: string) => string } {
  const table = qualifiedTable(metadata);
  const hash = createHash('sha1').update(`${table}.${column}`).digest('hex').slice(0, 12);
  return {
    name: `live_outbox_moves_${hash}`,
    column,
    predicate: (a = '') => `${a}table_name = ${literal(table)} AND ${a}old IS NOT NULL`
      + ` AND (${a}new IS NULL OR (${a}old ->> ${literal(column)}) IS DISTINCT FROM (${a}new ->> ${literal(column)}))`,
  };
}

/**
 * The SQL that installs database capture for `tables`: idempotent (run it at
 * every start, or print it with `print-migration` and apply it as a
 * migration). Safe to run from several processes at once.
 */
export function outboxMigrationSQL(tables: (EntityMetadata | OutboxTable)[], options: { schema?: string } = {}): string {
  const o = outboxObjects(options.schema);
  const triggers = tables.map((t) => {
    const { metadata, omit = [] } = 'metadata' in t ? t : { metadata: t };
    // The key column, then the columns to leave out, travel as trigger arguments; OR REPLACE updates an existing trigger's.
    const args = [metadata.primaryColumns[0].databaseName, ...omit];
    // Where rows of this table leave what their foreign keys point at (moves, deletes): see outboxMovesIndex.
    const moves = metadata.manyToOneRelations.flatMap((r) => r.joinColumns.map((c) => outboxMovesIndex(metadata, c.databaseName)));
    // Rows recorded before the outbox had row_key get theirs (none, after the first run).
    return `${moves.map((m) => `\nCREATE INDEX IF NOT EXISTS ${m.name} ON ${o.outbox} ((old ->> ${literal(m.column)}), seq) WHERE ${m.predicate()};`).join('')}
UPDATE ${o.outbox} SET row_key = coalesce(old, new) ->> ${literal(args[0])}
  WHERE row_key IS NULL AND table_name = ${literal(qualifiedTable(metadata))};
CREATE OR REPLACE TRIGGER live_outbox_capture AFTER INSERT OR UPDATE OR DELETE ON ${quotedTable(metadata)}
  FOR EACH ROW EXECUTE FUNCTION ${o.capture}(${args.map(literal).join(', ')});`;
  });
  return `-- typeorm-graphql-live: database capture (outbox, triggers). Idempotent.
SELECT pg_advisory_xact_lock(${o.lockKey});
CREATE TABLE IF NOT EXISTS ${o.outbox} (
  seq bigserial PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  table_name text NOT NULL,
  op "char" NOT NULL,
  old jsonb,
  new jsonb,
  row_key text
);
ALTER TABLE ${o.outbox} ADD COLUMN IF NOT EXISTS row_key text;
CREATE INDEX IF NOT EXISTS live_outbox_xid ON ${o.outbox} (xid, seq);
CREATE INDEX IF NOT EXISTS live_outbox_row ON ${o.outbox} (table_name, row_key, seq);
CREATE TABLE IF NOT EXISTS ${o.tx} (
  xid xid8 PRIMARY KEY,
  position bigint UNIQUE,
  committed_at timestamptz
);
CREATE SEQUENCE IF NOT EXISTS ${o.positions};
CREATE TABLE IF NOT EXISTS ${o.meta} (
  id int PRIMARY KEY CHECK (id = 1),
  pruned_through bigint NOT NULL DEFAULT 0
);
-- Which outbox this is: a reader that finds another one (dropped and created again) has lost what it had not read.
ALTER TABLE ${o.meta} ADD COLUMN IF NOT EXISTS epoch text NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text);
INSERT INTO ${o.meta} (id) VALUES (1) ON CONFLICT DO NOTHING;
-- Every process's reader and how far it has read, refreshed while it runs: pruning waits for the live ones.
CREATE TABLE IF NOT EXISTS ${o.readers} (
  id text PRIMARY KEY,
  position bigint NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Row trigger: the old and new row (without the columns named by the trigger's arguments
-- after the first), the table, the op, the writing transaction and the row's key (the
-- column named by the first argument, as it was before the write).
CREATE OR REPLACE FUNCTION ${o.capture}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  x xid8 := pg_current_xact_id();
  omit text[] := CASE WHEN TG_NARGS > 1 THEN TG_ARGV[1:TG_NARGS - 1] ELSE '{}'::text[] END;
  old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - omit END;
  new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - omit END;
BEGIN
  IF TG_OP = 'UPDATE' AND old_row = new_row THEN
    RETURN NULL;
  END IF;
  IF current_setting('live_outbox.xid', true) IS DISTINCT FROM x::text THEN
    INSERT INTO ${o.tx} (xid) VALUES (x) ON CONFLICT DO NOTHING;
    PERFORM set_config('live_outbox.xid', x::text, true);
  END IF;
  INSERT INTO ${o.outbox} (xid, table_name, op, old, new, row_key) VALUES (
    x, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, left(TG_OP, 1),
    old_row,
    new_row,
    coalesce(old_row, new_row) ->> TG_ARGV[0]);
  RETURN NULL;
END $fn$;

-- Once per transaction, at COMMIT: a position in commit order, then the wake-up.
CREATE OR REPLACE FUNCTION ${o.commit}() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(${o.lockKey});
  UPDATE ${o.tx} SET position = nextval(${literal(o.positions)}), committed_at = clock_timestamp() WHERE xid = NEW.xid;
  PERFORM pg_notify(${literal(o.channel)}, '');
  RETURN NULL;
END $fn$;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'live_outbox_commit' AND tgrelid = ${literal(o.tx)}::regclass) THEN
    CREATE CONSTRAINT TRIGGER live_outbox_commit AFTER INSERT ON ${o.tx}
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${o.commit}();
  END IF;
END $$;
${triggers.join('\n')}
`;
}

/** Creates (or confirms) the outbox and the triggers of `tables`, in one transaction. */
export async function installOutbox(dataSource: DataSource, tables: (EntityMetadata | OutboxTable)[], options: { schema?: string } = {}): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    await runner.query(outboxMigrationSQL(tables, options));
    await runner.commitTransaction();
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  } finally {
    await runner.release();
  }
}

