/**
 * Database capture with three server processes tailing one outbox, pruning
 * aggressively: a process stopped with SIGSTOP holds pruning back while it
 * still counts as alive (its last report is within `staleReaderMs`); once
 * it is stale the others prune past it, and when it resumes it finds the
 * gap and ends its subscriptions with CHANGES_LOST instead of going on as
 * if nothing had happened. A transaction of many rows is read in parts.
 */
import { randomBytes } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { demoEntities } from '../../example/entities';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';
import { killAll, killGroup, ok, signUp, startServerProcess, stopServerProcess, Watch, type ServerProcess, type User } from '../support/processes';

const GROUP = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text } } }';
const OUTBOX = { retention: { maxAgeMs: 0, staleReaderMs: 4000 }, pruneIntervalMs: 200, heartbeatMs: 200, batchRows: 500 };

let db: TestDatabase;
const servers: ServerProcess[] = [];
let alice: User;
let sql: PgClient;

beforeAll(async () => {
  db = await createTestDatabase('dist_outbox');
  const ds = await testDataSource(db.url, demoEntities);
  await ds.destroy();
  const secret = randomBytes(16).toString('hex');
  // One at a time: the first installs the outbox.
  for (let i = 0; i < 3; i++) servers.push(await startServerProcess([db.url, secret, 'database', JSON.stringify(OUTBOX)]));
  alice = await signUp(servers[0].url, 'alice');
  sql = new PgClient({ connectionString: db.url });
  await sql.connect();
}, 120_000);

afterAll(async () => {
  await sql?.end();
  for (const s of servers) killGroup(s.child, 'SIGCONT');
  await Promise.all(servers.map((s) => stopServerProcess(s).catch(() => undefined)));
  killAll();
  await db?.drop();
});

const createList = async (name: string) =>
  String((await ok(servers[0].url, 'mutation($i: CreateTodoListInput!) { createTodoList(input: $i) { id } }', { i: { name } }, alice.token)).createTodoList.id);
const pruned = async () => BigInt((await sql.query('SELECT pruned_through::text AS p FROM live_outbox_meta')).rows[0].p);
const readerPositions = async () => (await sql.query('SELECT position::text AS p FROM live_outbox_readers')).rows.map((r) => BigInt(r.p));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('a stopped process holds pruning back while it counts as alive; resumed after it went stale, it reports CHANGES_LOST', async () => {
  const list = await createList('Pruned under a stopped process');
  const live = new Watch(servers[0].wsUrl, GROUP, { l: list }, alice.token);
  const stopped = new Watch(servers[2].wsUrl, GROUP, { l: list }, alice.token);
  await sleep(500);
  await sql.query(`INSERT INTO task (text, "listId") VALUES ('first', $1)`, [Number(list)]);
  for (const w of [live, stopped]) await w.until((x) => x.events.length >= 1);
  await sleep(500); // the stopped one has reported how far it read

  killGroup(servers[2].child, 'SIGSTOP');
  try {
    const heldAt = Math.min(...(await readerPositions()).map(Number));
    for (let i = 0; i < 5; i++) await sql.query(`INSERT INTO task (text, "listId") VALUES ($1, $2)`, [`while stopped ${i}`, Number(list)]);
    await live.until((x) => x.events.length >= 6);
    // Within staleReaderMs: nothing the stopped process has not read is pruned.
    expect(Number(await pruned())).toBeLessThanOrEqual(heldAt);

    // Once it is stale the others prune past it.
    await sql.query(`INSERT INTO task (text, "listId") VALUES ('after it went stale', $1)`, [Number(list)]);
    await live.until((x) => x.events.length >= 7);
    const deadline = Date.now() + 30_000;
    while (Number(await pruned()) <= heldAt) {
      if (Date.now() > deadline) throw new Error('the others never pruned past the stale process');
      await sleep(200);
    }
  } finally {
    killGroup(servers[2].child, 'SIGCONT');
  }
  await stopped.until((w) => w.ended, 15_000, 'CHANGES_LOST on the resumed process');
  expect(stopped.errors[0]?.extensions?.code).toBe('CHANGES_LOST');
  expect(stopped.events.map((e) => e.task.text)).toEqual(['first']);
  // The live process missed nothing.
  expect(live.events.map((e) => e.task.text)).toEqual(['first', ...Array.from({ length: 5 }, (_, i) => `while stopped ${i}`), 'after it went stale']);

  // Subscribing again on the resumed process works.
  const again = new Watch(servers[2].wsUrl, GROUP, { l: list }, alice.token);
  await sleep(500);
  await sql.query(`INSERT INTO task (text, "listId") VALUES ('back', $1)`, [Number(list)]);
  await again.until((x) => x.events.some((e) => e.task.text === 'back'), 15_000, 'the write after resuming');
  await Promise.all([live, stopped, again].map((w) => w.close()));
}, 60_000);

it('one transaction of 20,000 rows from psql reaches every process\'s subscriber, read 500 rows at a time', async () => {
  const list = await createList('Bulk');
  const watches = servers.map((s) => new Watch(s.wsUrl, GROUP, { l: list }, alice.token));
  await sleep(500);
  await sql.query(`INSERT INTO task (text, "listId") SELECT 'bulk ' || g, $1 FROM generate_series(1, 20000) g`, [Number(list)]);
  for (const w of watches) await w.until((x) => x.events.length >= 20_000, 60_000, '20,000 events');
  for (const w of watches) {
    expect(w.events).toHaveLength(20_000);
    expect(new Set(w.events.map((e) => e.id)).size).toBe(20_000);
  }
  await Promise.all(watches.map((w) => w.close()));
}, 120_000);
