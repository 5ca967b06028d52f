/**
 * What database capture costs and how fast each capture mode delivers.
 *
 *   npm run bench:capture            # writes bench/results/capture.{json,md}
 *
 * 1. Write overhead: single-row autocommit `UPDATE task … WHERE id = $1`
 *    from 1 and from 4 connections, without the outbox trigger and with it,
 *    alternating rounds (without, with, without, with, …) in one run so the
 *    machine's drift hits both; reported as the ratio of throughputs.
 * 2. Commit → delivery: the demo server in this process, one WebSocket
 *    subscriber (raw `ws`) of the task group, 200 single-row writes 20 ms
 *    apart, each made with TypeORM `save` (seen by both capture modes); the
 *    delay is from the moment the write's COMMIT returned to the moment the
 *    subscriber received the event. Modes: ORM capture; database capture
 *    woken by NOTIFY; database capture polling only (as on the embedded
 *    database), 250 ms and 50 ms intervals.
 *
 * Needs the real PostgreSQL (PG_ADMIN_URL, see test/support/database.ts);
 * a fresh database per part, dropped at the end.
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import WebSocket from 'ws';
import { createDemoApp } from '../example/app';
import { demoEntities, Task, TodoList, User } from '../example/entities';
import { createLiveServer, installOutbox, type LiveServerOptions } from '../src';
import { createTestDatabase as createDatabase, testDataSource, type TestDatabase } from '../test/support/database';

/** Databases of this run: dropped on Ctrl-C / SIGTERM too, not only in `finally`. */
const databases = new Set<TestDatabase>();
async function createTestDatabase(prefix: string): Promise<TestDatabase> {
  const db = await createDatabase(prefix);
  databases.add(db);
  return { ...db, drop: () => db.drop().finally(() => databases.delete(db)) };
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([...databases].map((db) => db.drop())).then(() => process.exit(130));
  });
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 3000);
const WRITES = 200;
const GAP_MS = 20;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

// ---------------------------------------------------------------- write overhead

/** Updates per second from `clients` connections hammering single rows for `ms`. */
async function updateRate(url: string, clients: number, ms: number, ids: number[]): Promise<number> {
  const conns = await Promise.all(Array.from({ length: clients }, async () => {
    const c = new Client({ connectionString: url });
    await c.connect();
    return c;
  }));
  let done = 0;
  const until = performance.now() + ms;
  await Promise.all(conns.map(async (c, k) => {
    let i = k;
    while (performance.now() < until) {
      // Each connection its own rows: throughput, not lock waits.
      const id = ids[(i += clients) % ids.length];
      await c.query('UPDATE task SET text = $1, done = NOT done WHERE id = $2', [`w${i}`, id]);
      done++;
    }
  }));
  const rate = done / (ms / 1000);
  await Promise.all(conns.map((c) => c.end()));
  return rate;
}

async function writeOverhead() {
  const db = await createTestDatabase('bench_capture');
  const ds = await testDataSource(db.url, demoEntities);
  try {
    const owner = await ds.getRepository(User).save({ username: 'owner', email: 'o@example.com', password: 'x' });
    const list = await ds.getRepository(TodoList).save({ name: 'l', ownerId: owner.id });
    const tasks = await ds.getRepository(Task).save(Array.from({ length: 100 }, (_, i) => ({ text: `t${i}`, listId: list.id })));
    const ids = tasks.map((t) => t.id);
    const tables = ['User', 'TodoList', 'Task', 'Post'].map((name) => ds.getMetadata(name));
    await installOutbox(ds, tables);
    const setTrigger = (on: boolean) => ds.query(`ALTER TABLE task ${on ? 'ENABLE' : 'DISABLE'} TRIGGER live_outbox_capture`);
    const out: { clients: number; without: number[]; with: number[] }[] = [];
    for (const clients of [1, 4]) {
      const row = { clients, without: [] as number[], with: [] as number[] };
      await setTrigger(false);
      await updateRate(db.url, clients, 1000, ids); // warm-up
      for (let r = 0; r < ROUNDS; r++) {
        for (const on of [false, true]) {
          await setTrigger(on);
          const rate = await updateRate(db.url, clients, ROUND_MS, ids);
          (on ? row.with : row.without).push(rate);
          await ds.query('TRUNCATE live_outbox, live_outbox_tx');
          await ds.query('VACUUM task');
        }
      }
      out.push(row);
    }
    return out.map(({ clients, without, with: withTrigger }) => {
      const a = median(without);
      const b = median(withTrigger);
      return { clients, withoutPerSecond: a, withPerSecond: b, ratio: b / a, rounds: { without, with: withTrigger } };
    });
  } finally {
    await ds.destroy();
    await db.drop();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// ---------------------------------------------------------------- commit → delivery

async function deliveryDelay(name: string, options: Partial<LiveServerOptions>) {
  const db = await createTestDatabase('bench_delay');
  const ds = await testDataSource(db.url, demoEntities);
  const server = await createLiveServer({ dataSource: ds, ...createDemoApp(ds, 'bench'), port: 0, host: '127.0.0.1', logging: false, graphiql: false, ...options });
  let socket: WebSocket | undefined;
  try {
    const owner = await ds.getRepository(User).save({ username: 'owner', email: 'o@example.com', password: 'x' });
    const list = await ds.getRepository(TodoList).save({ name: 'l', ownerId: owner.id });
    const task = await ds.getRepository(Task).save({ text: 'start', listId: list.id });
    const received = new Map<string, number>();
    let acked = false;
    socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    socket.on('message', (data) => {
      const at = performance.now();
      const message = JSON.parse(String(data));
      if (message.type === 'connection_ack') acked = true;
      const text = message.payload?.data?.taskGroupChanged?.task?.text;
      if (text) received.set(text, at);
    });
    await new Promise((resolve, reject) => { socket!.once('open', resolve); socket!.once('error', reject); });
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    while (!acked) await sleep(5);
    socket.send(JSON.stringify({
      id: '1', type: 'subscribe',
      payload: { query: 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id cursor task { id text } } }', variables: { l: String(list.id) } },
    }));
    while (server.live.engine.activeSubscriptions < 1) await sleep(5);
    await server.live.outbox?.catchUp(); // the seed rows' events, if any, go out before the first write
    const repo = ds.getRepository(Task);
    const committed = new Map<string, number>();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < WRITES; i++) {
      const text = `${name}-${i}`;
      writes.push(repo.save({ id: task.id, text }).then(() => void committed.set(text, performance.now())));
      await sleep(GAP_MS);
    }
    await Promise.all(writes);
    const deadline = performance.now() + 10_000;
    // Wait for this run's writes only (the seed row's own event may arrive too).
    const all = () => [...committed.keys()].every((text) => received.has(text));
    while (!all() && performance.now() < deadline) await sleep(10);
    const delays = [...committed].filter(([text]) => received.has(text)).map(([text, at]) => received.get(text)! - at).sort((a, b) => a - b);
    return {
      mode: name,
      delivered: delays.length,
      expected: WRITES,
      p50Ms: percentile(delays, 50),
      p95Ms: percentile(delays, 95),
      p99Ms: percentile(delays, 99),
      maxMs: delays[delays.length - 1],
    };
  } finally {
    socket?.terminate();
    await server.close();
    await ds.destroy();
    await db.drop();
  }
}

async function main(): Promise<void> {
  console.log(`capture bench on ${os.cpus().length} cores, node ${process.version}`);
  const overhead = await writeOverhead();
  for (const o of overhead) {
    console.log(`${o.clients} connection(s): ${fmt(o.withoutPerSecond, 0)} updates/s without the trigger, ${fmt(o.withPerSecond, 0)} with it: ratio ${fmt(o.ratio, 2)}`);
  }
  const delays = [];
  for (const [name, options] of [
    ['orm', { capture: 'orm' }],
    ['database (NOTIFY)', { capture: 'database' }],
    ['database (poll 250 ms)', { capture: 'database', outbox: { listen: false, pollIntervalMs: 250 } }],
    ['database (poll 50 ms)', { capture: 'database', outbox: { listen: false, pollIntervalMs: 50 } }],
  ] as [string, Partial<LiveServerOptions>][]) {
    const d = await deliveryDelay(name, options);
    delays.push(d);
    console.log(`${name}: ${d.delivered}/${d.expected} delivered, commit → delivery p50 ${fmt(d.p50Ms, 2)} ms, p95 ${fmt(d.p95Ms, 2)} ms, p99 ${fmt(d.p99Ms, 2)} ms, max ${fmt(d.maxMs, 2)} ms`);
  }
  const results = path.join(__dirname, 'results');
  mkdirSync(results, { recursive: true });
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, date: new Date().toISOString() };
  writeFileSync(path.join(results, 'capture.json'), JSON.stringify({ machine, overhead, delays }, null, 2) + '\n');
  const md = [
    `# Capture: write overhead and commit → delivery delay`,
    '',
    `${machine.date.slice(0, 10)}, ${machine.cpus} cores (${machine.cpu}), Node ${machine.node}, PostgreSQL on the same machine. \`npm run bench:capture\`.`,
    '',
    '| connections | updates/s without trigger | with trigger | ratio |',
    '|---:|---:|---:|---:|',
    ...overhead.map((o) => `| ${o.clients} | ${fmt(o.withoutPerSecond, 0)} | ${fmt(o.withPerSecond, 0)} | ${fmt(o.ratio, 2)} |`),
    '',
    '| capture | delivered | p50 | p95 | p99 | max |',
    '|---|---:|---:|---:|---:|---:|',
    ...delays.map((d) => `| ${d.mode} | ${d.delivered}/${d.expected} | ${fmt(d.p50Ms, 2)} ms | ${fmt(d.p95Ms, 2)} ms | ${fmt(d.p99Ms, 2)} ms | ${fmt(d.maxMs, 2)} ms |`),
    '',
  ].join('\n');
  writeFileSync(path.join(results, 'capture.md'), md);
  console.log(`wrote bench/results/capture.json and capture.md`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
