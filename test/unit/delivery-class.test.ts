/**
 * A delivery class on its own: the order of sends when executions finish
 * out of order, and its two bounds (the bytes a member's connection holds unsent, the
 * events held behind an unfinished execution). Real sockets and
 * PostgreSQL are in test/live/delivery.test.ts; here executions are promises
 * the test resolves.
 */
import type { LiveContext, LiveEvent } from '../../src';
import { DeliveryClass, SKIP, type DirectTarget } from '../../src/internals';

const ctx = (): LiveContext => ({ user: null, dataSource: undefined as never, loaders: new Map([['stale', 1]]) });
const event = (id: number): LiveEvent => ({ type: 'Task', id, before: null, after: { id } });

class FakeTarget implements DirectTarget {
  readonly sent: string[] = [];
  unflushedBytes = 0;
  constructor(readonly render: DirectTarget['render'], readonly operationKey = 'op') {}
  send(json: Buffer): void {
    this.sent.push(json.toString());
  }
}

/** A render whose results the test hands out: `finish(i)` resolves the i-th execution. */
function controlledRender() {
  const pending: { root: unknown; resolve: (json: string) => void }[] = [];
  const render = (root: unknown) => new Promise<string>((resolve) => pending.push({ root, resolve }));
  return { render, pending, finish: (i: number) => pending[i].resolve(JSON.stringify(pending[i].root)) };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function makeClass(render: DirectTarget['render'], limit = 10, verdict = (e: LiveEvent): unknown => e.id, bufferBytes = 1000) {
  let executions = 0;
  const errors: unknown[] = [];
  const cls = new DeliveryClass({ verdict, render, limit, bufferBytes, onExecute: () => void executions++, onError: (e) => void errors.push(e) });
  return { cls, errors, executions: () => executions };
}

it('executes once per event for all members and sends the same bytes to each', () => {
  const render = jest.fn((root: unknown, c: LiveContext) => {
    expect(c.loaders.size).toBe(0); // loaders are cleared before every execution
    return JSON.stringify({ data: root });
  });
  const { cls, executions } = makeClass(render);
  const targets = [new FakeTarget(render), new FakeTarget(render), new FakeTarget(render)];
  for (const t of targets) cls.add(ctx(), t, () => undefined);
  cls.onEvent(event(1));
  cls.onEvent(event(2));
  expect(executions()).toBe(2);
  expect(render).toHaveBeenCalledTimes(2);
  for (const t of targets) expect(t.sent).toEqual(['{"data":1}', '{"data":2}']);
});

it('skips events the verdict refuses without executing', () => {
  const render = jest.fn(() => '{}');
  const { cls, executions } = makeClass(render, 10, (e) => (Number(e.id) % 2 ? SKIP : e.id));
  const target = new FakeTarget(render);
  cls.add(ctx(), target, () => undefined);
  for (let i = 1; i <= 4; i++) cls.onEvent(event(i));
  expect(executions()).toBe(2);
  expect(target.sent).toHaveLength(2);
});

it('sends in event order when executions finish out of order', async () => {
  const { render, pending, finish } = controlledRender();
  const { cls } = makeClass(render);
  const target = new FakeTarget(render);
  cls.add(ctx(), target, () => undefined);
  for (let i = 1; i <= 3; i++) cls.onEvent(event(i));
  // One execution at a time: the later events wait behind the first.
  expect(pending).toHaveLength(1);
  finish(0);
  await flush();
  expect(target.sent).toEqual(['1']);
  expect(pending).toHaveLength(2);
  cls.onEvent(event(4));
  finish(1);
  await flush();
  finish(2);
  await flush();
  finish(3);
  await flush();
  expect(target.sent).toEqual(['1', '2', '3', '4']);
});

it('a member that joins while an execution is pending gets only the events published after it joined', async () => {
  const { render, finish } = controlledRender();
  const { cls } = makeClass(render);
  const early = new FakeTarget(render);
  const late = new FakeTarget(render);
  cls.add(ctx(), early, () => undefined);
  cls.onEvent(event(1)); // executing
  cls.onEvent(event(2)); // held
  cls.add(ctx(), late, () => undefined);
  cls.onEvent(event(3));
  for (let i = 0; i < 3; i++) {
    finish(i);
    await flush();
  }
  expect(early.sent).toEqual(['1', '2', '3']);
  expect(late.sent).toEqual(['3']);
});

it('a replay reaches one member only, in order with live events', async () => {
  const { render, finish } = controlledRender();
  const { cls } = makeClass(render);
  const a = new FakeTarget(render);
  const b = new FakeTarget(render);
  cls.add(ctx(), a, () => undefined);
  const memberB = cls.add(ctx(), b, () => undefined);
  cls.onEvent(event(1));
  memberB.deliver(event(2));
  cls.onEvent(event(3));
  for (let i = 0; i < 3; i++) {
    finish(i);
    await flush();
  }
  expect(a.sent).toEqual(['1', '3']);
  expect(b.sent).toEqual(['1', '2', '3']);
});

it('ends a member whose connection holds more than bufferBytes unsent with SLOW_CONSUMER; the others carry on', async () => {
  const render = (root: unknown) => String(root).padStart(10, '.'); // 10 bytes per result
  const { cls } = makeClass(render, 1000, undefined, 15);
  const stalled = new FakeTarget(render);
  const reading = new FakeTarget(render);
  const left: string[] = [];
  const stalledMember = cls.add(ctx(), stalled, () => left.push('stalled'));
  cls.add(ctx(), reading, () => left.push('reading'));
  const ended = stalledMember.stream.next();
  for (let i = 1; i <= 4; i++) {
    cls.onEvent(event(i));
    stalled.unflushedBytes = stalled.sent.join('').length; // never flushes
  }
  await expect(ended).rejects.toMatchObject({ extensions: { code: 'SLOW_CONSUMER' } });
  // 0 and then 10 bytes unsent are within 15; at 20 it is over, whatever the number of messages.
  expect(stalled.sent).toEqual(['.........1', '.........2']);
  expect(reading.sent).toHaveLength(4);
  expect(left).toEqual(['stalled']);
  expect(cls.members.size).toBe(1);
  await expect(stalledMember.stream.next()).resolves.toEqual({ value: undefined, done: true });
});

it('ends every member with SLOW_CONSUMER when more than the limit of events wait behind an execution', async () => {
  const { render } = controlledRender();
  const { cls } = makeClass(render, 3);
  let empty = false;
  cls.onEmpty = () => void (empty = true);
  const members = [new FakeTarget(render), new FakeTarget(render)].map((t) => cls.add(ctx(), t, () => undefined));
  const ends = members.map((m) => m.stream.next());
  for (let i = 1; i <= 5; i++) cls.onEvent(event(i)); // one executing, three held, the fifth overflows
  for (const end of ends) await expect(end).rejects.toMatchObject({ extensions: { code: 'SLOW_CONSUMER' } });
  expect(empty).toBe(true);
});

it('an execution that fails outright ends the members with its error and is reported', async () => {
  const boom = new Error('boom');
  const render = () => Promise.reject(boom);
  const { cls, errors } = makeClass(render);
  const member = cls.add(ctx(), new FakeTarget(render), () => undefined);
  const end = member.stream.next();
  cls.onEvent(event(1));
  await expect(end).rejects.toBe(boom);
  expect(errors).toEqual([boom]);
});

it('leaving: return() removes the member once; the last one empties the class', async () => {
  const render = () => '{}';
  const { cls } = makeClass(render);
  let empty = 0;
  cls.onEmpty = () => void empty++;
  let left = 0;
  const a = cls.add(ctx(), new FakeTarget(render), () => void left++);
  const b = cls.add(ctx(), new FakeTarget(render), () => void left++);
  const waiting = a.stream.next();
  await a.stream.return();
  await a.stream.return();
  await expect(waiting).resolves.toEqual({ value: undefined, done: true });
  expect([left, empty, cls.members.size]).toEqual([1, 0, 1]);
  await b.stream.return();
  expect([left, empty, cls.members.size]).toEqual([2, 1, 0]);
});
