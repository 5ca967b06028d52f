/**
 * Embedded PostgreSQL for `npm start` without a database server: PGlite (Postgres
 * compiled to WebAssembly) served over TCP by `@electric-sql/pglite-socket`.
 *
 * Why a socket: `typeorm-pglite` hands one PGlite session to every query runner,
 * so a concurrent transaction that was rolled back could be seen as committed.
 * Behind a socket TypeORM uses its ordinary `pg` driver, as with real PostgreSQL.
 *
 * Why a worker thread: PGlite runs queries synchronously in WebAssembly, which
 * would stall the GraphQL server's event loop; and it loads itself with dynamic
 * `import()`, which jest's module sandbox rejects without --experimental-vm-modules.
 *
 * pglite-socket 0.2.17 with several connections (verified, see test/artifacts/support.test.ts):
 * - Its `maxConnections` defaults to 1 and extra sockets are dropped (ECONNRESET),
 *   even a pool's replacement socket arriving while the old one is still closing.
 * - With `maxConnections > 1` it multiplexes all connections onto the single PGlite
 *   session through one FIFO queue of protocol messages. While PGlite is inside a
 *   transaction block it serves only the connection that owns it, so transactions
 *   run one after another: a rolled-back row is never seen by another connection.
 * - Outside a transaction block it interleaved *messages*, not queries: when a
 *   Parse/Bind/Execute/Sync batch arrived in several TCP reads (parameters of
 *   ~150 kB and more), another connection's Parse replaced the unnamed statement
 *   and the first client's INSERT silently ran the other client's SELECT. The
 *   guard below pins the session to a connection until its Sync.
 * - Session state (SET, temporary tables, named prepared statements, advisory
 *   locks) is shared by all connections; LISTEN/NOTIFY does not reach clients.
 * - Queued messages never time out: code that, inside a transaction, waits for a
 *   query on another connection deadlocks (so does a pool of 1 on real PostgreSQL).
 */
import { Worker } from 'node:worker_threads';

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /**
   * Filesystem directory for the database files, created on first use and reused
   * by later starts. Default `undefined`: in memory, everything is lost on close().
   */
  dataDir?: string;
  /** TCP port to listen on. Default `0`: a free port chosen by the OS (see `port` in the result). */
  port?: number;
  /** Interface to bind. Default `'127.0.0.1'`: loopback only, as there is no authentication. */
  host?: string;
  /**
   * Client sockets accepted at once. Default `10`: the TypeORM pool
   * ({@link EMBEDDED_POOL_SIZE}), sockets still closing after the pool replaced
   * them, a `psql` session. More connections add no parallelism: PGlite runs one
   * statement at a time.
   */
  maxConnections?: number;
}

/** A running embedded server, as returned by {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgres {
  /** `postgres://postgres@host:port/postgres`, for `pg` or TypeORM `{ type: 'postgres', url }`. */
  url: string;
  host: string;
  /** The actual port (useful when `port: 0` was asked for). */
  port: number;
  /** Recommended pool size, {@link EMBEDDED_POOL_SIZE}: TypeORM `poolSize` (or `extra: { max }`). */
  poolSize: number;
  /**
   * Stops the socket server (closing client sockets and rolling back their open
   * transactions), closes PGlite (flushing `dataDir`) and ends the worker thread.
   * Destroy your DataSource first, or its pool reports "Connection terminated".
   * Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Pool size we recommend against the embedded server. Above 1 so that a held
 * query runner, or a query issued after COMMIT but before TypeORM releases the
 * runner, does not starve everyone; small because extra connections only queue
 * for the one PGlite session.
 */
export const EMBEDDED_POOL_SIZE = 4;

/** What the worker reports to the thread that started it. */
type WorkerReport = { type: 'ready'; port: number } | { type: 'failed'; error: string };

/** Startup data of the worker: resolved module paths plus the options. */
interface WorkerInput {
  pglite: string;
  socket: string;
  dataDir: string | undefined;
  host: string;
  port: number;
  maxConnections: number;
}

/**
 * The worker's code (plain JavaScript, so that it runs unchanged under tsc output,
 * tsx and ts-jest). `guard()` keeps pglite-socket's queue serving one connection
 * from its first Parse/Bind until its Sync, as the queue already does inside a
 * transaction block: the queue asks `db.isInTransaction()` before picking the next
 * message and, when true, takes only messages of the connection it served last. We
 * answer true while that connection is mid-batch. When the queue rolls back a
 * client that disconnected mid-batch (`db.exec('ROLLBACK')`), the missing Sync is
 * sent first so PostgreSQL leaves its "ignore until Sync" state. This relies on
 * pglite-socket internals; the interleaving test fails if an upgrade breaks it.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData: input } = require('node:worker_threads');
const { PGlite } = require(input.pglite);
const { PGLiteSocketServer } = require(input.socket);
const BATCH = new Set(['P', 'B', 'D', 'E', 'C', 'H', 'd'].map((c) => c.charCodeAt(0)));
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);
function guard(db) {
  let midBatch = false;
  return new Proxy(db, { get(target, prop) {
    if (prop === 'isInTransaction') return () => midBatch || target.isInTransaction();
    if (prop === 'execProtocolRawStream') return async (message, options) => {
      try { return await target.execProtocolRawStream(message, options); } finally { midBatch = BATCH.has(message[0]); }
    };
    if (prop === 'exec') return async (...args) => {
      if (midBatch) await target.execProtocolRaw(SYNC);
      midBatch = false;
      return target.exec(...args);
    };
    const value = Reflect.get(target, prop, target); // PGlite has #private fields: bind to the real instance
    return typeof value === 'function' ? value.bind(target) : value;
  } });
}
let db, server;
async function shutdown() {
  try { if (server) await server.stop(); } finally { if (db && !db.closed) await db.close(); parentPort.close(); }
}
parentPort.on('message', (message) => { if (message === 'close') shutdown(); });
(async () => {
  db = await PGlite.create(input.dataDir === undefined ? {} : { dataDir: input.dataDir });
  server = new PGLiteSocketServer({ db: guard(db), host: input.host, port: input.port, maxConnections: input.maxConnections });
  await server.start();
  const conn = server.getServerConn(); // "host:port", the port assigned by the OS
  parentPort.postMessage({ type: 'ready', port: Number(conn.slice(conn.lastIndexOf(':') + 1)) });
})().catch((error) => {
  parentPort.postMessage({ type: 'failed', error: String((error && error.stack) || error) });
  shutdown();
});
`;

/**
 * Starts PGlite (in memory, or persisted in `dataDir`) in a worker thread behind a
 * PostgreSQL wire-protocol server, for TypeORM's ordinary `postgres` driver.
 *
 * ```ts
 * const pg = await startEmbeddedPostgres();
 * const ds = new DataSource({ type: 'postgres', url: pg.url, poolSize: pg.poolSize, ... });
 * // ... later
 * await ds.destroy();
 * await pg.close();
 * ```
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  const input: WorkerInput = {
    pglite: require.resolve('@electric-sql/pglite'),
    socket: require.resolve('@electric-sql/pglite-socket'),
    dataDir: options.dataDir,
    host,
    port: options.port ?? 0,
    maxConnections: options.maxConnections ?? 10,
  };
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: input });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let failure: Error | undefined;
  // After startup a worker error would otherwise be an uncaught exception of this process.
  worker.on('error', (error) => {
    failure = error;
    console.error('[embedded-postgres] worker failed:', error);
  });

  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (report: WorkerReport) =>
      report.type === 'ready' ? resolve(report.port) : reject(new Error(`embedded PostgreSQL failed: ${report.error}`)),
    );
    void exited.then(() => reject(failure ?? new Error('embedded PostgreSQL worker exited during startup')));
  }).catch(async (error: unknown) => {
    await exited;
    throw error;
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      worker.postMessage('close');
      // A healthy worker exits on its own once PGlite is closed; do not wait forever for a stuck one.
      const timer = setTimeout(() => void worker.terminate(), 10_000);
      await exited;
      clearTimeout(timer);
    })();
    return closing;
  };

  const urlHost = host.includes(':') ? `[${host}]` : host;
  return { url: `postgres://postgres@${urlHost}:${port}/postgres`, host, port, poolSize: EMBEDDED_POOL_SIZE, close };
}
