/**
 * The demo app served for real — `createLiveServer` on port 0 over its own
 * database (a fresh PostgreSQL database, or the embedded PGlite server) — and
 * real graphql-ws clients, for the suites in test/live and test/capture.
 *
 * Nothing here sleeps: every wait is for a condition (an event, an error, a
 * subscription count), with a timeout that only turns a hang into a
 * readable failure.
 */
import type { FormattedExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import type { DataSource } from 'typeorm';
import WebSocket from 'ws';
import { createDemoApp, type DemoOptions } from '../../example/app';
import { demoEntities } from '../../example/entities';
import { createLiveServer, type CaptureMode, type LiveSchemaServer, type LiveServerOptions } from '../../src';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/embedded';
import { createTestDatabase, testDataSource, type TestDatabase } from './database';

export const SECRET = 'secret';
export type Result = FormattedExecutionResult<Record<string, any>, unknown>;

/** One `XChange` payload: `{ action, id, task | post | … }`. */
export type Change = { action: 'CREATED' | 'UPDATED' | 'DELETED'; id: string; [row: string]: any };

/** Waits until `condition()` holds; fails after `timeoutMs` with `describe()`. */
export async function waitUntil(condition: () => boolean, timeoutMs = 10_000, describe: () => string = () => 'condition'): Promise<void> {
  if (condition()) return;
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      if (condition()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`));
      setTimeout(tick, 5);
    };
    setTimeout(tick, 5);
  });
}

/**
 * One graphql-ws subscription: collects every `next` result; `events` are
 * the subscription field's payloads (`data.taskGroupChanged`).
 */
export class LiveSubscription {
  readonly results: Result[] = [];
  /** Errors: those of `next` results (a refused subscribe) and of the `error` callback. */
  readonly errors: any[] = [];
  completed = false;
  /** True once the server holds this subscription in its engine (writes made after this reach it). */
  active = false;
  private cursor = 0;
  private dispose: (() => void) | undefined;

  constructor(readonly field: string, private readonly onEnd: (s: LiveSubscription) => void) {}

  start(client: Client, query: string, variables: Record<string, unknown>): void {
    this.dispose = client.subscribe<Record<string, any>>({ query, variables }, {
      next: (result) => {
        this.results.push(result as Result);
        if (result.errors?.length) this.errors.push(...result.errors);
      },
      error: (error) => {
        this.errors.push(...(Array.isArray(error) ? error : [error]));
        this.end();
      },
      complete: () => {
        this.completed = true;
        this.end();
      },
    });
  }

  get events(): Change[] {
    return this.results.filter((r) => r.data?.[this.field] != null).map((r) => r.data![this.field] as Change);
  }

  /** Waits until `n` events have arrived in total; returns all of them. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<Change[]> {
    await waitUntil(() => this.events.length >= n || this.ended, timeoutMs, () => `${n} events on ${this.field} (have ${JSON.stringify(this.events)})`);
    if (this.events.length < n) throw new Error(`${this.field} ended after ${JSON.stringify(this.events)} with ${JSON.stringify(this.errors)}`);
    return this.events;
  }

  /** Waits for `n` more events than were taken so far and takes exactly those. */
  async next(n = 1, timeoutMs = 10_000): Promise<Change[]> {
    await this.waitFor(this.cursor + n, timeoutMs);
    return this.take();
  }

  /** The events that arrived since the last take/next/until. */
  take(): Change[] {
    const out = this.events.slice(this.cursor);
    this.cursor += out.length;
    return out;
  }

  /**
   * Runs `marker` — a later write this subscription will see — and waits for
   * its event. One subscription's events arrive in commit order, so whatever
   * the writes before the marker caused has arrived by then: returns those
   * events (without the marker's), to compare with `[]` or the expected list.
   */
  async until(marker: () => Promise<unknown>, isMarker: (e: Change) => boolean, timeoutMs = 10_000): Promise<Change[]> {
    await marker();
    return this.upTo(isMarker, timeoutMs);
  }

  /** Waits for the first event since the last take that `isMarker` accepts; returns the events before it and takes all. */
  async upTo(isMarker: (e: Change) => boolean, timeoutMs = 10_000): Promise<Change[]> {
    const from = this.cursor;
    await waitUntil(() => this.events.slice(from).some(isMarker) || this.ended, timeoutMs, () => `the marker event on ${this.field} (have ${JSON.stringify(this.events.slice(from))})`);
    const fresh = this.events.slice(from);
    const at = fresh.findIndex(isMarker);
    if (at < 0) throw new Error(`${this.field} ended before the marker: ${JSON.stringify(fresh)} ${JSON.stringify(this.errors)}`);
    this.cursor = from + at + 1;
    return fresh.slice(0, at);
  }

  /** Waits until the subscription errs or completes (a refused subscribe). */
  async waitForEnd(timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.ended, timeoutMs, () => `${this.field} to end`);
  }

  /** Errored, completed or unsubscribed. */
  get ended(): boolean {
    return this.finished;
  }

  private finished = false;

  /** Completes the operation from the client (graphql-ws `complete`). */
  unsubscribe(): void {
    this.dispose?.();
    this.end();
  }

  private end(): void {
    if (this.finished) return;
    this.finished = true;
    this.onEnd(this);
  }
}

export interface LiveUser {
  id: string;
  username: string;
  token: string;
}

export interface LiveHarnessOptions {
  /** Database name prefix (real PostgreSQL). */
  prefix: string;
  /**
   * How the server captures changes. Suites that expect the same events in
   * both modes run once per mode with `describeEachCapture` (./capture).
   */
  capture: CaptureMode;
  /** Run on the embedded PGlite server instead of a fresh PostgreSQL database. */
  embedded?: boolean;
  /** Extra options of createLiveServer (e.g. `subscriberQueueLimit`). */
  server?: Partial<LiveServerOptions>;
  /** Options of the demo app (e.g. its rate limits). */
  demo?: DemoOptions;
}

/** The demo app served on port 0 plus everything needed to drive it; `close()` disposes all of it. */
export class LiveHarness {
  readonly clients: Client[] = [];
  readonly sockets: WebSocket[] = [];
  /** Subscriptions this harness believes are held by the server. */
  private readonly open = new Set<LiveSubscription>();
  private readonly clientSockets = new Map<Client, WebSocket>();

  private constructor(
    readonly ds: DataSource,
    readonly server: LiveSchemaServer,
    private readonly db: TestDatabase | undefined,
    private readonly embedded: EmbeddedPostgres | undefined,
  ) {}

  static async start(options: LiveHarnessOptions): Promise<LiveHarness> {
    let db: TestDatabase | undefined;
    let embedded: EmbeddedPostgres | undefined;
    let ds: DataSource | undefined;
    try {
      if (options.embedded) {
        embedded = await startEmbeddedPostgres();
        ds = await testDataSource(embedded.url, demoEntities, { poolSize: embedded.poolSize });
      } else {
        db = await createTestDatabase(options.prefix);
        ds = await testDataSource(db.url, demoEntities);
      }
      const server = await createLiveServer({
        dataSource: ds, ...createDemoApp(ds, SECRET, options.demo), port: 0, host: '127.0.0.1', logging: false, capture: options.capture,
        // LISTEN does not work through the PGlite socket: embedded capture polls.
        ...(options.embedded ? { outbox: { listen: false } } : {}),
        // Every test client is 127.0.0.1: the per-address rates are tested where asked for (test/abuse).
        connectRatePerAddress: false,
        subscribeRatePerAddress: false,
        ...options.server,
      });
      return new LiveHarness(ds, server, db, embedded);
    } catch (error) {
      await ds?.destroy().catch(() => undefined);
      await embedded?.close();
      await db?.drop();
      throw error;
    }
  }

  get engine() {
    return this.server.live.engine;
  }

  /** One GraphQL request over HTTP. */
  async request(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Result> {
    const response = await fetch(this.server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as Result;
  }

  /** Like {@link request}, failing on any error; returns `data`. */
  async ok(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<Record<string, any>> {
    const result = await this.request(query, variables, token);
    if (result.errors?.length) throw new Error(`unexpected errors: ${JSON.stringify(result.errors)}`);
    return result.data!;
  }

  /** Signs up through `createUser`, then logs in through `login`. */
  async signUp(username: string): Promise<LiveUser> {
    const password = `password-${username}`;
    await this.ok('mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { username, email: `${username}@example.com`, password } });
    const { login } = await this.ok('mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { id username } } }', { u: username, p: password });
    return { id: String(login.user.id), username, token: login.token };
  }

  async createList(user: LiveUser, name: string, isPrivate = false): Promise<string> {
    const data = await this.ok('mutation($i: CreateTodoListInput!) { createTodoList(input: $i) { id } }', { i: { name, private: isPrivate } }, user.token);
    return String(data.createTodoList.id);
  }

  async setListPrivate(user: LiveUser, list: string, isPrivate: boolean): Promise<void> {
    await this.ok('mutation($id: ID!, $p: Boolean!) { patchTodoList(id: $id, input: { private: $p }) { id } }', { id: list, p: isPrivate }, user.token);
  }

  async createTask(user: LiveUser, list: string, text: string): Promise<string> {
    const data = await this.ok('mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }', { i: { list, text } }, user.token);
    return String(data.createTask.id);
  }

  async patchTask(user: LiveUser, id: string, input: Record<string, unknown>): Promise<Record<string, any>> {
    const data = await this.ok('mutation($id: ID!, $i: PatchTaskInput!) { patchTask(id: $id, input: $i) { id text done list { id } } }', { id, i: input }, user.token);
    return data.patchTask;
  }

  async deleteTask(user: LiveUser, id: string): Promise<void> {
    await this.ok('mutation($id: ID!) { deleteTask(id: $id) }', { id }, user.token);
  }

  /** A graphql-ws client as `user` (anonymous without one); disposed by `close()`. */
  client(user?: LiveUser | null): Client {
    const client = createClient({
      url: this.server.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: user ? { authorization: `Bearer ${user.token}` } : {},
      retryAttempts: 0,
      lazy: true,
      on: { connected: (socket) => void this.clientSockets.set(client, socket as WebSocket) },
    });
    this.clients.push(client);
    return client;
  }

  /** The socket a client from {@link client} is connected through (to cut it abruptly). */
  socketOf(client: Client): WebSocket {
    const socket = this.clientSockets.get(client);
    if (!socket) throw new Error('client is not connected');
    return socket;
  }

  /**
   * Starts a subscription and resolves once the server holds it (the
   * engine's subscription count went up), or once it was refused. Writes
   * made after this resolves are seen by it.
   */
  async subscribe(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<LiveSubscription> {
    await this.settled();
    await this.caughtUp();
    const field = /\{\s*(\w+)\s*\(/.exec(query.slice(query.indexOf('{')))?.[1];
    if (!field) throw new Error(`no subscription field in ${query}`);
    const before = this.engine.activeSubscriptions;
    const subscription = new LiveSubscription(field, (s) => this.open.delete(s));
    subscription.start(client, query, variables);
    await waitUntil(() => this.engine.activeSubscriptions > before || subscription.ended, 10_000, () => `the server to hold ${field}`);
    if (!subscription.ended) {
      subscription.active = true;
      this.open.add(subscription);
    }
    return subscription;
  }

  /**
   * Waits until every change committed so far has been routed. Database
   * capture reads the outbox after commit, so without this a subscription
   * opened right after a write could still see that write.
   */
  async caughtUp(): Promise<void> {
    await this.server.live.outbox?.catchUp();
    await this.engine.idle();
  }

  /** Waits until the server holds exactly the subscriptions this harness still considers open. */
  async settled(timeoutMs = 10_000): Promise<void> {
    await waitUntil(() => this.engine.activeSubscriptions === this.open.size, timeoutMs,
      () => `activeSubscriptions ${this.engine.activeSubscriptions} to be ${this.open.size}`);
  }

  /** Completes every open subscription and waits until the server has let go of them (between tests). */
  async unsubscribeAll(): Promise<void> {
    for (const subscription of [...this.open]) subscription.unsubscribe();
    await this.settled();
  }

  /** Forgets a subscription the server is expected to drop on its own (closed socket, slow consumer). */
  forget(subscription: LiveSubscription): void {
    this.open.delete(subscription);
  }

  /**
   * A raw `ws` socket speaking graphql-transport-ws by hand: resolves after
   * `connection_ack`. `messages` collects every parsed server message.
   */
  async rawSocket(user?: LiveUser | null): Promise<{ socket: WebSocket; messages: any[]; send(message: unknown): void }> {
    const socket = new WebSocket(this.server.wsUrl, 'graphql-transport-ws');
    this.sockets.push(socket);
    const messages: any[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: user ? { authorization: `Bearer ${user.token}` } : {} }));
    await waitUntil(() => messages.some((m) => m.type === 'connection_ack'), 10_000, () => 'connection_ack');
    return { socket, messages, send: (message) => socket.send(JSON.stringify(message)) };
  }

  /** Leave the database in place at `close()` (a failed soak keeps it for a look); its name. */
  keepDatabase(): string | undefined {
    this.keep = true;
    return this.db?.name;
  }

  private keep = false;

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await Promise.all(this.clients.map((c) => c.dispose()));
    await this.server.close();
    await this.ds.destroy();
    await this.embedded?.close();
    if (!this.keep) await this.db?.drop();
  }
}

/** `subscription { taskGroupChanged(group: { list: $list }) { … } }` with the fields most tests compare. */
export const TASK_GROUP = /* GraphQL */ `
  subscription($list: ID!) { taskGroupChanged(group: { list: $list }) { action id task { id text done list { id } } } }
`;
export const TASK_INSTANCE = /* GraphQL */ `
  subscription($id: ID!) { taskInstanceChanged(id: $id) { action id task { id text done list { id } } } }
`;
export const POST_HASHTAG = /* GraphQL */ `
  subscription($tag: ID!) { postGroupChanged(group: { hashtag: $tag }) { action id post { id body author { id } } } }
`;

/**
 * Runs `marker` once and, for each subscription, returns the events that
 * arrived before the marker's (see {@link LiveSubscription.until}).
 */
export async function untilAll(subscriptions: LiveSubscription[], marker: () => Promise<unknown>, isMarker: (e: Change) => boolean): Promise<Change[][]> {
  await marker();
  const out: Change[][] = [];
  for (const s of subscriptions) out.push(await s.upTo(isMarker));
  return out;
}

/** Marker predicates: the event of the task / post with this text / body. */
export const isText = (text: string) => (e: Change): boolean => e.task?.text === text;
export const isBody = (body: string) => (e: Change): boolean => e.post?.body === body;

/** The task as `TASK_*` selects it. */
export function task(id: string, text: string, done: boolean | null, list: string): Record<string, unknown> {
  return { id, text, done, list: { id: list } };
}
