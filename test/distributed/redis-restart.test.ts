/**
 * Redis goes away under two server processes (a redis-server of this
 * file's own, without persistence): no crash; writes made meanwhile wait in
 * the publisher's backlog; when Redis comes back empty, every process sees
 * that the stream started over and ends its subscriptions with
 * CHANGES_LOST — never silence — and new subscriptions deliver again,
 * including what the backlog held.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { demoEntities } from '../../example/entities';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';
import { freePort, killAll, killGroup, ok, post, signUp, startRedis, startServerProcess, stopServerProcess, Watch, type ServerProcess, type User } from '../support/processes';

const GROUP = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text } } }';

let db: TestDatabase;
let redis: ChildProcess;
let port: number;
let servers: ServerProcess[] = [];
let alice: User;

beforeAll(async () => {
  port = await freePort();
  redis = await startRedis(port);
  db = await createTestDatabase('dist_redis_restart');
  const ds = await testDataSource(db.url, demoEntities);
  await ds.destroy();
  const secret = randomBytes(16).toString('hex');
  servers = await Promise.all([0, 1].map(() => startServerProcess([db.url, secret, 'orm', `redis://127.0.0.1:${port}`, 'restart'])));
  alice = await signUp(servers[0].url, 'alice');
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => stopServerProcess(s).catch(() => undefined)));
  killAll();
  await db?.drop();
});

const createList = async (url: string, name: string) =>
  String((await ok(url, 'mutation($i: CreateTodoListInput!) { createTodoList(input: $i) { id } }', { i: { name } }, alice.token)).createTodoList.id);
const createTask = async (url: string, list: string, text: string) =>
  String((await ok(url, 'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { list, text } }, alice.token)).createTask.id);

it('Redis killed and restarted empty: the servers keep answering, subscribers get CHANGES_LOST, then delivery resumes', async () => {
  const list = await createList(servers[0].url, 'Through a restart');
  const watches = servers.map((s) => new Watch(s.wsUrl, GROUP, { l: list }, alice.token));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await createTask(servers[0].url, list, 'before');
  for (const w of watches) await w.until((x) => x.events.length >= 1);

  killGroup(redis);
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Writes still commit and the servers still answer while Redis is away.
  const during = await createTask(servers[0].url, list, 'while Redis is away');
  expect((await post(servers[1].url, '{ __typename }')).data).toEqual({ __typename: 'Query' });

  redis = await startRedis(port);
  for (const w of watches) await w.until((x) => x.ended, 20_000, 'CHANGES_LOST');
  for (const w of watches) expect(w.errors[0]?.extensions?.code).toBe('CHANGES_LOST');
  // What the subscribers missed is in the database: a refetch shows the write made while Redis was away.
  const { tasks } = await ok(servers[1].url, 'query($l: ID!) { tasks(where: { list: $l }) { id text } }', { l: list }, alice.token);
  expect(tasks.map((t: { text: string }) => t.text)).toEqual(['before', 'while Redis is away']);
  expect(tasks[1].id).toBe(during);

  // Subscribing again: live through every process.
  const again = servers.map((s) => new Watch(s.wsUrl, GROUP, { l: list }, alice.token));
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = await createTask(servers[1].url, list, 'after the restart');
  for (const w of again) await w.until((x) => x.events.some((e) => e.id === after), 20_000, 'the write after the restart');
  await Promise.all([...watches, ...again].map((w) => w.close()));
}, 90_000);
