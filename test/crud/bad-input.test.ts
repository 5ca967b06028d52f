import { graphql, GraphQLError } from 'graphql';
import type { DemoUser } from '../../example/app';
import { createDemoApp } from '../../example/app';
import { Task, TodoList, User } from '../../example/entities';
import { buildLiveSchema, LiveError } from '../../src';
import { codeOf, SECRET, startDemo, type DemoHarness, type Result } from '../support/demo';

let h: DemoHarness;
let alice: DemoUser;
let list = '';
let task = '';

beforeAll(async () => {
  h = await startDemo('bad_input');
  alice = await h.signUp('alice');
  list = (await h.ok('mutation { createTodoList(input: { name: "Mine" }) { id } }', {}, alice)).createTodoList.id;
  task = (await h.ok('mutation($list: ID!) { createTask(input: { list: $list, text: "keep me" }) { id } }', { list }, alice)).createTask.id;
});

afterAll(async () => {
  await h?.close();
});

/** Runs `query` and expects `code` with nothing written to any demo table (and the known rows unchanged). */
async function refused(code: string, query: string, vars: Record<string, unknown> = {}, user: DemoUser | null = alice): Promise<Result> {
  const before = await h.counts();
  const result = await h.run(query, vars, user);
  expect([query, vars, codeOf(result)]).toEqual([query, vars, code]);
  expect(await h.counts()).toEqual(before);
  expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(task) })).toMatchObject({ text: 'keep me', done: false, listId: Number(list) });
  expect(await h.ds.getRepository(TodoList).findOneByOrFail({ id: Number(list) })).toMatchObject({ name: 'Mine', private: false });
  return result;
}

/** A document GraphQL itself rejects: validation or variable coercion errors, no data at all. */
async function invalid(query: string, vars: Record<string, unknown> = {}, message?: RegExp): Promise<Result> {
  const before = await h.counts();
  const result = await h.run(query, vars, alice);
  expect(result.data).toBeUndefined();
  expect(result.errors?.length).toBeGreaterThan(0);
  if (message) expect(result.errors![0].message).toMatch(message);
  expect(await h.counts()).toEqual(before);
  return result;
}

describe('ids', () => {
  const bad = ['abc', '1.5', '1e3', '', ' ', '-', '0x10', '99999999999999999999', '2147483648', '12345678901234567'];

  it.each(bad)('rejects the id %j with BAD_USER_INPUT on every operation', async (id) => {
    await refused('BAD_USER_INPUT', 'query($id: ID!) { task(id: $id) { id } }', { id });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchTask(id: $id, input: { text: "changed" }) { id } }', { id });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { deleteTask(id: $id) }', { id });
    await refused('BAD_USER_INPUT', 'query($id: ID!) { tasks(where: { id: $id }) { id } }', { id });
    await refused('BAD_USER_INPUT', 'query($id: ID!) { tasks(where: { list: $id }) { id } }', { id });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { createTask(input: { list: $id, text: "new" }) { id } }', { id });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!, $task: ID!) { patchTask(id: $task, input: { list: $id }) { id } }', { id, task });
  });

  it('rejects a non-integer list id in completeAllTasks with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', 'mutation { completeAllTasks(list: "abc") }');
    await refused('BAD_USER_INPUT', 'mutation { completeAllTasks(list: "1.5") }');
  });

  it('accepts the largest int4 id and finds nothing there', async () => {
    expect((await h.ok('{ task(id: "2147483647") { id } }', {}, alice)).task).toBeNull();
    expect((await h.ok('{ task(id: "-2147483648") { id } }', {}, alice)).task).toBeNull();
  });
});

describe('limit and offset', () => {
  it('rejects a limit over the maximum (1000) with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', '{ tasks(limit: 1001) { id } }');
    await refused('BAD_USER_INPUT', '{ todoLists(limit: 100000) { id } }');
    expect((await h.ok('{ tasks(limit: 1000) { id } }', {}, alice)).tasks).toHaveLength(1);
  });

  it('rejects a negative limit or offset with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', '{ tasks(limit: -1) { id } }');
    await refused('BAD_USER_INPUT', '{ tasks(offset: -1) { id } }');
    await refused('BAD_USER_INPUT', 'query($o: Int) { posts(offset: $o) { id } }', { o: -5 });
  });
});

describe('references', () => {
  it('rejects an unknown list id in createTask with BAD_USER_INPUT', async () => {
    // BAD_USER_INPUT, not FORBIDDEN: the input names a row that does not exist (as the foreign key
    // would also say). A list the caller cannot see gets the very same answer, so FORBIDDEN is kept
    // for lists that are visible but not the caller's and never confirms that a private list exists.
    const result = await refused('BAD_USER_INPUT', 'mutation { createTask(input: { list: "987654", text: "orphan" }) { id } }');
    expect(result.errors![0].extensions.field).toBe('list');
  });

  it('rejects moving a task to an unknown list with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchTask(id: $id, input: { list: "987654" }) { id } }', { id: task });
  });
});

describe('values', () => {
  it('rejects a duplicate username with BAD_USER_INPUT naming the field', async () => {
    const result = await refused('BAD_USER_INPUT', 'mutation { createUser(input: { username: "alice", email: "other@example.com", password: "long enough" }) { id } }', {}, null);
    expect(result.errors![0].extensions.field).toBe('username');
    expect(result.errors![0].message).toMatch(/User/);
  });

  it('rejects text longer than its varchar with BAD_USER_INPUT, and accepts the maximum', async () => {
    const long = 'x'.repeat(501);
    await refused('BAD_USER_INPUT', 'mutation($list: ID!, $text: String!) { createTask(input: { list: $list, text: $text }) { id } }', { list, text: long });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!, $text: String!) { patchTask(id: $id, input: { text: $text }) { id } }', { id: task, text: long });
    await refused('BAD_USER_INPUT', 'mutation($name: String!) { createTodoList(input: { name: $name }) { id } }', { name: 'n'.repeat(101) });
    await refused('BAD_USER_INPUT', 'mutation($u: String!) { createUser(input: { username: $u, email: "long@example.com", password: "long enough" }) { id } }', { u: 'u'.repeat(51) }, null);
    // Length is counted in characters, as varchar(n) does, not in UTF-8 bytes.
    const max = await h.ok('mutation($list: ID!, $text: String!) { createTask(input: { list: $list, text: $text }) { id text } }', { list, text: 'é'.repeat(500) }, alice);
    expect(max.createTask.text).toHaveLength(500);
    await h.ok('mutation($id: ID!) { deleteTask(id: $id) }', { id: max.createTask.id }, alice);
  });

  it('rejects null for a non-null field in a patch with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchTask(id: $id, input: { text: null }) { id } }', { id: task });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchTask(id: $id, input: { done: null }) { id } }', { id: task });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchTask(id: $id, input: { list: null }) { id } }', { id: task });
    await refused('BAD_USER_INPUT', 'mutation($id: ID!, $input: PatchTodoListInput!) { patchTodoList(id: $id, input: $input) { id } }', { id: list, input: { private: null } });
  });

  it('rejects a short password with BAD_USER_INPUT, on sign-up and on patch', async () => {
    await refused('BAD_USER_INPUT', 'mutation { createUser(input: { username: "shorty", email: "s@example.com", password: "1234567" }) { id } }', {}, null);
    await refused('BAD_USER_INPUT', 'mutation($id: ID!) { patchUser(id: $id, input: { password: "short" }) { id } }', { id: String(alice.id) });
    expect(await h.ds.getRepository(User).existsBy({ username: 'shorty' })).toBe(false);
  });

  it('rejects an email that is not an address with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', 'mutation { createUser(input: { username: "noemail", email: "nope", password: "long enough" }) { id } }', {}, null);
  });

  it('rejects a bad DateTime literal or variable with BAD_USER_INPUT', async () => {
    const literal = await h.run('{ posts(where: { createdAt: "yesterday" }) { id } }');
    expect(codeOf(literal)).toBe('BAD_USER_INPUT');
    expect(literal.data).toBeUndefined();
    expect(codeOf(await h.run('{ posts(where: { createdAt: 5 }) { id } }'))).toBe('BAD_USER_INPUT');
    const variable = await h.run('query($d: DateTime) { posts(where: { createdAt: $d }) { id } }', { d: '2024-13-45T99:00:00Z' });
    expect(codeOf(variable)).toBe('BAD_USER_INPUT');
    expect(variable.data).toBeUndefined();
    expect(codeOf(await h.run('query($d: DateTime) { posts(where: { createdAt: $d }) { id } }', { d: 1700000000000 }))).toBe('BAD_USER_INPUT');
    expect((await h.ok('query($d: DateTime) { posts(where: { createdAt: $d }) { id } }', { d: '2024-01-01T00:00:00Z' })).posts).toEqual([]);
  });

  it.each([
    '5', // new Date("5") is May 2001
    '2024-02-30T00:00:00Z', // new Date rolls it over to March 1
    '2024-01-01T24:00:00Z',
    '2024-01-01T10:00:00', // no offset: would be read in the server's time zone
    'March 7, 2020',
    '2024-1-1',
  ])('rejects the non-ISO or impossible DateTime %j with BAD_USER_INPUT', async (d) => {
    const result = await h.run('query($d: DateTime) { posts(where: { createdAt: $d }) { id } }', { d });
    expect(codeOf(result)).toBe('BAD_USER_INPUT');
    expect(codeOf(await h.run(`{ posts(where: { createdAt: ${JSON.stringify(d)} }) { id } }`))).toBe('BAD_USER_INPUT');
  });

  it.each(['2024-02-29', '2024-02-29T23:59:59Z', '2024-02-29T23:59:59.123456+05:30', '2024-02-29t10:00z'])('accepts the ISO-8601 DateTime %j', async (d) => {
    expect((await h.ok('query($d: DateTime) { posts(where: { createdAt: $d }) { id } }', { d })).posts).toEqual([]);
  });

  it('rejects an empty OR with BAD_USER_INPUT', async () => {
    await refused('BAD_USER_INPUT', '{ tasks(where: { OR: [] }) { id } }');
  });
});

describe('documents GraphQL itself rejects', () => {
  it('rejects where values of the wrong type and unknown where fields during validation', async () => {
    await invalid('{ tasks(where: { text: 5 }) { id } }', {}, /String cannot represent a non string value: 5/);
    await invalid('{ tasks(where: { list: true }) { id } }', {}, /ID cannot represent/);
    await invalid('{ tasks(where: { done: "yes" }) { id } }', {}, /Boolean cannot represent/);
    await invalid('{ tasks(where: { nope: 1 }) { id } }', {}, /Field "nope" is not defined by type "TaskWhere"/);
    await invalid('{ tasks(where: { list: { id: 1 } }) { id } }', {}, /ID cannot represent/);
    await invalid('query($w: TaskWhere) { tasks(where: $w) { id } }', { w: { text: ['a'] } }, /String cannot represent/);
  });

  it('rejects order entries that are not exactly one known field with one direction', async () => {
    await invalid('{ tasks(orderBy: [{ text: UP }]) { id } }', {}, /SortDirection/);
    await invalid('{ tasks(orderBy: [{ text: ASC, id: DESC }]) { id } }', {}, /exactly one key/);
    await invalid('{ tasks(orderBy: [{ list: ASC, text: DESC }]) { id } }', {}, /exactly one key/);
    await invalid('{ tasks(orderBy: [{ nope: ASC }]) { id } }', {}, /not defined/);
  });

  it('rejects inputs that leave out a required field or name a read-only one', async () => {
    await invalid('mutation($list: ID!) { createTask(input: { list: $list }) { id } }', { list }, /text/);
    await invalid('mutation($id: ID!) { patchTask(id: $id, input: { id: 5 }) { id } }', { id: task }, /Field "id" is not defined/);
    await invalid('mutation { createTodoList(input: { name: "x", owner: "1" }) { id } }', {}, /Field "owner" is not defined/);
  });
});

describe('missing rows', () => {
  it('answers patch and delete of a row that does not exist with NOT_FOUND', async () => {
    await refused('NOT_FOUND', 'mutation { patchTask(id: "987654", input: { text: "ghost" }) { id } }');
    await refused('NOT_FOUND', 'mutation { deleteTask(id: "987654") }');
    await refused('NOT_FOUND', 'mutation { patchTodoList(id: "987654", input: { name: "ghost" }) { id } }');
    await refused('NOT_FOUND', 'mutation { deletePost(id: "987654") }');
    await refused('NOT_FOUND', 'mutation { completeAllTasks(list: "987654") }');
  });

  it('answers a retrieve of a row that does not exist with null and no error', async () => {
    const result = await h.run('{ task(id: "987654") { id } todoList(id: "987654") { id } user(id: "987654") { id } }', {}, alice);
    expect(result).toEqual({ data: { task: null, todoList: null, user: null } });
  });
});

describe('unexpected errors', () => {
  it('are not LiveErrors and carry no extensions.code, so the server masks them', async () => {
    const app = createDemoApp(h.ds, SECRET);
    const live = buildLiveSchema({
      dataSource: h.ds,
      capture: 'none', // the harness's schema already captures on this DataSource
      resources: app.resources,
      typeDefs: `${app.typeDefs}\nextend type Query { broken: Int }`,
      resolvers: {
        ...app.resolvers,
        Query: { ...app.resolvers.Query, broken: () => h.ds.query('SELECT count(*) FROM table_that_does_not_exist') },
      },
    });
    const result = await graphql({ schema: live.schema, source: '{ broken }', contextValue: live.createContext(null) });
    await live.close();
    expect(result.errors).toHaveLength(1);
    const error = result.errors![0];
    expect(error.extensions.code).toBeUndefined();
    expect(error.originalError).toBeDefined();
    expect(error.originalError).not.toBeInstanceOf(LiveError);
    expect(error.originalError).not.toBeInstanceOf(GraphQLError);
  });
});
