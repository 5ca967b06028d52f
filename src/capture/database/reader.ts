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
  /** How long and how much of the outbox is kept for resuming subscribers; pruned every `pruneIntervalMs`. */
  retention?: OutboxRetention;
  /** Default 60 s; 0 disables the pruning job (call `prune()` yourself). */
  pruneIntervalMs?: number;
  /** Errors of the background reader; default {@link reportBackgroundError} (the runtime passes its own `onError`). */
  onError?: (error: unknown) => void;
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
  private readonly onError: (error: unknown) => void;

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
    this.last = afterTransaction(await this.committedThrough());
    this.running = true;
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
    await this.listener?.stop();
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

  async readTransactions(after: Cursor, upto?: bigint, limit = 200, tables?: Set<EntityMetadata>): Promise<LoggedTransaction[]> {
    const params: unknown[] = [after.position.toString(), limit];
    let bound = '';
    if (upto !== undefined) {
      params.push(upto.toString());
      bound = ` AND position <= $${params.length}`;
    }
    // The transaction of the cursor is read again (from its seq on) when the cursor points inside it.
    const from = isAfterTransaction(after) ? 'position > $1' : 'position >= $1';
    const rows: OutboxRow[] = await this.dataSource.query(
      `WITH t AS (SELECT xid, position FROM ${this.o.tx} WHERE position IS NOT NULL AND ${from}${bound} ORDER BY position LIMIT $2)
       SELECT t.position::text AS position, o.seq::text AS seq, o.table_name, o.op, o.old, o.new
       FROM t JOIN ${this.o.outbox} o ON o.xid = t.xid
       ORDER BY t.position, o.seq`,
      params,
    );
    const out = decodeTransactions(rows, this.byTable);
    if (!isAfterTransaction(after) && out[0]?.position === after.position) {
      out[0].changes = out[0].changes.filter((c) => c.cursor!.seq > after.seq);
    }
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
    return prune(this.dataSource, this.o, retention, this.running ? this.last.position : undefined);
  }
}
