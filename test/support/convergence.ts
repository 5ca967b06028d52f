/**
 * The convergence scenario: seeded random writers against the demo while
 * observers with different rights hold `taskGroupChanged` on every list,
 * drop their sockets at random and come back. At the end every observer's
 * view — its first query plus every event applied — must equal a fresh
 * query as that observer, and no observer may ever have received a value it
 * was not allowed to read.
 *
 * Used by test/live/convergence.test.ts (short, fixed seeds) and by
 * bench/soak.ts (`npm run soak -- --seconds 300 --seed N`).
 *
 * Writers (3 at once): createTask, patchTask (text, done), moves between an
 * owner's lists, deleteTask, completeAllTasks, privacy flips of two lists
 * (past MAX_TASKS tasks, creates turn into deletes: a steady population);
 * in database capture also raw SQL from a separate `pg` client (an update, a
 * move, a bulk `UPDATE … WHERE`). One list of alice's is always private and
 * only its tasks carry `secret-` texts (a write that moves a task in or out
 * rewrites the text): any other observer receiving one is a leak, as is an
 * anonymous observer receiving a `done` value.
 *
 * Observers connect as a standard client does: subscribe, buffer, query,
 * apply. Reconnecting, a database-capture observer that has a cursor resumes
 * with `after`; otherwise it subscribes and queries afresh. A refused
 * subscription (a list it may not see) clears its view and is tried again.
 */
import { Pool } from 'pg';
import type { Client } from 'graphql-ws';
import type { CaptureMode } from '../../src';
import { waitUntil, type LiveHarness, type LiveUser } from './live';

export interface ConvergenceOptions {
  seed: number;
  seconds: number;
  capture: CaptureMode;
  /** Concurrent writers; default 3. */
  writers?: number;
  /** Write operations per second of all writers together; default as fast as the server answers. */
  rate?: number;
  log?: (line: string) => void;
  /** Logs counters and the current phase this often (long runs); off by default. */
  progressSeconds?: number;
}

export interface ConvergenceResult {
  seed: number;
  capture: CaptureMode;
  writes: number;
  refusedWrites: number;
  events: number;
  disconnects: number;
  resumes: number;
  views: number;
  /** Views that differ from a fresh query, each described. */
  mismatches: string[];
  /** Values an observer received that it may not read. */
  leaks: string[];
  /** Subscriptions the server ended on its own (each observer then started over), with the reason. */
  serverEnds: string[];
}

interface TaskRow { id: string; text: string; done: boolean | null; list: { id: string } | null }
interface Change { action: 'CREATED' | 'UPDATED' | 'DELETED'; id: string; cursor: string | null; task: TaskRow | null }

const GROUP = /* GraphQL */ `
  subscription($list: ID!, $after: String) {
    taskGroupChanged(group: { list: $list }, after: $after) { action id cursor task { id text done list { id } } }
  }`;
const LIST = /* GraphQL */ `query($list: ID!) { tasks(where: { list: $list }, limit: 1000) { id text done list { id } } }`;

/** mulberry32: small, fast, good enough to pick operations. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tasks the writers keep at most (about 40 a list). */
const MAX_TASKS = 200;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One at a time: subscribing waits for the server's subscription count, which concurrent (un)subscribes would blur. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}

interface ListInfo { id: string; owner: LiveUser; secret: boolean }

/** Subscriptions the server ended on its own (not refusals, not our drops): they lower its count behind our back. */
const serverEnds = { count: 0, reasons: [] as string[] };

class Observer {
  view = new Map<string, TaskRow>();
  cursor: string | undefined;
  events = 0;
  /** What it received, for the report of a mismatch. */
  readonly history: string[] = [];
  private client: Client | undefined;
  private dispose: (() => void) | undefined;
  private buffer: Change[] | undefined;
  /** True while the server holds its subscription. */
  live = false;
  /** The last attempt was refused (a list it may not see); tried again later. */
  refused = false;
  /** A (re)connect is under way. */
  busy = false;
  /** Bumped on every (re)connect, so callbacks of an abandoned subscription change nothing. */
  private generation = 0;

  constructor(
    readonly name: string,
    readonly user: LiveUser | null,
    readonly list: ListInfo,
    private readonly h: LiveHarness,
    /** The only user who may read `secret-` texts. */
    private readonly secretOwner: LiveUser,
    private readonly onLeak: (message: string) => void,
  ) {}

  private apply(change: Change): void {
    // `list` is null when the list is out of the observer's sight as the event is executed (a later event follows).
    this.history.push(`${change.action} ${change.id} ${change.task ? `${change.task.text}/${change.task.done}/${change.task.list?.id ?? '-'}` : ''} @${change.cursor ?? '-'}`);
    if (change.cursor) this.cursor = change.cursor;
    if (change.action === 'DELETED') this.view.delete(change.id);
    else this.view.set(change.id, change.task!);
  }

  private check(change: Change): void {
    const row = change.task;
    if (!row) return;
    if (row.text.startsWith('secret-') && this.user?.id !== this.secretOwner.id) this.onLeak(`${this.name} received ${JSON.stringify(change)}`);
    if (!this.user && row.done !== null) this.onLeak(`${this.name} (anonymous) received done=${row.done} in ${JSON.stringify(change)}`);
  }

  /** Subscribes (resuming with `after` when it may), then, unless resuming, queries and applies what arrived meanwhile. */
  async connect(mutex: Mutex, resume: boolean): Promise<'resumed' | 'fresh' | 'refused'> {
    this.busy = true;
    try {
      return await mutex.run(() => this.subscribe(resume));
    } finally {
      this.busy = false;
    }
  }

  private async subscribe(resume: boolean): Promise<'resumed' | 'fresh' | 'refused'> {
    const generation = ++this.generation;
    const after = resume ? this.cursor : undefined;
    this.buffer = after ? undefined : [];
    let ended = false;
    let error: any;
    const client = this.h.client(this.user);
    this.client = client;
    const before = this.h.engine.activeSubscriptions;
    this.dispose = client.subscribe<{ taskGroupChanged: Change }>({ query: GROUP, variables: { list: this.list.id, after: after ?? null } }, {
      next: (result) => {
        if (generation !== this.generation) return;
        if (result.errors?.length) {
          error = result.errors[0];
          return;
        }
        const change = result.data!.taskGroupChanged;
        this.events++;
        this.check(change);
        if (this.buffer) this.buffer.push(change);
        else this.apply(change);
      },
      error: (e) => {
        if (generation !== this.generation) return;
        error ??= e;
        this.endedByServer(ended, e);
        ended = true;
      },
      complete: () => {
        if (generation !== this.generation) return;
        this.endedByServer(ended, 'complete');
        ended = true;
      },
    });
    const endsBefore = serverEnds.count;
    await waitUntil(() => ended || this.h.engine.activeSubscriptions > before - (serverEnds.count - endsBefore), 20_000, () => `${this.name} to be held`);
    if (ended) {
      this.buffer = undefined;
      const code = error?.extensions?.code;
      if (code !== 'FORBIDDEN' && code !== 'UNAUTHENTICATED' && code !== 'CURSOR_EXPIRED') {
        throw new Error(`${this.name}: subscription ended with ${JSON.stringify(error ?? 'complete')}`);
      }
      // Refused: the list is out of sight (the error says to clear what it shows), or its cursor is gone.
      this.view.clear();
      this.cursor = undefined;
      this.refused = true;
      this.history.push(`refused ${code}`);
      return 'refused';
    }
    this.live = true;
    this.refused = false;
    if (after) return 'resumed';
    const result = await this.h.request(LIST, { list: this.list.id }, this.user?.token);
    if (result.errors?.length) throw new Error(`${this.name}: query failed ${JSON.stringify(result.errors)}`);
    this.view = new Map((result.data!.tasks as TaskRow[]).map((t) => [t.id, t]));
    this.history.push(`query ${[...this.view.keys()].join(',')}`);
    const buffered = this.buffer ?? [];
    this.buffer = undefined;
    for (const change of buffered) this.apply(change);
    return 'fresh';
  }

  /**
   * A held subscription ended by the server (SLOW_CONSUMER under load, say): recorded, and
   * the observer starts over like a refused one — what it shows may be stale.
   */
  private endedByServer(alreadyEnded: boolean, reason: unknown): void {
    if (alreadyEnded || !this.live) return;
    this.live = false;
    serverEnds.count++;
    serverEnds.reasons.push(`${this.name}: ${JSON.stringify(reason instanceof Error ? reason.message : reason)}`);
    this.refused = true;
    this.cursor = undefined;
    this.view.clear();
    this.history.push('ended by the server');
  }

  /** Cuts the socket abruptly, as a network drop would, and waits until the server has let go. */
  async drop(mutex: Mutex): Promise<void> {
    await mutex.run(async () => {
      const before = this.h.engine.activeSubscriptions;
      const held = this.live;
      this.cut();
      if (held) await waitUntil(() => this.h.engine.activeSubscriptions < before, 20_000, () => `the server to drop ${this.name}`);
    });
  }

  private cut(): void {
    this.generation++;
    this.live = false;
    const client = this.client;
    this.client = undefined;
    this.dispose = undefined;
    if (!client) return;
    try {
      this.h.socketOf(client).terminate();
    } catch {
      void client.dispose();
    }
  }

  close(): void {
    this.generation++;
    this.dispose?.();
    void this.client?.dispose();
  }
}

export async function runConvergence(h: LiveHarness, options: ConvergenceOptions): Promise<ConvergenceResult> {
  const { seed, seconds, capture, writers = 3, rate, log = () => undefined, progressSeconds } = options;
  const rand = random(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)];
  const tag = `${seed}_${Math.floor(Math.random() * 1e6)}`;
  const result: ConvergenceResult = { seed, capture, writes: 0, refusedWrites: 0, events: 0, disconnects: 0, resumes: 0, views: 0, mismatches: [], leaks: [], serverEnds: [] };
  const endsAtStart = serverEnds.reasons.length;

  const alice = await h.signUp(`alice_${tag}`);
  const bob = await h.signUp(`bob_${tag}`);
  const carol = await h.signUp(`carol_${tag}`);
  const lists: ListInfo[] = [];
  const addList = async (owner: LiveUser, name: string, isPrivate: boolean, secret = false) => {
    const info = { id: await h.createList(owner, `${name} ${tag}`, isPrivate), owner, secret };
    lists.push(info);
    return info;
  };
  await addList(alice, 'A open', false);
  const flipA = await addList(alice, 'A flips', false);
  const secretList = await addList(alice, 'A secret', true, true);
  await addList(bob, 'B open', false);
  const flipB = await addList(bob, 'B flips', true);
  const flips = [flipA, flipB];
  /** Task id → the list it was last seen in (from write responses; may be stale). */
  const tasks = new Map<string, ListInfo>();
  let counter = 0;
  const text = (list: ListInfo, kind: string) => `${list.secret ? 'secret-' : ''}${kind}${++counter}`;
  for (const list of lists) {
    for (let i = 0; i < 3; i++) tasks.set(await h.createTask(list.owner, list.id, text(list, 'seed')), list);
  }

  const observers: Observer[] = [];
  for (const list of lists) {
    const others = [alice, bob].filter((u) => u.id !== list.owner.id);
    for (const [who, user] of [['owner', list.owner], ['other', others[0]], ['carol', carol], ['anonymous', null]] as const) {
      observers.push(new Observer(`${who}@${list.id}`, user, list, h, alice, (message) => result.leaks.push(message)));
    }
  }
  const mutex = new Mutex();
  let phase = 'connecting';
  const started = Date.now();
  const progress = progressSeconds ? setInterval(() => {
    const events = observers.reduce((sum, o) => sum + o.events, 0);
    const live = observers.filter((o) => o.live).length;
    log(`  ${Math.round((Date.now() - started) / 1000)} s ${phase}: ${result.writes} writes, ${events} events, ${tasks.size} tasks, ${live}/${observers.length} observers live, ${result.disconnects} disconnects, rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`);
  }, progressSeconds * 1000) : undefined;
  try {
  for (const o of observers) await o.connect(mutex, false);

  // Raw SQL from outside the server, one connection per writer.
  const sql = capture === 'database' ? new Pool({ connectionString: (h.ds.options as { url: string }).url, max: writers }) : undefined;
  sql?.on('error', () => undefined); // the database may be dropped under it after a failure
  try {
  const deadline = Date.now() + seconds * 1000;
  const running = () => Date.now() < deadline;

  const listOf = (id: string) => tasks.get(id);
  const ownLists = (owner: LiveUser) => lists.filter((l) => l.owner.id === owner.id);
  const accept = (response: { errors?: readonly any[] }, where: string) => {
    result.writes++;
    const code = response.errors?.[0]?.extensions?.code;
    if (!response.errors?.length) return true;
    result.refusedWrites++;
    if (code !== 'NOT_FOUND' && code !== 'FORBIDDEN' && code !== 'BAD_USER_INPUT') throw new Error(`${where}: ${JSON.stringify(response.errors)}`);
    return false;
  };
  const patch = async (id: string, input: Record<string, unknown>) => {
    const list = listOf(id)!;
    const response = await h.request('mutation($id: ID!, $i: PatchTaskInput!) { patchTask(id: $id, input: $i) { id list { id } } }', { id, i: input }, list.owner.token);
    if (accept(response, 'patchTask')) tasks.set(id, lists.find((l) => l.id === response.data!.patchTask.list.id) ?? list);
    else if (response.errors?.[0]?.extensions?.code === 'NOT_FOUND') tasks.delete(id);
  };

  const remove = async (id: string) => {
    const response = await h.request('mutation($id: ID!) { deleteTask(id: $id) }', { id }, listOf(id)!.owner.token);
    if (accept(response, 'deleteTask') || response.errors?.[0]?.extensions?.code === 'NOT_FOUND') tasks.delete(id);
  };

  const operations: [number, () => Promise<void>][] = [
    [3, async () => {
      // A steady population: past MAX_TASKS a create becomes a delete, so long runs stay like short ones (bulk writes stay bulk, not ever larger).
      if (tasks.size >= MAX_TASKS) return remove(pick([...tasks.keys()]));
      const list = pick(lists);
      const response = await h.request('mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { list: list.id, text: text(list, 'new') } }, list.owner.token);
      if (accept(response, 'createTask')) tasks.set(String(response.data!.createTask.id), list);
    }],
    [4, async () => {
      const id = pick([...tasks.keys()]);
      if (!id) return;
      const list = listOf(id)!;
      // A secret text is written together with the secret list: the task may have moved since it was last seen.
      await patch(id, rand() < 0.5 ? { text: text(list, 'text'), ...(list.secret ? { list: list.id } : {}) } : { done: rand() < 0.5 });
    }],
    [3, async () => {
      const id = pick([...tasks.keys()]);
      if (!id) return;
      const to = pick(ownLists(listOf(id)!.owner));
      // The text is rewritten with the move, so no secret- text ever leaves the secret list.
      await patch(id, { list: to.id, text: text(to, 'moved') });
    }],
    [1, async () => {
      const id = pick([...tasks.keys()]);
      if (id) await remove(id);
    }],
    [1, async () => {
      const list = pick(lists);
      accept(await h.request('mutation($l: ID!) { completeAllTasks(list: $l) }', { l: list.id }, list.owner.token), 'completeAllTasks');
    }],
    [1, async () => {
      const list = pick(flips);
      accept(await h.request('mutation($id: ID!, $p: Boolean!) { patchTodoList(id: $id, input: { private: $p }) { id } }', { id: list.id, p: rand() < 0.5 }, list.owner.token), 'patchTodoList');
    }],
  ];
  if (sql) {
    operations.push(
      [1, async () => {
        const id = pick([...tasks.keys()]);
        if (!id) return;
        result.writes++;
        // Secret or not by the list the row is in when the UPDATE runs.
        await sql.query(`UPDATE task SET text = CASE WHEN "listId" = $3 THEN 'secret-' ELSE '' END || $1 WHERE id = $2`, [`sql${++counter}`, Number(id), Number(secretList.id)]);
      }],
      [1, async () => {
        const id = pick([...tasks.keys()]);
        if (!id) return;
        const to = pick(lists);
        result.writes++;
        const { rowCount } = await sql.query('UPDATE task SET "listId" = $1, text = $2 WHERE id = $3', [Number(to.id), text(to, 'sqlmove'), Number(id)]);
        if (rowCount) tasks.set(id, to);
      }],
      [1, async () => {
        const list = pick(lists);
        result.writes++;
        await sql.query('UPDATE task SET done = NOT done WHERE "listId" = $1', [Number(list.id)]);
      }],
    );
  }
  const weights = operations.reduce((sum, [w]) => sum + w, 0);
  const operation = () => {
    let r = rand() * weights;
    for (const [w, op] of operations) if ((r -= w) < 0) return op;
    return operations[0][1];
  };

  // Paced: the writers share one schedule of `rate` slots a second.
  let slot = Date.now();
  const pace = async () => {
    if (!rate) return;
    const wait = slot - Date.now();
    slot = Math.max(slot, Date.now()) + 1000 / rate;
    if (wait > 0) await sleep(wait);
  };
  const writer = async () => {
    while (running()) {
      await pace();
      await operation()();
    }
  };
  const disconnector = async () => {
    while (running()) {
      await sleep(100 + rand() * 400);
      const o = pick(observers.filter((x) => x.live && !x.busy));
      if (!o) continue;
      await o.drop(mutex);
      result.disconnects++;
      await sleep(rand() * 300);
      const outcome = await o.connect(mutex, capture === 'database' && o.cursor !== undefined);
      if (outcome === 'resumed') result.resumes++;
    }
  };
  const retrier = async () => {
    while (running()) {
      await sleep(300 + rand() * 500);
      const o = pick(observers.filter((x) => x.refused && !x.busy));
      if (o) await o.connect(mutex, false);
    }
  };
  phase = 'writing';
  await Promise.all([...Array.from({ length: writers }, writer), disconnector(), retrier()]);
  } finally {
    await sql?.end().catch(() => undefined);
  }

  // Quiet: everything committed is routed, every observer that may subscribe again has, nothing more arrives.
  phase = 'reconnecting';
  for (const o of observers) if (!o.live) await o.connect(mutex, false);
  phase = 'catching up';
  await h.caughtUp();
  phase = 'waiting for quiet';
  let seen = -1;
  for (;;) {
    const total = observers.reduce((sum, o) => sum + o.events, 0);
    if (total === seen) break;
    seen = total;
    await h.caughtUp();
    await sleep(300);
  }
  result.events = seen;

  phase = 'comparing';
  for (const o of observers) {
    const fresh = await h.request(LIST, { list: o.list.id }, o.user?.token);
    const expected = (fresh.data?.tasks ?? []) as TaskRow[];
    const actual = [...o.view.values()];
    const key = (rows: TaskRow[]) => JSON.stringify([...rows].sort((a, b) => Number(a.id) - Number(b.id)));
    result.views++;
    if (key(expected) !== key(actual)) {
      const ids = new Set([...expected.map((t) => t.id), ...actual.map((t) => t.id)]);
      const differing = [...ids].filter((id) => JSON.stringify(expected.find((t) => t.id === id)) !== JSON.stringify(o.view.get(id)));
      result.mismatches.push(`${o.name} (${o.refused ? 'refused' : 'live'}): rows ${differing.join(', ')} differ\n  view:  ${key(actual)}\n  fresh: ${key(expected)}\n  its last events: ${o.history.slice(-12).join(' | ')}`);
    }
  }
  for (const o of observers) o.close();
  } finally {
    clearInterval(progress);
  }
  result.serverEnds = serverEnds.reasons.slice(endsAtStart);
  log(`seed ${seed} (${capture}): ${result.writes} writes (${result.refusedWrites} refused), ${result.events} events, ${result.disconnects} disconnects (${result.resumes} resumed), ${result.views} views, ${result.mismatches.length} mismatches, ${result.leaks.length} leaks${result.serverEnds.length ? `, ended by the server: ${result.serverEnds.join('; ')}` : ''}`);
  return result;
}
