/**
 * One server process of a multi-process test: the demo app on port 0, ORM
 * capture with the Redis transport (or database capture), reporting
 * `{ url, wsUrl, pid }` over IPC once it serves. Closes on 'close',
 * SIGTERM, or when the test process goes away.
 *
 *   tsx test/support/server-process.ts <database-url> <jwt-secret> orm <redis-url> <key-prefix>
 *   tsx test/support/server-process.ts <database-url> <jwt-secret> database [outbox options as JSON]
 */
import 'reflect-metadata';
import { createDemoApp } from '../../example/app';
import { demoEntities } from '../../example/entities';
import { createLiveServer, redisTransport } from '../../src';
import { testDataSource } from './database';

async function main(): Promise<void> {
  const [databaseUrl, secret, capture, fourth, prefix] = process.argv.slice(2);
  // ORM capture: the Redis URL; database capture: outbox options as JSON.
  const redisUrl = capture === 'database' ? undefined : fourth;
  const outbox = capture === 'database' && fourth ? JSON.parse(fourth) : {};
  const dataSource = await testDataSource(databaseUrl, demoEntities, { synchronize: false });
  const server = await createLiveServer({
    dataSource,
    ...createDemoApp(dataSource, secret),
    capture: capture === 'database' ? 'database' : 'orm',
    transport: capture === 'database' ? undefined : redisTransport(dataSource, { url: redisUrl, prefix, maxBacklog: 1000 }),
    port: 0,
    host: '127.0.0.1',
    logging: false,
    closeDataSource: true,
    ...(capture === 'database' ? { outbox: { pollIntervalMs: 100, ...outbox } } : {}),
  });
  process.send?.({ type: 'ready', url: server.url, wsUrl: server.wsUrl, pid: process.pid });
  let closing = false;
  const close = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(1), 5_000).unref();
    server.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('message', (m) => m === 'close' && close());
  process.on('disconnect', close);
  process.on('SIGTERM', close);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
