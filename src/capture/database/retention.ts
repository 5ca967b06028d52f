import type { DataSource } from 'typeorm';
import type { Cursor } from '../../change/cursor';
import type { outboxObjects } from './migration';

export interface OutboxRetention {
  /** Keep transactions committed within this many ms; default 24 h. */
  maxAgeMs?: number;
  /** Keep at least this many of the newest rows, and not many more; default 1,000,000. */
  maxRows?: number;
  /**
   * A reader (a server process) that has not said how far it read for this
   * long no longer holds pruning back: it is dead or stopped, and finds the
   * gap if it comes back. Default 60 s.
   */
  staleReaderMs?: number;
}

type Objects = ReturnType<typeof outboxObjects>;

/** Whether every change after `cursor` is still in the outbox: false once pruning may have removed some. */
export async function retains(dataSource: DataSource, o: Objects, cursor: Cursor): Promise<boolean> {
  const [row] = await dataSource.query(`SELECT pruned_through::text AS p FROM ${o.meta} WHERE id = 1`);
  return cursor.position > BigInt(row?.p ?? 0);
}

/**
 * Deletes whole transactions older than the retention (by age, or beyond
 * the newest `maxRows` rows), never one after `readThrough` (what this
 * process's reader has not read yet) nor one another live process's reader
 * has not read (`live_outbox_readers`, refreshed within `staleReaderMs`).
 * One pruner at a time across processes (an advisory lock; the others
 * skip). Returns how many outbox rows went.
 */
export async function prune(dataSource: DataSource, o: Objects, retention: OutboxRetention, readThrough: bigint | undefined, self?: string): Promise<number> {
  const maxAgeMs = retention.maxAgeMs ?? 24 * 3600_000;
  const maxRows = retention.maxRows ?? 1_000_000;
  const runner = dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    const [locked] = await runner.query(`SELECT pg_try_advisory_xact_lock(${o.lockKey} + 1) AS ok`);
    if (!locked.ok) {
      await runner.rollbackTransaction();
      return 0;
    }
    const [byAge] = await runner.query(
      `SELECT coalesce(max(position), 0)::text AS p FROM ${o.tx} WHERE committed_at < clock_timestamp() - make_interval(secs => $1)`,
      [maxAgeMs / 1000],
    );
    const [byRows] = await runner.query(
      `SELECT coalesce((SELECT t.position - 1 FROM ${o.outbox} o JOIN ${o.tx} t ON t.xid = o.xid
         WHERE t.position IS NOT NULL ORDER BY t.position DESC, o.seq DESC OFFSET $1 LIMIT 1), 0)::text AS p`,
      [maxRows],
    );
    let cutoff = BigInt(byAge.p) > BigInt(byRows.p) ? BigInt(byAge.p) : BigInt(byRows.p);
    if (readThrough !== undefined && cutoff > readThrough) cutoff = readThrough;
    const [readers] = await runner.query(
      `SELECT min(position)::text AS p FROM ${o.readers} WHERE seen_at > clock_timestamp() - make_interval(secs => $1) AND id IS DISTINCT FROM $2`,
      [(retention.staleReaderMs ?? 60_000) / 1000, self ?? null],
    );
    if (readers.p !== null && cutoff > BigInt(readers.p)) cutoff = BigInt(readers.p);
    // Readers silent ten times that long are gone for good (killed): forgotten.
    await runner.query(`DELETE FROM ${o.readers} WHERE seen_at < clock_timestamp() - make_interval(secs => $1)`, [(retention.staleReaderMs ?? 60_000) / 100]);
    let removed = 0;
    if (cutoff > 0n) {
      const result = await runner.query(
        `WITH gone AS (DELETE FROM ${o.tx} WHERE position <= $1 RETURNING xid)
         DELETE FROM ${o.outbox} o USING gone WHERE o.xid = gone.xid`,
        [cutoff.toString()],
      );
      removed = Array.isArray(result) && typeof result[1] === 'number' ? result[1] : 0;
      await runner.query(`UPDATE ${o.meta} SET pruned_through = greatest(pruned_through, $1) WHERE id = 1`, [cutoff.toString()]);
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
