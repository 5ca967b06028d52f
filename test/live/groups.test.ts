/**
 * Group semantics over a real server and real sockets: CREATED / UPDATED /
 * DELETED relative to each group, a row moving between groups, a row in
 * several groups at once, and the bulk `completeAllTasks`.
 */
import { Task, TodoList } from '../../example/entities';
import { isBody, isText, LiveHarness, POST_HASHTAG, TASK_GROUP, TASK_INSTANCE, task, untilAll, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

describeEachCapture('groups', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_groups', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  });
  afterEach(async () => { await h.unsubscribeAll(); });
  afterAll(async () => { await h?.close(); });


  describe('generated mutations reach group and instance subscribers', () => {
    it('createTask → CREATED, patchTask → UPDATED, deleteTask → DELETED carrying only the id', async () => {
      const list = await h.createList(alice, 'Groceries');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });

      const id = await h.createTask(alice, list, 'milk');
      expect(await group.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'milk', false, list) }]);

      const instance = await h.subscribe(h.client(alice), TASK_INSTANCE, { id });
      await h.patchTask(alice, id, { text: 'oat milk', done: true });
      const updated = { action: 'UPDATED', id, task: task(id, 'oat milk', true, list) };
      expect(await group.next()).toEqual([updated]);
      expect(await instance.next()).toEqual([updated]);

      await h.deleteTask(alice, id);
      expect(await group.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await instance.next()).toEqual([{ action: 'DELETED', id, task: null }]);

      // Nothing else was on its way.
      expect(await group.until(() => h.createTask(alice, list, 'marker'), isText('marker'))).toEqual([]);
    });

    it('a group subscriber sees only its own group', async () => {
      const mine = await h.createList(alice, 'Mine');
      const other = await h.createList(alice, 'Other');
      const group = await h.subscribe(h.client(bob), TASK_GROUP, { list: mine });
      const elsewhere = await h.createTask(alice, other, 'elsewhere');
      await h.patchTask(alice, elsewhere, { done: true });
      await h.deleteTask(alice, elsewhere);
      expect(await group.until(() => h.createTask(alice, mine, 'marker'), isText('marker'))).toEqual([]);
    });
  });

  describe('rows deleted with a row they belong to (ON DELETE CASCADE)', () => {
    it('deleteTodoList: every task of the list arrives as DELETED, to group and instance subscribers', async () => {
      const list = await h.createList(alice, 'Doomed');
      const keep = await h.createList(alice, 'Kept');
      const ids = [await h.createTask(alice, list, 'one'), await h.createTask(alice, list, 'two')];
      const group = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const instance = await h.subscribe(h.client(), TASK_INSTANCE, { id: ids[1] });
      const other = await h.subscribe(h.client(bob), TASK_GROUP, { list: keep });

      await h.ok('mutation($id: ID!) { deleteTodoList(id: $id) }', { id: list }, alice.token);
      expect(await group.next(2)).toEqual(ids.map((id) => ({ action: 'DELETED', id, task: null })));
      expect(await instance.next()).toEqual([{ action: 'DELETED', id: ids[1], task: null }]);
      expect(await other.until(() => h.createTask(alice, keep, 'marker'), isText('marker'))).toEqual([]);
    });

    it('a task and its list removed one after the other in one transaction: the task still arrives as DELETED to other users', async () => {
      // Their read policy looks through the list, which is gone when the change is routed: the task carries it as it was.
      const list = await h.createList(alice, 'Cleared');
      const id = await h.createTask(alice, list, 'last one');
      const group = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const instance = await h.subscribe(h.client(), TASK_INSTANCE, { id });

      await h.ds.transaction(async (m) => {
        await m.remove(await m.findOneByOrFail(Task, { id: Number(id) }));
        await m.remove(await m.findOneByOrFail(TodoList, { id: Number(list) }));
      });
      expect(await group.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await instance.next()).toEqual([{ action: 'DELETED', id, task: null }]);
    });
  });

  describe('moving a row between groups', () => {
    it('DELETED to the old list\'s group, CREATED to the new list\'s, UPDATED to the instance', async () => {
      const from = await h.createList(alice, 'From');
      const to = await h.createList(alice, 'To');
      const id = await h.createTask(alice, from, 'wander');
      const oldGroup = await h.subscribe(h.client(alice), TASK_GROUP, { list: from });
      const newGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: to });
      const instance = await h.subscribe(h.client(), TASK_INSTANCE, { id });

      await h.patchTask(alice, id, { list: to });
      expect(await oldGroup.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await newGroup.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'wander', false, to) }]);
      expect(await instance.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'wander', null, to) }]);

      // Later changes of the moved row belong to the new group only.
      await h.patchTask(alice, id, { text: 'settled' });
      expect(await newGroup.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'settled', false, to) }]);
      expect(await oldGroup.until(() => h.createTask(alice, from, 'marker'), isText('marker'))).toEqual([]);

      // And back: the roles swap.
      await h.patchTask(alice, id, { list: from });
      expect(await newGroup.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await oldGroup.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'settled', false, from) }]);
    });
  });

  describe('a row in several groups (post hashtags)', () => {
    const createPost = async (user: LiveUser, body: string) =>
      String((await h.ok('mutation($b: String!) { createPost(input: { body: $b }) { id } }', { b: body }, user.token)).createPost.id);
    const patchPost = (user: LiveUser, id: string, body: string) =>
      h.ok('mutation($id: ID!, $b: String!) { patchPost(id: $id, input: { body: $b }) { id } }', { id, b: body }, user.token);
    const post = (id: string, body: string, author: LiveUser) => ({ id, body, author: { id: author.id } });

    it('each tag group gets its own verdict: DELETED where a tag was removed, UPDATED where kept, CREATED where added', async () => {
      const python = await h.subscribe(h.client(bob), POST_HASHTAG, { tag: 'python' });
      const rust = await h.subscribe(h.client(), POST_HASHTAG, { tag: 'rust' });
      const go = await h.subscribe(h.client(bob), POST_HASHTAG, { tag: 'go' });
      const byAuthor = await h.subscribe(h.client(), 'subscription($a: ID!) { postGroupChanged(group: { author: $a }) { action id post { id body } } }', { a: alice.id });

      const first = 'Learning #Python and #rust today';
      const id = await createPost(alice, first);
      expect(await python.next()).toEqual([{ action: 'CREATED', id, post: post(id, first, alice) }]);
      expect(await rust.next()).toEqual([{ action: 'CREATED', id, post: post(id, first, alice) }]);
      expect(await byAuthor.next()).toEqual([{ action: 'CREATED', id, post: { id, body: first } }]);

      const second = 'Switched: #rust and #go now';
      await patchPost(alice, id, second);
      expect(await python.next()).toEqual([{ action: 'DELETED', id, post: null }]);
      expect(await rust.next()).toEqual([{ action: 'UPDATED', id, post: post(id, second, alice) }]);
      // The first event #go ever got: the creation (tagged #python #rust) never reached it.
      expect(await go.next()).toEqual([{ action: 'CREATED', id, post: post(id, second, alice) }]);
      expect(await byAuthor.next()).toEqual([{ action: 'UPDATED', id, post: { id, body: second } }]);

      const third = 'Only #go';
      await patchPost(alice, id, third);
      expect(await rust.next()).toEqual([{ action: 'DELETED', id, post: null }]);
      expect(await go.next()).toEqual([{ action: 'UPDATED', id, post: post(id, third, alice) }]);

      await h.ok('mutation($id: ID!) { deletePost(id: $id) }', { id }, alice.token);
      expect(await go.next()).toEqual([{ action: 'DELETED', id, post: null }]);
      expect(await byAuthor.next(2)).toEqual([
        { action: 'UPDATED', id, post: { id, body: third } },
        { action: 'DELETED', id, post: null },
      ]);

      // #python saw nothing after its DELETED, #rust nothing after its own.
      const marker = '#python #rust #go marker';
      const [p, r, g] = await untilAll([python, rust, go], () => createPost(bob, marker), isBody(marker));
      expect(p).toEqual([]);
      expect(r).toEqual([]);
      expect(g).toEqual([]);
    });
  });

  describe('completeAllTasks (one bulk UPDATE … RETURNING)', () => {
    const completeAll = async (user: LiveUser, list: string) =>
      (await h.ok('mutation($l: ID!) { completeAllTasks(list: $l) }', { l: list }, user.token)).completeAllTasks as number;

    it('delivers one UPDATED per changed task, to each subscriber with its own field visibility', async () => {
      const list = await h.createList(alice, 'Chores');
      const ids = [await h.createTask(alice, list, 'dishes'), await h.createTask(alice, list, 'laundry'), await h.createTask(alice, list, 'bins')];
      await h.patchTask(alice, ids[2], { done: true });
      const owner = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const anonymous = await h.subscribe(h.client(), TASK_GROUP, { list });
      const instance = await h.subscribe(h.client(bob), TASK_INSTANCE, { id: ids[0] });

      expect(await completeAll(alice, list)).toBe(2);
      const byId = (events: any[]) => [...events].sort((a, b) => Number(a.id) - Number(b.id));
      expect(byId(await owner.next(2))).toEqual([
        { action: 'UPDATED', id: ids[0], task: task(ids[0], 'dishes', true, list) },
        { action: 'UPDATED', id: ids[1], task: task(ids[1], 'laundry', true, list) },
      ]);
      expect(byId(await anonymous.next(2))).toEqual([
        { action: 'UPDATED', id: ids[0], task: task(ids[0], 'dishes', null, list) },
        { action: 'UPDATED', id: ids[1], task: task(ids[1], 'laundry', null, list) },
      ]);
      expect(await instance.next()).toEqual([{ action: 'UPDATED', id: ids[0], task: task(ids[0], 'dishes', true, list) }]);

      // Nothing for the task that was already done, and nothing for a second run that changes no row.
      expect(await completeAll(alice, list)).toBe(0);
      const [o, a] = await untilAll([owner, anonymous], () => h.createTask(alice, list, 'marker'), isText('marker'));
      expect(o).toEqual([]);
      expect(a).toEqual([]);
    });

    it('is refused to anyone but the owner, and then publishes nothing', async () => {
      const list = await h.createList(alice, 'Alice only');
      await h.createTask(alice, list, 'open');
      const group = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const refused = await h.request('mutation($l: ID!) { completeAllTasks(list: $l) }', { l: list }, bob.token);
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(await group.until(() => h.createTask(alice, list, 'marker'), isText('marker'))).toEqual([]);
    });
  });
});
