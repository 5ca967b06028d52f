/**
 * System `live` of the benchmark: the demo app (example/app.ts) served by
 * typeorm-graphql-live's createLiveServer, with its defaults (ORM capture,
 * in-process pubsub, every limit but connections per address), as a child process of bench/run.ts so that its CPU
 * time and memory can be read from /proc apart from the load client's.
 *
 *   tsx bench/live-server.ts <database-url> <jwt-secret>
 *
 * The tables already exist (the harness seeds them); `synchronize` finds
 * nothing to do.
 */
import 'reflect-metadata';
import { createDemoApp } from '../example/app';
import { demoEntities } from '../example/entities';
import { createLiveServer } from '../src';
import { testDataSource } from '../test/support/database';
import { childArgs, serveChild } from './lib/child';

serveChild('live-server', async () => {
  const { databaseUrl, secret } = childArgs('live-server.ts');
  const dataSource = await testDataSource(databaseUrl, demoEntities);
  const server = await createLiveServer({
    dataSource,
    ...createDemoApp(dataSource, secret),
    port: 0,
    host: '127.0.0.1',
    logging: false,
    graphiql: false,
    // The load client is one address holding thousands of sockets; every other limit is at its default.
    maxConnectionsPerAddress: Number.POSITIVE_INFINITY,
    subscribeRatePerAddress: false,
    connectRatePerAddress: false,
    closeDataSource: true,
  });
  return { url: server.url, wsUrl: server.wsUrl, close: () => server.close() };
});
