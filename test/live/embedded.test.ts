/**
 * The live path on the embedded database (PGlite behind pglite-socket, what
 * `npm start` uses without DATABASE_URL): a representative subset of the
 * suites in test/live and test/capture — create / update / move / delete,
 * rollbacks, bulk completeAllTasks, a visibility transition.
 */
import { Task } from '../../example/entities';
import { isText, LiveHarness, TASK_GROUP, TASK_INSTANCE, task, untilAll, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

describeEachCapture('embedded', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_embedded', capture, embedded: true });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  }, 60_000);
  afterEach(async () => { await h.unsubscribeAll(); });
  afterAll(async () => { await h?.close(); }, 60_000);

  const rollback = new Error('roll back');

  it('create, update, move and delete through the generated mutations', async () => {
    const from = await h.createList(alice, 'From');
    const to = await h.createList(alice, 'To');
    const oldGroup = await h.subscribe(h.client(alice), TASK_GROUP, { list: from });
    const newGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: to });

    const id = await h.createTask(alice, from, 'travel');
    expect(await oldGroup.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'travel', false, from) }]);
    const instance = await h.subscribe(h.client(), TASK_INSTANCE, { id });

    await h.patchTask(alice, id, { done: true });
    expect(await oldGroup.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'travel', true, from) }]);
    expect(await instance.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'travel', null, from) }]);

    await h.patchTask(alice, id, { list: to });
    expect(await oldGroup.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    expect(await newGroup.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'travel', true, to) }]);
    expect(await instance.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'travel', null, to) }]);

    await h.deleteTask(alice, id);
    expect(await newGroup.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    expect(await instance.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    expect(await oldGroup.until(() => h.createTask(alice, from, 'marker'), isText('marker'))).toEqual([]);
  });

  it('rollbacks publish nothing: a whole transaction, a savepoint; the committed rest is delivered', async () => {
    const list = await h.createList(alice, 'Rollback');
    const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
    const listId = Number(list);

    await expect(h.ds.transaction(async (m) => {
      await m.save(m.create(Task, { text: 'ghost', listId }));
      throw rollback;
    })).rejects.toBe(rollback);

    let kept = 0;
    await h.ds.transaction(async (m) => {
      await expect(m.transaction(async (inner) => {
        await inner.save(inner.create(Task, { text: 'savepoint ghost', listId }));
        throw rollback;
      })).rejects.toBe(rollback);
      kept = (await m.save(m.create(Task, { text: 'kept', listId }))).id;
    });
    expect(await group.next()).toEqual([{ action: 'CREATED', id: String(kept), task: task(String(kept), 'kept', false, list) }]);
    expect(await group.until(() => h.createTask(alice, list, 'marker'), isText('marker'))).toEqual([]);
    expect(await h.ds.getRepository(Task).countBy({ listId })).toBe(2);
  });

  it('completeAllTasks delivers one UPDATED per task', async () => {
    const list = await h.createList(alice, 'Chores');
    const ids = [await h.createTask(alice, list, 'a'), await h.createTask(alice, list, 'b'), await h.createTask(alice, list, 'c')];
    const group = await h.subscribe(h.client(bob), TASK_GROUP, { list });
    const data = await h.ok('mutation($l: ID!) { completeAllTasks(list: $l) }', { l: list }, alice.token);
    expect(data.completeAllTasks).toBe(3);
    const events = [...(await group.next(3))].sort((x, y) => Number(x.id) - Number(y.id));
    expect(events).toEqual(ids.map((id, i) => ({ action: 'UPDATED', id, task: task(id, 'abc'[i], true, list) })));
    expect(await group.until(() => h.createTask(alice, list, 'marker'), isText('marker'))).toEqual([]);
  });

  it('a list becoming private and public again: DELETED then CREATED for a non-owner', async () => {
    const list = await h.createList(alice, 'Toggled');
    const id = await h.createTask(alice, list, 'toggled');
    const owner = await h.subscribe(h.client(alice), TASK_GROUP, { list });
    const other = await h.subscribe(h.client(bob), TASK_GROUP, { list });

    await h.setListPrivate(alice, list, true);
    expect(await other.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    await h.setListPrivate(alice, list, false);
    expect(await other.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'toggled', false, list) }]);
    const [o, b] = await untilAll([owner, other], () => h.patchTask(alice, id, { text: 'marker' }), isText('marker'));
    expect(o).toEqual([]);
    expect(b).toEqual([]);
  });
});
