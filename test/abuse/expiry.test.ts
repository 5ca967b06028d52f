/**
 * A credential that expires while it is in use: at that moment its
 * subscriptions end with UNAUTHENTICATED, its WebSocket is closed with 4403
 * (nothing more runs on it), SSE streams end, and it is refused afterwards.
 */
import { createDemoApp, type DemoApp } from '../../example/app';
import type { Identity } from '../../src';
import { LiveHarness, SECRET, TASK_GROUP, task, waitUntil, type LiveUser } from '../support/live';

let h: LiveHarness;
let demo: DemoApp;
let alice: LiveUser;
/** Tokens `short:<user id>:<ms>` stand for that user until `ms` (since the epoch). */
const shortLived = (user: LiveUser, ms: number): LiveUser => ({ ...user, token: `short:${user.id}:${Date.now() + ms}` });

beforeAll(async () => {
  h = await LiveHarness.start({
    prefix: 'expiry',
    capture: 'orm',
    server: {
      authenticate: async (token): Promise<Identity | null> => {
        const short = /^short:(\d+):(\d+)$/.exec(token);
        if (short) return { user: { id: Number(short[1]), username: 'alice' }, expiresAt: Number(short[2]) };
        return demo.authenticate(token);
      },
    },
  });
  demo = createDemoApp(h.ds, SECRET);
  alice = await h.signUp('alice');
});
afterAll(async () => { await h?.close(); });

it('a WebSocket: its subscriptions end with UNAUTHENTICATED when the token expires, and the socket closes with 4403', async () => {
  const list = await h.createList(alice, 'Expiring');
  const user = shortLived(alice, 1500);
  const client = h.client(user);
  const group = await h.subscribe(client, TASK_GROUP, { list });
  const socket = h.socketOf(client);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const id = await h.createTask(alice, list, 'before expiry');
  expect(await group.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'before expiry', false, list) }]);
  await group.waitForEnd(5_000);
  expect(group.errors).toEqual([expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })]);
  expect(await closed).toBe(4403);
  h.forget(group);
  await h.settled();
  // The same token is refused from now on: over HTTP with 401, a new socket with 4403.
  const refused = await h.request('mutation($l: ID!) { completeAllTasks(list: $l) }', { l: list }, user.token);
  expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(await h.ds.query('SELECT count(*)::int AS n FROM task WHERE done')).toEqual([{ n: 0 }]);
});

it('an SSE stream ends with UNAUTHENTICATED when its token expires', async () => {
  const list = await h.createList(alice, 'Expiring over SSE');
  const user = shortLived(alice, 1500);
  const response = await fetch(h.server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query: TASK_GROUP, variables: { list } }),
  });
  expect(response.status).toBe(200);
  let text = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
  })();
  await waitUntil(() => h.engine.activeSubscriptions > 0, 5_000, () => 'the SSE subscription to be held');
  await h.createTask(alice, list, 'streamed');
  await reading;
  expect(text).toContain('streamed');
  expect(text).toContain('UNAUTHENTICATED');
  await h.settled();
});
