/**
 * Shared delivery over real sockets: WebSocket subscribers of one topic
 * with the same document, variables and visibility form one class, executed
 * once per event; everything else about a subscription — what each
 * subscriber may see, the order of its events, how it ends, the errors it
 * gets when subscribing — is as if it had its own execution.
 */
import { Task, TodoList, User } from '../../example/entities';
import { postResource, taskResource, todoListResource, userResource } from '../../example/app';
import { resource } from '../../src';
import type { PubSub } from '../../src';
import { isText, LiveHarness, TASK_GROUP, task, waitUntil, type LiveSubscription, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

/** Selects relations two levels deep: every execution awaits two loads. */
const DEEP = /* GraphQL */ `
  subscription($list: ID!) { taskGroupChanged(group: { list: $list }) { action id task { text list { name owner { username } } } } }
`;
/** No relation: executes synchronously. */
const SLIM = 'subscription($list: ID!) { taskGroupChanged(group: { list: $list }) { action id task { text } } }';

describeEachCapture('delivery', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_delivery', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await h.unsubscribeAll();
    expect(h.engine.deliveryClasses).toBe(0);
  });
  afterAll(async () => { await h?.close(); });

  /** Writes through the ORM without an HTTP request, so the only loads during delivery are the subscribers'. */
  const rename = (id: string, text: string) => h.ds.getRepository(Task).save({ id: Number(id), text });

  describe('one class per topic, document, variables and visibility', () => {
    it('subscribers with the same document, variables and caller share one execution and one load per relation per event', async () => {
      const list = await h.createList(alice, 'Shared');
      const id = await h.createTask(alice, list, 'first');
      const subscribers = [
        await h.subscribe(h.client(bob), TASK_GROUP, { list }),
        await h.subscribe(h.client(bob), TASK_GROUP, { list }),
        await h.subscribe(h.client(bob), TASK_GROUP, { list }),
      ];
      expect(h.engine.deliveryClasses).toBe(1);
      expect(h.engine.activeSubscriptions).toBe(3);

      const executions = h.engine.executions;
      const listLoads = jest.spyOn(h.ds.getRepository(TodoList), 'find');
      await rename(id, 'second');
      for (const s of subscribers) expect(await s.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'second', false, list) }]);
      expect(h.engine.executions - executions).toBe(1);
      expect(listLoads).toHaveBeenCalledTimes(1); // `list { id }`, for the class
    });

    it('subscribers with different rights are in different classes and get their own payloads', async () => {
      const list = await h.createList(alice, 'Rights');
      const id = await h.createTask(alice, list, 'paint');
      const owner = await h.subscribe(h.client(alice), TASK_GROUP, { list });
      const other = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const anonymous = [await h.subscribe(h.client(), TASK_GROUP, { list }), await h.subscribe(h.client(), TASK_GROUP, { list })];
      expect(h.engine.deliveryClasses).toBe(3);

      const executions = h.engine.executions;
      await h.patchTask(alice, id, { done: true });
      expect(await owner.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'paint', true, list) }]);
      expect(await other.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'paint', true, list) }]);
      for (const s of anonymous) expect(await s.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'paint', null, list) }]);
      expect(h.engine.executions - executions).toBe(3);

      // The list turns private: each class gets its own verdict.
      await h.setListPrivate(alice, list, true);
      expect(await other.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      for (const s of anonymous) expect(await s.next()).toEqual([{ action: 'DELETED', id, task: null }]);
      await h.patchTask(alice, id, { text: 'private paint' });
      expect(await owner.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'private paint', true, list) }]);
      await h.setListPrivate(alice, list, false);
      expect(await other.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'private paint', true, list) }]);
      expect(other.take()).toEqual([]);
    });

    it('never mixes different variables or documents', async () => {
      const listA = await h.createList(alice, 'A');
      const listB = await h.createList(alice, 'B');
      const fullA = await h.subscribe(h.client(bob), TASK_GROUP, { list: listA });
      const fullB = await h.subscribe(h.client(bob), TASK_GROUP, { list: listB });
      const slimA = await h.subscribe(h.client(bob), SLIM, { list: listA });
      const namedA = await h.subscribe(h.client(bob), `subscription Named${TASK_GROUP.trim().slice('subscription'.length)}`, { list: listA });
      expect(h.engine.deliveryClasses).toBe(4);

      const id = await h.createTask(alice, listA, 'in A');
      expect(await fullA.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'in A', false, listA) }]);
      expect(await namedA.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'in A', false, listA) }]);
      expect(await slimA.next()).toEqual([{ action: 'CREATED', id, task: { text: 'in A' } }]);
      expect(await fullB.until(() => h.createTask(alice, listB, 'marker'), isText('marker'))).toEqual([]);
    });
  });

  describe('order', () => {
    it('events arrive in commit order when executions await relation loads, with one load per class and event', async () => {
      const list = await h.createList(alice, 'Ordered');
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await h.createTask(alice, list, `task ${i}`));
      const deep = [await h.subscribe(h.client(bob), DEEP, { list }), await h.subscribe(h.client(bob), DEEP, { list })];
      const slim = await h.subscribe(h.client(bob), SLIM, { list });
      expect(h.engine.deliveryClasses).toBe(2);

      const ownerLoads = jest.spyOn(h.ds.getRepository(User), 'find');
      // One transaction, ten rows: ten events back to back, each DEEP execution waiting for two loads.
      await h.ds.transaction(async (manager) => {
        for (let i = 0; i < 10; i++) await manager.getRepository(Task).save({ id: Number(ids[i]), text: `step ${i}` });
      });
      const expected = ids.map((id, i) => ({ action: 'UPDATED', id, task: { text: `step ${i}`, list: { name: 'Ordered', owner: { username: 'alice' } } } }));
      for (const s of deep) expect(await s.next(10)).toEqual(expected);
      expect(await slim.next(10)).toEqual(expected.map((e) => ({ ...e, task: { text: e.task.text } })));
      expect(ownerLoads).toHaveBeenCalledTimes(10);
    });

    it('frames every operation id, whatever its length and characters, around the shared result', async () => {
      const list = await h.createList(alice, 'Ids');
      const id = await h.createTask(alice, list, 'framed');
      const raw = await h.rawSocket(bob);
      const ops = ['1', 'é ✓ "quoted" \\ \u0001', 'x'.repeat(300), crypto.randomUUID()];
      for (const op of ops) raw.send({ id: op, type: 'subscribe', payload: { query: SLIM, variables: { list } } });
      await waitUntil(() => h.engine.activeSubscriptions === ops.length);
      await rename(id, 'renamed');
      await waitUntil(() => raw.messages.filter((m) => m.type === 'next').length === ops.length);
      const nexts = raw.messages.filter((m) => m.type === 'next');
      // In the order the subscriptions joined, which is not the order they were sent in.
      expect(nexts.sort((a, b) => ops.indexOf(a.id) - ops.indexOf(b.id))).toEqual(
        ops.map((op) => ({ id: op, type: 'next', payload: { data: { taskGroupChanged: { action: 'UPDATED', id, task: { text: 'renamed' } } } } })),
      );
      raw.socket.terminate();
    });
  });

  describe('leaving', () => {
    it('unsubscribing and cut sockets leave the class; the last one removes it and its topic listener', async () => {
      const list = await h.createList(alice, 'Leaving');
      const id = await h.createTask(alice, list, 'watched');
      const topics = (h.engine.pubsub as PubSub & { topicCount(): number }).topicCount();
      const leaving = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const cutClient = h.client(bob);
      const cut = await h.subscribe(cutClient, TASK_GROUP, { list });
      const staying = await h.subscribe(h.client(bob), TASK_GROUP, { list });
      const raw = await h.rawSocket(bob);
      raw.send({ id: 'raw', type: 'subscribe', payload: { query: TASK_GROUP, variables: { list } } });
      await waitUntil(() => h.engine.activeSubscriptions === 4);
      expect(h.engine.deliveryClasses).toBe(1);

      leaving.unsubscribe();
      h.socketOf(cutClient).terminate();
      h.forget(cut);
      raw.socket.terminate();
      await waitUntil(() => h.engine.activeSubscriptions === 1, 10_000, () => `activeSubscriptions ${h.engine.activeSubscriptions} to be 1`);
      expect(h.engine.deliveryClasses).toBe(1);
      await rename(id, 'still watched');
      expect(await staying.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'still watched', false, list) }]);
      expect(leaving.events).toEqual([]);

      staying.unsubscribe();
      await h.settled();
      expect(h.engine.activeSubscriptions).toBe(0);
      expect(h.engine.deliveryClasses).toBe(0);
      expect((h.engine.pubsub as PubSub & { topicCount(): number }).topicCount()).toBe(topics);
    });
  });

  describe('subscribing', () => {
    /** Runs one operation on a raw socket and returns every message the server sent for it until it completed or erred. */
    async function refusal(user: LiveUser | null, query: string, variables: Record<string, unknown>): Promise<unknown[]> {
      const raw = await h.rawSocket(user);
      raw.send({ id: 'op', type: 'subscribe', payload: { query, variables } });
      await waitUntil(() => raw.messages.some((m) => m.id === 'op' && (m.type === 'complete' || m.type === 'error')));
      raw.socket.terminate();
      return raw.messages.filter((m) => m.id === 'op');
    }

    it('refusals come back as before: GraphQL errors with their code, nothing held', async () => {
      const secret = await h.createList(alice, 'Secret', true);
      expect(await refusal(bob, TASK_GROUP, { list: secret })).toEqual([
        {
          id: 'op',
          type: 'next',
          payload: {
            errors: [{
              message: `Not allowed to subscribe to Task group list=${secret}`,
              locations: [{ line: 2, column: 30 }],
              path: ['taskGroupChanged'],
              extensions: { code: 'FORBIDDEN' },
            }],
          },
        },
        { id: 'op', type: 'complete' },
      ]);
      expect(await refusal(null, 'subscription { taskInstanceChanged(id: "987654") { id } }', {})).toEqual([
        {
          id: 'op',
          type: 'next',
          payload: {
            errors: [{ message: 'Task:987654 not found', locations: [{ line: 1, column: 16 }], path: ['taskInstanceChanged'], extensions: { code: 'NOT_FOUND' } }],
          },
        },
        { id: 'op', type: 'complete' },
      ]);
      expect(await refusal(bob, 'subscription { taskInstanceChanged(id: "x") { id } }', {})).toEqual([
        {
          id: 'op',
          type: 'next',
          payload: { errors: [expect.objectContaining({ path: ['taskInstanceChanged'], extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })] },
        },
        { id: 'op', type: 'complete' },
      ]);
      expect(await refusal(bob, 'subscription { taskGroupChanged(group: { list: 1 }) { nope } }', {})).toEqual([
        {
          id: 'op',
          type: 'error',
          payload: [expect.objectContaining({ message: 'Cannot query field "nope" on type "TaskChange".' })],
        },
      ]);
      await h.settled();
      expect(h.engine.deliveryClasses).toBe(0);
    });
  });

  describe('a server with custom events and a coarser visibility key', () => {
    let other: LiveHarness;
    let carol: LiveUser;
    let dave: LiveUser;

    beforeAll(async () => {
      const tasks = resource(Task, {
        ...taskResource.options,
        events: { taskReminder: { type: 'String!' }, taskBroken: { type: 'AuthPayload' } },
      });
      other = await LiveHarness.start({
        prefix: 'live_delivery_key',
        capture,
        server: {
          resources: [userResource, todoListResource, tasks, postResource],
          // Sound for this schema on public lists only: `done` asks whether there is a user, not which.
          visibilityKey: (ctx) => (ctx.user ? 'signed-in' : 'anonymous'),
        },
      });
      carol = await other.signUp('carol');
      dave = await other.signUp('dave');
    });
    afterEach(async () => { await other.unsubscribeAll(); });
    afterAll(async () => { await other?.close(); });

    const reminders = 'subscription($list: ID!) { taskReminder(group: { list: $list }) }';

    it('subscribers with equal keys share a class even as different users', async () => {
      const list = await other.createList(carol, 'Public');
      const id = await other.createTask(carol, list, 'shared');
      const subscribers = [await other.subscribe(other.client(carol), TASK_GROUP, { list }), await other.subscribe(other.client(dave), TASK_GROUP, { list })];
      const anonymous = await other.subscribe(other.client(), TASK_GROUP, { list });
      expect(other.engine.deliveryClasses).toBe(2);
      await other.patchTask(carol, id, { done: true });
      for (const s of subscribers) expect(await s.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'shared', true, list) }]);
      expect(await anonymous.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'shared', null, list) }]);
    });

    it('custom events are delivered through classes too', async () => {
      const list = await other.createList(carol, 'Reminders');
      const id = await other.createTask(carol, list, 'call');
      const row = await other.ds.getRepository(Task).findOneByOrFail({ id: Number(id) });
      const subscribers = [await other.subscribe(other.client(carol), reminders, { list }), await other.subscribe(other.client(dave), reminders, { list })];
      expect(other.engine.deliveryClasses).toBe(1);
      await other.server.live.publishEvent('taskReminder', 'call mum', { ...row });
      for (const s of subscribers) expect((await s.waitFor(1)).map((e) => e as unknown)).toEqual(['call mum']);
    });

    it('an error in an event\'s execution is masked and formatted as on every transport', async () => {
      const list = await other.createList(carol, 'Broken');
      const id = await other.createTask(carol, list, 'broken');
      const row = await other.ds.getRepository(Task).findOneByOrFail({ id: Number(id) });
      const subscription: LiveSubscription = await other.subscribe(other.client(dave), 'subscription($list: ID!) { taskBroken(group: { list: $list }) { token } }', { list });
      const payload = { get token(): string { throw new Error('internal detail'); } };
      await other.server.live.publishEvent('taskBroken', payload, { ...row });
      await waitUntil(() => subscription.results.length > 0);
      expect(subscription.results).toEqual([{
        data: { taskBroken: null },
        errors: [{ message: 'Unexpected error.', locations: [{ line: 1, column: 65 }], path: ['taskBroken', 'token'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }],
      }]);
    });
  });
});
