/**
 * A request whose SQL runs too long: PostgreSQL cancels it at the server's
 * `statementTimeout`, the caller gets TIMEOUT (not an internal error), its
 * connection goes back to the pool in working order, and everybody else is
 * served meanwhile.
 */
import { Post } from '../../example/entities';
import { postResource, taskResource, todoListResource, userResource } from '../../example/app';
import { resource } from '../../src';
import { LiveHarness, TASK_GROUP, task, type LiveSubscription, type LiveUser } from '../support/live';

let h: LiveHarness;
let alice: LiveUser;
let list: string;
let watcher: LiveSubscription;

// A query that sleeps in the database for as long as it is asked to: the slowest query a client could cause.
const slowPosts = resource(Post, {
  ...postResource.options,
  actions: {
    ...postResource.options.actions,
    sleepInDatabase: {
      kind: 'query', args: { seconds: 'Float!' }, type: 'Boolean!',
      resolve: async (args: { seconds: number }, ctx) => {
        await ctx.manager.query('SELECT pg_sleep($1)', [args.seconds]);
        return true;
      },
    },
  },
});

beforeAll(async () => {
  h = await LiveHarness.start({
    prefix: 'abuse_timeout',
    capture: 'orm',
    server: { resources: [userResource, todoListResource, taskResource, slowPosts], statementTimeout: 300 },
  });
  alice = await h.signUp('alice');
  list = await h.createList(alice, 'Watched');
  watcher = await h.subscribe(h.client(alice), TASK_GROUP, { list });
});
afterAll(async () => { await h?.close(); });

it('a statement over statementTimeout is cancelled: TIMEOUT for its caller, the others still served, the pool intact', async () => {
  // More slow requests at once than the pool has connections: each is cancelled, none holds its connection.
  const slow = Array.from({ length: 12 }, () => h.request('query { sleepInDatabase(seconds: 30) }'));
  const started = Date.now();
  expect(await h.ok('{ __typename }')).toEqual({ __typename: 'Query' });
  const results = await Promise.all(slow);
  for (const result of results) {
    expect(result.errors?.[0]?.extensions?.code).toBe('TIMEOUT');
    expect(result.errors?.[0]?.message).toMatch(/ran longer than the server allows/);
  }
  // Liveness, not speed: well before the 30 s each asked for.
  expect(Date.now() - started).toBeLessThan(20_000);

  // Within the bound it answers; writes and deliveries go on over the same pool.
  expect(await h.ok('query { sleepInDatabase(seconds: 0.05) }')).toEqual({ sleepInDatabase: true });
  const id = await h.createTask(alice, list, 'after the timeouts');
  expect(await watcher.next(1, 5_000)).toEqual([{ action: 'CREATED', id, task: task(id, 'after the timeouts', false, list) }]);
});

it('over a WebSocket too', async () => {
  const client = h.client(alice);
  const result = await new Promise<{ errors?: readonly any[] }>((resolve) => {
    let last: { errors?: readonly any[] } = {};
    client.subscribe({ query: 'query { sleepInDatabase(seconds: 30) }' }, { next: (r) => void (last = r), error: (e) => resolve({ errors: Array.isArray(e) ? e : [e] }), complete: () => resolve(last) });
  });
  expect(result.errors?.[0]?.extensions?.code).toBe('TIMEOUT');
});
