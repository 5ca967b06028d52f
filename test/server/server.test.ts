import { makeExecutableSchema } from '@graphql-tools/schema';
import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { createPubSub, type YogaLogger } from 'graphql-yoga';
import WebSocket from 'ws';
import { ForbiddenError, serveLiveSchema, UnauthenticatedError, type AuthUser, type LiveContext, type LiveServer, type ServedSchema, type ServeOptions } from '../../src';

// createLiveServer's own job is wiring; the schema builder has its own suites.

type ExecutionResult = FormattedExecutionResult<Record<string, unknown>, unknown>;

// A hand-made LiveSchema: the transport layer must not depend on the generator.
const pubSub = createPubSub<{ ping: [number] }>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const schema = makeExecutableSchema<LiveContext>({
  typeDefs: /* GraphQL */ `
    type Query { me: String  forbidden: String  crash: String  needsLogin: String }
    type Subscription { ticks(n: Int!): Int!  crashAfter(n: Int!): Int!  pings: Int! }
  `,
  resolvers: {
    Query: {
      me: (_root, _args, ctx) => (ctx.user ? String(ctx.user.id) : null),
      forbidden: () => { throw new ForbiddenError('Not allowed to read Secret:1'); },
      crash: () => { throw new Error('connection string postgres://secret'); },
      needsLogin: () => { throw new UnauthenticatedError(); },
    },
    Subscription: {
      ticks: {
        subscribe: async function* (_root: unknown, { n }: { n: number }) {
          for (let i = 1; i <= n; i++) { await sleep(5); yield { ticks: i }; }
        },
      },
      crashAfter: {
        subscribe: async function* (_root: unknown, { n }: { n: number }) {
          for (let i = 1; i <= n; i++) yield { crashAfter: i };
          throw new Error('stream broke: secret detail');
        },
      },
      pings: { subscribe: () => pubSub.subscribe('ping'), resolve: (value: number) => value },
    },
  },
});

const live: ServedSchema = {
  schema,
  createContext: (user: AuthUser | null) => ({ user, dataSource: null as any, loaders: new Map() }),
};

const authenticate: ServeOptions['authenticate'] = async (token) => {
  if (token === 'alice-token') return { id: 'alice' };
  if (token === 'explode') throw new Error('jwt malformed');
  return null;
};

let logged: unknown[][] = [];
const logger: YogaLogger = { debug() {}, info() {}, warn() {}, error: (...args) => void logged.push(args) };

const servers: LiveServer[] = [];
const clients: Client[] = [];

async function start(options: Partial<ServeOptions> = {}): Promise<LiveServer> {
  const server = await serveLiveSchema(live, { port: 0, host: '127.0.0.1', authenticate, logging: logger, ...options });
  servers.push(server);
  return server;
}

function wsClient(server: LiveServer, authorization?: string, closes: number[] = []): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: authorization === undefined ? {} : { authorization },
    retryAttempts: 0,
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  clients.push(client);
  return client;
}

/** Runs one operation to completion; rejects with the close event or errors. */
function run(client: Client, query: string): Promise<ExecutionResult[]> {
  return new Promise((resolve, reject) => {
    const results: ExecutionResult[] = [];
    client.subscribe({ query }, { next: (r) => void results.push(r), error: reject, complete: () => resolve(results) });
  });
}

async function post(server: LiveServer, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

/** Reads a whole SSE response and returns the JSON of every `data:` line. */
async function sse(server: LiveServer, query: string, headers: Record<string, string> = {}) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query }),
  });
  const text = await response.text();
  const events = text.split('\n').filter((l) => l.startsWith('data:') && l.length > 6).map((l) => JSON.parse(l.slice(5)));
  return { status: response.status, events };
}

beforeEach(() => { logged = []; });
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('serveLiveSchema over HTTP', () => {
  it('binds a free port and reports http and ws urls on the endpoint', async () => {
    const server = await start();
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/graphql`);
    expect(server.wsUrl).toBe(`ws://127.0.0.1:${server.port}/graphql`);
  });

  it('treats a request without Authorization as anonymous', async () => {
    const server = await start();
    expect(await post(server, { query: '{ me }' })).toEqual({ status: 200, body: { data: { me: null } } });
  });

  it('acts as the user of a valid bearer token', async () => {
    const server = await start();
    const res = await post(server, { query: '{ me }' }, { authorization: 'Bearer alice-token' });
    expect(res).toEqual({ status: 200, body: { data: { me: 'alice' } } });
  });

  it.each([
    ['an unknown token', 'Bearer nope'],
    ['a token authenticate throws on', 'Bearer explode'],
    ['a malformed header', 'Basic YWxpY2U6c2VjcmV0'],
  ])('refuses %s with 401 UNAUTHENTICATED, never as anonymous', async (_name, authorization) => {
    const server = await start();
    const res = await post(server, { query: '{ me }' }, { authorization });
    expect(res.status).toBe(401);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(res.body)).not.toContain('jwt malformed');
  });

  it('passes LiveErrors through and masks any other error, logging it', async () => {
    const server = await start();
    const res = await post(server, { query: '{ forbidden crash }' });
    const byField = Object.fromEntries(res.body.errors.map((e: any) => [e.path[0], e]));
    expect(byField.forbidden).toMatchObject({ message: 'Not allowed to read Secret:1', extensions: { code: 'FORBIDDEN' } });
    expect(byField.crash).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(res.body)).not.toContain('secret');
    expect(String(logged.flat())).toContain('postgres://secret');
  });

  it('answers bad JSON and invalid documents with yoga errors', async () => {
    const server = await start();
    expect((await post(server, '{"query": ')).status).toBe(400);
    // application/json keeps status 200 for invalid documents (GraphQL over HTTP, legacy watershed).
    const invalid = await post(server, { query: '{ nope }' });
    expect(invalid.status).toBe(200);
    expect(invalid.body.errors[0].message).toContain('Cannot query field "nope"');
  });

  it('serves GraphiQL wired to the WebSocket on GET text/html', async () => {
    const server = await start();
    const response = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('GraphiQL');
    expect(html).toMatch(/"subscriptionsProtocol":\s*"WS"/);
  });

  it('can switch GraphiQL off', async () => {
    const server = await start({ graphiql: false });
    const response = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await response.text()).not.toContain('GraphiQL');
  });
});

describe('serveLiveSchema over SSE', () => {
  it('streams a subscription and ends it', async () => {
    const server = await start();
    const { status, events } = await sse(server, 'subscription { ticks(n: 3) }', { authorization: 'Bearer alice-token' });
    expect(status).toBe(200);
    expect(events).toEqual([{ data: { ticks: 1 } }, { data: { ticks: 2 } }, { data: { ticks: 3 } }]);
  });

  it('refuses a bad token through the same auth path as HTTP', async () => {
    const server = await start();
    const { status, events } = await sse(server, 'subscription { ticks(n: 3) }', { authorization: 'Bearer nope' });
    expect(status).toBe(401);
    expect(events).toHaveLength(1);
    expect(events[0].data).toBeUndefined();
    expect(events[0].errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });
});

describe('serveLiveSchema over WebSocket', () => {
  it('treats a connection without authorization as anonymous', async () => {
    const server = await start();
    expect(await run(wsClient(server), '{ me }')).toEqual([{ data: { me: null } }]);
  });

  it('acts as the user of the connection_init token', async () => {
    const server = await start();
    expect(await run(wsClient(server, 'Bearer alice-token'), '{ me }')).toEqual([{ data: { me: 'alice' } }]);
  });

  it.each([['Bearer nope'], ['Bearer explode'], ['alice-token']])('closes with 4403 for authorization %p', async (authorization) => {
    const server = await start();
    await expect(run(wsClient(server, authorization), '{ me }')).rejects.toMatchObject({ code: 4403 });
  });

  it('masks unexpected errors exactly like HTTP', async () => {
    const server = await start();
    const [result] = await run(wsClient(server), '{ forbidden crash }');
    const byField = Object.fromEntries(result.errors!.map((e: any) => [e.path[0], e]));
    expect(byField.forbidden).toMatchObject({ message: 'Not allowed to read Secret:1', extensions: { code: 'FORBIDDEN' } });
    expect(byField.crash).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(String(logged.flat())).toContain('postgres://secret');
    expect(result).toEqual((await post(server, { query: '{ forbidden crash }' })).body);
  });

  it('sends an UNAUTHENTICATED resolver error without the HTTP status hint', async () => {
    const server = await start();
    const [result] = await run(wsClient(server), '{ needsLogin }');
    expect(result.errors).toEqual([
      { message: 'Authentication required', locations: [{ line: 1, column: 3 }], path: ['needsLogin'], extensions: { code: 'UNAUTHENTICATED' } },
    ]);
  });

  it('delivers every value of a subscription, then completes', async () => {
    const server = await start();
    const results = await run(wsClient(server, 'Bearer alice-token'), 'subscription { ticks(n: 3) }');
    expect(results).toEqual([{ data: { ticks: 1 } }, { data: { ticks: 2 } }, { data: { ticks: 3 } }]);
  });

  it('reports a subscription source that throws as a masked error and keeps the socket', async () => {
    const server = await start();
    const closes: number[] = [];
    const client = wsClient(server, undefined, closes);
    const results = await run(client, 'subscription { crashAfter(n: 2) }');
    expect(results.slice(0, 2)).toEqual([{ data: { crashAfter: 1 } }, { data: { crashAfter: 2 } }]);
    expect(results[2].errors![0]).toMatchObject({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(String(logged.flat())).toContain('stream broke');
    expect(await run(client, '{ me }')).toEqual([{ data: { me: null } }]);
  });

  it('answers a syntax error or invalid document as an error message, without HTTP hints', async () => {
    const server = await start();
    const client = wsClient(server);
    await expect(run(client, '{ me')).rejects.toEqual([expect.objectContaining({ message: expect.stringContaining('Syntax Error') })]);
    const rejection = await run(client, '{ nope }').catch((errors) => errors);
    expect(rejection[0].message).toContain('Cannot query field "nope"');
    expect(rejection[0].extensions?.http).toBeUndefined();
  });

  it('closes a socket that sends an invalid message with 4400', async () => {
    const server = await start();
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const code = await new Promise<number>((resolve) => {
      socket.on('open', () => socket.send('not json'));
      socket.on('close', (c) => resolve(c));
    });
    expect(code).toBe(4400);
  });

  it('closes a socket that does not ask for graphql-transport-ws with 4406', async () => {
    const server = await start();
    const socket = new WebSocket(server.wsUrl);
    const [code, reason] = await new Promise<[number, string]>((resolve) => socket.on('close', (c, r) => resolve([c, String(r)])));
    expect([code, reason]).toEqual([4406, 'Subprotocol not acceptable']);
  });
});

describe('LiveServer.close', () => {
  it('closes open WebSockets with 1001, ends SSE streams and does not wait for the timeout', async () => {
    const server = await start({ shutdownTimeout: 20_000 });
    const closes: number[] = [];
    const client = wsClient(server, 'Bearer alice-token', closes);
    const received: number[] = [];
    const ended = new Promise((resolve) => {
      client.subscribe({ query: 'subscription { pings }' }, { next: (r) => void received.push(r.data!.pings as number), error: resolve, complete: () => resolve('complete') });
    });
    // Publish until the subscription is surely live.
    for (let i = 0; received.length === 0 && i < 100; i++) { pubSub.publish('ping', i); await sleep(10); }
    expect(received.length).toBeGreaterThan(0);

    const stream = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { pings }' }),
    });
    const streamDone = stream.text().then(() => 'done', () => 'cut');

    const startedAt = Date.now();
    await server.close();
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    await expect(ended).resolves.toMatchObject({ code: 1001 });
    expect(closes).toContain(1001);
    expect(['done', 'cut']).toContain(await streamDone);
    await expect(server.close()).resolves.toBeUndefined(); // idempotent
  });

  it('runs onClose once after the transports stop', async () => {
    let calls = 0;
    const server = await start({ onClose: () => void calls++ });
    await server.close();
    await server.close();
    expect(calls).toBe(1);
    await expect(fetch(server.url)).rejects.toThrow();
  });
});
