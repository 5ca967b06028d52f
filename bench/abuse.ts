/**
 * `npm run bench:abuse`: what each attack of the abuse suite costs a
 * legitimate user, on this machine. The demo app is served as `npm start`
 * serves it (bench/abuse-server.ts, a child process); one legitimate
 * client keeps a `taskGroupChanged` subscription and patches a task of its
 * list every 100 ms (delivery latency: request sent → event received), and
 * asks `{ __typename }` every 50 ms. Each attack runs for a window right
 * after a quiet window of the same length, and the report gives both
 * windows' p50/p99 and the ratio attack/quiet of the p99s (target ≤ 2).
 * The attackers run in a child process of their own (so they never stall
 * the legitimate client's event loop); on 2 cores their CPU competes with
 * the server's, as a hostile client on the same host would.
 *
 *   npm run bench:abuse                              # ORM capture, 8 s windows
 *   npm run bench:abuse -- --capture database --seconds 10 --only replay,aliases
 *
 * Results: bench/results/abuse-<capture>.{json,md}. A fresh database is made
 * and dropped; the server child is closed (SIGKILL after 10 s).
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from '../test/support/database';
import { fmtMs, percentile, round, sleep } from './lib/proc';
import { seedDatabase, type Layout } from './lib/seed';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const capture = option('capture') === 'database' ? 'database' : 'orm';
const windowMs = Number(option('seconds') ?? 8) * 1000;
const only = option('only')?.split(',');

const GROUP = 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }) { action id task { id text } } }';
const PATCH = 'mutation($id: ID!, $t: String!) { patchTask(id: $id, input: { text: $t }) { id } }';

interface Env {
  url: string;
  wsUrl: string;
  layout: Layout;
  /** A signed-in attacker (signs itself up). */
  attackerToken: string;
}

interface Window {
  delivery: number[];
  ping: number[];
  errors: number;
}

// ------------------------------------------------------------ the legitimate client

async function post(url: string, body: unknown, token?: string): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return response.json().catch(() => ({ status: response.status }));
}

/** Measures a window: delivery latency of its own writes and `{ __typename }` latency. */
class Probe {
  private client: Client;
  private pending = new Map<string, number>();
  private current: Window = { delivery: [], ping: [], errors: 0 };
  private counter = 0;
  private running = true;
  private loops: Promise<void>[] = [];

  constructor(private readonly env: Env) {
    this.client = createClient({ url: env.wsUrl, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: `Bearer ${env.layout.ownerToken}` } });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.client.subscribe<{ taskGroupChanged: { task: { text: string } | null } }>(
        { query: GROUP, variables: { l: this.env.layout.w1.listId } },
        {
          next: (result) => {
            const text = result.data?.taskGroupChanged.task?.text;
            const sent = text && this.pending.get(text);
            if (sent) {
              this.current.delivery.push(performance.now() - sent);
              this.pending.delete(text!);
            }
          },
          error: (e) => reject(e),
          complete: () => undefined,
        },
      );
      setTimeout(resolve, 500); // held by then; deliveries are matched by text anyway
    });
    const task = this.env.layout.w1.taskIds[0];
    this.loops.push((async () => {
      while (this.running) {
        const text = `probe-${++this.counter}`;
        this.pending.set(text, performance.now());
        const result = await post(this.env.url, { query: PATCH, variables: { id: task, t: text } }, this.env.layout.ownerToken).catch(() => ({ errors: [1] }));
        if (result.errors) this.current.errors++;
        await sleep(100);
      }
    })());
    this.loops.push((async () => {
      while (this.running) {
        const started = performance.now();
        const result = await post(this.env.url, { query: '{ __typename }' }).catch(() => ({ errors: [1] }));
        if (result.errors) this.current.errors++;
        else this.current.ping.push(performance.now() - started);
        await sleep(50);
      }
    })());
  }

  /** Starts a new window; returns the last one. Writes still in flight count as lost after 5 s. */
  take(): Window {
    const done = this.current;
    this.current = { delivery: [], ping: [], errors: 0 };
    const now = performance.now();
    for (const [text, sent] of this.pending) if (now - sent > 5_000) {
      done.delivery.push(Infinity);
      this.pending.delete(text);
    }
    return done;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await this.client.dispose();
  }
}

// ------------------------------------------------------------ attacks

type Attack = (env: Env, running: () => boolean, tally: (outcome: string) => void) => Promise<void>;

/**
 * `n` loops of `body` until the window ends (or, with `total`, until that
 * many shots have been fired): each loop fires its next shot as soon as the
 * last one is answered — one hostile client as fast as the server lets it.
 */
const loops = (n: number, body: (env: Env, tally: (outcome: string) => void) => Promise<void>, total = Infinity): Attack =>
  async (env, running, tally) => {
    let fired = 0;
    await Promise.all(Array.from({ length: n }, async () => {
      while (running() && fired++ < total) await body(env, tally).catch((e) => tally(`threw ${String(e?.code ?? e?.message ?? e).slice(0, 40)}`));
    }));
  };

const codeOf = (result: any) => result?.errors?.[0]?.extensions?.code ?? (result?.status ? `HTTP ${result.status}` : result?.errors ? 'error' : 'ok');

/** A raw graphql-transport-ws socket: `onOpen` once the server acknowledged it (or at once, with `early`); resolves with its close code. */
function rawSocket(env: Env, onOpen: (socket: WebSocket) => void, token?: string, early = false): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(env.wsUrl, 'graphql-transport-ws');
    socket.on('open', () => {
      socket.send(JSON.stringify({ type: 'connection_init', payload: token ? { authorization: `Bearer ${token}` } : {} }));
      if (early) onOpen(socket);
    });
    if (!early) {
      socket.on('message', function acked(data) {
        if (JSON.parse(String(data)).type !== 'connection_ack') return;
        socket.off('message', acked);
        onOpen(socket);
      });
    }
    socket.on('error', () => undefined);
    socket.on('close', (code) => resolve(code));
  });
}

const aliases = `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: tasks(limit: 1000) { id text }`).join(' ')} }`;
const deep = `{ __schema { types { fields { type ${'{ ofType '.repeat(40)}{ name }${' }'.repeat(40)} } } } }`;
const hashtags = Array.from({ length: 1500 }, (_, i) => `#t${i}`).join(' ');
const hugeBody = JSON.stringify({ query: 'mutation($b: String!) { createPost(input: { body: $b }) { id } }', variables: { b: 'x'.repeat(1_000_000) } });

const ATTACKS: Record<string, { what: string; run: Attack; database?: boolean }> = {
  aliases: {
    what: '200 aliases of tasks(limit: 1000), one after another (QUERY_TOO_COMPLEX)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, { query: aliases })))),
  },
  introspection: {
    what: 'introspection nested 40 deep, one after another (QUERY_TOO_COMPLEX)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, { query: deep })))),
  },
  'big-body': {
    what: '1 MB request bodies, one after another (413)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, hugeBody, env.attackerToken)))),
  },
  'big-message': {
    what: '1 MB WebSocket messages on new sockets, one after another (1009)',
    run: loops(1, async (env, tally) => {
      const big = JSON.stringify({ id: 'x', type: 'subscribe', payload: { query: '{ __typename }', variables: { p: 'x'.repeat(1_000_000) } } });
      tally(`close ${await rawSocket(env, (s) => s.send(big), undefined, true)}`);
    }),
  },
  'subscribe-flood': {
    what: '3000 subscribe messages on one socket, sockets one after another (100 held, the rest LIMIT_EXCEEDED)',
    run: loops(1, async (env, tally) => {
      let refused = 0;
      await rawSocket(env, (s) => {
        s.on('message', (data) => {
          if (JSON.parse(String(data)).type === 'error' && ++refused >= 2900) s.close();
        });
        for (let i = 0; i < 3000; i++) s.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: GROUP, variables: { l: env.layout.w1.listId } } }));
        setTimeout(() => s.close(), 5_000);
      });
      tally(`refused ${refused >= 2900 ? '2900' : refused}`);
    }),
  },
  hashtags: {
    what: 'createPost with 1500 distinct hashtags (10,000 characters), one after another (routed to its first 100 groups)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, { query: 'mutation($b: String!) { createPost(input: { body: $b }) { id } }', variables: { b: hashtags } }, env.attackerToken)))),
  },
  'long-text': {
    what: 'createPost with 10,001 characters, one after another (BAD_USER_INPUT)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, { query: 'mutation($b: String!) { createPost(input: { body: $b }) { id } }', variables: { b: 'y'.repeat(10_001) } }, env.attackerToken)))),
  },
  search: {
    what: 'posts(where: { bodyContains: 1000 characters }), one after another (allowed: ILIKE over every post)',
    run: loops(1, async (env, tally) => tally(codeOf(await post(env.url, { query: 'query($q: String!) { posts(where: { bodyContains: $q }, limit: 100) { id } }', variables: { q: 'z'.repeat(1000) } })))),
  },
  logins: {
    what: '300 wrong-password logins, 30 at a time (RATE_LIMITED after 10)',
    run: loops(30, async (env, tally) => tally(codeOf(await post(env.url, { query: 'mutation { login(username: "owner", password: "wrong") { token } }' }))), 300),
  },
  'slow-consumers': {
    what: '20 sockets that stop reading, subscribed to a hashtag that gets 10 kB posts twice at a time (SLOW_CONSUMER past 1 MiB each)',
    run: async (env, running, tally) => {
      const readers = Array.from({ length: 20 }, async () => {
        while (running()) {
          const code = await rawSocket(env, (s) => {
            s.send(JSON.stringify({ id: 'slow', type: 'subscribe', payload: { query: 'subscription { postGroupChanged(group: { hashtag: "flood" }) { action post { body } } }' } }));
            s.on('message', (data) => {
              if (String(data).includes('SLOW_CONSUMER')) {
                tally('SLOW_CONSUMER');
                s.close();
              }
            });
            setTimeout(() => (s as unknown as { _socket: { pause(): void } })._socket.pause(), 200);
            const stop = setInterval(() => {
              if (!running()) {
                clearInterval(stop);
                s.terminate();
              }
            }, 100);
            s.on('close', () => clearInterval(stop));
          });
          if (code !== 1000 && code !== 1005 && code !== 1006) tally(`close ${code}`);
        }
      });
      const body = `#flood ${'f'.repeat(9_900)}`;
      const writers = Array.from({ length: 2 }, async () => {
        while (running()) tally(codeOf(await post(env.url, { query: 'mutation($b: String!) { createPost(input: { body: $b }) { id } }', variables: { b: body } }, env.attackerToken)));
      });
      await Promise.all([...readers, ...writers]);
    },
  },
  'connection-flood': {
    what: '150 sockets from one address that never send connection_init, reopened as they close (4429 past 100, 4408 after 3 s)',
    run: async (env, running, tally) => {
      await Promise.all(Array.from({ length: 150 }, async () => {
        while (running()) {
          const code = await new Promise<number>((resolve) => {
            const socket = new WebSocket(env.wsUrl, 'graphql-transport-ws');
            socket.on('error', () => undefined);
            socket.on('close', (c) => resolve(c));
            const stop = setInterval(() => {
              if (!running()) {
                clearInterval(stop);
                socket.terminate();
              }
            }, 100);
            socket.on('close', () => clearInterval(stop));
          });
          tally(`close ${code}`);
        }
      }));
    },
  },
  replay: {
    database: true,
    what: 'resumes from the start of the outbox (after: "1:0"), one after another, each ended once its replay is through',
    run: loops(1, async (env, tally) => {
      const client = createClient({ url: env.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${env.layout.ownerToken}` } });
      const outcome = await new Promise<string>((resolve) => {
        let events = 0;
        let quiet: NodeJS.Timeout | undefined;
        client.subscribe({ query: 'subscription($l: ID!) { taskGroupChanged(group: { list: $l }, after: "1:0") { id } }', variables: { l: env.layout.w1.listId } }, {
          next: () => {
            events++;
            clearTimeout(quiet);
            quiet = setTimeout(() => resolve(`replayed ${events >= 100 ? '100+' : events}`), 300);
          },
          error: (e: any) => resolve(codeOf({ errors: Array.isArray(e) ? e : [e] })),
          complete: () => resolve('complete'),
        });
        setTimeout(() => resolve(`replayed ${events >= 100 ? '100+' : events}`), 10_000);
      });
      tally(outcome);
      await client.dispose();
    }),
  },
};

// ------------------------------------------------------------ the run

function summary(w: Window) {
  const delivery = [...w.delivery].sort((a, b) => a - b);
  const ping = [...w.ping].sort((a, b) => a - b);
  return {
    deliveries: delivery.length,
    lost: delivery.filter((d) => !Number.isFinite(d)).length,
    deliveryP50: round(percentile(delivery, 50)),
    deliveryP99: round(percentile(delivery, 99)),
    pings: ping.length,
    pingP50: round(percentile(ping, 50)),
    pingP99: round(percentile(ping, 99)),
    errors: w.errors,
  };
}

async function main(): Promise<void> {
  let db: TestDatabase | undefined;
  let child: ChildProcess | undefined;
  let probe: Probe | undefined;
  const rows: Record<string, unknown>[] = [];
  try {
    db = await createTestDatabase('bench_abuse');
    const secret = randomBytes(32).toString('hex');
    const layout = await seedDatabase(db.url, secret, 0);
    child = fork(path.join(__dirname, 'abuse-server.ts'), [db.url, secret, capture], {
      cwd: path.resolve(__dirname, '..'),
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const { url, wsUrl } = await new Promise<{ url: string; wsUrl: string }>((resolve, reject) => {
      child!.on('message', (m: any) => m?.type === 'ready' && resolve(m));
      child!.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const signUp = await post(url, { query: 'mutation { createUser(input: { username: "attacker", email: "a@example.com", password: "attacker-password" }) { id } }' });
    if (signUp.errors) throw new Error(`sign-up failed: ${JSON.stringify(signUp.errors)}`);
    const login = await post(url, { query: 'mutation { login(username: "attacker", password: "attacker-password") { token } }' });
    const env: Env = { url, wsUrl, layout, attackerToken: login.data.login.token };

    probe = new Probe(env);
    await probe.start();
    await sleep(2_000);
    probe.take(); // warm-up

    for (const [name, attack] of Object.entries(ATTACKS)) {
      if (only && !only.includes(name)) continue;
      if (attack.database && capture !== 'database') continue;
      await sleep(windowMs);
      const quiet = summary(probe.take());
      const attacker = fork(__filename, ['--attacker', name, JSON.stringify(env)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const finished = new Promise<Record<string, number>>((resolve) => {
        attacker.on('message', (m: any) => m?.type === 'outcomes' && resolve(m.outcomes));
        attacker.once('exit', () => resolve({}));
      });
      await new Promise<void>((resolve) => attacker.on('message', (m: any) => m?.type === 'started' && resolve()));
      probe.take(); // the window starts with the attack
      await sleep(windowMs);
      const during = summary(probe.take());
      attacker.on('error', () => undefined); // it may have finished and gone (a bounded attack)
      if (attacker.connected) attacker.send('stop');
      const outcomes = new Map(Object.entries(await Promise.race([finished, sleep(15_000).then(() => ({}))])));
      attacker.kill('SIGKILL');
      await sleep(1_000);
      probe.take(); // what trails the attack counts for neither window
      const row = {
        attack: name, what: attack.what, quiet, during,
        deliveryRatio: round(during.deliveryP99 / quiet.deliveryP99), pingRatio: round(during.pingP99 / quiet.pingP99),
        outcomes: Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])),
      };
      rows.push(row);
      console.log(`${name.padEnd(17)} delivery p99 ${fmtMs(quiet.deliveryP99)} → ${fmtMs(during.deliveryP99)} ms (×${row.deliveryRatio}), ping p99 ${fmtMs(quiet.pingP99)} → ${fmtMs(during.pingP99)} ms (×${row.pingRatio}), lost ${during.lost}; ${JSON.stringify(row.outcomes)}`);
    }
  } finally {
    await probe?.stop().catch(() => undefined);
    if (child && child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      child.send('close');
      const kill = setTimeout(() => child!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(kill);
    }
    await db?.drop();
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const name = `abuse-${capture}`;
  const meta = { date: new Date().toISOString(), capture, windowSeconds: windowMs / 1000, cpus: os.cpus().length, node: process.version };
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  const md = [
    `# Abuse: a legitimate client's p99 during each attack (${capture} capture)`,
    '',
    `${meta.date}, ${meta.cpus} cores, Node ${meta.node}, windows of ${meta.windowSeconds} s (quiet, then attack). Delivery: patchTask sent → event received by the same client's subscription; ping: \`{ __typename }\` over HTTP. Ratio: attack p99 / quiet p99 (target ≤ 2).`,
    '',
    '| attack | delivery p99 quiet → attack (ms) | ratio | ping p99 quiet → attack (ms) | ratio | lost | attacker outcomes |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r: any) => `| ${r.attack}: ${r.what} | ${fmtMs(r.quiet.deliveryP99)} → ${fmtMs(r.during.deliveryP99)} | ${r.deliveryRatio} | ${fmtMs(r.quiet.pingP99)} → ${fmtMs(r.during.pingP99)} | ${r.pingRatio} | ${r.during.lost} | ${Object.entries(r.outcomes).slice(0, 3).map(([k, v]) => `${k} ×${v}`).join(', ')} |`),
    '',
  ].join('\n');
  writeFileSync(path.join(dir, `${name}.md`), md);
  console.log(`\nwrote bench/results/${name}.{json,md}`);
}

/** `--attacker <name> <env>`: this process is the attacker of one window, until the parent says stop. */
async function attackerMain(name: string, env: Env): Promise<void> {
  const outcomes = new Map<string, number>();
  let running = true;
  process.on('message', (m) => {
    if (m === 'stop') running = false;
  });
  process.on('disconnect', () => process.exit(0));
  const attacking = ATTACKS[name].run(env, () => running, (o) => outcomes.set(o, (outcomes.get(o) ?? 0) + 1));
  process.send!({ type: 'started' });
  await attacking;
  process.send!({ type: 'outcomes', outcomes: Object.fromEntries(outcomes) });
  setTimeout(() => process.exit(0), 200);
}

const attackerAt = argv.indexOf('--attacker');
(attackerAt >= 0 ? attackerMain(argv[attackerAt + 1], JSON.parse(argv[attackerAt + 2])) : main()).then(() => attackerAt < 0 && process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
