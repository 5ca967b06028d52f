/**
 * Database capture's row history on its own, against the real outbox: the
 * rows pointing at a row as of a change, and rows as of a change, however
 * the rows moved, changed or were deleted after it — the lookups routing
 * uses when it is behind.
 */
import { afterTransaction } from '../../src/internals';
import { LiveHarness, type LiveUser } from '../support/live';

let h: LiveHarness;
let alice: LiveUser;

beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'capture_history', capture: 'database' });
  alice = await h.signUp('alice');
});
afterAll(async () => { await h?.close(); });

const outbox = () => h.server.live.outbox!;
const taskMeta = () => h.ds.getMetadata('Task');
const listMeta = () => h.ds.getMetadata('TodoList');

/** The outbox change of the last transaction that touched `table`, once routed. */
async function lastChangeOf(table: string) {
  await h.caughtUp();
  const { rows: [{ p }] } = await h.ds.query(`SELECT max(t.position)::text AS p FROM live_outbox o JOIN live_outbox_tx t ON t.xid = o.xid WHERE o.table_name = $1`, [`public.${table}`]).then((r: any) => ({ rows: r }));
  const [tx] = await outbox().readTransactions(afterTransaction(BigInt(p) - 1n), afterTransaction(BigInt(p)), 1);
  return tx.changes[tx.changes.length - 1];
}

it('the tasks of a list as of a change: moved in, moved out, changed, deleted and created after it', async () => {
  const list = await h.createList(alice, 'As of');
  const other = await h.createList(alice, 'Elsewhere');
  const stays = await h.createTask(alice, list, 'stays');
  const changes = await h.createTask(alice, list, 'changes');
  const leaves = await h.createTask(alice, list, 'leaves');
  const dies = await h.createTask(alice, list, 'dies');
  const comes = await h.createTask(alice, other, 'comes');
  const bounces = await h.createTask(alice, list, 'bounces');
  await h.setListPrivate(alice, list, true);
  const point = await lastChangeOf('todo_list');
  expect(point.metadata.name).toBe('TodoList');

  // After the point: every kind of change, some twice.
  await h.patchTask(alice, changes, { text: 'changed' });
  await h.patchTask(alice, changes, { done: true });
  await h.patchTask(alice, leaves, { list: other });
  await h.deleteTask(alice, dies);
  await h.patchTask(alice, comes, { list });
  await h.patchTask(alice, bounces, { list: other });
  await h.patchTask(alice, bounces, { list });
  await h.createTask(alice, list, 'born after');
  await h.ds.query('UPDATE task SET done = NOT done WHERE "listId" = $1', [Number(list)]);
  await h.caughtUp();

  const relation = taskMeta().relations.find((r) => r.propertyName === 'list')!;
  const rows = await outbox().history.dependentsAsOf(taskMeta(), relation, list, point);
  expect(rows.map((r) => ({ id: String(r.id), text: r.text, done: r.done }))).toEqual([
    { id: stays, text: 'stays', done: false },
    { id: changes, text: 'changes', done: false },
    { id: leaves, text: 'leaves', done: false },
    { id: dies, text: 'dies', done: false },
    { id: bounces, text: 'bounces', done: false },
  ]);

  // And one row as of the point, with later changes of it in several transactions.
  const states = await outbox().history.rowsAsOf(taskMeta(), [changes, comes, dies], point);
  expect(states.get(changes)).toMatchObject({ text: 'changes', done: false, listId: Number(list) });
  expect(states.get(comes)).toMatchObject({ text: 'comes', listId: Number(other) });
  expect(states.get(dies)).toMatchObject({ text: 'dies' });
  const lists = await outbox().history.rowsAsOf(listMeta(), [list], point);
  expect(lists.get(list)).toMatchObject({ private: true });
});
