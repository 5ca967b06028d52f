/**
 * A credential that expires while it is in use: at that moment its
 * subscriptions end with UNAUTHENTICATED, its WebSocket is closed with 4403
 * (nothing more runs on it), SSE streams end, and it is refused afterwards.
 * The same when the server's `revalidate` (the demo's: the account still
 * exists) revokes it at a sweep.
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
      revalidateInterval: 200,
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

/** An SSE subscription as `user`: resolves with the whole text once the stream ends. */
async function sseSubscription(user: LiveUser, query: string, variables: Record<string, unknown>): Promise<{ text: () => string; ended: Promise<void> }> {
  const response = await fetch(h.server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${user.token}` },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.status).toBe(200);
  let text = '';
  const ended = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
  })();
  return { text: () => text, ended };
}

it('revalidate: an account deleted while signed in loses its WebSocket (4403) and SSE streams at the next sweep', async () => {
  const list = await h.createList(alice, 'Watched by a doomed account');
  const bob = await h.signUp('bob');
  const client = h.client(bob);
  const group = await h.subscribe(client, TASK_GROUP, { list });
  const socket = h.socketOf(client);
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  const stream = await sseSubscription(bob, TASK_GROUP, { list });
  await waitUntil(() => h.engine.activeSubscriptions === 2, 5_000, () => 'both subscriptions to be held');
  const id = await h.createTask(alice, list, 'seen by bob');
  expect(await group.next()).toEqual([{ action: 'CREATED', id, task: task(id, 'seen by bob', false, list) }]);

  // A sweep that finds the account still there changes nothing.
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(group.ended).toBe(false);

  await h.ds.query('DELETE FROM "user" WHERE id = $1', [Number(bob.id)]);
  await group.waitForEnd(5_000);
  expect(group.errors).toEqual([expect.objectContaining({ message: 'The credential was revoked: sign in again', extensions: { code: 'UNAUTHENTICATED' } })]);
  expect(await closed).toBe(4403);
  await stream.ended;
  expect(stream.text()).toContain('seen by bob');
  expect(stream.text()).toContain('UNAUTHENTICATED');
  h.forget(group);
  await h.settled();
  expect(h.engine.activeSubscriptions).toBe(0);
  // And the token is refused from then on (the demo's authenticate finds no account).
  expect((await h.request('{ __typename }', {}, bob.token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  // Alice, still signed in, goes on.
  const later = await h.subscribe(h.client(alice), TASK_GROUP, { list });
  const next = await h.createTask(alice, list, 'after the revocation');
  expect(await later.next()).toEqual([{ action: 'CREATED', id: next, task: task(next, 'after the revocation', false, list) }]);
});
