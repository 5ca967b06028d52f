/**
 * Subscriptions end however the client goes — completing the operation,
 * disposing the client, or a socket cut without a close handshake — and
 * the server lets go of them: `live.engine.activeSubscriptions` comes back
 * to zero and nothing more is delivered.
 */
import { LiveHarness, POST_HASHTAG, TASK_GROUP, TASK_INSTANCE, task, waitUntil, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

describeEachCapture('lifecycle', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;
  let bob: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_lifecycle', capture });
    alice = await h.signUp('alice');
    bob = await h.signUp('bob');
  });
  afterEach(async () => {
    await h.unsubscribeAll();
    expect(h.engine.activeSubscriptions).toBe(0);
  });
  afterAll(async () => { await h?.close(); });

  const active = () => h.engine.activeSubscriptions;
  const backTo = (n: number) => waitUntil(() => active() === n, 10_000, () => `activeSubscriptions ${active()} to be ${n}`);

  it('completing a subscription stops its delivery and frees it on the server', async () => {
    const list = await h.createList(alice, 'Completing');
    const client = h.client(alice);
    const leaving = await h.subscribe(client, TASK_GROUP, { list });
    const staying = await h.subscribe(h.client(bob), TASK_GROUP, { list });
    expect(active()).toBe(2);

    const first = await h.createTask(alice, list, 'both see this');
    expect(await leaving.next()).toEqual([{ action: 'CREATED', id: first, task: task(first, 'both see this', false, list) }]);
    expect(await staying.next()).toHaveLength(1);

    leaving.unsubscribe();
    await backTo(1);
    const second = await h.createTask(alice, list, 'only one sees this');
    expect(await staying.next()).toEqual([{ action: 'CREATED', id: second, task: task(second, 'only one sees this', false, list) }]);
    expect(leaving.events).toHaveLength(1);

    // The same socket can subscribe again.
    const again = await h.subscribe(client, TASK_GROUP, { list });
    expect(active()).toBe(2);
    await h.patchTask(alice, second, { done: true });
    expect(await again.next()).toEqual([{ action: 'UPDATED', id: second, task: task(second, 'only one sees this', true, list) }]);

    staying.unsubscribe();
    again.unsubscribe();
    await backTo(0);
  });

  it('disposing a client frees every subscription of its socket', async () => {
    const list = await h.createList(alice, 'Disposing');
    const id = await h.createTask(alice, list, 'watched');
    const client = h.client(bob);
    const subscriptions = [
      await h.subscribe(client, TASK_GROUP, { list }),
      await h.subscribe(client, TASK_INSTANCE, { id }),
      await h.subscribe(client, POST_HASHTAG, { tag: 'news' }),
    ];
    expect(active()).toBe(3);
    await client.dispose();
    await backTo(0);
    for (const s of subscriptions) h.forget(s);
  });

  it('a socket cut without a close handshake frees its subscriptions too', async () => {
    const list = await h.createList(alice, 'Cut');
    const id = await h.createTask(alice, list, 'watched');

    // A graphql-ws client whose TCP connection is destroyed.
    const client = h.client(bob);
    const viaClient = [await h.subscribe(client, TASK_GROUP, { list }), await h.subscribe(client, TASK_INSTANCE, { id })];

    // A socket speaking graphql-transport-ws by hand.
    const raw = await h.rawSocket(alice);
    raw.send({ id: 'raw-1', type: 'subscribe', payload: { query: TASK_GROUP, variables: { list } } });
    await backTo(3);

    h.socketOf(client).terminate();
    raw.socket.terminate();
    for (const s of viaClient) h.forget(s);
    await backTo(0);

    // The server carries on: a new subscriber gets the next change.
    const fresh = await h.subscribe(h.client(bob), TASK_INSTANCE, { id });
    await h.patchTask(alice, id, { text: 'after the cut' });
    expect(await fresh.next()).toEqual([{ action: 'UPDATED', id, task: task(id, 'after the cut', false, list) }]);
  });

  it('closing the server ends open subscriptions', async () => {
    // Its own server, so the suite's stays up.
    const other = await LiveHarness.start({ prefix: 'live_lifecycle_close', capture });
    try {
      const carol = await other.signUp('carol');
      const list = await other.createList(carol, 'Closing');
      const subscription = await other.subscribe(other.client(carol), TASK_GROUP, { list });
      await other.server.close();
      expect(other.engine.activeSubscriptions).toBe(0);
      await subscription.waitForEnd();
    } finally {
      await other.close();
    }
  });
});
