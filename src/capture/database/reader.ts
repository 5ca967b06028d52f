import { randomUUID } from 'node:crypto';
import type { DataSource, EntityMetadata } from 'typeorm';
import type { ChangeLog, LoggedTransaction } from '../../change/change-log';
import { afterTransaction, isAfterTransaction, type Cursor } from '../../change/cursor';
import type { ChangeSink } from '../../change/row-change';
import { reportBackgroundError } from '../../errors';
import { qualifiedTable } from '../../model/tables';
import { decodeTransactions, type OutboxRow } from './decode';
import { OutboxHistory } from './history';
import { OutboxListener } from './listener';
import { outboxObjects } from './migration';
import { prune, retains, type OutboxRetention } from './retention';

export interface OutboxOptions {
  /** Schema of the outbox objects; default `public`. */
  schema?: string;
  /** LISTEN for wake-ups on a dedicated connection; default true (the embedded database cannot: it polls). */
  listen?: boolean;
  /** Poll interval in ms, also when listening (NOTIFY is lost while the listener reconnects); default 250 (embedded: 50). */
  pollIntervalMs?: number;
  /** Transactions read per query; default 200. */
  batchTransactions?: number;
  /** Changes read per query, at most: a larger transaction is read and routed in parts (memory stays bounded); default 5000. */
  batchRows?: number;
  /** How long and how much of the outbox is kept for resuming subscribers; pruned every `pruneIntervalMs`. */
  retention?: OutboxRetention;
  /** Default 60 s; 0 disables the pruning job (call `prune()` yourself). */
  pruneIntervalMs?: number;
  /** Errors of the background reader; default {@link reportBackgroundError} (the runtime passes its own `onError`). */
  onError?: (error: unknown) => void;
  /** How often this reader tells other processes how far it has read (pruning waits for it); default 5 s. */
  heartbeatMs?: number;
  /**
   * Changes this reader will never hand over: pruned before it read them
   * (it was stopped longer than `retention.staleReaderMs`), or the outbox
   * was dropped and created again. The runtime ends every subscription with
   * CHANGES_LOST.
   */
  onLost?: (reason: string) => void;
}

/**
 * Tails the outbox from the position it had at `start()`, in commit order,
 * one transaction at a time, and hands each transaction's changes to the
 * sink — awaiting it, so a slow pipeline slows the reader rather than
 * piling up. Wakes on NOTIFY and polls every `pollIntervalMs`; after the
 * listening connection drops and comes back, reading goes on from the last
 * position, so nothing is lost and nothing repeats. It is also the change
 * log resumed subscribers replay from.
 */
export class OutboxReader implements ChangeLog {
  private readonly o: ReturnType<typeof outboxObjects>;
  private readonly byTable: Map<string, EntityMetadata>;
  private readonly listener: OutboxListener | undefined;
  /** Rows as of a change, from the outbox: the engine's row history in database capture. */
  readonly history: OutboxHistory;
  private last: Cursor = afterTransaction(0n);
  private running = false;
  private reading: Promise<void> | undefined;
  private again = false;
  private poller: NodeJS.Timeout | undefined;
  private pruner: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly onError: (error: unknown) => void;
  /** This reader in `live_outbox_readers`. */
  readonly id = randomUUID();
  /** The outbox this reader reads (see the migration's `epoch`). */
  private epoch: string | undefined;
  /** When {@link checkLog} last ran. */
  private checkedAt = 0;

  constructor(
    private readonly dataSource: DataSource,
    tables: EntityMetadata[],
    private readonly sink: ChangeSink,
    private readonly options: OutboxOptions = {},
  ) {
    this.o = outboxObjects(options.schema);
    this.byTable = new Map(tables.map((m) => [qualifiedTable(m), m]));
    this.history = new OutboxHistory(dataSource, this.o);
    this.onError = options.onError ?? reportBackgroundError;
    if (options.listen !== false) this.listener = new OutboxListener(dataSource, this.o.channel, () => this.wake(), this.onError);
  }

  /** Just after the last transaction handed to the sink. */
  get position(): Cursor {
    return this.last;
  }

  /** Whether a LISTEN connection is open right now. */
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  /** Times the listener (re)connected; for tests and logs. */
  get listens(): number {
    return this.listener?.listens ?? 0;
  }

  /** Starts after everything already committed; resolves once listening (when enabled). */
  async start(): Promise<void> {
    const [meta] = await this.dataSource.query(`SELECT epoch FROM ${this.o.meta} WHERE id = 1`);
    this.epoch = meta?.epoch;
    this.last = afterTransaction(await this.committedThrough());
    this.running = true;
    await this.report();
    this.heartbeat = setInterval(() => void this.report().catch(this.onError), this.options.heartbeatMs ?? 5000);
    this.heartbeat.unref();
    await this.listener?.start();
    const every = this.options.pollIntervalMs ?? (this.listener ? 250 : 50);
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
    clearInterval(this.heartbeat);
    await this.listener?.stop();
    await this.reading;
    await this.dataSource.query(`DELETE FROM ${this.o.readers} WHERE id = $1`, [this.id]).catch(() => undefined);
  }

  /** The last position this reader has read whole (a transaction it is in the middle of is not). */
  private get readThrough(): bigint {
    return isAfterTransaction(this.last) ? this.last.position : this.last.position - 1n;
  }

  /** Tells other processes' pruning how far this reader has read. */
  private async report(): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO ${this.o.readers} (id, position) VALUES ($1, $2)
       ON CONFLICT (id) DO UPDATE SET position = excluded.position, seen_at = clock_timestamp()`,
      [this.id, this.readThrough.toString()],
    );
  }

  /**
   * Before reading on: has anything this reader has not read gone? The
   * outbox dropped and created again (another epoch, or fewer positions
   * than it has read), or pruned past it (it was stopped while the others
   * pruned). Then the loss is reported and reading goes on from what is there.
   *
   * Asked before a read only when a heartbeat interval has passed since the
   * last time, not on every wake: pruning passes a reader only after it has
   * been silent for `retention.staleReaderMs` (longer than its heartbeat), so
   * a reader that was away that long has not checked for at least as long.
   */
  private async checkLog(): Promise<void> {
    this.checkedAt = Date.now();
    const [row] = await this.dataSource.query(
      // The positions' sequence, not max(position): pruning may have emptied the table.
      `SELECT m.pruned_through::text AS pruned, m.epoch,
         (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${this.o.positions})::text AS max
       FROM ${this.o.meta} m WHERE id = 1`,
    );
    if (!row) return;
    const max = BigInt(row.max);
    if (row.epoch !== this.epoch || max < this.readThrough) {
      this.epoch = row.epoch;
      this.last = afterTransaction(max);
      this.options.onLost?.('the outbox was dropped and created again');
      return;
    }
    const pruned = BigInt(row.pruned);
    if (pruned > this.readThrough) {
      this.last = afterTransaction(pruned);
      this.options.onLost?.('changes this process had not read yet were pruned (it was stopped for longer than retention.staleReaderMs)');
    }
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
    const target = await this.committedThrough();
    while (this.running && this.last.position < target) {
      this.wake();
      await this.reading;
    }
  }

  private async committedThrough(): Promise<bigint> {
    const [row] = await this.dataSource.query(`SELECT coalesce(max(position), 0)::text AS position FROM ${this.o.tx}`);
    return BigInt(row.position);
  }

  private async drain(): Promise<void> {
    try {
      if (Date.now() - this.checkedAt >= (this.options.heartbeatMs ?? 5000)) await this.checkLog();
      for (;;) {
        const batch = await this.readTransactions(this.last, undefined, this.options.batchTransactions ?? 200);
        if (!batch.length) return;
        for (const { changes, through } of batch) {
          if (!this.running) return;
          if (changes.length) await this.sink(changes);
          this.last = through;
        }
      }
    } catch (error) {
      this.onError(error);
    }
  }

  async readTransactions(after: Cursor, upto?: Cursor, limit = 200, tables?: Set<EntityMetadata>): Promise<LoggedTransaction[]> {
    const maxRows = this.options.batchRows ?? 5000;
    const params: unknown[] = [after.position.toString(), limit, maxRows];
    const rowFilters: string[] = [];
    // The transaction of the cursor is read on from its seq when the cursor points inside it.
    let from = 'position > $1';
    if (!isAfterTransaction(after)) {
      from = 'position >= $1';
      params.push(after.seq.toString());
      rowFilters.push(`(t.position > $1 OR o.seq > $${params.length})`);
    }
    let bound = '';
    if (upto !== undefined) {
      params.push(upto.position.toString());
      bound = ` AND position <= $${params.length}`;
      if (!isAfterTransaction(upto)) {
        params.push(upto.seq.toString());
        rowFilters.push(`(t.position < $${params.length - 1} OR o.seq <= $${params.length})`);
      }
    }
    const rows: OutboxRow[] = await this.dataSource.query(
      `WITH t AS (SELECT xid, position FROM ${this.o.tx} WHERE position IS NOT NULL AND ${from}${bound} ORDER BY position LIMIT $2)
       SELECT t.position::text AS position, o.seq::text AS seq, o.table_name, o.op, o.old, o.new
       FROM t JOIN ${this.o.outbox} o ON o.xid = t.xid
       ${rowFilters.length ? `WHERE ${rowFilters.join(' AND ')}` : ''}
       ORDER BY t.position, o.seq LIMIT $3`,
      params,
    );
    const out = decodeTransactions(rows, this.byTable, rows.length === maxRows);
    if (tables) for (const t of out) t.changes = t.changes.filter((c) => tables.has(c.metadata));
    return out;
  }

  retains(cursor: Cursor): Promise<boolean> {
    return retains(this.dataSource, this.o, cursor);
  }

  /**
   * Deletes whole transactions older than the retention (default: the
   * reader's `retention` option), never one this reader has not read yet.
   * Returns how many outbox rows went.
   */
  prune(retention: OutboxRetention = this.options.retention ?? {}): Promise<number> {
    return prune(this.dataSource, this.o, retention, this.running ? this.readThrough : undefined, this.id);
  }
}
