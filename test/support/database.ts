/**
 * Helpers for jest suites that run against the real PostgreSQL server.
 *
 * Every suite gets its own freshly created database, so suites can run in
 * parallel jest workers, use `synchronize: true`, and never see each other's
 * rows, triggers, outbox tables or NOTIFY channels. Dropping it at the end keeps
 * the server clean even after a crashed run (names carry the pid; leftovers of
 * dead runs can be removed by prefix `tgl_`).
 */
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';

/** TypeORM 1.x options of the `postgres` driver (named `PostgresDataSourceOptions` there). */
export type PostgresOptions = Extract<DataSourceOptions, { type: 'postgres' }>;

/** A database created by {@link createTestDatabase}. */
export interface TestDatabase {
  /** Database name, `tgl_<prefix>_<pid>_<random>`. */
  name: string;
  /** Connection URL of the new database (same server and user as the admin URL). */
  url: string;
  /** Terminates the database's remaining connections and drops it. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Where test databases are created: a superuser (or CREATEDB) connection to the
 * maintenance database. Override with `PG_ADMIN_URL`; default
 * `postgres://postgres@127.0.0.1:5432/postgres` (trust auth on CI).
 */
export function adminUrl(): string {
  return process.env.PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/** Runs `fn` with a short-lived admin connection (never pooled: nothing stays open between suites). */
async function withAdmin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Quotes an SQL identifier (names are generated, but stay safe for any prefix). */
function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates a new, empty database for one suite.
 *
 * @param prefix short suite name; lower-cased, non `[a-z0-9_]` characters become `_`.
 *   The full name is cut to PostgreSQL's 63-byte identifier limit.
 */
export async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const name = `tgl_${safe}_${process.pid}_${randomBytes(4).toString('hex')}`.slice(0, 63);
  await withAdmin((c) => c.query(`CREATE DATABASE ${ident(name)}`));

  const url = new URL(adminUrl());
  url.pathname = `/${name}`;

  let dropped: Promise<void> | undefined;
  const drop = (): Promise<void> => {
    dropped ??= withAdmin(async (c) => {
      // WITH (FORCE) terminates backends too (PG 13+); the explicit terminate also
      // covers servers where FORCE is unavailable and makes the intent obvious.
      await c.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      await c.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
    });
    return dropped;
  };

  return { name, url: url.toString(), drop };
}

/** Whether a database of that name exists on the admin server (for assertions). */
export async function databaseExists(name: string): Promise<boolean> {
  return withAdmin(async (c) => {
    const result = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return result.rowCount === 1;
  });
}

/**
 * Connects an initialized TypeORM DataSource to `url`, creating the tables of
 * `entities` (`synchronize: true`).
 *
 * Defaults: `type: 'postgres'`, `synchronize: true`, `logging: false`. `extra`
 * overrides any of them, e.g. `{ poolSize: embedded.poolSize }` or `{ subscribers }`.
 * Call `destroy()` on the result before dropping the database.
 */
export async function testDataSource(
  url: string,
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- entity classes, typed as TypeORM types them
  entities: Function[],
  extra: Partial<PostgresOptions> = {},
): Promise<DataSource> {
  const options: PostgresOptions = { type: 'postgres', url, entities, synchronize: true, logging: false, ...extra };
  const dataSource = new DataSource(options);
  return dataSource.initialize();
}
