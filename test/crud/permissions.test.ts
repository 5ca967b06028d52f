import { verifyPassword } from '../../example/passwords';
import type { DemoUser } from '../../example/app';
import { Post, Task, TodoList, User } from '../../example/entities';
import { codeOf, startDemo, type DemoHarness } from '../support/demo';

let h: DemoHarness;
let alice: DemoUser;
let bob: DemoUser;
/** Alice's lists and tasks; bob is "another user", null is anonymous. */
const ids = { publicList: '', privateList: '', publicTask: '', privateTask: '', bobList: '', bobTask: '', alicePost: '' };

beforeAll(async () => {
  h = await startDemo('permissions');
  alice = await h.signUp('alice');
  bob = await h.signUp('bob');
  const list = async (user: DemoUser, name: string, isPrivate: boolean) =>
    (await h.ok('mutation($input: CreateTodoListInput!) { createTodoList(input: $input) { id } }', { input: { name, private: isPrivate } }, user)).createTodoList.id;
  const task = async (user: DemoUser, listId: string, text: string) =>
    (await h.ok('mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }', { input: { list: listId, text } }, user)).createTask.id;
  ids.publicList = await list(alice, 'Alice public', false);
  ids.privateList = await list(alice, 'Alice private', true);
  ids.publicTask = await task(alice, ids.publicList, 'public task');
  ids.privateTask = await task(alice, ids.privateList, 'private task');
  ids.bobList = await list(bob, 'Bob public', false);
  ids.bobTask = await task(bob, ids.bobList, 'bob task');
  await h.ok('mutation($id: ID!) { patchTask(id: $id, input: { done: true }) { id } }', { id: ids.publicTask }, alice);
  ids.alicePost = (await h.ok('mutation { createPost(input: { body: "by alice" }) { id } }', {}, alice)).createPost.id;
});

afterAll(async () => {
  await h?.close();
});

const listNames = async (user: DemoUser | null) =>
  (await h.ok('{ todoLists(orderBy: [{ id: ASC }]) { name } }', {}, user)).todoLists.map((l: { name: string }) => l.name);
const taskTexts = async (user: DemoUser | null) =>
  (await h.ok('{ tasks(orderBy: [{ id: ASC }]) { text } }', {}, user)).tasks.map((t: { text: string }) => t.text);

describe('private lists and their tasks', () => {
  it('are listed for their owner', async () => {
    expect(await listNames(alice)).toEqual(['Alice public', 'Alice private', 'Bob public']);
    expect(await taskTexts(alice)).toEqual(['public task', 'private task', 'bob task']);
  });

  it('are filtered out of lists for another user and for anonymous callers', async () => {
    for (const user of [bob, null]) {
      expect(await listNames(user)).toEqual(['Alice public', 'Bob public']);
      expect(await taskTexts(user)).toEqual(['public task', 'bob task']);
      const byList = await h.ok('query($list: ID!) { tasks(where: { list: $list }) { id } }', { list: ids.privateList }, user);
      expect(byList.tasks).toEqual([]);
    }
  });

  it('retrieve as null for another user and for anonymous callers', async () => {
    for (const user of [bob, null]) {
      expect((await h.ok('query($id: ID!) { todoList(id: $id) { id } }', { id: ids.privateList }, user)).todoList).toBeNull();
      expect((await h.ok('query($id: ID!) { task(id: $id) { id } }', { id: ids.privateTask }, user)).task).toBeNull();
    }
    expect((await h.ok('query($id: ID!) { task(id: $id) { text list { name } } }', { id: ids.privateTask }, alice)).task)
      .toEqual({ text: 'private task', list: { name: 'Alice private' } });
  });

  it('answer patch and delete by another user with NOT_FOUND, exactly like a missing row, and stay unchanged', async () => {
    const attempts: [string, Record<string, unknown>][] = [
      ['mutation($id: ID!) { patchTodoList(id: $id, input: { name: "pwned" }) { id } }', { id: ids.privateList }],
      ['mutation($id: ID!) { deleteTodoList(id: $id) }', { id: ids.privateList }],
      ['mutation($id: ID!) { patchTask(id: $id, input: { text: "pwned" }) { id } }', { id: ids.privateTask }],
      ['mutation($id: ID!) { deleteTask(id: $id) }', { id: ids.privateTask }],
    ];
    for (const [query, vars] of attempts) {
      const hidden = await h.run(query, vars, bob);
      const missing = await h.run(query, { id: '987654' }, bob);
      expect(codeOf(hidden)).toBe('NOT_FOUND');
      expect(codeOf(missing)).toBe('NOT_FOUND');
      expect(hidden.errors![0].message.replace(vars.id as string, 'N')).toBe(missing.errors![0].message.replace('987654', 'N'));
    }
    expect(await h.ds.getRepository(TodoList).findOneByOrFail({ id: Number(ids.privateList) })).toMatchObject({ name: 'Alice private' });
    expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.privateTask) })).toMatchObject({ text: 'private task' });
  });

  it('cannot be probed by creating or moving a task into them: refused like a list that does not exist', async () => {
    const before = await h.counts();
    const create = 'mutation($list: ID!) { createTask(input: { list: $list, text: "probe" }) { id } }';
    const hidden = await h.run(create, { list: ids.privateList }, bob);
    const missing = await h.run(create, { list: '987654' }, bob);
    expect(codeOf(hidden)).toBe('BAD_USER_INPUT');
    expect(codeOf(missing)).toBe('BAD_USER_INPUT');
    expect(hidden.errors![0].message.replace(ids.privateList, 'N')).toBe(missing.errors![0].message.replace('987654', 'N'));

    const move = 'mutation($id: ID!, $list: ID!) { patchTask(id: $id, input: { list: $list }) { id } }';
    expect(codeOf(await h.run(move, { id: ids.bobTask, list: ids.privateList }, bob))).toBe('BAD_USER_INPUT');
    expect(codeOf(await h.run(move, { id: ids.bobTask, list: '987654' }, bob))).toBe('BAD_USER_INPUT');
    expect(await h.counts()).toEqual(before);
    expect((await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.bobTask) })).listId).toBe(Number(ids.bobList));
  });
});

describe('public lists of another user', () => {
  it('are visible but patch and delete are FORBIDDEN, and nothing changes', async () => {
    expect((await h.ok('query($id: ID!) { todoList(id: $id) { name owner { username } } }', { id: ids.publicList }, bob)).todoList)
      .toEqual({ name: 'Alice public', owner: { username: 'alice' } });
    const attempts: [string, Record<string, unknown>][] = [
      ['mutation($id: ID!) { patchTodoList(id: $id, input: { name: "pwned", private: true }) { id } }', { id: ids.publicList }],
      ['mutation($id: ID!) { deleteTodoList(id: $id) }', { id: ids.publicList }],
      ['mutation($id: ID!) { patchTask(id: $id, input: { text: "pwned" }) { id } }', { id: ids.publicTask }],
      ['mutation($id: ID!) { deleteTask(id: $id) }', { id: ids.publicTask }],
    ];
    for (const [query, vars] of attempts) expect(codeOf(await h.run(query, vars, bob))).toBe('FORBIDDEN');
    expect(await h.ds.getRepository(TodoList).findOneByOrFail({ id: Number(ids.publicList) })).toMatchObject({ name: 'Alice public', private: false });
    expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.publicTask) })).toMatchObject({ text: 'public task', done: true });
  });

  it('refuse a new task with FORBIDDEN and no row is written', async () => {
    const before = await h.counts();
    const result = await h.run('mutation($list: ID!) { createTask(input: { list: $list, text: "intruder" }) { id } }', { list: ids.publicList }, bob);
    expect(codeOf(result)).toBe('FORBIDDEN');
    expect(result.data).toBeNull();
    expect(await h.counts()).toEqual(before);
    expect(await h.ds.getRepository(Task).existsBy({ text: 'intruder' })).toBe(false);
  });

  it('refuse a task moved into them with FORBIDDEN and the task stays where it was', async () => {
    const result = await h.run('mutation($id: ID!, $list: ID!) { patchTask(id: $id, input: { list: $list, text: "moved" }) { id } }', { id: ids.bobTask, list: ids.publicList }, bob);
    expect(codeOf(result)).toBe('FORBIDDEN');
    expect(await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.bobTask) })).toMatchObject({ listId: Number(ids.bobList), text: 'bob task' });
  });

  it('let their owner move a task out of them only into a list the owner also owns', async () => {
    const result = await h.run('mutation($id: ID!, $list: ID!) { patchTask(id: $id, input: { list: $list }) { id } }', { id: ids.publicTask, list: ids.bobList }, alice);
    expect(codeOf(result)).toBe('FORBIDDEN');
    expect((await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.publicTask) })).listId).toBe(Number(ids.publicList));
  });
});

describe('anonymous callers', () => {
  it('get UNAUTHENTICATED for every write and nothing is written', async () => {
    const before = await h.counts();
    const writes: [string, Record<string, unknown>][] = [
      ['mutation { createTodoList(input: { name: "anon" }) { id } }', {}],
      ['mutation($id: ID!) { patchTodoList(id: $id, input: { name: "anon" }) { id } }', { id: ids.publicList }],
      ['mutation($id: ID!) { deleteTodoList(id: $id) }', { id: ids.publicList }],
      ['mutation($list: ID!) { createTask(input: { list: $list, text: "anon" }) { id } }', { list: ids.publicList }],
      ['mutation($id: ID!) { patchTask(id: $id, input: { text: "anon" }) { id } }', { id: ids.publicTask }],
      ['mutation($id: ID!) { deleteTask(id: $id) }', { id: ids.publicTask }],
      ['mutation($list: ID!) { completeAllTasks(list: $list) }', { list: ids.bobList }],
      ['mutation { createPost(input: { body: "anon" }) { id } }', {}],
      ['mutation($id: ID!) { patchPost(id: $id, input: { body: "anon" }) { id } }', { id: ids.alicePost }],
      ['mutation($id: ID!) { deletePost(id: $id) }', { id: ids.alicePost }],
      ['mutation($id: ID!) { patchUser(id: $id, input: { username: "anon" }) { id } }', { id: String(alice.id) }],
      ['mutation($id: ID!) { deleteUser(id: $id) }', { id: String(alice.id) }],
    ];
    for (const [query, vars] of writes) {
      const result = await h.run(query, vars);
      expect([query, codeOf(result)]).toEqual([query, 'UNAUTHENTICATED']);
    }
    expect(await h.counts()).toEqual(before);
    expect((await h.ds.getRepository(Task).findOneByOrFail({ id: Number(ids.bobTask) })).done).toBe(false);
  });

  it('may sign up without a login', async () => {
    const data = await h.ok('mutation { createUser(input: { username: "dave", email: "dave@example.com", password: "long enough" }) { username } }');
    expect(data.createUser).toEqual({ username: 'dave' });
  });
});

describe('posts', () => {
  it('are readable by anyone', async () => {
    const q = 'query($id: ID!) { post(id: $id) { body author { username } } }';
    for (const user of [null, alice, bob]) {
      expect((await h.ok(q, { id: ids.alicePost }, user)).post).toEqual({ body: 'by alice', author: { username: 'alice' } });
    }
  });

  it('may be patched and deleted only by their author', async () => {
    expect(codeOf(await h.run('mutation($id: ID!) { patchPost(id: $id, input: { body: "bob was here" }) { id } }', { id: ids.alicePost }, bob))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('mutation($id: ID!) { deletePost(id: $id) }', { id: ids.alicePost }, bob))).toBe('FORBIDDEN');
    expect((await h.ds.getRepository(Post).findOneByOrFail({ id: Number(ids.alicePost) })).body).toBe('by alice');
    expect((await h.ok('mutation($id: ID!) { patchPost(id: $id, input: { body: "edited" }) { body } }', { id: ids.alicePost }, alice)).patchPost)
      .toEqual({ body: 'edited' });
  });

  it('take their author from the caller: author is not an input field', async () => {
    const result = await h.run('mutation($a: ID!) { createPost(input: { body: "spoof", author: $a }) { id } }', { a: String(alice.id) }, bob);
    expect(result.errors?.[0].message).toMatch(/Field "author" is not defined by type "CreatePostInput"/);
    expect(await h.ds.getRepository(Post).existsBy({ body: 'spoof' })).toBe(false);
  });
});

describe('users', () => {
  it('may be patched and deleted only by themselves', async () => {
    expect(codeOf(await h.run('mutation($id: ID!) { patchUser(id: $id, input: { email: "evil@example.com" }) { id } }', { id: String(alice.id) }, bob))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('mutation($id: ID!) { deleteUser(id: $id) }', { id: String(alice.id) }, bob))).toBe('FORBIDDEN');
    expect((await h.ds.getRepository(User).findOneByOrFail({ id: alice.id })).email).toBe('alice@example.com');
    expect((await h.ok('mutation($id: ID!) { patchUser(id: $id, input: { email: "bob2@example.com" }) { email } }', { id: String(bob.id) }, bob)).patchUser)
      .toEqual({ email: 'bob2@example.com' });
  });
});

describe('field visibility', () => {
  it('hides done from anonymous callers and shows it to signed-in users', async () => {
    const q = 'query($id: ID!) { task(id: $id) { text done } tasks(where: { list: $id2 }) { done } }'.replace('$id2', '"' + ids.publicList + '"');
    expect((await h.ok(q, { id: ids.publicTask })).task).toEqual({ text: 'public task', done: null });
    expect((await h.ok(q, { id: ids.publicTask })).tasks).toEqual([{ done: null }]);
    for (const user of [alice, bob]) {
      expect((await h.ok(q, { id: ids.publicTask }, user)).task).toEqual({ text: 'public task', done: true });
      expect((await h.ok(q, { id: ids.publicTask }, user)).tasks).toEqual([{ done: true }]);
    }
  });

  it('refuses filtering or ordering tasks by done for anonymous callers with FORBIDDEN', async () => {
    expect(codeOf(await h.run('{ tasks(where: { done: true }) { id } }'))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('{ tasks(where: { OR: [{ done: false }] }) { id } }'))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('{ tasks(orderBy: [{ done: ASC }]) { id } }'))).toBe('FORBIDDEN');
    expect((await h.ok('{ tasks(where: { done: true }) { text } }', {}, bob)).tasks).toEqual([{ text: 'public task' }]);
  });

  it('shows email only to the user themself', async () => {
    const q = '{ users(orderBy: [{ id: ASC }]) { username email } }';
    const emails = async (user: DemoUser | null) =>
      Object.fromEntries((await h.ok(q, {}, user)).users.map((u: { username: string; email: string | null }) => [u.username, u.email]));
    expect(await emails(alice)).toMatchObject({ alice: 'alice@example.com', bob: null });
    expect((await emails(bob)).alice).toBeNull();
    expect(Object.values(await emails(null)).every((e) => e === null)).toBe(true);
    expect((await h.ok('query($id: ID!) { user(id: $id) { email } }', { id: String(alice.id) }, alice)).user.email).toBe('alice@example.com');
    expect((await h.ok('query($id: ID!) { user(id: $id) { email } }', { id: String(alice.id) }, bob)).user.email).toBeNull();
    expect((await h.ok('query($id: ID!) { todoList(id: $id) { owner { email } } }', { id: ids.publicList }, bob)).todoList.owner.email).toBeNull();
  });

  it('refuses filtering users by email, which would reveal it', async () => {
    expect(codeOf(await h.run('{ users(where: { email: "alice@example.com" }) { id } }', {}, bob))).toBe('FORBIDDEN');
    expect(codeOf(await h.run('{ users(orderBy: [{ email: ASC }]) { id } }', {}, bob))).toBe('FORBIDDEN');
  });

  it('keeps the write-only password out of the User type, its where and order inputs', async () => {
    const data = await h.ok(`{
      user: __type(name: "User") { fields { name } }
      where: __type(name: "UserWhere") { inputFields { name } }
      order: __type(name: "UserOrder") { inputFields { name } }
      create: __type(name: "CreateUserInput") { inputFields { name } }
      patch: __type(name: "PatchUserInput") { inputFields { name } }
    }`);
    const namesOf = (t: { fields?: { name: string }[]; inputFields?: { name: string }[] }) => (t.fields ?? t.inputFields)!.map((f) => f.name);
    expect(namesOf(data.user)).toEqual(['id', 'username', 'email']);
    expect(namesOf(data.where)).not.toContain('password');
    expect(namesOf(data.order)).not.toContain('password');
    expect(namesOf(data.create)).toContain('password');
    expect(namesOf(data.patch)).toContain('password');
    expect((await h.run('{ users { password } }')).errors?.[0].message).toMatch(/Cannot query field "password" on type "User"/);
  });

  it('stores the password as a hash, also after a patch', async () => {
    const stored = async () => (await h.ds.getRepository(User).findOneByOrFail({ id: alice.id })).password;
    expect(await stored()).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(await verifyPassword('password-alice', await stored())).toBe(true);
    await h.ok('mutation($id: ID!) { patchUser(id: $id, input: { password: "a new secret" }) { id } }', { id: String(alice.id) }, alice);
    expect(await stored()).not.toContain('a new secret');
    expect(await verifyPassword('a new secret', await stored())).toBe(true);
    const login = await h.run('mutation { login(username: "alice", password: "a new secret") { user { username } } }');
    expect(login.data?.login.user).toEqual({ username: 'alice' });
  });
});
