import { verifyPassword } from '../../example/passwords';
import jwt from 'jsonwebtoken';
import { createDemoApp, type DemoUser } from '../../example/app';
import { Post, Task, TodoList, User } from '../../example/entities';
import { codeOf, SECRET, startDemo, type DemoHarness } from '../support/demo';

let h: DemoHarness;
let alice: DemoUser;
let bob: DemoUser;

beforeAll(async () => {
  h = await startDemo('crud');
  alice = await h.signUp('alice');
  bob = await h.signUp('bob');
});

afterAll(async () => {
  await h?.close();
});

async function newList(owner: DemoUser, name: string, isPrivate = false): Promise<string> {
  const data = await h.ok(
    'mutation($input: CreateTodoListInput!) { createTodoList(input: $input) { id } }',
    { input: { name, private: isPrivate } },
    owner,
  );
  return data.createTodoList.id;
}

async function newTask(owner: DemoUser, list: string, text: string): Promise<string> {
  const data = await h.ok('mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }', { input: { list, text } }, owner);
  return data.createTask.id;
}

describe('users and login', () => {
  it('signs a user up with createUser and stores a hash of the password', async () => {
    const data = await h.ok(
      'mutation { createUser(input: { username: "carol", email: "carol@example.com", password: "correct horse" }) { id username email } }',
    );
    expect(data.createUser).toEqual({ id: expect.stringMatching(/^\d+$/), username: 'carol', email: null });
    const row = await h.ds.getRepository(User).findOneByOrFail({ username: 'carol' });
    expect(row.email).toBe('carol@example.com');
    expect(row.password).not.toBe('correct horse');
    expect(await verifyPassword('correct horse', row.password)).toBe(true);
  });

  it('login returns a token that authenticates as that user', async () => {
    const data = await h.ok('mutation { login(username: "alice", password: "password-alice") { token user { id username email } } }');
    expect(data.login.user).toEqual({ id: String(alice.id), username: 'alice', email: null });
    expect((jwt.verify(data.login.token, SECRET) as jwt.JwtPayload).sub).toBe(String(alice.id));
    const app = createDemoApp(h.ds, SECRET);
    // The token's identity ends with it, an hour from now.
    expect(await app.authenticate(data.login.token)).toEqual({ user: { id: alice.id, username: 'alice' }, expiresAt: expect.any(Number) });
    expect(Number((await app.authenticate(data.login.token))!.expiresAt) - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(await app.authenticate(`${data.login.token}x`)).toBeNull();
  });

  it('login with a wrong password or unknown user is UNAUTHENTICATED', async () => {
    expect(codeOf(await h.run('mutation { login(username: "alice", password: "password-bob") { token } }'))).toBe('UNAUTHENTICATED');
    expect(codeOf(await h.run('mutation { login(username: "nobody", password: "password-bob") { token } }'))).toBe('UNAUTHENTICATED');
  });

  it('me returns the signed-in user with their own email, and null for anonymous callers', async () => {
    expect((await h.ok('{ me { username email } }', {}, alice)).me).toEqual({ username: 'alice', email: 'alice@example.com' });
    expect((await h.ok('{ me { username } }')).me).toBeNull();
  });
});

describe('todo lists and tasks', () => {
  it('createTodoList sets the owner from the caller', async () => {
    const data = await h.ok(
      'mutation { createTodoList(input: { name: "Groceries" }) { id name private owner { id username } } }', {}, alice,
    );
    expect(data.createTodoList).toEqual({ id: expect.any(String), name: 'Groceries', private: false, owner: { id: String(alice.id), username: 'alice' } });
    const row = await h.ds.getRepository(TodoList).findOneByOrFail({ id: Number(data.createTodoList.id) });
    expect(row.ownerId).toBe(alice.id);
  });

  it('createTask adds a not-done task to the caller\'s list', async () => {
    const list = await newList(alice, 'Chores');
    const data = await h.ok(
      'mutation($list: ID!) { createTask(input: { list: $list, text: "sweep" }) { id text done list { id name } } }', { list }, alice,
    );
    expect(data.createTask).toEqual({ id: expect.any(String), text: 'sweep', done: false, list: { id: list, name: 'Chores' } });
    const row = await h.ds.getRepository(Task).findOneByOrFail({ id: Number(data.createTask.id) });
    expect(row).toMatchObject({ text: 'sweep', done: false, listId: Number(list) });
  });

  it('tasks filters with where, orders by text DESC and pages with limit and offset', async () => {
    const list = await newList(alice, 'Alphabet');
    const other = await newList(alice, 'Other');
    for (const text of ['b', 'd', 'a', 'e', 'c']) await newTask(alice, list, text);
    await newTask(alice, other, 'z');
    const q = 'query($where: TaskWhere, $limit: Int, $offset: Int) { tasks(where: $where, orderBy: [{ text: DESC }], limit: $limit, offset: $offset) { text } }';
    const texts = async (vars: Record<string, unknown>) => (await h.ok(q, vars, alice)).tasks.map((t: { text: string }) => t.text);

    expect(await texts({ where: { list } })).toEqual(['e', 'd', 'c', 'b', 'a']);
    expect(await texts({ where: { list }, limit: 2 })).toEqual(['e', 'd']);
    expect(await texts({ where: { list }, limit: 2, offset: 2 })).toEqual(['c', 'b']);
    expect(await texts({ where: { list }, offset: 4 })).toEqual(['a']);
    expect(await texts({ where: { list }, limit: 0 })).toEqual([]);
    expect(await texts({ where: { list, text: 'c' } })).toEqual(['c']);
    expect(await texts({ where: { OR: [{ list: other }, { list, text: 'a' }] } })).toEqual(['z', 'a']);
  });

  it('orders by several fields, the first entry first', async () => {
    const l1 = await newList(alice, 'Order 1');
    const l2 = await newList(alice, 'Order 2');
    await newTask(alice, l2, 'x');
    await newTask(alice, l1, 'y');
    await newTask(alice, l2, 'y');
    await newTask(alice, l1, 'x');
    const data = await h.ok(
      'query($a: ID!, $b: ID!) { tasks(where: { OR: [{ list: $a }, { list: $b }] }, orderBy: [{ list: DESC }, { text: ASC }]) { text list { name } } }',
      { a: l1, b: l2 }, alice,
    );
    expect(data.tasks.map((t: any) => `${t.list.name}/${t.text}`)).toEqual(['Order 2/x', 'Order 2/y', 'Order 1/x', 'Order 1/y']);
  });

  it('filters by done for signed-in callers', async () => {
    const list = await newList(alice, 'Done filter');
    const a = await newTask(alice, list, 'open');
    const b = await newTask(alice, list, 'closed');
    await h.ok('mutation($id: ID!) { patchTask(id: $id, input: { done: true }) { id } }', { id: b }, alice);
    const q = 'query($list: ID!, $done: Boolean) { tasks(where: { list: $list, done: $done }) { id } }';
    expect((await h.ok(q, { list, done: true }, alice)).tasks).toEqual([{ id: b }]);
    expect((await h.ok(q, { list, done: false }, alice)).tasks).toEqual([{ id: a }]);
  });

  it('task(id) returns the task, and null for an id that does not exist', async () => {
    const list = await newList(alice, 'Retrieve');
    const id = await newTask(alice, list, 'find me');
    expect((await h.ok('query($id: ID!) { task(id: $id) { id text done list { id } } }', { id }, alice)).task)
      .toEqual({ id, text: 'find me', done: false, list: { id: list } });
    expect((await h.ok('{ task(id: "987654") { id } }', {}, alice)).task).toBeNull();
  });

  it('patchTask changes only the fields in the input', async () => {
    const list = await newList(alice, 'Patch');
    const id = await newTask(alice, list, 'before');
    const done = await h.ok('mutation($id: ID!) { patchTask(id: $id, input: { done: true }) { id text done } }', { id }, alice);
    expect(done.patchTask).toEqual({ id, text: 'before', done: true });
    const text = await h.ok('mutation($id: ID!) { patchTask(id: $id, input: { text: "after" }) { id text done } }', { id }, alice);
    expect(text.patchTask).toEqual({ id, text: 'after', done: true });
    expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(id) })).toMatchObject({ text: 'after', done: true, listId: Number(list) });
  });

  it('patchTask moves a task to another list of the caller', async () => {
    const from = await newList(alice, 'From');
    const to = await newList(alice, 'To');
    const id = await newTask(alice, from, 'moving');
    const data = await h.ok('mutation($id: ID!, $to: ID!) { patchTask(id: $id, input: { list: $to }) { list { id name } } }', { id, to }, alice);
    expect(data.patchTask.list).toEqual({ id: to, name: 'To' });
    expect((await h.ds.getRepository(Task).findOneByOrFail({ id: Number(id) })).listId).toBe(Number(to));
  });

  it('deleteTask returns the id and removes the row', async () => {
    const list = await newList(alice, 'Delete');
    const id = await newTask(alice, list, 'doomed');
    expect((await h.ok('mutation($id: ID!) { deleteTask(id: $id) }', { id }, alice)).deleteTask).toBe(id);
    expect(await h.ds.getRepository(Task).existsBy({ id: Number(id) })).toBe(false);
    expect(codeOf(await h.run('mutation($id: ID!) { deleteTask(id: $id) }', { id }, alice))).toBe('NOT_FOUND');
  });

  it('patchTodoList and deleteTodoList work for the owner; deleting a list removes its tasks', async () => {
    const list = await newList(alice, 'Rename me');
    await newTask(alice, list, 'goes with the list');
    expect((await h.ok('mutation($id: ID!) { patchTodoList(id: $id, input: { name: "Renamed", private: true }) { name private } }', { id: list }, alice)).patchTodoList)
      .toEqual({ name: 'Renamed', private: true });
    expect((await h.ok('mutation($id: ID!) { deleteTodoList(id: $id) }', { id: list }, alice)).deleteTodoList).toBe(list);
    expect(await h.ds.getRepository(Task).countBy({ listId: Number(list) })).toBe(0);
  });

  it('completeAllTasks marks every task of the list done and returns how many changed', async () => {
    const list = await newList(alice, 'Complete');
    const other = await newList(alice, 'Untouched');
    const ids = [await newTask(alice, list, 'one'), await newTask(alice, list, 'two'), await newTask(alice, list, 'three')];
    await h.ok('mutation($id: ID!) { patchTask(id: $id, input: { done: true }) { id } }', { id: ids[0] }, alice);
    const untouched = await newTask(alice, other, 'other list');

    expect((await h.ok('mutation($list: ID!) { completeAllTasks(list: $list) }', { list }, alice)).completeAllTasks).toBe(2);
    const rows = await h.ds.getRepository(Task).findBy({ listId: Number(list) });
    expect(rows.map((r) => r.done)).toEqual([true, true, true]);
    expect((await h.ds.getRepository(Task).findOneByOrFail({ id: Number(untouched) })).done).toBe(false);
    expect((await h.ok('mutation($list: ID!) { completeAllTasks(list: $list) }', { list }, alice)).completeAllTasks).toBe(0);
  });

  it('completeAllTasks refuses another user\'s list', async () => {
    const list = await newList(bob, 'Bob public');
    const hidden = await newList(bob, 'Bob private', true);
    await newTask(bob, list, 'bob task');
    expect(codeOf(await h.run('mutation($list: ID!) { completeAllTasks(list: $list) }', { list }, alice))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('mutation($list: ID!) { completeAllTasks(list: $list) }', { list: hidden }, alice))).toBe('NOT_FOUND');
    expect(codeOf(await h.run('mutation($list: ID!) { completeAllTasks(list: $list) }', { list }))).toBe('UNAUTHENTICATED');
    expect(await h.ds.getRepository(Task).countBy({ listId: Number(list), done: true })).toBe(0);
  });
});

describe('posts', () => {
  it('createPost sets the author from the caller and createdAt from the database', async () => {
    const before = Date.now();
    const data = await h.ok('mutation { createPost(input: { body: "Hello #World" }) { id body createdAt author { username } } }', {}, bob);
    expect(data.createPost).toMatchObject({ body: 'Hello #World', author: { username: 'bob' } });
    expect(data.createPost.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(data.createPost.createdAt) - before)).toBeLessThan(60_000);
    expect((await h.ds.getRepository(Post).findOneByOrFail({ id: Number(data.createPost.id) })).authorId).toBe(bob.id);
  });

  it('bodyContains matches case-insensitively and treats % and _ as literal characters', async () => {
    const bodies = ['I like Python', 'python_3 is out', 'python 3 is out', '100% python', '100 percent snakes', 'no snakes here'];
    for (const body of bodies) await h.ok('mutation($body: String!) { createPost(input: { body: $body }) { id } }', { body }, alice);
    const q = 'query($text: String) { posts(where: { bodyContains: $text }, orderBy: [{ id: ASC }]) { body } }';
    const found = async (text: string) => (await h.ok(q, { text })).posts.map((p: { body: string }) => p.body);
    expect(await found('python')).toEqual(['I like Python', 'python_3 is out', 'python 3 is out', '100% python']);
    expect(await found('python_3')).toEqual(['python_3 is out']);
    expect(await found('100%')).toEqual(['100% python']);
    expect(await found('%')).toEqual(['100% python']);
    expect(await found('_')).toEqual(['python_3 is out']);
    expect(await found('\\')).toEqual([]);
  });

  it('patchPost and deletePost work for the author', async () => {
    const { createPost } = await h.ok('mutation { createPost(input: { body: "draft" }) { id } }', {}, alice);
    expect((await h.ok('mutation($id: ID!) { patchPost(id: $id, input: { body: "final" }) { body author { username } } }', { id: createPost.id }, alice)).patchPost)
      .toEqual({ body: 'final', author: { username: 'alice' } });
    expect((await h.ok('mutation($id: ID!) { deletePost(id: $id) }', { id: createPost.id }, alice)).deletePost).toBe(createPost.id);
    expect(await h.ds.getRepository(Post).existsBy({ id: Number(createPost.id) })).toBe(false);
  });
});

describe('related objects', () => {
  it('resolves a task\'s list and the list\'s owner', async () => {
    const list = await newList(bob, 'Nested');
    const id = await newTask(bob, list, 'deep');
    const data = await h.ok('query($id: ID!) { task(id: $id) { text list { name owner { username } } } }', { id });
    expect(data.task).toEqual({ text: 'deep', list: { name: 'Nested', owner: { username: 'bob' } } });
  });

  it('loads 20 tasks across 5 lists with their lists and owners in a constant number of queries', async () => {
    const owners = await h.ds.getRepository(User).save(
      [1, 2, 3, 4, 5].map((i) => ({ username: `owner${i}`, email: `owner${i}@example.com`, password: 'not-a-login' })),
    );
    const lists = await h.ds.getRepository(TodoList).save(owners.map((o, i) => ({ name: `N+1 list ${i}`, ownerId: o.id })));
    await h.ds.getRepository(Task).save(Array.from({ length: 20 }, (_, i) => ({ text: `task ${i}`, listId: lists[i % 5].id })));
    const listIds = lists.map((l) => String(l.id));
    const q = `query($where: TaskWhere, $limit: Int) {
      tasks(where: $where, limit: $limit) { id text list { id name owner { id username } } }
    }`;
    const where = { OR: listIds.map((list) => ({ list })) };

    for (const user of [null, alice]) {
      let result: any;
      const all = await h.recorder.during(async () => { result = await h.ok(q, { where }, user); });
      expect(result.tasks).toHaveLength(20);
      for (const t of result.tasks) expect(t.list.owner.username).toMatch(/^owner\d$/);
      expect(new Set(result.tasks.map((t: any) => t.list.id))).toEqual(new Set(listIds));

      // The same query for one task must not cost fewer queries: the count does not depend on the rows.
      const one = await h.recorder.during(() => h.ok(q, { where, limit: 1 }, user));
      expect(all.length).toBeLessThanOrEqual(4);
      expect(all.length).toBe(one.length);
    }
  });

  it('batches the owners of several lists into one query', async () => {
    const statements = await h.recorder.during(() => h.ok('{ todoLists(limit: 50) { name owner { username } } }', {}, alice));
    expect(statements.length).toBeLessThanOrEqual(3);
  });
});
