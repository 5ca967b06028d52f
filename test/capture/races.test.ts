/**
 * Writes that race each other, and changes routed after the database has
 * moved on: each subscriber still ends with what a fresh query shows it,
 * and never receives a value it may not read. In both capture modes.
 */
import { Client } from 'pg';
import { Raw } from 'typeorm';
import { Task } from '../../example/entities';
import { postResource, taskResource, todoListResource, userResource } from '../../example/app';
import { resource } from '../../src';
import { describeEachCapture } from '../support/capture';
import { isText, LiveHarness, TASK_GROUP, TASK_INSTANCE, task, type Change, type LiveUser } from '../support/live';

/** Waits until the pg client `sql` is blocked on a lock (its backend waits for one). */
async function blocked(sql: Client, h: LiveHarness): Promise<void> {
  const started = Date.now();
  for (;;) {
    const { rows } = await sql.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows[0].n > 0) return;
    if (Date.now() - started > 10_000) throw new Error(`no writer of ${h.server.url} waited for the lock`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describeEachCapture('races', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;
  let psql: Client;
  let probe: Client;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'races', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
    const url = (h.ds.options as { url: string }).url;
    psql = new Client({ connectionString: url });
    probe = new Client({ connectionString: url });
    await psql.connect();
    await probe.connect();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await psql.query('ROLLBACK').catch(() => undefined);
    await h.unsubscribeAll();
  });
  afterAll(async () => {
    await psql?.end();
    await probe?.end();
    await h?.close();
  });

  it('a patch that waits for another writer\'s lock writes over that writer\'s row, not a stale copy, and leaks nothing', async () => {
    const open = await h.createList(alice, 'Open');
    const secret = await h.createList(alice, 'Secret', true);
    const id = await h.createTask(alice, open, 'public');
    const anonymous = await h.subscribe(h.client(), TASK_INSTANCE, { id });

    await psql.query('BEGIN');
    await psql.query('UPDATE task SET "listId" = $1 WHERE id = $2', [Number(secret), Number(id)]);
    const patch = h.request('mutation($id: ID!) { patchTask(id: $id, input: { text: "SECRET" }) { id text list { id } } }', { id }, alice.token);
    await blocked(probe, h);
    await psql.query('COMMIT');
    const patched = await patch;
    expect(patched.errors).toBeUndefined();
    // The patch kept the other writer's move: no lost update.
    expect(patched.data!.patchTask).toEqual({ id, text: 'SECRET', list: { id: secret } });
    expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(id) })).toMatchObject({ text: 'SECRET', listId: Number(secret) });

    // The anonymous subscriber: DELETED when the database sees the move (ORM capture does not see raw SQL), never SECRET.
    await h.caughtUp();
    await h.patchTask(alice, id, { list: open, text: 'marker' });
    const events = await anonymous.upTo(isText('marker'));
    expect(events.some((e) => JSON.stringify(e).includes('SECRET'))).toBe(false);
    expect(events).toEqual(capture === 'database' ? [{ action: 'DELETED', id, task: null }] : []);
    expect(await h.ok('query($id: ID!) { task(id: $id) { id } }', { id })).toEqual({ task: { id } });
  });

  it('a patch of a row deleted while it waited is NOT_FOUND, and the row stays deleted', async () => {
    const list = await h.createList(alice, 'Gone');
    const id = await h.createTask(alice, list, 'doomed');
    await psql.query('BEGIN');
    await psql.query('DELETE FROM task WHERE id = $1', [Number(id)]);
    const patch = h.request('mutation($id: ID!) { patchTask(id: $id, input: { text: "again" }) { id } }', { id }, alice.token);
    await blocked(probe, h);
    await psql.query('COMMIT');
    const result = await patch;
    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(await h.ds.getRepository(Task).countBy({ id: Number(id) })).toBe(0);
  });

  it('a delete checks the delete policy on the row as it is once locked', async () => {
    const mine = await h.createList(alice, 'Mine');
    const theirs = await h.createList(bob, 'Theirs');
    const id = await h.createTask(alice, mine, 'handed over');
    await psql.query('BEGIN');
    await psql.query('UPDATE task SET "listId" = $1 WHERE id = $2', [Number(theirs), Number(id)]);
    const removal = h.request('mutation($id: ID!) { deleteTask(id: $id) }', { id }, alice.token);
    await blocked(probe, h);
    await psql.query('COMMIT');
    expect((await removal).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await h.ds.getRepository(Task).countBy({ id: Number(id) })).toBe(1);
  });

  it('a move and a delete of one task racing each other: every list\'s subscribers end with what a fresh query shows', async () => {
    const from = await h.createList(alice, 'From');
    const to = await h.createList(alice, 'To');
    const ids = await Promise.all([1, 2, 3, 4, 5].map((n) => h.createTask(alice, from, `racer ${n}`)));
    const fromGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: from });
    const toGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: to });

    // The row locked elsewhere, so the move and the delete queue behind it and then run one after the other.
    await psql.query('BEGIN');
    await psql.query('SELECT id FROM task WHERE id = ANY($1::int[]) FOR UPDATE', [ids.map(Number)]);
    const writes = ids.flatMap((id) => [
      h.request('mutation($id: ID!, $l: ID!) { patchTask(id: $id, input: { list: $l }) { id } }', { id, l: to }, alice.token),
      h.request('mutation($id: ID!) { deleteTask(id: $id) }', { id }, alice.token),
    ]);
    await blocked(probe, h);
    await psql.query('COMMIT');
    await Promise.all(writes);

    const marker = await h.createTask(alice, to, 'marker');
    await h.createTask(alice, from, 'marker');
    const view = (events: Change[]) => {
      const rows = new Map<string, unknown>();
      for (const e of events) {
        if (e.action === 'DELETED') rows.delete(e.id);
        else rows.set(e.id, e.task);
      }
      return rows;
    };
    const toView = view(await toGroup.upTo(isText('marker')));
    const fromView = view(await fromGroup.upTo(isText('marker')));
    expect([...toView.keys()].filter((id) => id !== marker)).toEqual([]);
    for (const id of ids) expect(fromView.has(id)).toBe(false);
    expect(await h.ds.getRepository(Task).countBy({ text: Raw((a) => `${a} LIKE 'racer %'`) })).toBe(0);
  });

  it('a task moved out of a list that turns private before the move is routed still reaches that list\'s other subscribers as DELETED', async () => {
    const flipping = await h.createList(alice, 'Flipping');
    const other = await h.createList(alice, 'Other');
    const id = await h.createTask(alice, flipping, 'leaving');
    const anonymous = await h.subscribe(h.client(), TASK_GROUP, { list: flipping });
    const elsewhere = await h.subscribe(h.client(), TASK_GROUP, { list: other });

    // Hold routing until both writes have committed: the move is routed when the list is private already.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const ingest = h.engine.ingest.bind(h.engine);
    let chain: Promise<void> = Promise.resolve();
    jest.spyOn(h.engine, 'ingest').mockImplementation((changes) => (chain = chain.then(() => gate).then(() => ingest(changes))));
    await h.patchTask(alice, id, { list: other });
    await h.setListPrivate(alice, flipping, true);
    open();
    await chain;

    await h.setListPrivate(alice, flipping, false);
    await h.createTask(alice, flipping, 'marker');
    expect(await anonymous.upTo(isText('marker'))).toEqual([{ action: 'DELETED', id, task: null }]);
    expect(await elsewhere.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'leaving', null, other) }]);
  });

  it('a task that moves into a list after the list turned private, routed late, reaches nobody but the owner', async () => {
    const flipping = await h.createList(alice, 'Closing');
    const source = await h.createList(alice, 'Source');
    const id = await h.createTask(alice, source, 'arriving');
    const anonymous = await h.subscribe(h.client(), TASK_GROUP, { list: flipping });

    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const ingest = h.engine.ingest.bind(h.engine);
    let chain: Promise<void> = Promise.resolve();
    jest.spyOn(h.engine, 'ingest').mockImplementation((changes) => (chain = chain.then(() => gate).then(() => ingest(changes))));
    await h.setListPrivate(alice, flipping, true);
    await h.patchTask(alice, id, { list: flipping, text: 'private now' });
    await h.setListPrivate(alice, flipping, false);
    open();
    await chain;

    // Private when it arrived, public again after: CREATED once the list opens, never before with the private text on a public list.
    await h.createTask(alice, flipping, 'marker');
    expect(await anonymous.upTo(isText('marker'))).toEqual([{ action: 'CREATED', id, task: task(id, 'private now', null, flipping) }]);
  });
});

describeEachCapture('one subscriber whose check fails', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let mallory: LiveUser;

  beforeAll(async () => {
    // Mallory's read policy holds an operator that cannot be evaluated in memory: her check of every event throws.
    const tasks = resource(Task, {
      ...taskResource.options,
      policy: {
        ...taskResource.options.policy,
        read: (ctx) => (ctx.user?.username === 'mallory' ? { text: Raw((a) => `${a} <> ''`) } : taskResource.options.policy!.read!(ctx)),
      },
    });
    h = await LiveHarness.start({ prefix: 'isolation', capture, server: { resources: [userResource, todoListResource, tasks, postResource] } });
    alice = await h.signUp('alice');
    mallory = await h.signUp('mallory');
  });
  afterAll(async () => { await h?.close(); });

  it('ends that subscriber with an error and costs nobody else the change', async () => {
    const list = await h.createList(alice, 'Shared');
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const broken = await h.subscribe(h.client(mallory), TASK_GROUP, { list });
    const fine = await h.subscribe(h.client(alice), TASK_GROUP, { list });
    const id = await h.createTask(alice, list, 'still delivered');
    expect(await fine.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'still delivered', false, list) }]);
    await broken.waitForEnd();
    expect(broken.errors).toEqual([expect.objectContaining({ extensions: { code: 'INTERNAL_SERVER_ERROR' } })]);
    expect(errors).toHaveBeenCalledWith('typeorm-graphql-live:', expect.objectContaining({ message: expect.stringMatching(/cannot be evaluated in memory/) }));
    errors.mockRestore();
    // The others go on receiving.
    const later = await h.createTask(alice, list, 'and the next one');
    expect(await fine.next()).toEqual([{ action: 'CREATED', id: later, task: task(later, 'and the next one', false, list) }]);
    h.forget(broken);
  });
});
