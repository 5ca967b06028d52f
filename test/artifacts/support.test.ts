/**
 * The test infrastructure itself: per-suite databases on the real PostgreSQL, and
 * the embedded PGlite server (isolation of concurrent transactions, and no
 * interleaving of extended-protocol batches between pooled connections).
 */
import 'reflect-metadata';
import { Pool } from 'pg';
import { Column, DataSource, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/embedded';
import { createTestDatabase, databaseExists, testDataSource } from '../support/database';

@Entity()
class Note {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'text' })
  body: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('createTestDatabase (real PostgreSQL)', () => {
  it('creates a fresh database, connects TypeORM and drops it', async () => {
    const db = await createTestDatabase('support');
    expect(db.name).toMatch(new RegExp(`^tgl_support_${process.pid}_[0-9a-f]{8}$`));
    let dataSource: DataSource | undefined;
    try {
      dataSource = await testDataSource(db.url, [Note]);
      await dataSource.getRepository(Note).save({ body: 'hello' });
      expect(await dataSource.getRepository(Note).find()).toEqual([{ id: 1, body: 'hello' }]);
      expect(await databaseExists(db.name)).toBe(true);
    } finally {
      // The DataSource is deliberately left open: drop() must terminate its backends.
      await db.drop();
      await dataSource?.destroy().catch(() => undefined);
    }
    expect(await databaseExists(db.name)).toBe(false);
    await db.drop(); // idempotent
  });
});

describe('startEmbeddedPostgres (PGlite behind pglite-socket)', () => {
  let embedded: EmbeddedPostgres;
  let dataSource: DataSource;

  beforeAll(async () => {
    embedded = await startEmbeddedPostgres({ maxConnections: 20 });
    expect(embedded.url).toBe(`postgres://postgres@127.0.0.1:${embedded.port}/postgres`);
    dataSource = await testDataSource(embedded.url, [Note], { poolSize: embedded.poolSize });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await embedded?.close();
  });

  beforeEach(() => dataSource.getRepository(Note).clear());

  it('isolates concurrent transactions and discards the rolled-back one', async () => {
    const bodies = async (manager = dataSource.manager) =>
      (await manager.getRepository(Note).find({ order: { id: 'ASC' } })).map((n) => n.body);

    const doomed = dataSource.transaction(async (manager) => {
      await manager.getRepository(Note).save({ body: 'doomed' });
      await sleep(50);
      expect(await bodies(manager)).toEqual(expect.arrayContaining(['doomed']));
      throw new Error('roll me back');
    });
    const kept = dataSource.transaction(async (manager) => {
      await manager.getRepository(Note).save({ body: 'kept' });
      await sleep(50);
      return bodies(manager);
    });
    const outsider = sleep(10).then(() => bodies());

    const [doomedResult, keptSeen, outsiderSeen] = await Promise.allSettled([doomed, kept, outsider]);
    expect(doomedResult).toMatchObject({ status: 'rejected', reason: { message: 'roll me back' } });
    expect(keptSeen).toMatchObject({ status: 'fulfilled' });
    expect(outsiderSeen).toMatchObject({ status: 'fulfilled' });
    // Neither the other transaction nor a plain reader ever saw the uncommitted row.
    if (keptSeen.status === 'fulfilled') expect(keptSeen.value).not.toContain('doomed');
    if (outsiderSeen.status === 'fulfilled') expect(outsiderSeen.value).not.toContain('doomed');
    expect(await bodies()).toEqual(['kept']);
  });

  it('does not interleave large parameterized queries of concurrent connections', async () => {
    // Parameters this large reach the server in several TCP reads. Unguarded,
    // pglite-socket ran other connections' messages in between, and some INSERTs
    // silently executed another connection's SELECT. A pool of 10 (more than we
    // recommend) makes that interleaving likely.
    const pool = new Pool({ connectionString: embedded.url, max: 10 });
    try {
      const size = 300_000;
      const results = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          if (i % 2 === 0) {
            const { rows } = await pool.query<{ n: number }>(
              'INSERT INTO note (body) VALUES ($1) RETURNING length(body) AS n',
              [String(i % 10).repeat(size + i)],
            );
            return rows[0]?.n === size + i;
          }
          const { rows } = await pool.query<{ x: number; s: string }>('SELECT $1::int * 2 AS x, $2::text AS s', [
            i,
            `q${i}`,
          ]);
          return rows[0]?.x === i * 2 && rows[0]?.s === `q${i}`;
        }),
      );
      expect(results.filter((ok) => !ok)).toHaveLength(0);
      expect(await dataSource.getRepository(Note).count()).toBe(30);
    } finally {
      await pool.end();
    }
  });
});
