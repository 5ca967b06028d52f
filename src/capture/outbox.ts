import type { DataSource, EntityMetadata } from 'typeorm';
import type { PoolClient } from 'pg';
import { BadUserInputError, LiveError } from '../errors';
import { decodeRow } from './decode';
import { collapse, type RowChange } from './row-change';

/**
 * Database capture: triggers append every committed write of the exposed
 * tables to an outbox table, and one reader per process tails it.
 *
 * How the order is kept. Each row trigger appends `(seq, xid, table, op, old,
 * new)` to `live_outbox`, and the first one of a transaction also adds the
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
 * A cursor is `position:seq` — a transaction and a row within it.
 */

export interface OutboxOptions {
  /** Schema of the outbox objects; default `public`. */
  schema?: string;
  /** LISTEN for wake-ups on a dedicated connection; default true (the embedded database cannot: it polls). */
  listen?: boolean;
  /** Poll interval in ms, also when listening (NOTIFY is lost while the listener reconnects); default 250 (embedded: 50). */
  pollIntervalMs?: number;
  /** Transactions read per query; default 200. */
  batchTransactions?: number;
  /** How long and how much of the outbox is kept for resuming subscribers; pruned every `pruneIntervalMs`. */
  retention?: OutboxRetention;
  /** Default 60 s; 0 disables the pruning job (call `prune()` yourself). */
  pruneIntervalMs?: number;
  /** Errors of the background reader (default console.error). */
  onError?: (error: unknown) => void;
}

export interface OutboxRetention {
  /** Keep transactions committed within this many ms; default 24 h. */
  maxAgeMs?: number;
  /** Keep at least this many of the newest rows, and not many more; default 1,000,000. */
  maxRows?: number;
}

export interface Cursor {
  position: bigint;
  seq: bigint;
}

const MAX_SEQ = 9223372036854775807n;
const CURSOR = /^(\d{1,19}):(\d{1,19})$/;

/** The cursor just after a whole transaction. */
export function afterTransaction(position: bigint): Cursor {
  return { position, seq: MAX_SEQ };
}

export function formatCursor(position: bigint | string, seq: bigint | string): string {
  return `${position}:${seq}`;
}

/** Parses a client's `after`; BAD_USER_INPUT when it is not a cursor this server gave out. */
export function parseCursor(text: string): Cursor {
  const m = CURSOR.exec(text);
  const cursor = m && { position: BigInt(m[1]), seq: BigInt(m[2]) };
  if (!cursor || cursor.position > MAX_SEQ || cursor.seq > MAX_SEQ) throw new BadUserInputError(`Invalid cursor ${JSON.stringify(text)}`, { field: 'after' });
  return cursor;
}

/** Quoted, schema-qualified names of the outbox objects. */
function objects(schema = 'public') {
  const q = (name: string) => `"${schema.replace(/"/g, '""')}"."${name}"`;
  return {
    schema,
    outbox: q('live_outbox'),
    tx: q('live_outbox_tx'),
    meta: q('live_outbox_meta'),
    positions: q('live_outbox_position'),
    capture: q('live_outbox_capture'),
    commit: q('live_outbox_commit'),
    channel: schema === 'public' ? 'live_outbox' : `live_outbox_${schema}`,
    lockKey: `hashtext(${literal(`${schema}.live_outbox`)})`,
  };
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

function tableOf(metadata: EntityMetadata): string {
  return metadata.tablePath.includes('.') ? metadata.tablePath : `${metadata.schema ?? 'public'}.${metadata.tablePath}`;
}

function quotedTable(metadata: EntityMetadata): string {
  return tableOf(metadata).split('.').map((part) => `"${part.replace(/"/g, '""')}"`).join('.');
}

/**
 * The SQL that installs database capture for `tables`: idempotent (run it at
 * every start, or print it with `print-migration` and apply it as a
 * migration). Safe to run from several processes at once.
 */
export function outboxMigrationSQL(tables: EntityMetadata[], options: Pick<OutboxOptions, 'schema'> = {}): string {
  const o = objects(options.schema);
  const triggers = tables.map((m) => {
    const table = quotedTable(m);
    return `
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'live_outbox_capture' AND tgrelid = ${literal(table)}::regclass) THEN
    CREATE TRIGGER live_outbox_capture AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${o.capture}();
  END IF;
END $$;`;
  });
  return `-- typeorm-graphql-live: database capture (outbox, triggers). Idempotent.
SELECT pg_advisory_xact_lock(${o.lockKey});
CREATE TABLE IF NOT EXISTS ${o.outbox} (
  seq bigserial PRIMARY KEY,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  table_name text NOT NULL,
  op "char" NOT NULL,
  old jsonb,
  new jsonb
);
CREATE INDEX IF NOT EXISTS live_outbox_xid ON ${o.outbox} (xid, seq);
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
INSERT INTO ${o.meta} (id) VALUES (1) ON CONFLICT DO NOTHING;

-- Row trigger: the old and new row, the table, the op and the writing transaction.
CREATE OR REPLACE FUNCTION ${o.capture}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  x xid8 := pg_current_xact_id();
BEGIN
  IF TG_OP = 'UPDATE' AND OLD IS NOT DISTINCT FROM NEW THEN
    RETURN NULL;
  END IF;
  IF current_setting('live_outbox.xid', true) IS DISTINCT FROM x::text THEN
    INSERT INTO ${o.tx} (xid) VALUES (x) ON CONFLICT DO NOTHING;
    PERFORM set_config('live_outbox.xid', x::text, true);
  END IF;
  INSERT INTO ${o.outbox} (xid, table_name, op, old, new) VALUES (
    x, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, left(TG_OP, 1),
    CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
    CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
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
export async function installOutbox(dataSource: DataSource, tables: EntityMetadata[], options: Pick<OutboxOptions, 'schema'> = {}): Promise<void> {
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

interface OutboxRow {
  position: string;
  seq: string;
  table_name: string;
  op: 'I' | 'U' | 'D';
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
}

export type OutboxSink = (changes: RowChange[]) => Promise<void> | void;

/**
 * Tails the outbox from the position it had at `start()`, in commit order,
 * one transaction at a time (several changes of a row in one transaction
 * collapse, as in ORM capture), and hands each transaction's changes to the
 * sink — awaiting it, so a slow pipeline slows the reader rather than
 * piling up. Wakes on NOTIFY and polls every `pollIntervalMs`; a dropped
 * listening connection is reopened and reading goes on from the last
 * position, so nothing is lost and nothing repeats.
 */
export class OutboxReader {
  private readonly o: ReturnType<typeof objects>;
  private readonly byTable: Map<string, EntityMetadata>;
  private last: Cursor = { position: 0n, seq: MAX_SEQ };
  private running = false;
  private reading: Promise<void> | undefined;
  private again = false;
  private poller: NodeJS.Timeout | undefined;
  private pruner: NodeJS.Timeout | undefined;
  private listener: PoolClient | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private readonly onError: (error: unknown) => void;
  /** Times the listener (re)connected; for tests and logs. */
  listens = 0;

  /** Whether a LISTEN connection is open right now. */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  constructor(
    private readonly dataSource: DataSource,
    tables: EntityMetadata[],
    private readonly sink: OutboxSink,
    private readonly options: OutboxOptions = {},
  ) {
    this.o = objects(options.schema);
    this.byTable = new Map(tables.map((m) => [tableOf(m), m]));
    this.onError = options.onError ?? ((error) => console.error('typeorm-graphql-live: outbox reader', error));
  }

  /** The last transaction handed to the sink. */
  get position(): Cursor {
    return this.last;
  }

  /** Starts after everything already committed; resolves once listening (when enabled). */
  async start(): Promise<void> {
    const [row] = await this.dataSource.query(`SELECT coalesce(max(position), 0)::text AS position FROM ${this.o.tx}`);
    this.last = afterTransaction(BigInt(row.position));
    this.running = true;
    if (this.options.listen !== false) await this.listen();
    const every = this.options.pollIntervalMs ?? (this.options.listen === false ? 50 : 250);
    this.poller = setInterval(() => this.wake(), every);
    this.poller.unref();
    const pruneEvery = this.options.pruneIntervalMs ?? 60_000;
    if (pruneEvery > 0) {
      this.pruner = setInterval(() => void this.prune().catch(this.onError), pruneEvery);
      this.pruner.unref();
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.poller);
    clearInterval(this.pruner);
    clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = undefined;
    if (listener) {
      listener.removeAllListeners('notification');
      await listener.query(`UNLISTEN *`).catch(() => undefined);
      listener.release();
    }
    await this.reading;
  }

  /** Reads whatever has committed since the last read (also what a NOTIFY triggers). */
  wake(): void {
    if (!this.running) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = this.drain().finally(() => {
      this.reading = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  /**
   * Resolves when every transaction committed before this call has been
   * handed to the sink (tests, shutdown, "read my write").
   */
  async catchUp(): Promise<void> {
    const [row] = await this.dataSource.query(`SELECT coalesce(max(position), 0)::text AS position FROM ${this.o.tx}`);
    const target = BigInt(row.position);
    while (this.running && this.last.position < target) {
      this.wake();
      await this.reading;
    }
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        const batch = await this.readTransactions(this.last, undefined, this.options.batchTransactions ?? 200);
        if (!batch.length) return;
        for (const { position, changes } of batch) {
          if (!this.running) return;
          if (changes.length) await this.sink(changes);
          this.last = afterTransaction(position);
        }
      }
    } catch (error) {
      this.onError(error);
    }
  }

  /**
   * Whole transactions after `after` (and up to `upto`), decoded and
   * collapsed per row, changes of tables other than `tables` left out.
   * Within the transaction of `after` itself, only changes after its seq.
   */
  async readTransactions(after: Cursor, upto?: bigint, limit = 200, tables?: Set<EntityMetadata>): Promise<{ position: bigint; changes: RowChange[] }[]> {
    const params: unknown[] = [after.position.toString(), limit];
    let bound = '';
    if (upto !== undefined) {
      params.push(upto.toString());
      bound = ` AND position <= $${params.length}`;
    }
    // The transaction of the cursor is read again (from its seq on) when the cursor points inside it.
    const from = after.seq === MAX_SEQ ? 'position > $1' : 'position >= $1';
    const rows: OutboxRow[] = await this.dataSource.query(
      `WITH t AS (SELECT xid, position FROM ${this.o.tx} WHERE position IS NOT NULL AND ${from}${bound} ORDER BY position LIMIT $2)
       SELECT t.position::text AS position, o.seq::text AS seq, o.table_name, o.op, o.old, o.new
       FROM t JOIN ${this.o.outbox} o ON o.xid = t.xid
       ORDER BY t.position, o.seq`,
      params,
    );
    const out: { position: bigint; changes: RowChange[] }[] = [];
    let current: { position: bigint; rows: OutboxRow[] } | undefined;
    for (const row of rows) {
      const position = BigInt(row.position);
      if (!current || current.position !== position) {
        if (current) out.push({ position: current.position, changes: this.decodeTransaction(current.rows) });
        current = { position, rows: [] };
      }
      current.rows.push(row);
    }
    if (current) out.push({ position: current.position, changes: this.decodeTransaction(current.rows) });
    if (after.seq !== MAX_SEQ && out[0]?.position === after.position) {
      out[0].changes = out[0].changes.filter((c) => BigInt(c.cursor!.split(':')[1]) > after.seq);
    }
    if (tables) for (const t of out) t.changes = t.changes.filter((c) => tables.has(c.metadata));
    return out;
  }

  /**
   * One transaction's rows → RowChanges, collapsed per row like ORM capture.
   * A row deleted together with the row it points at (ON DELETE CASCADE)
   * carries that row as its loaded relation, as the database no longer has it.
   */
  private decodeTransaction(rows: OutboxRow[]): RowChange[] {
    const changes: RowChange[] = [];
    const deleted = new Map<string, Record<string, unknown>>();
    for (const row of rows) {
      const metadata = this.byTable.get(row.table_name);
      if (!metadata) continue;
      const before = row.op === 'I' ? undefined : decodeRow(metadata, row.old);
      const after = row.op === 'D' ? undefined : decodeRow(metadata, row.new);
      const pk = metadata.primaryColumns[0].propertyName;
      const id = (after ?? before)![pk] as string | number;
      const op = row.op === 'I' ? 'insert' : row.op === 'U' ? 'update' : 'delete';
      if (op === 'delete') deleted.set(`${metadata.name}:${String(id)}`, before!);
      changes.push({ metadata, op, id, before, after, cursor: formatCursor(row.position, row.seq) });
    }
    for (const change of changes) {
      if (change.op !== 'delete') continue;
      for (const relation of change.metadata.manyToOneRelations) {
        const fk = relation.joinColumns[0]?.propertyName;
        const target = fk === undefined ? undefined : change.before![fk];
        if (target === undefined || target === null) continue;
        const gone = deleted.get(`${relation.inverseEntityMetadata.name}:${String(target)}`);
        if (gone) change.before![relation.propertyName] = { ...gone };
      }
    }
    return collapse(changes);
  }

  /**
   * Whether a client may resume after `cursor`: CURSOR_EXPIRED when pruning
   * may already have removed changes after it.
   */
  async checkCursor(cursor: Cursor): Promise<void> {
    const [row] = await this.dataSource.query(`SELECT pruned_through::text AS p FROM ${this.o.meta} WHERE id = 1`);
    if (cursor.position <= BigInt(row?.p ?? 0)) {
      throw new LiveError('CURSOR_EXPIRED', 'The cursor is older than the changes kept for resuming: refetch, then subscribe without `after`');
    }
  }

  /**
   * Deletes whole transactions older than the retention (by age, or beyond
   * the newest `maxRows` rows), never one the reader has not read yet.
   * Returns how many outbox rows went.
   */
  async prune(retention: OutboxRetention = this.options.retention ?? {}): Promise<number> {
    const maxAgeMs = retention.maxAgeMs ?? 24 * 3600_000;
    const maxRows = retention.maxRows ?? 1_000_000;
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      const [locked] = await runner.query(`SELECT pg_try_advisory_xact_lock(${this.o.lockKey} + 1) AS ok`);
      if (!locked.ok) {
        await runner.rollbackTransaction();
        return 0;
      }
      const [byAge] = await runner.query(
        `SELECT coalesce(max(position), 0)::text AS p FROM ${this.o.tx} WHERE committed_at < clock_timestamp() - make_interval(secs => $1)`,
        [maxAgeMs / 1000],
      );
      const [byRows] = await runner.query(
        `SELECT coalesce((SELECT t.position - 1 FROM ${this.o.outbox} o JOIN ${this.o.tx} t ON t.xid = o.xid
           WHERE t.position IS NOT NULL ORDER BY t.position DESC, o.seq DESC OFFSET $1 LIMIT 1), 0)::text AS p`,
        [maxRows],
      );
      let cutoff = BigInt(byAge.p) > BigInt(byRows.p) ? BigInt(byAge.p) : BigInt(byRows.p);
      if (this.running && cutoff > this.last.position) cutoff = this.last.position;
      let removed = 0;
      if (cutoff > 0n) {
        const result = await runner.query(
          `WITH gone AS (DELETE FROM ${this.o.tx} WHERE position <= $1 RETURNING xid)
           DELETE FROM ${this.o.outbox} o USING gone WHERE o.xid = gone.xid`,
          [cutoff.toString()],
        );
        removed = Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
        await runner.query(`UPDATE ${this.o.meta} SET pruned_through = greatest(pruned_through, $1) WHERE id = 1`, [cutoff.toString()]);
      }
      await runner.commitTransaction();
      return removed;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /** A pooled connection kept for LISTEN; reopened (and the outbox re-read) whenever it drops. */
  private async listen(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master: { connect(): Promise<PoolClient> } }).master;
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      const dropped = (error?: unknown) => {
        if (this.listener !== client) return;
        this.listener = undefined;
        client!.removeAllListeners('notification');
        client!.release(error instanceof Error ? error : new Error('listener connection ended'));
        if (this.running) this.scheduleListen();
      };
      client.on('error', dropped);
      client.on('end', () => dropped());
      client.on('notification', () => this.wake());
      await client.query(`SET application_name = 'typeorm-graphql-live outbox listener'`);
      await client.query(`LISTEN "${this.o.channel}"`);
      this.listener = client;
      this.listens++;
      // Whatever committed while no one was listening.
      this.wake();
    } catch (error) {
      client?.release(error instanceof Error ? error : true);
      if (!this.running) throw error;
      this.onError(error);
      this.scheduleListen();
    }
  }

  private scheduleListen(): void {
    clearTimeout(this.reconnect);
    this.reconnect = setTimeout(() => void this.listen(), 200);
    this.reconnect.unref();
  }
}
