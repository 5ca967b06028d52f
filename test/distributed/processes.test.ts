/**
 * Three server processes on one database, ORM capture, changes carried by
 * Redis (the shared server, under a key prefix of this file's own):
 * subscribers on every process get every write once, whichever process it
 * went through, in one order all processes agree on; visibility holds
 * across processes; a process killed with SIGKILL costs the others nothing.
 */
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { demoEntities } from '../../example/entities';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';
import { killAll, killGroup, ok, post, signUp, startServerProcess, stopServerProcess, Watch, type ServerProcess, type User } from '../support/processes';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `test_processes_${process.pid}_${randomBytes(3).toString('hex')}`;
const GROUP = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text done } } }';

let db: TestDatabase;
let servers: ServerProcess[] = [];
let alice: User;
let bob: User;

beforeAll(async () => {
  db = await createTestDatabase('dist_processes');
  const ds = await testDataSource(db.url, demoEntities); // creates the tables
  await ds.destroy();
  const secret = randomBytes(16).toString('hex');
  servers = await Promise.all([0, 1, 2].map(() => startServerProcess([db.url, secret, 'orm', REDIS_URL, PREFIX])));
  alice = await signUp(servers[0].url, 'alice');
  bob = await signUp(servers[1].url, 'bob');
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => stopServerProcess(s).catch(() => undefined)));
  killAll();
  const redis = new Redis(REDIS_URL);
  await redis.del(`${PREFIX}:changes`, `${PREFIX}:changes:seq`);
  redis.disconnect();
  await db?.drop();
});

const createList = async (url: string, user: User, name: string, isPrivate = false) =>
  String((await ok(url, 'mutation($i: CreateTodoListInput!) { createTodoList(input: $i) { id } }', { i: { name, private: isPrivate } }, user.token)).createTodoList.id);
const createTask = async (url: string, user: User, list: string, text: string) =>
  String((await ok(url, 'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { list, text } }, user.token)).createTask.id);
const patchText = (url: string, user: User, id: string, text: string) =>
  ok(url, 'mutation($id: ID!, $t: String!) { patchTask(id: $id, input: { text: $t }) { id } }', { id, t: text }, user.token);

it('every process delivers every write once, whichever process it went through, in one order', async () => {
  const list = await createList(servers[0].url, alice, 'Shared');
  const tasks = await Promise.all([0, 1, 2].map((i) => createTask(servers[i].url, alice, list, `t${i}`)));
  const watches = servers.map((s) => new Watch(s.wsUrl, GROUP, { l: list }, alice.token));
  const anonymous = new Watch(servers[2].wsUrl, GROUP, { l: list });
  await new Promise((resolve) => setTimeout(resolve, 500));

  // Three writers at once, each through its own process, each on its own row.
  await Promise.all([0, 1, 2].map(async (i) => {
    for (let n = 0; n < 10; n++) await patchText(servers[i].url, alice, tasks[i], `p${i}-${n}`);
  }));
  for (const w of [...watches, anonymous]) await w.until((x) => x.events.length >= 30, 15_000, '30 events');
  await new Promise((resolve) => setTimeout(resolve, 300));

  const seen = watches.map((w) => w.events.map((e) => e.task.text));
  for (const texts of seen) {
    expect(texts).toHaveLength(30); // once each
    expect(new Set(texts).size).toBe(30);
    // Each writer's own changes in its order.
    for (const i of [0, 1, 2]) expect(texts.filter((t) => t.startsWith(`p${i}-`))).toEqual(Array.from({ length: 10 }, (_, n) => `p${i}-${n}`));
  }
  // One order for all processes.
  expect(seen[1]).toEqual(seen[0]);
  expect(seen[2]).toEqual(seen[0]);
  // Field visibility holds on the process that routes it: anonymous never sees done.
  expect(anonymous.events.map((e) => e.task.text)).toEqual(seen[0]);
  expect(anonymous.events.every((e) => e.task.done === null)).toBe(true);
  expect(watches[0].events.every((e) => e.task.done === false)).toBe(true);
  await Promise.all([...watches, anonymous].map((w) => w.close()));
});

it('a private list: its tasks, written through one process, reach its owner on another and nobody else', async () => {
  const secret = await createList(servers[0].url, alice, 'Secret', true);
  const open = await createList(servers[0].url, alice, 'Open');
  const owner = new Watch(servers[2].wsUrl, GROUP, { l: secret }, alice.token);
  const refused = new Watch(servers[1].wsUrl, GROUP, { l: secret }, bob.token);
  const onOpen = new Watch(servers[1].wsUrl, GROUP, { l: open }, bob.token);
  await refused.until((w) => w.ended, 10_000, 'the refusal');
  expect(refused.errors[0]?.extensions?.code).toBe('FORBIDDEN');
  await new Promise((resolve) => setTimeout(resolve, 300));

  const hidden = await createTask(servers[1].url, alice, secret, 'hidden');
  const marker = await createTask(servers[0].url, alice, open, 'marker');
  await owner.until((w) => w.events.length >= 1);
  await onOpen.until((w) => w.events.length >= 1);
  expect(owner.events).toEqual([{ action: 'CREATED', id: hidden, task: { id: hidden, text: 'hidden', done: false } }]);
  expect(onOpen.events).toEqual([{ action: 'CREATED', id: marker, task: { id: marker, text: 'marker', done: false } }]);
  await Promise.all([owner, onOpen, refused].map((w) => w.close()));
});

it('a process killed with SIGKILL: the others keep serving and delivering', async () => {
  const list = await createList(servers[0].url, alice, 'After a kill');
  const watches = [new Watch(servers[0].wsUrl, GROUP, { l: list }, alice.token), new Watch(servers[1].wsUrl, GROUP, { l: list }, alice.token)];
  const doomed = new Watch(servers[2].wsUrl, GROUP, { l: list }, alice.token);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const id = await createTask(servers[2].url, alice, list, 'before');
  for (const w of [...watches, doomed]) await w.until((x) => x.events.length >= 1);

  killGroup(servers[2].child);
  await doomed.until((w) => w.ended, 10_000, 'the killed process to drop its socket');
  await patchText(servers[1].url, alice, id, 'after');
  for (const w of watches) await w.until((x) => x.events.length >= 2);
  expect(watches.map((w) => w.events.map((e) => e.task.text))).toEqual([['before', 'after'], ['before', 'after']]);
  expect((await post(servers[0].url, '{ __typename }')).data).toEqual({ __typename: 'Query' });
  await Promise.all([...watches, doomed].map((w) => w.close()));
});
