/**
 * Database capture (`capture: 'database'`): what ORM capture cannot see —
 * bulk UPDATE/DELETE, raw SQL from another connection, QueryBuilder bulk
 * writes — reaches subscribers with the right group moves; rolled-back
 * transactions deliver nothing; transactions are delivered in commit order
 * even when the one that wrote first commits last; a killed listener
 * connection loses nothing; pruning and the installer behave.
 */
import { createClient } from 'graphql-ws';
import { Client } from 'pg';
import WebSocket from 'ws';
import { createDemoApp } from '../../example/app';
import { demoEntities, Task } from '../../example/entities';
import demoApp from '../../example/app';
import { createLiveServer, installOutbox, outboxMigrationSQL, outboxTables } from '../../src';
import { OutboxReader } from '../../src/internals';
import { appMigrationSQL } from '../../src/cli';
import { testDataSource } from '../support/database';
import { isText, LiveHarness, SECRET, TASK_GROUP, TASK_INSTANCE, task, untilAll, waitUntil, type LiveUser } from '../support/live';

let h: LiveHarness;
let alice: LiveUser;
let sql: Client;

beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'live_db', capture: 'database', server: { outbox: { pollIntervalMs: 100 } } });
  alice = await h.signUp('alice');
  sql = new Client({ connectionString: (h.ds.options as { url: string }).url });
  await sql.connect();
});
afterEach(async () => { await h.unsubscribeAll(); });
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

const outbox = () => h.server.live.outbox!;
/** A marker task written with raw SQL: subscribers of `list` see it after everything written before. */
const marker = (list: string, text = 'marker') => () => sql.query('INSERT INTO task (text, "listId") VALUES ($1, $2)', [text, Number(list)]);

async function tasks(list: string, n: number, prefix = 't'): Promise<string[]> {
  const { rows } = await sql.query(
    'INSERT INTO task (text, "listId") SELECT $1 || i, $2 FROM generate_series(1, $3) AS i RETURNING id',
    [prefix, Number(list), n],
  );
  return rows.map((r) => String(r.id));
}

it('a bulk UPDATE of 100 rows delivers 100 events with the group moves', async () => {
  const from = await h.createList(alice, 'From');
  const to = await h.createList(alice, 'To');
  const ids = await tasks(from, 100);
  const fromGroup = await h.subscribe(h.client(alice), TASK_GROUP, { list: from });
  const toGroup = await h.subscribe(h.client(alice), TASK_GROUP, { list: to });
  const instance = await h.subscribe(h.client(alice), TASK_INSTANCE, { id: ids[42] });

  const moved = await sql.query('UPDATE task SET "listId" = $2, done = true WHERE "listId" = $1', [Number(from), Number(to)]);
  expect(moved.rowCount).toBe(100);

  const left = await fromGroup.next(100);
  const arrived = await toGroup.next(100);
  const byId = (a: { id: string }, b: { id: string }) => Number(a.id) - Number(b.id);
  expect(left.sort(byId)).toEqual(ids.map((id) => ({ action: 'DELETED', id, task: null })));
  expect(arrived.sort(byId)).toEqual(ids.map((id, i) => ({ action: 'CREATED', id, task: task(id, `t${i + 1}`, true, to) })));
  expect(await instance.next(1)).toEqual([{ action: 'UPDATED', id: ids[42], task: task(ids[42], 't43', true, to) }]);

  // Nothing more: no duplicates behind the bulk events.
  const [f, t] = await untilAll([fromGroup, toGroup], async () => {
    await marker(from)();
    await marker(to)();
  }, isText('marker'));
  expect(f).toEqual([]);
  expect(t).toEqual([]);
});

it('raw SQL from another client: INSERT, UPDATE, DELETE are delivered', async () => {
  const list = await h.createList(alice, 'Raw');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });

  const { rows: [{ id }] } = await sql.query('INSERT INTO task (text, "listId") VALUES ($1, $2) RETURNING id', ['raw', Number(list)]);
  await sql.query('UPDATE task SET text = $1 WHERE id = $2', ['raw, edited', id]);
  await sql.query('UPDATE task SET text = text WHERE id = $1', [id]); // changes nothing: no event
  await sql.query('DELETE FROM task WHERE id = $1', [id]);

  expect(await group.until(marker(list), isText('marker'))).toEqual([
    { action: 'CREATED', id: String(id), task: task(String(id), 'raw', false, list) },
    { action: 'UPDATED', id: String(id), task: task(String(id), 'raw, edited', false, list) },
    { action: 'DELETED', id: String(id), task: null },
  ]);
});

it('QueryBuilder bulk writes and a DELETE … WHERE are delivered', async () => {
  const list = await h.createList(alice, 'QueryBuilder');
  const ids = await tasks(list, 3, 'qb');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });

  await h.ds.createQueryBuilder().update(Task).set({ done: true }).where('"listId" = :list', { list: Number(list) }).execute();
  const updated = await group.next(3);
  expect(updated.map((e) => [e.action, e.id, e.task.done]).sort()).toEqual(ids.map((id) => ['UPDATED', id, true]).sort());

  await h.ds.createQueryBuilder().delete().from(Task).where('"listId" = :list', { list: Number(list) }).execute();
  const deleted = await group.next(3);
  expect(deleted.map((e) => [e.action, e.id]).sort()).toEqual(ids.map((id) => ['DELETED', id]).sort());
});

it('deleting a list deletes its tasks by ON DELETE CASCADE: their subscribers get DELETED', async () => {
  const list = await h.createList(alice, 'Cascade');
  const ids = await tasks(list, 2, 'c');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
  await sql.query('DELETE FROM todo_list WHERE id = $1', [Number(list)]);
  expect((await group.next(2)).map((e) => [e.action, e.id]).sort()).toEqual(ids.map((id) => ['DELETED', id]).sort());
});

it('a rolled-back transaction delivers nothing', async () => {
  const list = await h.createList(alice, 'Rollback');
  const [id] = await tasks(list, 1, 'kept');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
  await sql.query('BEGIN');
  await sql.query('UPDATE task SET text = $1 WHERE id = $2', ['undone', Number(id)]);
  await sql.query('INSERT INTO task (text, "listId") VALUES ($1, $2)', ['ghost', Number(list)]);
  await sql.query('ROLLBACK');
  expect(await group.until(marker(list), isText('marker'))).toEqual([]);
});

it('two interleaved transactions: the one that wrote first but commits last is delivered, after the other', async () => {
  const list = await h.createList(alice, 'Interleaved');
  const [a, b] = await tasks(list, 2, 'i');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
  const other = new Client({ connectionString: (h.ds.options as { url: string }).url });
  await other.connect();
  try {
    await sql.query('BEGIN');
    await sql.query('UPDATE task SET text = $1 WHERE id = $2', ['first written', Number(a)]);
    await other.query('BEGIN');
    await other.query('UPDATE task SET text = $1 WHERE id = $2', ['second written', Number(b)]);
    await other.query('COMMIT');
    // The later write is delivered while the earlier one is still open…
    expect(await group.next(1)).toEqual([{ action: 'UPDATED', id: b, task: task(b, 'second written', false, list) }]);
    await sql.query('COMMIT');
    // …and the earlier one once it commits: nothing skipped, commit order kept.
    expect(await group.next(1)).toEqual([{ action: 'UPDATED', id: a, task: task(a, 'first written', false, list) }]);
    const { rows } = await sql.query('SELECT seq FROM live_outbox WHERE new->>\'text\' IN ($1, $2) ORDER BY seq', ['first written', 'second written']);
    expect(rows).toHaveLength(2); // sequence order was a, b; delivery order b, a
  } finally {
    await sql.query('ROLLBACK').catch(() => undefined);
    await other.end();
  }
});

it('the listener connection killed mid-stream loses nothing and repeats nothing', async () => {
  const list = await h.createList(alice, 'Killed');
  const [id] = await tasks(list, 1, 'k');
  const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
  const listensBefore = outbox().listens;
  const texts: string[] = [];
  for (let i = 0; i < 60; i++) {
    const text = `k${i}`;
    texts.push(text);
    await sql.query('UPDATE task SET text = $1 WHERE id = $2', [text, Number(id)]);
    if (i === 20 || i === 40) {
      await waitUntil(() => outbox().listening, 10_000, () => 'the listener to be connected');
      const killed = await sql.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'typeorm-graphql-live outbox listener' AND datname = current_database()",
      );
      expect(killed.rows).toEqual([{ ok: true }]);
    }
  }
  const events = await group.next(60);
  expect(events.map((e) => e.task.text)).toEqual(texts);
  expect(await group.until(marker(list), isText('marker'))).toEqual([]);
  await waitUntil(() => outbox().listens >= listensBefore + 2, 10_000, () => 'the listener to reconnect twice');
});

it('a second server process on the same database tails the same outbox: same events, same cursors', async () => {
  const list = await h.createList(alice, 'Two servers');
  const [id] = await tasks(list, 1, 's');
  const ds2 = await testDataSource((h.ds.options as { url: string }).url, demoEntities, { synchronize: false });
  const second = await createLiveServer({ dataSource: ds2, ...createDemoApp(ds2, SECRET), port: 0, host: '127.0.0.1', logging: false, capture: 'database' });
  const client = createClient({ url: second.wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${alice.token}` }, retryAttempts: 0 });
  try {
    const query = 'subscription($list: ID!) { taskGroupChanged(group: { list: $list }) { action id cursor task { text } } }';
    const here = await h.subscribe(h.client(alice), query, { list });
    const there: any[] = [];
    client.subscribe({ query, variables: { list } }, { next: (r) => void there.push(r.data?.taskGroupChanged), error: () => undefined, complete: () => undefined });
    await waitUntil(() => second.live.engine.activeSubscriptions === 1, 10_000, () => 'the second server to hold the subscription');
    await sql.query('UPDATE task SET text = $1 WHERE id = $2', ['seen twice', Number(id)]);
    const [event] = await here.next(1);
    await waitUntil(() => there.length === 1, 10_000, () => 'the event on the second server');
    expect(there).toEqual([event]);
    expect(event.cursor).toMatch(/^\d+:\d+$/);
  } finally {
    await client.dispose();
    await second.close();
    await ds2.destroy();
  }
});

describe('outbox maintenance', () => {
  it('pruning removes whole old transactions and never what the reader has not read', async () => {
    const list = await h.createList(alice, 'Prune');
    await tasks(list, 5, 'p');
    await outbox().catchUp();
    const count = async () => Number((await sql.query('SELECT count(*) AS n FROM live_outbox')).rows[0].n);
    expect(await count()).toBeGreaterThan(5);
    const removed = await outbox().prune({ maxRows: 2 });
    expect(removed).toBeGreaterThan(0);
    // The newest transaction (5 rows) is kept whole though it is more than 2 rows.
    expect(await count()).toBe(5);
    const { rows: [meta] } = await sql.query('SELECT pruned_through::text AS p FROM live_outbox_meta');
    expect(BigInt(meta.p)).toBe(outbox().position.position - 1n);
    // By age: everything committed more than 0 ms ago, up to what was read.
    await outbox().prune({ maxAgeMs: 0 });
    expect(await count()).toBe(0);
    // Capture goes on after pruning.
    const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
    expect(await group.until(marker(list), isText('marker'))).toEqual([]);
  });

  it('the pruning job runs on its own interval', async () => {
    const list = await h.createList(alice, 'Pruning job');
    await tasks(list, 3, 'j');
    await outbox().catchUp();
    const count = async () => Number((await sql.query('SELECT count(*) AS n FROM live_outbox')).rows[0].n);
    expect(await count()).toBeGreaterThan(0);
    const tables = h.server.live.models.map((m) => m.metadata);
    const pruner = new OutboxReader(h.ds, tables, () => undefined, { listen: false, pruneIntervalMs: 50, retention: { maxAgeMs: 0 } });
    await pruner.start();
    try {
      const deadline = Date.now() + 10_000;
      while ((await count()) > 0) {
        if (Date.now() > deadline) throw new Error('the pruning job did not empty the outbox');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await count()).toBe(0);
    } finally {
      await pruner.stop();
    }
  });

  it('the outbox never holds a write-only column (the password hash), and a change of one alone is no change', async () => {
    const carol = await h.signUp('carol_outbox');
    await h.ds.query('UPDATE "user" SET password = $1 WHERE id = $2', ['rehashed', Number(carol.id)]);
    await h.ds.query('UPDATE "user" SET email = $1 WHERE id = $2', ['carol@elsewhere.example', Number(carol.id)]);
    const { rows } = await sql.query(
      `SELECT op, old ? 'password' AS old_has, new ? 'password' AS new_has, new->>'email' AS email FROM live_outbox WHERE table_name = 'public.user' AND coalesce(new, old)->>'id' = $1 ORDER BY seq`,
      [carol.id],
    );
    expect(rows).toEqual([
      { op: 'I', old_has: null, new_has: false, email: 'carol_outbox@example.com' },
      { op: 'U', old_has: false, new_has: false, email: 'carol@elsewhere.example' },
    ]);
  });

  it('the installer is idempotent, also when several processes run it at once', async () => {
    const tables = outboxTables(h.server.live.models);
    await Promise.all([installOutbox(h.ds, tables), installOutbox(h.ds, tables), installOutbox(h.ds, tables)]);
    const { rows } = await sql.query("SELECT tgrelid::regclass::text AS t FROM pg_trigger WHERE tgname LIKE 'live_outbox_%' ORDER BY 1");
    expect(rows.map((r) => r.t).sort()).toEqual(['"user"', 'live_outbox_tx', 'post', 'task', 'todo_list']);
    const migration = outboxMigrationSQL(tables);
    expect(migration).toContain('CREATE TABLE IF NOT EXISTS "public"."live_outbox"');
    expect(migration).toContain('pg_current_xact_id()');
    expect(migration).not.toMatch(/pg_notify\([^)]*(NEW|OLD)/); // wake-up only, no row data
    // `print-migration` prints the same SQL for the demo app, built without a connection.
    expect(await appMigrationSQL(demoApp)).toBe(migration);
  });
});
