/**
 * The demo server as a child process of bench/quick-fanout.ts, so that its
 * CPU time and memory can be read apart from the load client's.
 *
 *   tsx bench/fanout-server.ts <database-url>
 *
 * Prints `fanout-server <url> pid <pid>` and, when forked, sends
 * `{ url, wsUrl, pid }` over IPC. Closes on the IPC message `'close'`, on
 * SIGTERM / SIGINT, and when the parent goes away.
 */
import 'reflect-metadata';
import { createDemoApp } from '../example/app';
import { demoEntities } from '../example/entities';
import { createLiveServer } from '../src';
import { testDataSource } from '../test/support/database';

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error('usage: tsx bench/fanout-server.ts <database-url>');
  const dataSource = await testDataSource(url, demoEntities);
  const server = await createLiveServer({
    dataSource,
    ...createDemoApp(dataSource, 'bench'),
    port: 0,
    host: '127.0.0.1',
    logging: false,
    graphiql: false,
    closeDataSource: true,
  });
  console.log(`fanout-server ${server.url} pid ${process.pid}`);
  process.send?.({ url: server.url, wsUrl: server.wsUrl, pid: process.pid });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= server.close().then(
      () => process.exit(0),
      (error) => { console.error(error); process.exit(1); },
    );
  };
  process.on('message', (message) => { if (message === 'close') close(); });
  process.on('disconnect', close);
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
