/**
 * Rough fan-out measurement (not the proper benchmark): how fast one list's
 * task changes reach N WebSocket subscribers of the demo app.
 *
 *   npx tsx bench/quick-fanout.ts            # N = 100, then N = 1000
 *   BENCH_N=200,2000 npx tsx bench/quick-fanout.ts
 *   BENCH_PROFILE_DIR=/tmp/prof npx tsx bench/quick-fanout.ts   # + server CPU profiles
 *
 * Needs the real PostgreSQL (PG_ADMIN_URL, see test/support/database.ts). It
 * creates a fresh database, starts the demo server in a child process
 * (bench/fanout-server.ts, one per N) so the server's CPU time and RSS can be
 * read from /proc apart from this process's, seeds one user, one public list
 * and 100 tasks, then per N:
 *
 *  1. opens N graphql-transport-ws connections (raw `ws`, same token) and
 *     subscribes each to `taskGroupChanged(group: { list })`;
 *  2. repeats a marker write until one reaches all N (everyone subscribed);
 *  3. warms up with a few writes, then sends WRITES `patchTask` mutations over
 *     HTTP, IN_FLIGHT at a time, each with a unique text tag and `done`
 *     toggled, and matches every `next` message to its write by that tag.
 *
 * Everything runs on 127.0.0.1, the load client and the server share the
 * machine's cores. The whole run is aborted after three minutes; the
 * database is dropped in every case.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { createTestDatabase, databaseExists, type TestDatabase } from '../test/support/database';

const SIZES = (process.env.BENCH_N ?? '100,1000').split(',').map(Number);
const WRITES = 400;
const IN_FLIGHT = 4;
const WARMUP_WRITES = 20;
const TASKS = 100;
const CONNECT_BATCH = 100;
const QUIET_MS = 3000; // after the last write: give up waiting for deliveries after this much silence
const DEADLINE_MS = 180_000;
/** `BENCH_PROFILE_DIR=/tmp/prof`: the server children write V8 CPU profiles there (open in Chrome DevTools). */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

const SUBSCRIPTION = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text done } } }';
const PATCH = 'mutation($id: ID!, $i: PatchTaskInput!) { patchTask(id: $id, input: $i) { id } }';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

// ---------------------------------------------------------------- /proc, stats

/** utime + stime of a process, in seconds. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size of a process, in MB. */
function procRssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

function clientCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ---------------------------------------------------------------- server child

interface ServerProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  wsUrl: string;
}

const children = new Set<ChildProcess>();
/** Set by the deadline or Ctrl-C: stop sending, stop logging, clean up. */
let aborted = false;

function startServer(databaseUrl: string): Promise<ServerProcess> {
  const root = path.resolve(__dirname, '..');
  const child = fork(path.join(__dirname, 'fanout-server.ts'), [databaseUrl], {
    cwd: root,
    execArgv: ['--import', 'tsx', ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start within 30 s')), 30_000);
    child.once('message', (message: any) => {
      clearTimeout(timer);
      resolve({ child, pid: message.pid, url: message.url, wsUrl: message.wsUrl });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it started`));
    });
  });
}

/** Asks the child to close; SIGKILLs it (by its own pid) if it has not exited after 10 s. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send('close');
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------- HTTP

async function gql(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors)}`);
  return body.data;
}

interface Seed {
  token: string;
  listId: string;
  taskIds: string[];
}

async function seed(url: string): Promise<Seed> {
  const credentials = { username: 'bench', password: 'bench-password' };
  await gql(url, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', {
    i: { ...credentials, email: 'bench@example.com' },
  });
  const { login } = await gql(url, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', {
    u: credentials.username,
    p: credentials.password,
  });
  const token: string = login.token;
  const { createTodoList } = await gql(url, 'mutation { createTodoList(input: { name: "bench", private: false }) { id } }', {}, token);
  const listId: string = createTodoList.id;
  const taskIds: string[] = [];
  for (let i = 0; i < TASKS; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, TASKS - i) }, (_, k) =>
        gql(url, 'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { text: `task ${i + k}`, list: listId } }, token),
      ),
    );
    taskIds.push(...batch.map((d) => d.createTask.id as string));
  }
  return { token, listId, taskIds };
}

// ---------------------------------------------------------------- one run

const results: { n: number; deliveries: number; serverCpu: number }[] = [];

interface Write {
  sentAt: number;
  deliveries: number;
  measured: boolean;
}

async function run(n: number, databaseUrl: string, data: Seed | undefined): Promise<Seed> {
  const server = await startServer(databaseUrl);
  const sockets: WebSocket[] = [];
  let closing = false;
  try {
    data ??= await seed(server.url);
    const { token, listId, taskIds } = data;
    const done = new Array<boolean>(taskIds.length).fill(false);
    const rssIdle = procRssMb(server.pid);

    // Writes are numbered across phases; the tag `<run>:<index>` identifies them.
    const runTag = `n${n}-${process.pid}`;
    const writes: Write[] = [];
    const seen = new Map<number, Uint8Array>(); // write index -> one flag per connection (measured writes only)
    const latencies = new Float64Array(n * WRITES);
    let latencyCount = 0;
    let measuredDeliveries = 0;
    let duplicates = 0;
    let foreign = 0; // deliveries whose tag matches no write of this run
    let protocolErrors = 0;
    let lastDeliveryAt = 0;

    const onNext = (conn: number, payload: any, receivedAt: number) => {
      const text: unknown = payload?.data?.taskGroupChanged?.task?.text;
      if (payload?.errors) protocolErrors++;
      const prefix = `${runTag}:`;
      if (typeof text !== 'string' || !text.startsWith(prefix)) return void foreign++;
      const index = Number(text.slice(prefix.length));
      const write = writes[index];
      if (!write) return void foreign++;
      write.deliveries++;
      if (!write.measured) return;
      const flags = seen.get(index)!;
      if (flags[conn]) return void duplicates++;
      flags[conn] = 1;
      measuredDeliveries++;
      latencies[latencyCount++] = receivedAt - write.sentAt;
      lastDeliveryAt = receivedAt;
    };

    // 1. N connections, graphql-transport-ws by hand.
    let acked = 0;
    const connect = (conn: number) =>
      new Promise<void>((resolve, reject) => {
        const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
        sockets.push(socket);
        socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
        socket.on('message', (raw) => {
          const receivedAt = performance.now();
          const message = JSON.parse(raw.toString());
          switch (message.type) {
            case 'next':
              onNext(conn, message.payload, receivedAt);
              break;
            case 'connection_ack':
              acked++;
              socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { l: listId } } }));
              resolve();
              break;
            case 'ping':
              socket.send(JSON.stringify({ type: 'pong' }));
              break;
            case 'error':
            case 'complete':
              protocolErrors++;
              if (protocolErrors <= 3) console.error(`connection ${conn}: ${raw.toString()}`);
              break;
          }
        });
        socket.on('error', reject);
        socket.on('close', (code) => {
          if (!closing && !aborted) {
            protocolErrors++;
            if (protocolErrors <= 3) console.error(`connection ${conn} closed by the server: ${code}`);
          }
          reject(new Error(`closed with ${code}`));
        });
      });
    const connectStart = performance.now();
    for (let i = 0; i < n; i += CONNECT_BATCH) {
      await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, n - i) }, (_, k) => connect(i + k)));
    }

    // Writes: `patchTask` over HTTP, `inFlight` at a time.
    let writeErrors = 0;
    const httpLatencies: number[] = [];
    const sendWrites = async (count: number, measured: boolean, inFlight: number) => {
      let next = 0;
      const worker = async () => {
        while (next < count && !aborted) {
          next++;
          const task = Math.floor(Math.random() * taskIds.length);
          done[task] = !done[task];
          const index = writes.length;
          if (measured) seen.set(index, new Uint8Array(n));
          const sentAt = performance.now();
          writes.push({ sentAt, deliveries: 0, measured });
          try {
            await gql(server.url, PATCH, { id: taskIds[task], i: { done: done[task], text: `${runTag}:${index}` } }, token);
            if (measured) httpLatencies.push(performance.now() - sentAt);
          } catch (error) {
            writeErrors++;
            if (writeErrors <= 3 && !aborted) console.error(error);
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, worker));
    };

    // 2. Everyone subscribed: one marker write reaches all N.
    let markers = 0;
    for (;;) {
      const first = writes.length;
      await sendWrites(1, false, 1);
      markers++;
      const deadline = Date.now() + 1000;
      while (writes[first].deliveries < n && Date.now() < deadline) await sleep(5);
      if (writes[first].deliveries >= n) break;
      if (markers >= 60) throw new Error(`only ${writes[first].deliveries}/${n} subscribed after ${markers} markers`);
    }
    const subscribedMs = performance.now() - connectStart;
    const rssSubscribed = procRssMb(server.pid);

    // 3. Warm-up, then the measured writes.
    const warmupFrom = writes.length;
    await sendWrites(WARMUP_WRITES, false, IN_FLIGHT);
    await waitFor(() => writes.slice(warmupFrom).every((w) => w.deliveries >= n), 30_000, 'warm-up deliveries');

    const serverCpu0 = procCpuSeconds(server.pid);
    const clientCpu0 = clientCpuSeconds();
    const firstSentAt = performance.now();
    await sendWrites(WRITES, true, IN_FLIGHT);
    const writesDoneAt = performance.now();
    const expected = n * WRITES;
    while (measuredDeliveries < expected && performance.now() - Math.max(lastDeliveryAt, writesDoneAt) < QUIET_MS) await sleep(2);
    const serverCpu = procCpuSeconds(server.pid) - serverCpu0;
    const clientCpu = clientCpuSeconds() - clientCpu0;
    const rssAfter = procRssMb(server.pid);

    // Report.
    const wall = (lastDeliveryAt - firstSentAt) / 1000;
    const sorted = latencies.subarray(0, latencyCount).sort();
    const httpSorted = Float64Array.from(httpLatencies).sort();
    const lost = expected - measuredDeliveries;
    console.log(`\nN=${n}  (${WRITES} writes, ${IN_FLIGHT} in flight, ${acked} connections subscribed in ${fmt(subscribedMs / 1000, 2)} s, ${markers} marker write(s))`);
    console.log(`  deliveries   ${measuredDeliveries}/${expected}  lost ${lost}  duplicates ${duplicates}  foreign ${foreign}  write errors ${writeErrors}  protocol errors ${protocolErrors}`);
    console.log(`  wall         ${fmt(wall, 2)} s (first write sent -> last delivery; writes sent in ${fmt((writesDoneAt - firstSentAt) / 1000, 2)} s)`);
    console.log(`  throughput   ${fmt(measuredDeliveries / wall, 0)} deliveries/s, ${fmt(measuredDeliveries / n / wall, 1)} events/s (writes delivered to all N)`);
    console.log(`  latency      p50 ${fmt(percentile(sorted, 50))} ms  p99 ${fmt(percentile(sorted, 99))} ms  max ${fmt(sorted[sorted.length - 1] ?? NaN)} ms  (HTTP mutation round trip p50 ${fmt(percentile(httpSorted, 50))} ms, p99 ${fmt(percentile(httpSorted, 99))} ms)`);
    console.log(`  server CPU   ${fmt(serverCpu, 2)} s (${fmt((100 * serverCpu) / wall, 0)}% of one core), ${fmt((serverCpu * 1e6) / Math.max(1, measuredDeliveries), 2)} µs per delivery, ${fmt((serverCpu * 1e3) / WRITES, 2)} ms per write`);
    console.log(`  client CPU   ${fmt(clientCpu, 2)} s (${fmt((100 * clientCpu) / wall, 0)}% of one core), ${fmt((clientCpu * 1e6) / Math.max(1, measuredDeliveries), 2)} µs per delivery`);
    console.log(`  server RSS   ${fmt(rssIdle)} MB idle -> ${fmt(rssSubscribed)} MB subscribed (${fmt(((rssSubscribed - rssIdle) * 1024) / n)} KB per connection) -> ${fmt(rssAfter)} MB after the writes`);

    results.push({ n, deliveries: measuredDeliveries, serverCpu });
    return data;
  } finally {
    closing = true;
    for (const socket of sockets) socket.terminate();
    await stopServer(server.child);
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const db: TestDatabase = await createTestDatabase('bench');
  let status = 0;
  const deadline = setTimeout(() => {
    aborted = true;
    console.error(`\naborted: still running after ${DEADLINE_MS / 1000} s`);
    for (const child of children) child.kill('SIGKILL');
    db.drop().finally(() => process.exit(2));
  }, DEADLINE_MS);
  const interrupt = () => {
    aborted = true;
    for (const child of children) child.kill('SIGKILL');
    db.drop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  try {
    console.log(`database ${db.name}, ${os.cpus().length} CPUs, load client pid ${process.pid}`);
    let data: Seed | undefined;
    for (const n of SIZES) data = await run(n, db.url, data);
    const [small, large] = [results[0], results[results.length - 1]];
    if (results.length > 1 && large.deliveries > small.deliveries) {
      const marginal = ((large.serverCpu - small.serverCpu) * 1e6) / (large.deliveries - small.deliveries);
      console.log(`\nserver CPU per extra delivery, N=${small.n} -> N=${large.n}: ${fmt(marginal, 2)} µs`);
    }
  } catch (error) {
    console.error(error);
    status = 1;
  } finally {
    clearTimeout(deadline);
    process.off('SIGINT', interrupt);
    for (const child of children) await stopServer(child);
    await db.drop();
    if (await databaseExists(db.name)) {
      console.error(`database ${db.name} is still there`);
      status = 1;
    }
  }
  return status;
}

main().then((status) => {
  process.exitCode = status;
});
