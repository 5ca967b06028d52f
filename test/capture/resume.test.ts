/**
 * Resumable subscriptions (database capture): every change carries a
 * cursor; subscribing with `after: cursor` first replays what the caller
 * missed and may see now, then goes on live — no gap and no duplicate at the
 * seam, also while writes keep coming. Expired and malformed cursors are
 * refused with clear codes; ORM capture offers no cursors.
 */
import { parse, subscribe } from 'graphql';
import { Client as PgClient } from 'pg';
import { isText, LiveHarness, task, type Change, type LiveUser } from '../support/live';

const GROUP = /* GraphQL */ `
  subscription($list: ID!, $after: String) { taskGroupChanged(group: { list: $list }, after: $after) { action id cursor task { id text done list { id } } } }
`;
const INSTANCE = /* GraphQL */ `
  subscription($id: ID!, $after: String) { taskInstanceChanged(id: $id, after: $after) { action id cursor task { id text done list { id } } } }
`;

let h: LiveHarness;
let alice: LiveUser;
let bob: LiveUser;
let sql: PgClient;

beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'live_resume', capture: 'database', server: { outbox: { pollIntervalMs: 100, pruneIntervalMs: 0 } } });
  alice = await h.signUp('alice');
  bob = await h.signUp('bob');
  sql = new PgClient({ connectionString: (h.ds.options as { url: string }).url });
  await sql.connect();
});
afterEach(async () => { await h.unsubscribeAll(); });
afterAll(async () => {
  await sql?.end();
  await h?.close();
});

const strip = ({ cursor: _cursor, ...rest }: Change) => rest;
const order = (cursor: string) => cursor.split(':').map(BigInt) as [bigint, bigint];
const increasing = (events: Change[]) => events.every((e, i) => {
  if (i === 0) return true;
  const [p, s] = order(events[i - 1].cursor);
  const [q, t] = order(e.cursor);
  return q > p || (q === p && t > s);
});

it('a client that reconnects with its last cursor gets exactly what it missed, then live changes', async () => {
  const list = await h.createList(alice, 'Resume');
  const other = await h.createList(alice, 'Elsewhere');
  const a = await h.createTask(alice, list, 'a');
  const b = await h.createTask(alice, list, 'b');
  const first = await h.subscribe(h.client(alice), GROUP, { list });
  await h.patchTask(alice, a, { text: 'a1' });
  const seen = await first.next(1);
  expect(seen.map(strip)).toEqual([{ action: 'UPDATED', id: a, task: task(a, 'a1', false, list) }]);
  first.unsubscribe(); // the client goes away
  await h.settled();

  // While it is gone: an update, a move out of the group, a bulk raw UPDATE, a create.
  await h.patchTask(alice, a, { text: 'a2' });
  await h.patchTask(alice, b, { list: other });
  await sql.query('UPDATE task SET done = true WHERE "listId" = $1', [Number(list)]);
  const c = await h.createTask(alice, list, 'c');

  const resumed = await h.subscribe(h.client(alice), GROUP, { list, after: seen[0].cursor });
  const missed = await resumed.next(4);
  expect(missed.map(strip)).toEqual([
    { action: 'UPDATED', id: a, task: task(a, 'a2', false, list) },
    { action: 'DELETED', id: b, task: null },
    { action: 'UPDATED', id: a, task: task(a, 'a2', true, list) },
    { action: 'CREATED', id: c, task: task(c, 'c', false, list) },
  ]);
  expect(increasing([seen[0], ...missed])).toBe(true);
  // Then live, nothing twice — sharing one delivery class with a subscriber that did not resume.
  const classes = h.engine.deliveryClasses;
  const fresh = await h.subscribe(h.client(alice), GROUP, { list });
  expect(h.engine.deliveryClasses).toBe(classes);
  await h.patchTask(alice, c, { text: 'c1' });
  expect((await resumed.next(1)).map(strip)).toEqual([{ action: 'UPDATED', id: c, task: task(c, 'c1', false, list) }]);
  expect(await fresh.next(1)).toEqual(resumed.events.slice(-1));
  expect(await resumed.until(() => h.createTask(alice, list, 'marker'), isText('marker'))).toEqual([]);
});

it('no gap and no duplicate at the seam while writes keep coming', async () => {
  const list = await h.createList(alice, 'Seam');
  const id = await h.createTask(alice, list, 'w0');
  const first = await h.subscribe(h.client(alice), INSTANCE, { id });
  const texts = Array.from({ length: 60 }, (_, i) => `w${i + 1}`);
  let writing = true;
  const writer = (async () => {
    for (const text of texts) {
      await sql.query('UPDATE task SET text = $1 WHERE id = $2', [text, Number(id)]);
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    writing = false;
  })();
  await first.waitFor(10);
  first.unsubscribe();
  const before = first.events;
  await h.settled();
  expect(writing).toBe(true); // resuming while changes are still being written
  const resumed = await h.subscribe(h.client(alice), INSTANCE, { id, after: before[before.length - 1].cursor });
  await writer;
  await resumed.waitFor(texts.length - before.length);
  const after = resumed.take();
  const all = [...before, ...after];
  expect(all.map((e) => e.task.text)).toEqual(texts);
  expect(increasing(all)).toBe(true);
  expect(await resumed.until(() => h.patchTask(alice, id, { text: 'marker' }), isText('marker'))).toEqual([]);
});

it('resuming applies the permissions of now: refused once the task turned private, owner still gets what it missed', async () => {
  const list = await h.createList(alice, 'Turns private');
  const id = await h.createTask(alice, list, 'visible');
  const mine = await h.subscribe(h.client(bob), INSTANCE, { id });
  await h.patchTask(alice, id, { text: 'seen by bob' });
  const [last] = await mine.next(1);
  mine.unsubscribe();
  await h.settled();
  await h.patchTask(alice, id, { text: 'secret' });
  await h.setListPrivate(alice, list, true);
  // Bob may no longer see the task: retrieve-time check refuses the instance.
  const refused = await h.subscribe(h.client(bob), INSTANCE, { id, after: last.cursor });
  await refused.waitForEnd();
  expect(refused.errors[0]?.extensions?.code).toBe('NOT_FOUND');
  // Alice, the owner, gets both changes.
  const owner = await h.subscribe(h.client(alice), INSTANCE, { id, after: last.cursor });
  expect((await owner.next(1)).map(strip)).toEqual([{ action: 'UPDATED', id, task: task(id, 'secret', false, list) }]);
  expect(await owner.until(() => h.patchTask(alice, id, { text: 'marker' }), isText('marker'))).toEqual([]);
});

it('a resume whose group left the caller\'s sight is refused with extensions.clear; rows that left its sight meanwhile arrive as DELETED', async () => {
  const list = await h.createList(alice, 'Leaves sight');
  const hidden = await h.createList(alice, 'Hidden', true);
  const stays = await h.createTask(alice, list, 'stays');
  const leaves = await h.createTask(alice, list, 'leaves');
  const group = await h.subscribe(h.client(bob), GROUP, { list });
  await h.patchTask(alice, stays, { text: 'stays 1' });
  const [last] = await group.next(1);
  group.unsubscribe();
  await h.settled();

  // Away: one task moves into a private list, then the watched list itself turns private.
  await h.patchTask(alice, leaves, { list: hidden, text: 'now hidden' });
  const moved = await h.subscribe(h.client(bob), GROUP, { list, after: last.cursor });
  expect((await moved.next(1)).map(strip)).toEqual([{ action: 'DELETED', id: leaves, task: null }]);
  moved.unsubscribe();
  await h.settled();
  await h.setListPrivate(alice, list, true);
  const refused = await h.subscribe(h.client(bob), GROUP, { list, after: moved.events[0].cursor });
  await refused.waitForEnd();
  expect(refused.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN', clear: true } })]);
  // Without `after` the same refusal is an ordinary one: nothing to clear.
  const plain = await h.subscribe(h.client(bob), GROUP, { list });
  await plain.waitForEnd();
  expect(plain.errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
});

it('anonymous replay hides what anonymous callers may not read', async () => {
  const list = await h.createList(alice, 'Anonymous replay');
  const id = await h.createTask(alice, list, 'x');
  const group = await h.subscribe(h.client(null), GROUP, { list });
  await h.patchTask(alice, id, { text: 'x1' });
  const [last] = await group.next(1);
  group.unsubscribe();
  await h.settled();
  await h.patchTask(alice, id, { done: true, text: 'x2' });
  const resumed = await h.subscribe(h.client(null), GROUP, { list, after: last.cursor });
  expect((await resumed.next(1)).map(strip)).toEqual([{ action: 'UPDATED', id, task: task(id, 'x2', null, list) }]);
});

it('a cursor older than retention gets CURSOR_EXPIRED; a malformed one BAD_USER_INPUT', async () => {
  const list = await h.createList(alice, 'Expired');
  const id = await h.createTask(alice, list, 'old');
  const group = await h.subscribe(h.client(alice), GROUP, { list });
  await h.patchTask(alice, id, { text: 'old1' });
  const [old] = await group.next(1);
  await h.patchTask(alice, id, { text: 'new' });
  await group.next(1);
  await h.server.live.outbox!.catchUp();
  expect(await h.server.live.outbox!.prune({ maxAgeMs: 0 })).toBeGreaterThan(0);

  const expired = await h.subscribe(h.client(alice), GROUP, { list, after: old.cursor });
  await expired.waitForEnd();
  expect(expired.errors.map((e) => e.extensions?.code)).toEqual(['CURSOR_EXPIRED']);

  for (const bad of ['abc', '1:', '-1:2', '1:2:3:4', '1:2:0', '99999999999999999999:1']) {
    const refused = await h.subscribe(h.client(alice), GROUP, { list, after: bad });
    await refused.waitForEnd();
    expect(refused.errors.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
  }
  await h.settled();
  expect(h.engine.activeSubscriptions).toBe(1);
});

it('resuming works the same without a WebSocket (a queue per subscriber, as for SSE)', async () => {
  const list = await h.createList(alice, 'Queue');
  const id = await h.createTask(alice, list, 'q');
  const group = await h.subscribe(h.client(alice), GROUP, { list });
  await h.patchTask(alice, id, { text: 'q1' });
  const [last] = await group.next(1);
  await h.patchTask(alice, id, { text: 'q2' });
  await h.patchTask(alice, id, { text: 'q3' });
  await group.next(2);
  const live = h.server.live;
  const stream = await subscribe({
    schema: live.schema,
    document: parse(GROUP),
    variableValues: { list, after: last.cursor },
    contextValue: live.createContext({ id: Number(alice.id), username: 'alice' }),
  }) as AsyncIterableIterator<{ data: { taskGroupChanged: Change } }>;
  const texts = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await stream.next()).value.data.taskGroupChanged.task.text);
    return out;
  };
  expect(await texts(2)).toEqual(['q2', 'q3']);
  await h.patchTask(alice, id, { text: 'q4' });
  expect(await texts(1)).toEqual(['q4']);
  await stream.return!();
});

describe('ORM capture', () => {
  let orm: LiveHarness;
  let carol: LiveUser;
  beforeAll(async () => {
    orm = await LiveHarness.start({ prefix: 'live_resume_orm', capture: 'orm' });
    carol = await orm.signUp('carol');
  });
  afterAll(async () => { await orm?.close(); });

  it('gives no cursors and refuses `after` with BAD_USER_INPUT', async () => {
    const list = await orm.createList(carol, 'ORM');
    const id = await orm.createTask(carol, list, 'o');
    const group = await orm.subscribe(orm.client(carol), GROUP, { list });
    await orm.patchTask(carol, id, { text: 'o1' });
    const [event] = await group.next(1);
    expect(event.cursor).toBeNull();
    const refused = await orm.subscribe(orm.client(carol), GROUP, { list, after: '1:1' });
    await refused.waitForEnd();
    expect(refused.errors[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.errors[0]?.message).toMatch(/database capture/);
    group.unsubscribe();
    await orm.settled();
  });
});

it('a client cut off in the middle of a burst (a list turning public: a CREATED per task) resumes inside it: the rest, once each', async () => {
  const list = await h.createList(alice, 'Burst', true);
  const ids = [await h.createTask(alice, list, 'b1'), await h.createTask(alice, list, 'b2'), await h.createTask(alice, list, 'b3')];
  const first = await h.subscribe(h.client(bob), GROUP, { list });
  expect(first.ended).toBe(true); // private: refused
  const open = await h.createList(alice, 'Open beside');
  const watcher = await h.subscribe(h.client(bob), GROUP, { list: open });
  h.forget(first);
  await h.setListPrivate(alice, list, false);
  await h.caughtUp();
  // A subscriber that held on through the flip gets the burst; each event has its own cursor inside the change's.
  const held = await h.subscribe(h.client(bob), GROUP, { list });
  await h.setListPrivate(alice, list, true);
  await h.setListPrivate(alice, list, false);
  const burst = (await held.next(6)).slice(3);
  expect(burst.map((e) => [e.action, e.id])).toEqual(ids.map((id) => ['CREATED', id]));
  const cursors = burst.map((e) => e.cursor);
  expect(new Set(cursors).size).toBe(3);
  expect(cursors.every((c) => /^\d+:\d+:\d+$/.test(c))).toBe(true);
  held.unsubscribe();
  await h.settled();

  // Cut off after the first of the three: resuming from its cursor gives exactly the other two, then live.
  const resumed = await h.subscribe(h.client(bob), GROUP, { list, after: cursors[0] });
  await h.patchTask(alice, ids[0], { text: 'after the burst' });
  const events = await resumed.upTo(isText('after the burst'));
  expect(events.map((e) => [e.action, e.id, e.cursor])).toEqual([['CREATED', ids[1], cursors[1]], ['CREATED', ids[2], cursors[2]]]);
  watcher.unsubscribe();
  resumed.unsubscribe();
  await h.settled();
});
