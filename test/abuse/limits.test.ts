/**
 * A hostile client against the real server: each attack gets its clear
 * error or close code, writes nothing, and afterwards a legitimate
 * subscriber still receives a write and `{ __typename }` still answers.
 */
import { getIntrospectionQuery } from 'graphql';
import WebSocket from 'ws';
import { isAuthenticated, resource } from '../../src';
import { postResource, taskResource, todoListResource, userResource } from '../../example/app';
import { isBody, LiveHarness, POST_HASHTAG, TASK_GROUP, task, waitUntil, type LiveSubscription, type LiveUser } from '../support/live';

let h: LiveHarness;
let alice: LiveUser;
let list: string;
let watcher: LiveSubscription;

beforeAll(async () => {
  h = await LiveHarness.start({
    prefix: 'abuse',
    capture: 'orm',
    server: { maxConnectionsPerAddress: 40, connectionInitTimeout: 300, maxSubscriptionsPerConnection: 20 },
  });
  alice = await h.signUp('alice');
  list = await h.createList(alice, 'Watched');
  watcher = await h.subscribe(h.client(alice), TASK_GROUP, { list });
});
afterAll(async () => { await h?.close(); });

/** The server still serves: `{ __typename }` answers and the legitimate subscriber gets a write, each within seconds. */
async function stillServing(): Promise<void> {
  const started = Date.now();
  expect(await h.ok('{ __typename }')).toEqual({ __typename: 'Query' });
  expect(Date.now() - started).toBeLessThan(5_000);
  const id = await h.createTask(alice, list, `still ${started}`);
  expect(await watcher.next(1, 5_000)).toEqual([{ action: 'CREATED', id, task: task(id, `still ${started}`, false, list) }]);
}

const code = (result: { errors?: readonly any[] }) => result.errors?.[0]?.extensions?.code;

describe('operation limits, on HTTP and WebSocket alike', () => {
  // 2000 of them are over the body limit already (413); 200 fit in a body and meet the alias limit.
  const aliases = `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: tasks(limit: 1000) { id text }`).join(' ')} }`;
  const deep = `{ __schema { types { fields { type ${'{ ofType '.repeat(40)}{ name }${' }'.repeat(40)} } } } }`;

  it.each([
    ['200 aliases of a list query', aliases],
    ['introspection nested 40 deep', deep],
    ['5000 tokens', `{ ${'__typename '.repeat(5000)}}`],
    ['30 directives', `{ __typename ${'@include(if: true) '.repeat(30)}}`],
  ])('%s: QUERY_TOO_COMPLEX before anything runs', async (_name, query) => {
    const queries = jest.spyOn(h.ds, 'query');
    const overHttp = await h.request(query);
    expect(code(overHttp)).toBe('QUERY_TOO_COMPLEX');
    expect(overHttp.data).toBeUndefined();
    const raw = await h.rawSocket(alice);
    raw.send({ id: 'q', type: 'subscribe', payload: { query } });
    await waitUntil(() => raw.messages.some((m) => m.id === 'q' && m.type === 'error'), 5_000, () => 'the refusal over WebSocket');
    expect(raw.messages.find((m) => m.id === 'q').payload[0].extensions.code).toBe('QUERY_TOO_COMPLEX');
    raw.socket.terminate();
    expect(queries).not.toHaveBeenCalled();
    queries.mockRestore();
    await stillServing();
  });

  it('the demo\'s own operations and GraphiQL\'s introspection pass', async () => {
    expect((await h.request(getIntrospectionQuery())).errors).toBeUndefined();
    expect((await h.request('query($l: ID!) { tasks(where: { list: $l }, orderBy: [{ id: ASC }], limit: 100) { id text done list { id name private owner { id username } } } }', { l: list }, alice.token)).errors).toBeUndefined();
  });

  it('cosmetic variants of one subscription (comments, whitespace) share one delivery class', async () => {
    const classes = h.engine.deliveryClasses;
    const plain = await h.subscribe(h.client(alice), TASK_GROUP, { list });
    const dressed = await h.subscribe(h.client(alice), `# one\n${TASK_GROUP.replace('{ action', '{\n  # two\n  action')}\n# three`, { list });
    expect(h.engine.deliveryClasses).toBe(classes); // both joined the watcher's class
    plain.unsubscribe();
    dressed.unsubscribe();
    await h.settled();
  });
});

describe('bounded bytes', () => {
  it('an HTTP body over the limit: 413 with LIMIT_EXCEEDED, nothing read or written', async () => {
    const body = JSON.stringify({ query: 'mutation($t: String!) { createPost(input: { body: $t }) { id } }', variables: { t: '#x '.repeat(100_000) } });
    const response = await fetch(h.server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` }, body });
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe('LIMIT_EXCEEDED');
    expect(await h.ok('{ posts(limit: 1000) { id } }')).toEqual({ posts: [] });
    await stillServing();
  });

  it('a WebSocket message over the limit closes that socket with 1009', async () => {
    const raw = await h.rawSocket(alice);
    const closed = new Promise<number>((resolve) => raw.socket.once('close', (c) => resolve(c)));
    raw.send({ id: 'big', type: 'subscribe', payload: { query: `{ __typename }`, variables: { padding: 'x'.repeat(200_000) } } });
    expect(await closed).toBe(1009);
    await stillServing();
  });
});

describe('bounded text', () => {
  it('a text over its field\'s maximum (10,000 characters for a text column): BAD_USER_INPUT, nothing written', async () => {
    const tooLong = await h.request('mutation($b: String!) { createPost(input: { body: $b }) { id } }', { b: 'x'.repeat(10_001) }, alice.token);
    expect(code(tooLong)).toBe('BAD_USER_INPUT');
    expect(tooLong.errors![0].message).toMatch(/longer than 10000/);
    const varchar = await h.request('mutation($t: String!, $l: ID!) { createTask(input: { text: $t, list: $l }) { id } }', { t: 'x'.repeat(501), l: list }, alice.token);
    expect(code(varchar)).toBe('BAD_USER_INPUT');
    expect(await h.ok('{ posts(limit: 1000) { id } }')).toEqual({ posts: [] });
    expect((await h.ok('query($l: ID!) { tasks(where: { list: $l }, limit: 1000) { text } }', { l: list }, alice.token)).tasks.some((t: { text: string }) => t.text.length > 500)).toBe(false);
    // At the maximum it is written.
    expect(code(await h.request('mutation($b: String!) { createPost(input: { body: $b }) { id } }', { b: 'y'.repeat(10_000) }, alice.token))).toBeUndefined();
    await stillServing();
  });

  it('filters too: a declared filter over 1,000 characters, a field filter over the field\'s length', async () => {
    expect(code(await h.request('query($q: String!) { posts(where: { bodyContains: $q }) { id } }', { q: 'x'.repeat(1001) }))).toBe('BAD_USER_INPUT');
    expect(code(await h.request('query($q: String!) { posts(where: { bodyContains: $q }) { id } }', { q: 'x'.repeat(1000) }))).toBeUndefined();
    expect(code(await h.request('query($t: String!) { tasks(where: { text: $t }) { id } }', { t: 'x'.repeat(501) }))).toBe('BAD_USER_INPUT');
    await stillServing();
  });
});

describe('linear routing', () => {
  it('a post with 1500 distinct hashtags (what fits in 10,000 characters) reaches the groups of its first 100 only, and the server keeps serving', async () => {
    const first = await h.subscribe(h.client(), POST_HASHTAG, { tag: 't0' });
    const beyond = await h.subscribe(h.client(), POST_HASHTAG, { tag: 't1499' });
    const body = Array.from({ length: 1500 }, (_, i) => `#t${i}`).join(' ');
    const id = String((await h.ok('mutation($b: String!) { createPost(input: { body: $b }) { id } }', { b: body }, alice.token)).createPost.id);
    expect((await first.next())[0]).toMatchObject({ action: 'CREATED', id });
    await stillServing();
    await h.ok('mutation($b: String!) { createPost(input: { body: $b }) { id } }', { b: '#t1499 marker' }, alice.token);
    expect(await beyond.upTo(isBody('#t1499 marker'))).toEqual([]);
    first.unsubscribe();
    beyond.unsubscribe();
    await h.settled();
  });
});

describe('connection limits', () => {
  it('more operations at once than a connection may run: LIMIT_EXCEEDED for the extra ones; a client that keeps on is closed with 4429', async () => {
    const polite = await h.rawSocket(null);
    for (let i = 0; i < 25; i++) polite.send({ id: `s${i}`, type: 'subscribe', payload: { query: TASK_GROUP, variables: { list } } });
    await waitUntil(() => polite.messages.filter((m) => m.type === 'error').length >= 5, 10_000, () => 'the refusals');
    const refused = polite.messages.filter((m) => m.type === 'error');
    expect(refused.every((m) => m.payload[0].extensions.code === 'LIMIT_EXCEEDED')).toBe(true);
    expect(refused.map((m) => m.id)).toEqual(['s20', 's21', 's22', 's23', 's24']);
    polite.socket.terminate();
    await h.settled();

    // 150 at once (under maxMessagesPerSecond): 20 held, the rest refused until the tenth refusal closes the socket.
    const flood = await h.rawSocket(null);
    const closed = new Promise<number>((resolve) => flood.socket.once('close', (c) => resolve(c)));
    for (let i = 0; i < 150; i++) flood.send({ id: `s${i}`, type: 'subscribe', payload: { query: TASK_GROUP, variables: { list } } });
    expect(await closed).toBe(4429);
    const errors = flood.messages.filter((m) => m.type === 'error');
    expect(errors.length).toBeGreaterThanOrEqual(10);
    expect(errors.every((m) => m.payload[0].extensions.code === 'LIMIT_EXCEEDED')).toBe(true);
    await h.settled();
    await stillServing();
  });

  it('a socket that never sends connection_init is closed with 4408', async () => {
    const socket = new WebSocket(h.server.wsUrl, 'graphql-transport-ws');
    const closed = await new Promise<number>((resolve) => socket.once('close', (c) => resolve(c)));
    expect(closed).toBe(4408);
  });

  it('too many sockets from one address: the extra ones are closed with 4429', async () => {
    const sockets = Array.from({ length: 45 }, () => new WebSocket(h.server.wsUrl, 'graphql-transport-ws'));
    const codes = await Promise.all(sockets.map((s) => new Promise<number>((resolve) => {
      s.once('close', (c) => resolve(c));
      s.once('open', () => setTimeout(() => resolve(0), 150));
    })));
    // The harness's own sockets count too: at least the last five are refused, every refusal with 4429.
    expect(codes.filter((c) => c === 4429).length).toBeGreaterThanOrEqual(5);
    expect(codes.filter((c) => c !== 0 && c !== 4429)).toEqual([]);
    for (const s of sockets) s.terminate();
    await stillServing();
  });
});

describe('relation fields', () => {
  let restricted: LiveHarness;
  beforeAll(async () => {
    // Lists here may be retrieved only by signed-in callers.
    const lists = resource(todoListResource.entity, { ...todoListResource.options, permissions: { ...todoListResource.options.permissions, retrieve: isAuthenticated } });
    restricted = await LiveHarness.start({ prefix: 'abuse_rel', capture: 'orm', server: { resources: [userResource, lists, taskResource, postResource] } });
  });
  afterAll(async () => { await restricted?.close(); });

  it('apply the target\'s retrieve permission as well as its row policy', async () => {
    const owner = await restricted.signUp('owner');
    const l = await restricted.createList(owner, 'Public list');
    const id = await restricted.createTask(owner, l, 'visible task');
    expect(await restricted.ok('query($id: ID!) { task(id: $id) { id list { id } } }', { id })).toEqual({ task: { id, list: null } });
    expect(await restricted.ok('query($id: ID!) { task(id: $id) { id list { id } } }', { id }, owner.token)).toEqual({ task: { id, list: { id: l } } });
  });
});

describe('production defaults', () => {
  let prod: LiveHarness;
  const env = process.env.NODE_ENV;
  beforeAll(async () => {
    process.env.NODE_ENV = 'production';
    try {
      prod = await LiveHarness.start({ prefix: 'abuse_prod', capture: 'orm' });
    } finally {
      process.env.NODE_ENV = env;
    }
  });
  afterAll(async () => { await prod?.close(); });

  it('NODE_ENV=production: no GraphiQL, no introspection, __typename still answers', async () => {
    const page = await fetch(prod.server.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/graphiql/i);
    const introspection = await prod.request('{ __schema { types { name } } }');
    expect(introspection.errors?.[0]?.message).toMatch(/introspection/i);
    expect(await prod.ok('{ __typename }')).toEqual({ __typename: 'Query' });
  });
});
