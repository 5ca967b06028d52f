/**
 * `npm start -- --workers 2`: two processes on one port (node:cluster),
 * ORM capture over Redis; subscribers on several connections (spread over
 * both workers) all receive a write, whichever worker took it. Without
 * REDIS_URL, ORM capture refuses to start workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Redis from 'ioredis';
import { demoEntities } from '../../example/entities';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';
import { freePort, killGroup, ok, signUp, Watch } from '../support/processes';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `test_workers_${process.pid}_${randomBytes(3).toString('hex')}`;
const ROOT = path.resolve(__dirname, '../..');
const GROUP = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text } } }';

let db: TestDatabase;
let cli: ChildProcess | undefined;
let output = '';

function start(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--app', 'example/app.ts', '--workers', '2'], {
    cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => void (output += String(d)));
  child.stderr!.on('data', (d) => void (output += String(d)));
  return child;
}

beforeAll(async () => {
  db = await createTestDatabase('dist_workers');
  const ds = await testDataSource(db.url, demoEntities);
  await ds.destroy();
});

afterAll(async () => {
  if (cli) killGroup(cli);
  const redis = new Redis(REDIS_URL);
  await redis.del(`${PREFIX}:changes`, `${PREFIX}:changes:seq`);
  redis.disconnect();
  await db?.drop();
});

const waitFor = async (test: () => boolean, what: string, ms = 60_000) => {
  const deadline = Date.now() + ms;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

it('ORM capture without REDIS_URL: refused with a clear message', async () => {
  output = '';
  const refused = start({ DATABASE_URL: db.url, PORT: String(await freePort()), REDIS_URL: '' });
  const code = await new Promise<number | null>((resolve) => refused.once('exit', (c) => resolve(c)));
  expect(code).toBe(1);
  expect(output).toMatch(/--workers with ORM capture needs REDIS_URL/);
});

it('two workers on one port: every subscriber gets every write, whichever worker took it', async () => {
  output = '';
  const port = await freePort();
  cli = start({ DATABASE_URL: db.url, PORT: String(port), REDIS_URL, REDIS_PREFIX: PREFIX, JWT_SECRET: randomBytes(16).toString('hex') });
  await waitFor(() => (output.match(/worker \d+ serving/g) ?? []).length >= 2, 'two workers');
  const pids = new Set([...output.matchAll(/worker (\d+) serving/g)].map((m) => m[1]));
  expect(pids.size).toBe(2);

  const url = `http://127.0.0.1:${port}/graphql`;
  const wsUrl = `ws://127.0.0.1:${port}/graphql`;
  const alice = await signUp(url, 'carol');
  const list = String((await ok(url, 'mutation($i: CreateTodoListInput!) { createTodoList(input: $i) { id } }', { i: { name: 'Workers' } }, alice.token)).createTodoList.id);
  // Connections are handed to the workers in turn: six land on both.
  const watches = Array.from({ length: 6 }, () => new Watch(wsUrl, GROUP, { l: list }, alice.token));
  await new Promise((resolve) => setTimeout(resolve, 800));
  for (let i = 0; i < 4; i++) await ok(url, 'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { list, text: `w${i}` } }, alice.token);
  for (const w of watches) await w.until((x) => x.events.length >= 4, 15_000, 'four events');
  for (const w of watches) expect(w.events.map((e) => e.task.text)).toEqual(['w0', 'w1', 'w2', 'w3']);
  await Promise.all(watches.map((w) => w.close()));
}, 120_000);
