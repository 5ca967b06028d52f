import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { DataSource } from 'typeorm';
import { createDemoApp } from '../../example/app';
import { demoEntities } from '../../example/entities';
import { createLiveServer, type LiveSchemaServer } from '../../src';
import { createTestDatabase, testDataSource } from '../support/database';
import { waitUntil } from '../support/live';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ds: DataSource;
let server: LiveSchemaServer;
const clients: Client[] = [];

async function http(query: string, variables: Record<string, unknown> = {}, token?: string) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: any[] } };
}

function ws(token?: string): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
  clients.push(client);
  return client;
}

function wsQuery(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    let result: unknown;
    client.subscribe({ query, variables }, { next: (r) => (result = r), error: reject, complete: () => resolve(result) });
  });
}

beforeAll(async () => {
  db = await createTestDatabase('e2e');
  ds = await testDataSource(db.url, demoEntities);
  server = await createLiveServer({ dataSource: ds, ...createDemoApp(ds, 'e2e-secret'), port: 0, logging: false });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await server?.close();
  await ds?.destroy();
  await db?.drop();
});

describe('the demo over HTTP and WebSocket', () => {
  let token: string;

  it('signs up and logs in over HTTP', async () => {
    const signUp = await http('mutation($i: CreateUserInput!) { createUser(input: $i) { id username email } }', {
      i: { username: 'carol', email: 'carol@example.com', password: 'correct horse' },
    });
    expect(signUp.body.errors).toBeUndefined();
    expect(signUp.body.data.createUser).toMatchObject({ username: 'carol', email: null });
    const login = await http('mutation { login(username: "carol", password: "correct horse") { token user { username } } }');
    token = login.body.data.login.token;
    expect(token).toEqual(expect.any(String));
    const me = await http('{ me { username email } }', {}, token);
    expect(me.body.data.me).toEqual({ username: 'carol', email: 'carol@example.com' });
  });

  it('creates a list and a task over HTTP and reads them back over WebSocket', async () => {
    const list = await http('mutation { createTodoList(input: { name: "Chores" }) { id name private owner { username } } }', {}, token);
    expect(list.body.data.createTodoList).toMatchObject({ name: 'Chores', private: false, owner: { username: 'carol' } });
    const listId = list.body.data.createTodoList.id;
    const task = await http('mutation($l: ID!) { createTask(input: { text: "Dishes", list: $l }) { id text done } }', { l: listId }, token);
    expect(task.body.data.createTask).toMatchObject({ text: 'Dishes', done: false });

    const anonymous = await wsQuery(ws(), '{ tasks { text done list { name } } }');
    expect(anonymous.data.tasks).toEqual([{ text: 'Dishes', done: null, list: { name: 'Chores' } }]);
    const signedIn = await wsQuery(ws(token), '{ tasks { text done } }');
    expect(signedIn.data.tasks).toEqual([{ text: 'Dishes', done: false }]);
  });

  it('delivers a change made over HTTP to a WebSocket subscriber of the group', async () => {
    const lists = await http('{ todoLists(where: { name: "Chores" }) { id } tasks { id } }', {}, token);
    const listId = lists.body.data.todoLists[0].id;
    const taskId = lists.body.data.tasks[0].id;
    const client = ws(token);
    const received: any[] = [];
    let resolveFirst!: () => void;
    const first = new Promise<void>((r) => (resolveFirst = r));
    const subscribed = new Promise<void>((ready) => {
      client.on('connected', () => ready());
    });
    const dispose = client.subscribe(
      { query: 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { text done } } }', variables: { l: listId } },
      { next: (r) => { received.push(r); resolveFirst(); }, error: (e) => { throw e; }, complete: () => undefined },
    );
    await subscribed;
    // The subscribe message travels after connection_ack; wait until the server counts it.
    await waitUntil(() => server.live.engine.activeSubscriptions === 1);
    await http('mutation($id: ID!) { patchTask(id: $id, input: { done: true }) { id } }', { id: taskId }, token);
    await first;
    expect(received[0]).toEqual({ data: { taskGroupChanged: { action: 'UPDATED', id: taskId, task: { text: 'Dishes', done: true } } } });
    dispose();
    await waitUntil(() => server.live.engine.activeSubscriptions === 0);
  });

  it('applies the same field visibility to subscriptions over SSE', async () => {
    const lists = await http('{ todoLists(where: { name: "Chores" }) { id } tasks { id } }', {}, token);
    const listId = lists.body.data.todoLists[0].id;
    const taskId = lists.body.data.tasks[0].id;
    const controller = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: `subscription { taskGroupChanged(group: { list: ${listId} }) { action id task { text done } } }` }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await waitUntil(() => server.live.engine.activeSubscriptions === 1);
    await http('mutation($id: ID!) { patchTask(id: $id, input: { text: "Dishes!", done: false }) { id } }', { id: taskId }, token);
    let text = '';
    while (!/"taskGroupChanged"/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const data = JSON.parse(/data: (.*)/.exec(text)![1]);
    // Anonymous over SSE: the change arrives, `done` does not.
    expect(data).toEqual({ data: { taskGroupChanged: { action: 'UPDATED', id: taskId, task: { text: 'Dishes!', done: null } } } });
    controller.abort();
    await reader.cancel().catch(() => undefined);
    await waitUntil(() => server.live.engine.activeSubscriptions === 0);
  });

  it('refuses a bad token on both transports', async () => {
    const response = await http('{ me { id } }', {}, 'not-a-token');
    expect(response.status).toBe(401);
    expect(response.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    const closed = new Promise<number>((resolve) => {
      const client = ws('not-a-token');
      client.on('closed', (event) => resolve((event as { code: number }).code));
      client.subscribe({ query: '{ me { id } }' }, { next: () => undefined, error: () => undefined, complete: () => undefined });
    });
    expect(await closed).toBe(4403);
  });
});
