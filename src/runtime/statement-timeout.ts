import type { DataSource } from 'typeorm';

interface PgClient {
  query(text: string): Promise<unknown>;
}
interface PgPool {
  on(event: 'acquire', listener: (client: PgClient) => void): unknown;
  off(event: 'acquire', listener: (client: PgClient) => void): unknown;
}

/**
 * Bounds every statement on the DataSource's PostgreSQL connections to `ms`
 * (PostgreSQL's `statement_timeout`): a request whose SQL runs longer is
 * cancelled by the server and the client gets TIMEOUT, and the connection is
 * free again. Set once per connection, the first time the pool hands it out
 * (node-postgres runs a client's queries in order, so the setting precedes
 * whatever the connection was taken for). Returns the undo, or undefined
 * when the DataSource has no node-postgres pool.
 */
export function boundStatements(dataSource: DataSource, ms: number): (() => void) | undefined {
  const pool = (dataSource.driver as { master?: PgPool }).master;
  if (!pool || typeof pool.on !== 'function' || !(ms > 0)) return undefined;
  const bounded = new WeakSet<PgClient>();
  const sql = `SET statement_timeout = ${Math.floor(ms)}`;
  const onAcquire = (client: PgClient) => {
    if (bounded.has(client)) return;
    bounded.add(client);
    // A failure here (the connection is dying) shows in the query that follows.
    client.query(sql).catch(() => undefined);
  };
  pool.on('acquire', onAcquire);
  return () => void pool.off('acquire', onAcquire);
}
