/**
 * The load client and one benchmark run: one system server (a child
 * process), one workload, N subscribers.
 *
 * Subscribers are raw `ws` connections speaking graphql-transport-ws by
 * hand (the graphql-ws client is too heavy per connection for thousands of
 * sockets). The writer sends `patchTask` over HTTP from the same process;
 * every write sets `text` to a unique tag `<run>:<write index>` and toggles
 * `done`, so every delivered event names the write it comes from, and
 * latency = receive time − the time that write was sent, on one clock
 * (`performance.now()` of this process).
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { machineBusySeconds, percentile, postgresCpu, postgresCpuSince, procCpuSeconds, procRssBytes, round, selfCpuSeconds, sleep } from './proc';
import type { Layout, ListRows } from './seed';

export type SystemName = 'live' | 'naive' | 'limit';
export type WorkloadName = 'W1' | 'W2' | 'W3';
export type PhaseName = 'A' | 'B';

export const SYSTEMS: Record<SystemName, { script: string; description: string }> = {
  live: { script: 'live-server.ts', description: 'typeorm-graphql-live: createLiveServer + the demo app (example/app.ts)' },
  naive: { script: 'naive-server.ts', description: 'graphql-yoga + graphql-ws + TypeORM + createPubSub, one execution per subscriber per event' },
  limit: { script: 'limit-server.ts', description: 'plain ws + pg, one pre-serialized JSON string per event, op id concatenated per subscriber' },
};

export const WORKLOADS: Record<WorkloadName, string> = {
  W1: 'one hot group: every subscriber (authenticated) on list 1, writes to its 100 tasks',
  W2: 'many groups: N/10 lists with 10 subscribers each, writes spread over all lists',
  W3: 'mixed rights: W1 with half the subscribers anonymous (done must be null) and 10 of the 100 rows in a private list (only the owner receives them)',
};

export const SUBSCRIPTION = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text done } } }';
export const PATCH = 'mutation($id: ID!, $i: PatchTaskInput!) { patchTask(id: $id, input: $i) { id } }';

export interface Settings {
  writesA: number;
  intervalMs: number;
  writesB: number;
  inFlight: number;
  warmupWrites: number;
  calibrationWrites: number;
  connectBatch: number;
  quietMs: number;
  phaseCapMs: number;
  phases: PhaseName[];
  profileDir?: string;
  /** How often a run disturbed by other processes is tried (see bench/run.ts). */
  attempts: number;
}

// ---------------------------------------------------------------- results

export interface PhaseResult {
  phase: PhaseName;
  mode: string;
  writes: number;
  writeErrors: number;
  expected: number;
  delivered: number;
  lost: number;
  duplicates: number;
  /** Deliveries with the wrong content (other list, wrong id, wrong `done` for an authenticated subscriber). */
  wrong: number;
  /** Permission violations: `done` not null for an anonymous subscriber, a private row to a non-owner. */
  violations: number;
  /** Phase ended before every expected delivery arrived (quiet period or cap). */
  incomplete: boolean;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  httpMs: { p50: number; p99: number };
  /** First write sent → last delivery. */
  wallS: number;
  deliveriesPerS: number;
  writesPerS: number;
  serverCpuS: number;
  serverCpuPct: number;
  serverCpuUsPerDelivery: number;
  /** Server CPU minus the write cost measured without subscribers, per delivery. */
  serverCpuUsPerDeliveryNet: number;
  serverCpuMsPerWrite: number;
  clientCpuS: number;
  clientCpuPct: number;
  clientBound: boolean;
  clientLoopDelayP99Ms: number;
  /** CPU of the PostgreSQL backends of the benchmark database. */
  postgresCpuS: number;
  /** Machine CPU not used by server, load client or those backends, in % of one core (other processes: should be near 0). */
  otherCpuPct: number;
  /** Open loop only: how late the writes left compared with their schedule. */
  sendLagP99Ms?: number;
}

export interface RunResult {
  system: SystemName;
  workload: WorkloadName;
  n: number;
  status: 'ok' | 'failed' | 'aborted';
  error?: string;
  /** Runs disturbed by other processes are repeated; this is the attempt kept. */
  attempt?: number;
  serverPid?: number;
  startS?: number;
  connectS?: number;
  markerRounds?: number;
  subscriptions?: number;
  /** Operations that must never deliver (anonymous on the private list): refused with an error, or accepted and silent. */
  refusedOps?: number;
  silentOps?: number;
  unexpectedCloses?: number;
  protocolErrors?: number;
  rssIdleBytes?: number;
  rssSubscribedBytes?: number;
  rssAfterBytes?: number;
  rssBytesPerSubscriber?: number;
  writeCostUs?: number;
  /** Other processes' CPU while the write cost was measured, % of one core. */
  writeCostOtherCpuPct?: number;
  setupWrong?: number;
  setupViolations?: number;
  phases: PhaseResult[];
}

// ---------------------------------------------------------------- server children

export interface ServerChild {
  child: ChildProcess;
  pid: number;
  url: string;
  wsUrl: string;
}

export const children = new Set<ChildProcess>();

export function startServer(system: SystemName, databaseUrl: string, secret: string, profileDir?: string): Promise<ServerChild> {
  const bench = path.resolve(__dirname, '..');
  const child = fork(path.join(bench, SYSTEMS[system].script), [databaseUrl, secret], {
    cwd: path.resolve(bench, '..'),
    execArgv: ['--import', 'tsx', '--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.on('error', (error) => console.error(`${system} server: ${error.message}`)); // e.g. EPIPE on IPC to a killed child
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${system} server did not start within 60 s`));
    }, 60_000);
    child.on('message', (message: any) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({ child, pid: message.pid, url: message.url, wsUrl: message.wsUrl });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${system} server exited (${code ?? signal}) before it started`));
    });
  });
}

/** Asks the child to close; SIGKILLs it (by its own pid) if it has not exited after 10 s. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.connected) child.send('close');
  else child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Full GC in the child, then its RSS. */
async function rssAfterGc(server: ServerChild): Promise<number> {
  if (server.child.connected) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      function done() {
        clearTimeout(timer);
        server.child.off('message', onMessage);
        resolve();
      }
      function onMessage(message: unknown) {
        if (message === 'gc-done') done();
      }
      server.child.on('message', onMessage);
      server.child.send('gc', (error) => error && done());
    });
  }
  return procRssBytes(server.pid);
}

// ---------------------------------------------------------------- workloads

interface ConnPlan {
  authed: boolean;
  ops: { opId: string; listId: number }[];
}

interface Plan {
  conns: ConnPlan[];
  lists: Map<number, ListRows>;
  pick(): { taskId: number; list: ListRows };
}

const randomOf = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)];

function planFor(workload: WorkloadName, n: number, layout: Layout): Plan {
  switch (workload) {
    case 'W1': {
      const list = layout.w1;
      return {
        conns: Array.from({ length: n }, () => ({ authed: true, ops: [{ opId: '1', listId: list.listId }] })),
        lists: new Map([[list.listId, list]]),
        pick: () => ({ taskId: randomOf(list.taskIds), list }),
      };
    }
    case 'W2': {
      const count = Math.max(1, Math.ceil(n / 10));
      if (layout.w2.length < count) throw new Error(`W2 needs ${count} lists, the database has ${layout.w2.length}`);
      const lists = layout.w2.slice(0, count);
      return {
        conns: Array.from({ length: n }, (_, i) => ({ authed: true, ops: [{ opId: '1', listId: lists[i % count].listId }] })),
        lists: new Map(lists.map((l) => [l.listId, l])),
        pick: () => {
          const list = randomOf(lists);
          return { taskId: randomOf(list.taskIds), list };
        },
      };
    }
    case 'W3': {
      const { public: pub, private: priv } = layout.w3;
      const all = [...pub.taskIds.map((taskId) => ({ taskId, list: pub })), ...priv.taskIds.map((taskId) => ({ taskId, list: priv }))];
      return {
        // Every connection asks for both lists, the private one first; odd ones are the owner, even ones anonymous.
        conns: Array.from({ length: n }, (_, i) => ({
          authed: i % 2 === 1,
          ops: [{ opId: '1', listId: priv.listId }, { opId: '2', listId: pub.listId }],
        })),
        lists: new Map([[pub.listId, pub], [priv.listId, priv]]),
        pick: () => randomOf(all),
      };
    }
  }
}

// ---------------------------------------------------------------- one run

interface Acc {
  writes: number;
  answered: number;
  writeErrors: number;
  expected: number;
  delivered: number;
  duplicates: number;
  wrong: number;
  violations: number;
  unexpected: number;
  lat: Float64Array | null;
  count: number;
  lastAt: number;
  http: number[];
}

const newAcc = (capacity: number): Acc => ({
  writes: 0, answered: 0, writeErrors: 0, expected: 0, delivered: 0, duplicates: 0, wrong: 0, violations: 0, unexpected: 0,
  lat: capacity > 0 ? new Float64Array(capacity) : null, count: 0, lastAt: 0, http: [],
});

interface Write {
  taskId: number;
  listId: number;
  private: boolean;
  done: boolean;
  sentAt: number;
  expected: number;
  received: number;
  flags: Uint8Array | null;
  acc: Acc;
}

interface Conn {
  index: number;
  authed: boolean;
  socket?: WebSocket;
  /** op id → list id, and whether that op must stay silent. */
  ops: Map<string, { listId: number; mustBeSilent: boolean; refused: boolean }>;
}

export interface RunContext {
  system: SystemName;
  workload: WorkloadName;
  n: number;
  databaseUrl: string;
  secret: string;
  layout: Layout;
  settings: Settings;
  /** Set by the deadline or Ctrl-C. */
  isAborted: () => boolean;
  log: (line: string) => void;
  /** Done state per task, kept across runs (they share the database). */
  doneState: Map<number, boolean>;
}

let runSeq = 0;

export async function runOne(ctx: RunContext): Promise<RunResult> {
  const { system, workload, n, layout, settings, log } = ctx;
  const database = decodeURIComponent(new URL(ctx.databaseUrl).pathname.slice(1));
  const result: RunResult = { system, workload, n, status: 'ok', phases: [] };
  const plan = planFor(workload, n, layout);
  const tagPrefix = `b${process.pid}r${++runSeq}:`;
  const writes: Write[] = [];
  const conns: Conn[] = plan.conns.map((c, index) => ({
    index,
    authed: c.authed,
    ops: new Map(c.ops.map((o) => [o.opId, { listId: o.listId, mustBeSilent: plan.lists.get(o.listId)!.private && !c.authed, refused: false }])),
  }));
  const expectedByList = new Map<number, number>();
  for (const c of conns) for (const op of c.ops.values()) if (!op.mustBeSilent) expectedByList.set(op.listId, (expectedByList.get(op.listId) ?? 0) + 1);
  const token = layout.ownerToken;
  let closing = false;
  let unexpectedCloses = 0;
  let protocolErrors = 0;
  let foreign = 0;
  /** Between connecting and closing, writes expect deliveries (no writes are sent while connecting). */
  let listening = false;
  const problem = (line: string) => {
    if (protocolErrors + unexpectedCloses <= 5) log(`  ! ${line}`);
  };

  // -------------------------------------------------------------- deliveries
  const onNext = (conn: Conn, message: any, receivedAt: number) => {
    const op = conn.ops.get(message.id);
    const change = message.payload?.data?.taskGroupChanged;
    if (op?.mustBeSilent && !op.refused && message.payload?.errors && !change) {
      op.refused = true; // refused at subscribe time: a result with errors, then complete
      return;
    }
    if (!op || !change || message.payload?.errors) {
      protocolErrors++;
      problem(`connection ${conn.index}: unexpected next ${JSON.stringify(message).slice(0, 300)}`);
      return;
    }
    const text: unknown = change.task?.text;
    if (typeof text !== 'string' || !text.startsWith(tagPrefix)) return void foreign++;
    const w = writes[Number(text.slice(tagPrefix.length))];
    if (!w) return void foreign++;
    const acc = w.acc;
    const done = change.task.done;
    // Not this subscription's event at all: wrong, and not a delivery.
    if (op.listId !== w.listId || change.action !== 'UPDATED' || change.id !== String(w.taskId) || change.task.id !== String(w.taskId)) {
      return void acc.wrong++;
    }
    if (w.private && !conn.authed) return void acc.violations++; // a private row to a non-owner
    // Right event, bad content: counted, and still a delivery (so one bug does not also show as loss).
    if (!conn.authed && done !== null && done !== undefined) acc.violations++;
    else if (conn.authed && done !== w.done) acc.wrong++;
    if (!w.flags) return void acc.unexpected++;
    if (w.flags[conn.index]) return void acc.duplicates++;
    w.flags[conn.index] = 1;
    w.received++;
    acc.delivered++;
    if (acc.lat) acc.lat[acc.count++] = receivedAt - w.sentAt;
    acc.lastAt = receivedAt;
  };

  const connect = (conn: Conn) =>
    new Promise<void>((resolve, reject) => {
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws', { perMessageDeflate: false, skipUTF8Validation: true });
      conn.socket = socket;
      socket.on('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: conn.authed ? { authorization: `Bearer ${token}` } : {} })),
      );
      socket.on('message', (raw) => {
        const receivedAt = performance.now();
        let message: any;
        try {
          message = JSON.parse(raw.toString());
        } catch {
          protocolErrors++;
          return;
        }
        switch (message.type) {
          case 'next':
            onNext(conn, message, receivedAt);
            break;
          case 'connection_ack':
            for (const [opId, op] of conn.ops) {
              socket.send(JSON.stringify({ id: opId, type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { l: String(op.listId) } } }));
            }
            resolve();
            break;
          case 'ping':
            socket.send('{"type":"pong"}');
            break;
          case 'pong':
            break;
          case 'complete':
            if (!conn.ops.get(message.id)?.refused) {
              protocolErrors++;
              problem(`connection ${conn.index}: ${raw.toString().slice(0, 300)}`);
            }
            break;
          case 'error': {
            const op = conn.ops.get(message.id);
            if (op?.mustBeSilent && !op.refused) op.refused = true;
            else {
              protocolErrors++;
              problem(`connection ${conn.index}: ${raw.toString().slice(0, 300)}`);
            }
            break;
          }
          default:
            protocolErrors++;
            problem(`connection ${conn.index}: ${raw.toString().slice(0, 300)}`);
        }
      });
      socket.on('error', reject);
      socket.on('close', (code, reason) => {
        if (!closing && !ctx.isAborted()) {
          unexpectedCloses++;
          problem(`connection ${conn.index} closed by the server: ${code} ${reason.toString()}`);
        }
        reject(new Error(`connection ${conn.index} closed with ${code}`));
      });
    });

  // -------------------------------------------------------------- writes
  const inFlight = new Set<number>();
  const sendWrite = async (acc: Acc, forList?: ListRows): Promise<Write> => {
    let picked = forList ? { taskId: randomOf(forList.taskIds), list: forList } : plan.pick();
    for (let tries = 0; inFlight.has(picked.taskId) && tries < 20; tries++) {
      picked = forList ? { taskId: randomOf(forList.taskIds), list: forList } : plan.pick();
    }
    const { taskId, list } = picked;
    const done = !(ctx.doneState.get(taskId) ?? false);
    ctx.doneState.set(taskId, done);
    const expected = listening ? expectedByList.get(list.listId) ?? 0 : 0;
    const w: Write = {
      taskId, listId: list.listId, private: list.private, done, sentAt: 0, expected, received: 0,
      flags: expected > 0 ? new Uint8Array(n) : null, acc,
    };
    const index = writes.push(w) - 1;
    acc.writes++;
    acc.expected += expected;
    inFlight.add(taskId);
    w.sentAt = performance.now();
    try {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: PATCH, variables: { id: String(taskId), i: { done, text: `${tagPrefix}${index}` } } }),
        signal: AbortSignal.timeout(120_000),
      });
      const body = (await response.json()) as { data?: any; errors?: unknown[] };
      if (body.errors || !body.data?.patchTask) throw new Error(`patchTask answered ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
      acc.http.push(performance.now() - w.sentAt);
    } catch (error) {
      acc.writeErrors++;
      if (acc.writeErrors <= 3 && !ctx.isAborted()) log(`  ! write failed: ${error instanceof Error ? error.message : error}`);
    } finally {
      inFlight.delete(taskId);
      acc.answered++;
    }
    return w;
  };

  const closedLoop = async (acc: Acc, count: number, parallel: number) => {
    let started = 0;
    const worker = async () => {
      while (started < count && !ctx.isAborted()) {
        started++;
        await sendWrite(acc);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  };

  /** Waits until `acc` has every expected delivery, or nothing arrived for quietMs after the last answer, or the cap. */
  const drain = async (acc: Acc, since: number, capMs: number): Promise<boolean> => {
    let lastAnswered = performance.now();
    let answered = acc.answered;
    while (!ctx.isAborted()) {
      if (acc.answered === acc.writes && acc.delivered >= acc.expected) return true;
      const now = performance.now();
      if (acc.answered !== answered) [answered, lastAnswered] = [acc.answered, now];
      if (acc.answered === acc.writes && now - Math.max(acc.lastAt, lastAnswered) > settings.quietMs) return false;
      if (now - since > capMs) return false;
      await sleep(2);
    }
    return false;
  };

  // -------------------------------------------------------------- the run
  const setup = newAcc(0); // warm-up and marker writes
  const startedAt = performance.now();
  const server = await startServer(system, ctx.databaseUrl, ctx.secret, settings.profileDir);
  result.serverPid = server.pid;
  result.startS = round((performance.now() - startedAt) / 1000);
  try {
    // Warm-up without subscribers, then idle RSS.
    await closedLoop(setup, settings.warmupWrites, settings.inFlight);
    result.rssIdleBytes = await rssAfterGc(server);

    // Connect and subscribe, in batches.
    const connectStart = performance.now();
    for (let i = 0; i < n && !ctx.isAborted(); i += settings.connectBatch) {
      const batch = conns.slice(i, i + settings.connectBatch);
      await Promise.race([
        Promise.all(batch.map(connect)),
        sleep(60_000).then(() => { throw new Error(`connecting ${i}..${i + batch.length} took over 60 s`); }),
      ]);
    }
    listening = true;
    // Everyone subscribed: one marker write per list reaches every subscriber allowed to see it.
    let pending = [...plan.lists.values()].filter((l) => (expectedByList.get(l.listId) ?? 0) > 0);
    let rounds = 0;
    while (pending.length > 0 && !ctx.isAborted()) {
      if (++rounds > 60) throw new Error(`subscriptions incomplete after 60 marker rounds (${pending.length} lists)`);
      const markers: Write[] = [];
      let next = 0;
      await Promise.all(Array.from({ length: settings.inFlight }, async () => {
        while (next < pending.length) markers.push(await sendWrite(setup, pending[next++]));
      }));
      const deadline = performance.now() + 2000 + n; // the slowest systems need about a millisecond per subscriber
      while (markers.some((w) => w.received < w.expected) && performance.now() < deadline) await sleep(5);
      pending = markers.filter((w) => w.received < w.expected).map((w) => plan.lists.get(w.listId)!);
    }
    result.markerRounds = rounds;
    result.connectS = round((performance.now() - connectStart) / 1000);
    result.subscriptions = conns.reduce((sum, c) => sum + c.ops.size, 0);
    result.rssSubscribedBytes = await rssAfterGc(server);
    result.rssBytesPerSubscriber = Math.round((result.rssSubscribedBytes - result.rssIdleBytes) / n);

    // Warm-up with subscribers.
    const warmStart = performance.now();
    await closedLoop(setup, settings.warmupWrites, settings.inFlight);
    await drain(setup, warmStart, settings.phaseCapMs);

    for (const phase of settings.phases) {
      if (ctx.isAborted()) break;
      const count = phase === 'A' ? settings.writesA : settings.writesB;
      const capacity = count * Math.max(...expectedByList.values(), 0);
      const acc = newAcc(capacity);
      const loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      const sendLags: number[] = [];
      const serverCpu0 = procCpuSeconds(server.pid);
      const clientCpu0 = selfCpuSeconds();
      const pgCpu0 = postgresCpu(database);
      const machine0 = machineBusySeconds();
      const firstSentAt = performance.now();
      if (phase === 'A') {
        // Open loop: write i leaves at firstSentAt + i × interval, whatever happened to the others.
        const sent: Promise<Write>[] = [];
        for (let i = 0; i < count && !ctx.isAborted(); i++) {
          const due = firstSentAt + i * settings.intervalMs;
          const wait = due - performance.now();
          if (wait >= 1) await sleep(wait);
          sendLags.push(performance.now() - due);
          sent.push(sendWrite(acc));
        }
        await Promise.all(sent);
      } else {
        await closedLoop(acc, count, settings.inFlight);
      }
      const complete = await drain(acc, firstSentAt, settings.phaseCapMs);
      const serverCpu = procCpuSeconds(server.pid) - serverCpu0;
      const clientCpu = selfCpuSeconds() - clientCpu0;
      const pgCpu = postgresCpuSince(pgCpu0, postgresCpu(database));
      const machine = machineBusySeconds() - machine0;
      const endedAt = performance.now();
      loopDelay.disable();

      const wallS = ((acc.lastAt > 0 ? acc.lastAt : endedAt) - firstSentAt) / 1000;
      const lat = acc.lat ? acc.lat.subarray(0, acc.count).sort() : new Float64Array();
      const http = Float64Array.from(acc.http).sort();
      const sortedLags = Float64Array.from(sendLags).sort();
      const clientCpuPct = (100 * clientCpu) / ((endedAt - firstSentAt) / 1000);
      const r: PhaseResult = {
        phase,
        mode: phase === 'A' ? `open loop, 1 write / ${settings.intervalMs} ms` : `closed loop, ${settings.inFlight} in flight`,
        writes: acc.writes,
        writeErrors: acc.writeErrors,
        expected: acc.expected,
        delivered: acc.delivered,
        lost: acc.expected - acc.delivered,
        duplicates: acc.duplicates,
        wrong: acc.wrong + acc.unexpected,
        violations: acc.violations,
        incomplete: !complete,
        latencyMs: {
          p50: round(percentile(lat, 50)), p95: round(percentile(lat, 95)), p99: round(percentile(lat, 99)), max: round(lat[lat.length - 1] ?? NaN),
        },
        httpMs: { p50: round(percentile(http, 50)), p99: round(percentile(http, 99)) },
        wallS: round(wallS, 3),
        deliveriesPerS: Math.round(acc.delivered / wallS),
        writesPerS: round(acc.writes / wallS, 1),
        serverCpuS: round(serverCpu),
        serverCpuPct: Math.round((100 * serverCpu) / wallS),
        serverCpuUsPerDelivery: round((serverCpu * 1e6) / Math.max(1, acc.delivered), 1),
        serverCpuUsPerDeliveryNet: NaN, // once the write cost is known
        serverCpuMsPerWrite: round((serverCpu * 1e3) / Math.max(1, acc.writes), 2),
        clientCpuS: round(clientCpu),
        clientCpuPct: Math.round(clientCpuPct),
        clientBound: clientCpuPct > 90,
        clientLoopDelayP99Ms: round(loopDelay.percentile(99) / 1e6),
        postgresCpuS: round(pgCpu),
        otherCpuPct: Math.round((100 * Math.max(0, machine - serverCpu - clientCpu - pgCpu)) / ((endedAt - firstSentAt) / 1000)),
        ...(phase === 'A' ? { sendLagP99Ms: round(percentile(sortedLags, 99)) } : {}),
      };
      result.phases.push(r);
      log(phaseLine(r));
    }
    result.rssAfterBytes = await rssAfterGc(server);

    // The write cost: the same writes once every subscriber is gone (the server warm by now).
    closing = true;
    listening = false;
    for (const c of conns) c.socket?.terminate();
    const closedAt = performance.now();
    while (performance.now() - closedAt < 1000 + n) {
      const cpu0 = procCpuSeconds(server.pid);
      await sleep(200);
      if (procCpuSeconds(server.pid) - cpu0 < 0.01) break; // closes handled
    }
    await rssAfterGc(server); // collect what the closed connections left, so the write cost does not pay for it
    const calibration = newAcc(0);
    await closedLoop(calibration, settings.warmupWrites, settings.inFlight);
    const calCpu0 = procCpuSeconds(server.pid);
    const calClient0 = selfCpuSeconds();
    const calPg0 = postgresCpu(database);
    const calMachine0 = machineBusySeconds();
    const calStart = performance.now();
    await closedLoop(calibration, settings.calibrationWrites, settings.inFlight);
    const calCpu = procCpuSeconds(server.pid) - calCpu0;
    const calOther = machineBusySeconds() - calMachine0 - calCpu - (selfCpuSeconds() - calClient0) - postgresCpuSince(calPg0, postgresCpu(database));
    result.writeCostOtherCpuPct = Math.round((100 * Math.max(0, calOther)) / ((performance.now() - calStart) / 1000));
    if (calibration.writeErrors > 0) throw new Error(`${calibration.writeErrors} calibration writes failed`);
    result.writeCostUs = round((calCpu * 1e6) / settings.calibrationWrites, 1);
    for (const r of result.phases) {
      const net = r.serverCpuS - (result.writeCostUs / 1e6) * r.writes;
      r.serverCpuUsPerDeliveryNet = round((Math.max(0, net) * 1e6) / Math.max(1, r.delivered), 1);
    }
    if (calibration.unexpected + calibration.violations > 0) log(`  ! ${calibration.unexpected + calibration.violations} deliveries after every subscriber closed`);

    let refused = 0;
    let silent = 0;
    for (const c of conns) for (const op of c.ops.values()) if (op.mustBeSilent) {
      if (op.refused) refused++;
      else silent++;
    }
    result.refusedOps = refused;
    result.silentOps = silent;
    if (ctx.isAborted()) result.status = 'aborted';
  } catch (error) {
    result.status = ctx.isAborted() ? 'aborted' : 'failed';
    result.error = error instanceof Error ? error.message : String(error);
    if (!ctx.isAborted()) log(`  ! ${result.error}`);
  } finally {
    closing = true;
    for (const c of conns) c.socket?.terminate();
    result.unexpectedCloses = unexpectedCloses;
    result.protocolErrors = protocolErrors;
    result.setupWrong = setup.wrong + setup.unexpected;
    result.setupViolations = setup.violations;
    if (setup.violations + result.setupWrong > 0) log(`  ! warm-up and marker writes: ${setup.violations} permission violations, ${result.setupWrong} wrong deliveries`);
    if (foreign > 0) log(`  ! ${foreign} deliveries matched no write of this run`);
    await stopServer(server.child);
  }
  return result;
}

export function phaseLine(r: PhaseResult): string {
  const f = (x: number) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '–');
  return (
    `  phase ${r.phase}: ${r.delivered}/${r.expected} delivered` +
    `${r.duplicates ? `, ${r.duplicates} dup` : ''}${r.wrong ? `, ${r.wrong} wrong` : ''}${r.violations ? `, ${r.violations} VIOLATIONS` : ''}${r.writeErrors ? `, ${r.writeErrors} write errors` : ''}` +
    ` | p50 ${f(r.latencyMs.p50)} p99 ${f(r.latencyMs.p99)} max ${f(r.latencyMs.max)} ms | ${r.deliveriesPerS} del/s` +
    ` | server ${r.serverCpuS.toFixed(2)} s, ${r.serverCpuUsPerDelivery} µs/del` +
    ` | client ${r.clientCpuPct}% of a core${r.clientBound ? ' (CLIENT-BOUND)' : ''} | PostgreSQL ${r.postgresCpuS.toFixed(2)} s` +
    `${r.otherCpuPct > 25 ? ` | OTHER PROCESSES ${r.otherCpuPct}% of a core` : ''}`
  );
}
