/**
 * The server of `npm run bench:abuse`: the demo app as `npm start` serves
 * it — rate limits on, every limit at its default — in ORM capture, or in
 * database capture with `database` as the third argument.
 *
 *   tsx bench/abuse-server.ts <database-url> <jwt-secret> [orm|database]
 */
import 'reflect-metadata';
import { createDemoApp } from '../example/app';
import { demoEntities } from '../example/entities';
import { createLiveServer } from '../src';
import { testDataSource } from '../test/support/database';
import { childArgs, serveChild } from './lib/child';

serveChild('abuse-server', async () => {
  const { databaseUrl, secret } = childArgs('abuse-server.ts');
  const capture = process.argv[4] === 'database' ? 'database' : 'orm';
  const dataSource = await testDataSource(databaseUrl, demoEntities);
  const server = await createLiveServer({
    dataSource,
    ...createDemoApp(dataSource, secret, { rateLimits: true }),
    capture,
    port: 0,
    host: '127.0.0.1',
    logging: false,
    graphiql: false,
    closeDataSource: true,
  });
  return { url: server.url, wsUrl: server.wsUrl, close: () => server.close() };
});
