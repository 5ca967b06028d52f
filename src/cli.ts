#!/usr/bin/env node
/**
 * typeorm-graphql-live CLI.
 *
 *   serve --app <module>                 serve an app (default export of defineApp)
 *   print-schema --app <module> [--out FILE] [--check]
 *   print-migration --app <module>       the SQL of database capture (outbox, triggers)
 *
 * serve reads PORT (default 4000), DATABASE_URL (absent: embedded
 * PostgreSQL, in memory, or on disk under PGLITE_DIR), LIVE_CAPTURE
 * (`orm`, the default, or `database`) and REDIS_URL (ORM capture with
 * several processes; its keys under REDIS_PREFIX, default `live`). It creates the tables with TypeORM's `synchronize`
 * on the embedded database, and on DATABASE_URL only with `--sync`.
 * `--workers N` (or WORKERS=N) runs N processes on the one port
 * (node:cluster): it needs DATABASE_URL, and in ORM capture REDIS_URL.
 */
import 'reflect-metadata';
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { DataSource } from 'typeorm';
import { redisTransport } from './transport/redis-streams';
import { outboxMigrationSQL, outboxTables } from './capture/database/migration';
import type { LiveApp } from './define/app';
import { startEmbeddedPostgres } from './embedded';
import { createLiveRuntime, type CaptureMode } from './runtime/create-live-runtime';
import { createLiveServer } from './server/create-live-server';

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function loadApp(path: string | undefined): Promise<LiveApp> {
  if (!path) throw new Error('--app <module> is required');
  const mod = await import(resolve(path));
  const app = (mod.default?.default ?? mod.default) as LiveApp | undefined;
  if (!app?.entities || !app.setup) throw new Error(`${path} must export default defineApp({ entities, setup })`);
  return app;
}

/** An app's live schema built from entity metadata alone (no database connection). */
async function offlineSchema(app: LiveApp) {
  const dataSource = new DataSource({ type: 'postgres', entities: app.entities });
  // Metadata is all the generator reads; building it needs no connection.
  await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  const setup = await app.setup(dataSource);
  return createLiveRuntime({ dataSource, ...setup });
}

/** The sorted SDL of an app. */
export async function appSchemaSDL(app: LiveApp): Promise<string> {
  const { schema } = await offlineSchema(app);
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}

/** The idempotent SQL that installs database capture for an app's exposed tables. */
export async function appMigrationSQL(app: LiveApp): Promise<string> {
  const { models } = await offlineSchema(app);
  return outboxMigrationSQL(outboxTables(models));
}

function captureMode(): CaptureMode {
  const mode = process.env.LIVE_CAPTURE ?? 'orm';
  if (mode !== 'orm' && mode !== 'database') throw new Error(`LIVE_CAPTURE must be orm or database, not ${JSON.stringify(mode)}`);
  return mode;
}

async function printSchemaCommand(args: string[]): Promise<number> {
  const sdl = await appSchemaSDL(await loadApp(flag(args, 'app')));
  const out = flag(args, 'out');
  if (!out) {
    process.stdout.write(sdl);
    return 0;
  }
  if (args.includes('--check')) {
    const current = await readFile(out, 'utf8').catch(() => '');
    if (current !== sdl) {
      console.error(`${out} is stale: run npm run schema`);
      return 1;
    }
    return 0;
  }
  await writeFile(out, sdl);
  console.log(`wrote ${out}`);
  return 0;
}

/**
 * `--workers N`: this process prepares the database once (synchronize when
 * asked, the app's seed), then forks N workers that serve on the same port
 * (node:cluster hands connections round-robin) and restarts one that dies.
 * All of them sign and verify tokens with one JWT_SECRET.
 */
async function serveWorkers(args: string[], workers: number): Promise<void> {
  const capture = captureMode();
  if (!process.env.DATABASE_URL) throw new Error('--workers needs DATABASE_URL: the embedded database lives inside one process');
  if (capture === 'orm' && !process.env.REDIS_URL) {
    throw new Error('--workers with ORM capture needs REDIS_URL (each process would see only its own writes); or set LIVE_CAPTURE=database');
  }
  const app = await loadApp(flag(args, 'app'));
  const dataSource = new DataSource({ type: 'postgres', url: process.env.DATABASE_URL, entities: app.entities, synchronize: args.includes('--sync') });
  await dataSource.initialize();
  await app.seed?.(dataSource);
  await dataSource.destroy();
  process.env.JWT_SECRET ??= randomBytes(32).toString('hex');
  let stopping = false;
  const fork = () => cluster.fork({ LIVE_WORKER: '1' });
  for (let i = 0; i < workers; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.error(`worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    const left = () => Object.keys(cluster.workers ?? {}).length;
    const timer = setInterval(() => left() === 0 && process.exit(0), 100);
    setTimeout(() => process.exit(1), 10_000).unref();
    timer.unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  console.log(`typeorm-graphql-live: ${workers} workers on port ${process.env.PORT ?? 4000}, ${capture} capture${capture === 'orm' ? ', changes shared through Redis' : ''}`);
}

async function serveCommand(args: string[]): Promise<void> {
  const workers = Number(flag(args, 'workers') ?? process.env.WORKERS ?? 1);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer, not ${JSON.stringify(flag(args, 'workers') ?? process.env.WORKERS)}`);
  if (workers > 1 && cluster.isPrimary) return serveWorkers(args, workers);
  // A worker: the primary has prepared the database.
  const worker = process.env.LIVE_WORKER === '1';
  const app = await loadApp(flag(args, 'app'));
  const port = Number(process.env.PORT ?? 4000);
  const capture = captureMode();
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir: process.env.PGLITE_DIR });
  const url = process.env.DATABASE_URL || embedded!.url;
  const dataSource = new DataSource({
    type: 'postgres',
    url,
    entities: app.entities,
    // The embedded database starts empty; a real one is changed only when asked (`--sync`), else by migrations.
    synchronize: embedded !== undefined || (args.includes('--sync') && !worker),
    ...(embedded ? { poolSize: embedded.poolSize } : {}),
  });
  await dataSource.initialize();
  if (!worker) await app.seed?.(dataSource);
  const setup = await app.setup(dataSource);
  // Several processes in ORM capture: Redis carries every process's changes to every other.
  const transport = capture === 'orm' && process.env.REDIS_URL ? redisTransport(dataSource, { url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX, onError: (e) => console.error('redis:', (e as Error).message) }) : undefined;
  const server = await createLiveServer({
    dataSource, ...setup, port, closeDataSource: true, onClose: () => embedded?.close(),
    capture, transport,
    // LISTEN does not work through the PGlite socket: embedded database capture polls.
    ...(embedded ? { outbox: { listen: false } } : {}),
  });
  const where = embedded ? 'embedded PostgreSQL (PGlite, in memory)' : 'PostgreSQL from DATABASE_URL';
  if (transport) {
    // Health, until metrics have an endpoint: a line whenever the transport's state changes.
    let last = '';
    const health = setInterval(() => {
      const { connected, backlog, lastGap } = transport.state;
      const line = `redis transport: ${connected ? 'connected' : 'disconnected'}, ${backlog} transactions waiting${lastGap ? `, last gap ${lastGap.at.toISOString()} (${lastGap.reason})` : ''}`;
      if (line !== last) console.log(`[${process.pid}] ${line}`);
      last = line;
    }, 5000);
    health.unref();
  }
  if (worker) {
    console.log(`worker ${process.pid} serving ${server.url}`);
  } else {
    console.log(`typeorm-graphql-live on ${server.url} (GraphiQL in a browser, WebSocket on ${server.wsUrl}) using ${where}, ${capture} capture${transport ? ', changes shared through Redis' : ''}`);
    console.log('Try: mutation { login(username: "alice", password: "password123") { token } } — then send the token as "Authorization: Bearer <token>".');
  }
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    server.close().then(() => process.exit(0), (error) => {
      console.error(error);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === 'serve') return serveCommand(args);
  if (command === 'print-schema') {
    process.exitCode = await printSchemaCommand(args);
    return;
  }
  if (command === 'print-migration') {
    process.stdout.write(await appMigrationSQL(await loadApp(flag(args, 'app'))));
    return;
  }
  console.error('usage: cli serve --app <module> | print-schema --app <module> [--out FILE] [--check] | print-migration --app <module>');
  process.exitCode = 2;
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
