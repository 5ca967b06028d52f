/**
 * Visibility, per subscriber: field rules (`done` only for signed-in
 * callers), row policies (a private list and its tasks only for the owner),
 * subscribe-time refusals, and transitions — a row that becomes invisible
 * to a subscriber arrives as DELETED with only its id, one that becomes
 * visible as CREATED.
 */
import { isText, LiveHarness, TASK_GROUP, TASK_INSTANCE, task, untilAll, type LiveSubscription, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

describeEachCapture('visibility', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_visibility', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  });
  afterEach(async () => { await h.unsubscribeAll(); });
  afterAll(async () => { await h?.close(); });

  const codeOf = (s: LiveSubscription) => s.errors[0]?.extensions?.code;

  describe('one event, different payloads', () => {
    it('the owner, another user and an anonymous client each get their own view; anonymous never sees done', async () => {
      const list = await h.createList(alice, 'Shared');
      const id = await h.createTask(alice, list, 'paint');
      const subscribers = {
        owner: await h.subscribe(h.client(alice), TASK_GROUP, { list }),
        other: await h.subscribe(h.client(bob), TASK_GROUP, { list }),
        anonymous: await h.subscribe(h.client(), TASK_GROUP, { list }),
        anonymousInstance: await h.subscribe(h.client(), TASK_INSTANCE, { id }),
      };

      await h.patchTask(alice, id, { done: true, text: 'painted' });
      expect(await subscribers.owner.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'painted', true, list) }]);
      expect(await subscribers.other.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'painted', true, list) }]);
      expect(await subscribers.anonymous.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'painted', null, list) }]);
      expect(await subscribers.anonymousInstance.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'painted', null, list) }]);

      // The same rule for queries.
      expect((await h.ok('query($id: ID!) { task(id: $id) { done } }', { id })).task).toEqual({ done: null });
      expect((await h.ok('query($id: ID!) { task(id: $id) { done } }', { id }, bob.token)).task).toEqual({ done: true });
    });
  });

  describe('a private list', () => {
    it('its tasks reach nobody but the owner, by subscription or by query', async () => {
      const secret = await h.createList(alice, 'Secret', true);
      const open = await h.createList(alice, 'Open');
      const hidden = await h.createTask(alice, secret, 'hidden');

      // Subscribing to its group: refused for everyone but the owner, as every refusal is — FORBIDDEN for
      // another user, UNAUTHENTICATED for an anonymous caller — and a missing list looks the same.
      for (const [user, code] of [[bob, 'FORBIDDEN'], [null, 'UNAUTHENTICATED']] as const) {
        const refused = await h.subscribe(h.client(user), TASK_GROUP, { list: secret });
        expect(refused.ended).toBe(true);
        expect(codeOf(refused)).toBe(code);
        expect(refused.events).toEqual([]);
        const missingList = await h.subscribe(h.client(user), TASK_GROUP, { list: '987654' });
        expect(codeOf(missingList)).toBe(code);
      }
      // Its task's instance: NOT_FOUND, exactly like a task that does not exist.
      for (const id of [hidden, '987654']) {
        const refused = await h.subscribe(h.client(bob), TASK_INSTANCE, { id });
        expect(refused.ended).toBe(true);
        expect(refused.errors).toEqual([expect.objectContaining({ extensions: { code: 'NOT_FOUND' }, path: ['taskInstanceChanged'] })]);
      }
      await h.settled(); // refusals hold nothing on the server

      const owner = await h.subscribe(h.client(alice), TASK_GROUP, { list: secret });
      const id = await h.createTask(alice, secret, 'private work');
      expect(await owner.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'private work', false, secret) }]);

      // Queries agree: invisible to bob and to anonymous callers.
      for (const token of [bob.token, undefined]) {
        expect(await h.ok('query($id: ID!, $l: ID!) { task(id: $id) { id } todoList(id: $l) { id } }', { id, l: secret }, token))
          .toEqual({ task: null, todoList: null });
        const all = await h.ok('{ tasks { id } }', {}, token);
        expect(all.tasks.map((t: { id: string }) => t.id)).not.toContain(id);
        expect(all.tasks.map((t: { id: string }) => t.id)).not.toContain(hidden);
      }
      expect((await h.ok('query($id: ID!) { task(id: $id) { text } }', { id }, alice.token)).task).toEqual({ text: 'private work' });

      // Bob's own subscriptions never carry them either.
      const bobsView = await h.subscribe(h.client(bob), TASK_GROUP, { list: open });
      await h.patchTask(alice, id, { text: 'still private' });
      expect(await owner.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'still private', false, secret) }]);
      expect(await bobsView.until(() => h.createTask(alice, open, 'marker'), isText('marker'))).toEqual([]);
    });

    it('a list becoming private: non-owners get DELETED with only the id; public again: CREATED with the current row', async () => {
      const list = await h.createList(alice, 'Toggled');
      const t1 = await h.createTask(alice, list, 'first');
      const t2 = await h.createTask(alice, list, 'second');
      const owner = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const ownerInstance = await h.subscribe(h.client(alice), TASK_INSTANCE, { id: t1 });
      const other = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const anonymous = await h.subscribe(h.client(), TASK_GROUP, { list });
      const otherInstance = await h.subscribe(h.client(bob), TASK_INSTANCE, { id: t1 });
      const anonymousInstance = await h.subscribe(h.client(), TASK_INSTANCE, { id: t1 });

      // A rename touches no column a policy reads: nothing that points at the list is looked up again.
      const lookups = h.engine.dependentLookups;
      await h.ok('mutation($id: ID!) { patchTodoList(id: $id, input: { name: "Toggled, renamed" }) { id } }', { id: list }, alice.token);
      await h.caughtUp();
      expect(h.engine.dependentLookups).toBe(lookups);

      // The list row changes, not the tasks: the engine re-evaluates the tasks that point at it.
      await h.setListPrivate(alice, list, true);
      const gone = [{ action: 'DELETED', id: t1, task: null }, { action: 'DELETED', id: t2, task: null }];
      expect(await other.next(2)).toEqual(gone);
      expect(h.engine.dependentLookups).toBe(lookups + 1);
      expect(await anonymous.next(2)).toEqual(gone);
      expect(await otherInstance.next()).toEqual([gone[0]]);
      expect(await anonymousInstance.next()).toEqual([gone[0]]);

      // While private, only the owner hears about its tasks.
      await h.patchTask(alice, t1, { text: 'first, privately' });
      await h.patchTask(alice, t2, { done: true });
      expect(await owner.next(2)).toEqual([
        { action: 'UPDATED', id: t1, task: task(t1, 'first, privately', false, list) },
        { action: 'UPDATED', id: t2, task: task(t2, 'second', true, list) },
      ]);
      expect(await ownerInstance.next()).toEqual([{ action: 'UPDATED', id: t1, task: task(t1, 'first, privately', false, list) }]);
      expect((await h.ok('query($id: ID!) { task(id: $id) { id } }', { id: t1 }, bob.token)).task).toBeNull();

      // Public again: the rows as they are now, each subscriber with its own field visibility.
      await h.setListPrivate(alice, list, false);
      expect(await other.next(2)).toEqual([
        { action: 'CREATED', id: t1, task: task(t1, 'first, privately', false, list) },
        { action: 'CREATED', id: t2, task: task(t2, 'second', true, list) },
      ]);
      expect(await anonymous.next(2)).toEqual([
        { action: 'CREATED', id: t1, task: task(t1, 'first, privately', null, list) },
        { action: 'CREATED', id: t2, task: task(t2, 'second', null, list) },
      ]);
      expect(await otherInstance.next()).toEqual([{ action: 'CREATED', id: t1, task: task(t1, 'first, privately', false, list) }]);
      expect(await anonymousInstance.next()).toEqual([{ action: 'CREATED', id: t1, task: task(t1, 'first, privately', null, list) }]);

      // Nothing else anywhere — in particular the owner, who saw the rows all along, got no event for the toggles,
      // and a rename of the list (no visibility change) reaches no task subscriber.
      await h.ok('mutation($id: ID!) { patchTodoList(id: $id, input: { name: "Renamed" }) { id } }', { id: list }, alice.token);
      const rest = await untilAll([owner, ownerInstance, other, anonymous, otherInstance, anonymousInstance],
        () => h.patchTask(alice, t1, { text: 'marker' }), isText('marker'));
      expect(rest).toEqual([[], [], [], [], [], []]);
    });

    it('a task moved into a private list disappears for others; moved back, it reappears', async () => {
      const open = await h.createList(alice, 'Open desk');
      const locked = await h.createList(alice, 'Locked drawer', true);
      const id = await h.createTask(alice, open, 'letter');
      const otherInstance = await h.subscribe(h.client(bob), TASK_INSTANCE, { id });
      const otherGroup = await h.subscribe(h.client(bob), TASK_GROUP, { list: open });
      const ownerLocked = await h.subscribe(h.client(alice), TASK_GROUP, { list: locked });

      await h.patchTask(alice, id, { list: locked });
      expect(await otherInstance.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await otherGroup.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      expect(await ownerLocked.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'letter', false, locked) }]);

      await h.patchTask(alice, id, { text: 'sealed letter' });
      expect(await ownerLocked.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'sealed letter', false, locked) }]);

      await h.patchTask(alice, id, { list: open });
      expect(await otherInstance.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'sealed letter', false, open) }]);
      expect(await otherGroup.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'sealed letter', false, open) }]);
      expect(await ownerLocked.next()).toEqual([{ action: 'DELETED', id, task: null }]);

      const [i, g] = await untilAll([otherInstance, otherGroup], () => h.patchTask(alice, id, { text: 'marker' }), isText('marker'));
      expect(i).toEqual([]);
      expect(g).toEqual([]);
    });
  });
});
