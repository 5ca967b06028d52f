/**
 * A client that reconnects and resubscribes in a loop — each socket within
 * its own limits — is bounded per address: past `subscribeRatePerAddress`
 * its operations are refused with RATE_LIMITED and a `retryAfter`, a socket
 * refused ten times is closed with 4429; past `connectRatePerAddress` new
 * sockets are refused at the upgrade with HTTP 429; a socket sending more than
 * `maxMessagesPerSecond` is closed with 4429 within the burst. Subscribers
 * already held (from the same address, even) go on receiving.
 */
import WebSocket from 'ws';
import { LiveHarness, TASK_GROUP, task, waitUntil, type LiveSubscription, type LiveUser } from '../support/live';

let h: LiveHarness;
let alice: LiveUser;
let list: string;
let watcher: LiveSubscription;

beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'abuse_subscribe_rate', capture: 'orm', server: { subscribeRatePerAddress: { max: 30, seconds: 60 }, connectRatePerAddress: { max: 12, seconds: 60 } } });
  alice = await h.signUp('alice');
  list = await h.createList(alice, 'Watched');
  watcher = await h.subscribe(h.client(alice), TASK_GROUP, { list });
});
afterAll(async () => { await h?.close(); });

it('sockets opened one after another, twelve subscriptions each: RATE_LIMITED past 30, closed with 4429 after ten refusals', async () => {
  const outcomes: { held: number; refused: { code: string; retryAfter?: number }[]; closed: number }[] = [];
  for (let round = 0; round < 5; round++) {
    const raw = await h.rawSocket(null);
    const closed = new Promise<number>((resolve) => raw.socket.once('close', (c) => resolve(c)));
    for (let i = 0; i < 12; i++) raw.send({ id: `r${round}s${i}`, type: 'subscribe', payload: { query: TASK_GROUP, variables: { list } } });
    await waitUntil(() => raw.messages.filter((m) => m.type === 'error').length + (h.engine.activeSubscriptions - 1) >= 12 || raw.socket.readyState !== raw.socket.OPEN, 10_000, () => 'answers');
    const refused = raw.messages.filter((m) => m.type === 'error').map((m) => m.payload[0].extensions);
    const held = h.engine.activeSubscriptions - 1;
    if (raw.socket.readyState === raw.socket.OPEN) raw.socket.terminate();
    outcomes.push({ held, refused, closed: await closed });
    await h.settled(10_000).catch(() => undefined);
    await waitUntil(() => h.engine.activeSubscriptions === 1, 10_000, () => 'the socket to be let go');
  }
  // 30 of 60 started (one held already counts), then refusals.
  expect(outcomes.reduce((sum, o) => sum + o.held, 0)).toBe(29);
  const limited = outcomes.flatMap((o) => o.refused).filter((r) => r.code === 'RATE_LIMITED');
  expect(limited.length).toBeGreaterThanOrEqual(10);
  expect(limited.every((r) => r.retryAfter! >= 1)).toBe(true);
  expect(outcomes.some((o) => o.closed === 4429)).toBe(true);

  // The subscriber held all along still receives.
  const id = await h.createTask(alice, list, 'still delivered');
  expect(await watcher.next(1, 5_000)).toEqual([{ action: 'CREATED', id, task: task(id, 'still delivered', false, list) }]);
  expect(await h.ok('{ __typename }')).toEqual({ __typename: 'Query' });
});

it('a socket that sends more than 200 messages in a second is closed with 4429, and what it sent after is never handled', async () => {
  const raw = await h.rawSocket(null);
  const closed = new Promise<number>((resolve) => raw.socket.once('close', (c) => resolve(c)));
  for (let i = 0; i < 1000; i++) raw.send({ type: 'ping' });
  expect(await closed).toBe(4429);
  expect(raw.messages.filter((m) => m.type === 'pong').length).toBeLessThanOrEqual(200);
});

it('more new sockets from one address than connectRatePerAddress allows: the extra upgrades are answered 429', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) {
    const socket = new WebSocket(h.server.wsUrl, 'graphql-transport-ws');
    socket.on('error', () => undefined);
    statuses.push(await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('open', () => resolve(101));
    }));
    socket.terminate();
  }
  expect(statuses).toContain(429);
  expect(statuses.filter((s) => s !== 101 && s !== 429)).toEqual([]);
  // Held subscribers are unaffected.
  const id = await h.createTask(alice, list, 'after the reconnect loop');
  expect(await watcher.next(1, 5_000)).toEqual([{ action: 'CREATED', id, task: task(id, 'after the reconnect loop', false, list) }]);
});
