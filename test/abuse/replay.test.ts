/**
 * Resuming from far back (database capture) costs the resumer, not
 * everybody: the replay runs a page at a time between live work, so a live
 * subscriber still gets a write promptly while thousands of transactions
 * are replayed; a cursor further back than `maxReplayTransactions` is
 * refused with CURSOR_EXPIRED before anything is read.
 */
import { Client as PgClient } from 'pg';
import { isText, LiveHarness, task, waitUntil, type LiveUser } from '../support/live';

/** Runs `sql` on a connection of its own: the server's pool bounds statements (statementTimeout), these loops may take longer on a loaded machine. */
async function outside(h: LiveHarness, sql: string): Promise<void> {
  const client = new PgClient({ connectionString: (h.ds.options as { url: string }).url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

const GROUP = /* GraphQL */ `
  subscription($list: ID!, $after: String) { taskGroupChanged(group: { list: $list }, after: $after) { action id cursor task { id text done list { id } } } }
`;
const TRANSACTIONS = 3000;

let h: LiveHarness;
let alice: LiveUser;

beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'abuse_replay', capture: 'database', server: { maxReplayTransactions: 5000, outbox: { pruneIntervalMs: 0 } } });
  alice = await h.signUp('alice');
});
afterAll(async () => { await h?.close(); });

it('a resume 3000 transactions back does not hold up live delivery, and ends exactly where live delivery goes on', async () => {
  const list = await h.createList(alice, 'Replayed');
  const watched = await h.createList(alice, 'Live');
  const id = await h.createTask(alice, list, 'start');
  const first = await h.subscribe(h.client(alice), GROUP, { list });
  await h.patchTask(alice, id, { text: 'seen' });
  const [seen] = await first.next(1);
  first.unsubscribe();
  await h.settled();

  // While the client is away: 3000 transactions, one update each, committed one by one.
  await outside(h, `DO $$ BEGIN FOR i IN 1..${TRANSACTIONS} LOOP UPDATE task SET text = 'v' || i WHERE id = ${Number(id)}; COMMIT; END LOOP; END $$`);
  await h.caughtUp();

  const live = await h.subscribe(h.client(alice), GROUP, { list: watched });
  const resumed = await h.subscribe(h.client(alice), GROUP, { list, after: seen.cursor });
  // A live write right after the resume started is delivered while the replay is still going.
  const liveTask = await h.createTask(alice, watched, 'live meanwhile');
  expect(await live.next(1, 5_000)).toEqual([expect.objectContaining({ action: 'CREATED', id: liveTask })]);
  const replayedWhenLiveArrived = resumed.events.length;
  expect(replayedWhenLiveArrived).toBeLessThan(TRANSACTIONS);

  // Then the rest of the replay, in order, and the live changes after it: no gap, no duplicate.
  await h.patchTask(alice, id, { text: 'after the replay' });
  const events = await resumed.upTo(isText('after the replay'), 60_000);
  expect(events.map((e) => e.task.text)).toEqual(Array.from({ length: TRANSACTIONS }, (_, i) => `v${i + 1}`));
  expect(events[events.length - 1]).toEqual(expect.objectContaining({ action: 'UPDATED', id, task: task(id, `v${TRANSACTIONS}`, false, list) }));
  live.unsubscribe();
  resumed.unsubscribe();
  await h.settled();
}, 120_000);

it('a cursor more than maxReplayTransactions behind: CURSOR_EXPIRED, nothing replayed', async () => {
  const list = await h.createList(alice, 'Too far');
  const id = await h.createTask(alice, list, 'start');
  const first = await h.subscribe(h.client(alice), GROUP, { list });
  await h.patchTask(alice, id, { text: 'seen' });
  const [seen] = await first.next(1);
  first.unsubscribe();
  await h.settled();
  await outside(h, `DO $$ BEGIN FOR i IN 1..5001 LOOP UPDATE task SET text = 'w' || i WHERE id = ${Number(id)}; COMMIT; END LOOP; END $$`);
  await h.caughtUp();
  const refused = await h.subscribe(h.client(alice), GROUP, { list, after: seen.cursor });
  await waitUntil(() => refused.ended, 20_000, () => 'the refusal');
  expect(refused.events).toEqual([]);
  expect(refused.errors[0]?.extensions?.code).toBe('CURSOR_EXPIRED');
}, 120_000);
