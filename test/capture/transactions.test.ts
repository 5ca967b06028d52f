/**
 * What capture publishes, and when, the same in both modes: only committed
 * writes, after the commit; rolled-back transactions and savepoints publish
 * nothing; writes made with the DataSource outside any resolver are seen;
 * several writes of one row in one transaction collapse into one event; one
 * row's events arrive in commit order.
 */
import { Task } from '../../example/entities';
import { bulkDelete, bulkUpdate } from '../../src';
import { isText, LiveHarness, TASK_GROUP, TASK_INSTANCE, task, untilAll, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

describeEachCapture('transactions', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_tx', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await h.unsubscribeAll();
  });
  afterAll(async () => { await h?.close(); });

  const rollback = new Error('roll back');
  /** A marker row the group's subscribers will see, written with the DataSource. */
  const marker = (list: string, text = 'marker') => () => h.ds.getRepository(Task).save({ text, listId: Number(list) });

  describe('rollbacks publish nothing', () => {
    it('a whole transaction rolled back: no event, and nothing reaches the engine before a commit', async () => {
      const list = await h.createList(alice, 'Rollback');
      const existing = await h.createTask(alice, list, 'kept');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const instance = await h.subscribe(h.client(alice), TASK_INSTANCE, { id: existing });
      const ingest = jest.spyOn(h.engine, 'ingest');

      await expect(h.ds.transaction(async (m) => {
        await m.save(m.create(Task, { text: 'ghost', listId: Number(list) }));
        await m.save(Task, { id: Number(existing), text: 'changed, then undone' });
        await m.delete(Task, { text: 'nothing' });
        expect(ingest).not.toHaveBeenCalled(); // buffered until COMMIT
        throw rollback;
      })).rejects.toBe(rollback);
      expect(ingest).not.toHaveBeenCalled();

      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
      expect(await h.ds.getRepository(Task).countBy({ text: 'ghost' })).toBe(0);
      expect(await instance.until(() => h.patchTask(alice, existing, { text: 'marker' }), isText('marker'))).toEqual([]);
    });

    it('a generated mutation that fails its policy after writing rolls back and publishes nothing', async () => {
      const mine = await h.createList(alice, 'Mine');
      const theirs = await h.createList(bob, 'Theirs');
      const id = await h.createTask(alice, mine, 'stay');
      const mineGroup = await h.subscribe(h.client(alice), TASK_GROUP, { list: mine });
      const theirGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: theirs });
      const instance = await h.subscribe(h.client(bob), TASK_INSTANCE, { id });

      // The row is saved into bob's list, then the patch policy (owner of the list) fails: ROLLBACK.
      const refused = await h.request('mutation($id: ID!, $l: ID!) { patchTask(id: $id, input: { list: $l }) { id } }', { id, l: theirs }, alice.token);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

      const [m, t] = await untilAll([mineGroup, theirGroup], async () => {
        await marker(mine)();
        await marker(theirs)();
      }, isText('marker'));
      expect(m).toEqual([]);
      expect(t).toEqual([]);
      expect(await instance.until(() => h.patchTask(alice, id, { text: 'marker' }), isText('marker'))).toEqual([]);
    });

    it('a savepoint rolled back inside a transaction drops its writes; the committed rest is delivered in order', async () => {
      const list = await h.createList(alice, 'Savepoints');
      const existing = await h.createTask(alice, list, 'untouched');
      const group = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const listId = Number(list);
      let first = 0;
      let second = 0;

      await h.ds.transaction(async (m) => {
        first = (await m.save(m.create(Task, { text: 'outer before', listId }))).id;
        await expect(m.transaction(async (inner) => {
          await inner.save(inner.create(Task, { text: 'inner ghost', listId }));
          await inner.save(Task, { id: first, text: 'renamed inside the savepoint' });
          await inner.save(Task, { id: Number(existing), done: true });
          throw rollback;
        })).rejects.toBe(rollback);
        second = (await m.save(m.create(Task, { text: 'outer after', listId }))).id;
      });

      expect(await group.next(2)).toEqual([
        { action: 'CREATED', id: String(first), task: task(String(first), 'outer before', false, list) },
        { action: 'CREATED', id: String(second), task: task(String(second), 'outer after', false, list) },
      ]);
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });

    it('a released savepoint is delivered with its transaction, and dropped with it when the outer one rolls back', async () => {
      const list = await h.createList(alice, 'Released');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const listId = Number(list);

      let kept = 0;
      await h.ds.transaction(async (m) => {
        await m.transaction(async (inner) => { kept = (await inner.save(inner.create(Task, { text: 'from the savepoint', listId }))).id; });
      });
      expect(await group.next()).toEqual([{ action: 'CREATED', id: String(kept), task: task(String(kept), 'from the savepoint', false, list) }]);

      await expect(h.ds.transaction(async (m) => {
        await m.transaction(async (inner) => { await inner.save(inner.create(Task, { text: 'released, then rolled back', listId })); });
        throw rollback;
      })).rejects.toBe(rollback);
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });
  });

  describe('writes made outside any resolver', () => {
    it('a repository save/remove on the DataSource is delivered', async () => {
      const list = await h.createList(alice, 'Scripts');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const repo = h.ds.getRepository(Task);

      const row = await repo.save({ text: 'from a script', listId: Number(list) });
      const id = String(row.id);
      expect(await group.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'from a script', false, list) }]);

      row.done = true;
      await repo.save(row);
      expect(await group.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'from a script', true, list) }]);

      await repo.remove(row);
      expect(await group.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    });

    it('a ds.transaction with several rows is delivered after its commit, in write order', async () => {
      const list = await h.createList(alice, 'Batch');
      const before = await h.createTask(alice, list, 'existing');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const listId = Number(list);

      const [a, b] = await h.ds.transaction(async (m) => {
        const x = await m.save(m.create(Task, { text: 'a', listId }));
        const y = await m.save(m.create(Task, { text: 'b', listId }));
        await m.save(Task, { id: Number(before), text: 'existing, edited' });
        return [String(x.id), String(y.id)];
      });
      expect(await group.next(3)).toEqual([
        { action: 'CREATED', id: a, task: task(a, 'a', false, list) },
        { action: 'CREATED', id: b, task: task(b, 'b', false, list) },
        { action: 'UPDATED', id: before, task: task(before, 'existing, edited', false, list) },
      ]);
    });

    it('bulkUpdate / bulkDelete (UPDATE/DELETE … RETURNING) in a transaction: one event per row, none on rollback', async () => {
      const list = await h.createList(alice, 'Bulk');
      const ids = [await h.createTask(alice, list, 'one'), await h.createTask(alice, list, 'two')];
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });

      await expect(h.ds.transaction(async (m) => {
        expect(await bulkUpdate(m, Task, { done: true }, '"listId" = $1', [Number(list)])).toBe(2);
        throw rollback;
      })).rejects.toBe(rollback);

      await h.ds.transaction(async (m) => {
        expect(await bulkUpdate(m, Task, { text: 'bulk' }, '"listId" = $1', [Number(list)])).toBe(2);
      });
      const sorted = (events: any[]) => [...events].sort((x, y) => Number(x.id) - Number(y.id));
      expect(sorted(await group.next(2))).toEqual(ids.map((id) => ({ action: 'UPDATED', id, task: task(id, 'bulk', false, list) })));

      await h.ds.transaction(async (m) => {
        expect(await bulkDelete(m, Task, '"listId" = $1', [Number(list)])).toBe(2);
      });
      expect(sorted(await group.next(2))).toEqual(ids.map((id) => ({ action: 'DELETED', id, task: null })));
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });
  });

  describe('several writes of one row in one transaction', () => {
    it('insert + updates → one CREATED with the last state', async () => {
      const list = await h.createList(alice, 'Collapse');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const id = await h.ds.transaction(async (m) => {
        const row = await m.save(m.create(Task, { text: 'draft', listId: Number(list) }));
        row.text = 'final';
        await m.save(row);
        row.done = true;
        await m.save(row);
        return String(row.id);
      });
      expect(await group.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'final', true, list) }]);
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });

    it('insert + delete → nothing', async () => {
      const list = await h.createList(alice, 'Vanish');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      await h.ds.transaction(async (m) => {
        const row = await m.save(m.create(Task, { text: 'short-lived', listId: Number(list) }));
        row.text = 'edited before going';
        await m.save(row);
        await m.remove(row);
      });
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });

    it('update + update → one UPDATED with the last state; update + delete → one DELETED', async () => {
      const list = await h.createList(alice, 'Twice');
      const [x, y] = [await h.createTask(alice, list, 'x'), await h.createTask(alice, list, 'y')];
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      await h.ds.transaction(async (m) => {
        await m.save(Task, { id: Number(x), text: 'x1' });
        await m.save(Task, { id: Number(x), text: 'x2', done: true });
        const row = await m.findOneByOrFail(Task, { id: Number(y) });
        row.text = 'y1';
        await m.save(row);
        await m.remove(row);
      });
      expect(await group.next(2)).toEqual([
        { action: 'UPDATED', id: x, task: task(x, 'x2', true, list) },
        { action: 'DELETED', id: y, task: null },
      ]);
      expect(await group.until(marker(list), isText('marker'))).toEqual([]);
    });
  });

  describe('order', () => {
    it('one row\'s events arrive in commit order, also when transactions race for it', async () => {
      const list = await h.createList(alice, 'Order');
      const id = await h.createTask(alice, list, '-');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const instance = await h.subscribe(h.client(bob), TASK_INSTANCE, { id });

      // Back to back through the API: each commit before the next starts.
      for (let i = 1; i <= 5; i++) await h.patchTask(alice, id, { text: `-${'s'.repeat(i)}` });
      // Racing: each transaction locks the row and appends one character, so
      // the n-th commit leaves n characters; the events must show 1, 2, 3, …
      const racers = 8;
      await Promise.all(Array.from({ length: racers }, () => h.ds.transaction(async (m) => {
        const row = await m.findOneOrFail(Task, { where: { id: Number(id) }, lock: { mode: 'pessimistic_write' } });
        row.text += 'r';
        await m.save(row);
      })));

      const expected = [
        ...Array.from({ length: 5 }, (_, i) => `-${'s'.repeat(i + 1)}`),
        ...Array.from({ length: racers }, (_, i) => `-sssss${'r'.repeat(i + 1)}`),
      ];
      for (const subscription of [group, instance]) {
        const events = await subscription.next(expected.length);
        expect(events.map((e) => e.action)).toEqual(expected.map(() => 'UPDATED'));
        expect(events.map((e) => e.task.text)).toEqual(expected);
      }
    });
  });
});
