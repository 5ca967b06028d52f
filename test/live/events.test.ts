import { parse, subscribe, type ExecutionResult } from 'graphql';
import type { DataSource } from 'typeorm';
import { createDemoApp, taskResource, todoListResource, userResource, postResource } from '../../example/app';
import { demoEntities, Task, TodoList, User } from '../../example/entities';
import { buildLiveSchema, resource, type LiveSchema } from '../../src';
import { createTestDatabase, testDataSource } from '../support/database';
import { describeEachCapture } from '../support/capture';

describeEachCapture('events', (capture) => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let ds: DataSource;
  let live: LiveSchema;
  let listId: number;
  let task: Task;

  beforeAll(async () => {
    db = await createTestDatabase('events');
    ds = await testDataSource(db.url, demoEntities);
    const app = createDemoApp(ds, 'secret');
    const tasks = resource(Task, { ...taskResource.options, events: { taskReminder: { type: 'String!', description: 'A nudge about a task.' } } });
    live = buildLiveSchema({ dataSource: ds, capture, ...app, resources: [userResource, todoListResource, tasks, postResource] });
    await live.ready; // database capture: the outbox is installed and read before the first write
    const owner = await ds.getRepository(User).save({ username: 'olga', email: 'o@example.com', password: 'x' });
    listId = (await ds.getRepository(TodoList).save({ name: 'Public', ownerId: owner.id })).id;
    task = await ds.getRepository(Task).save({ text: 'Call mum', listId });
    await live.engine.idle();
  });

  afterAll(async () => {
    await live?.close();
    await ds?.destroy();
    await db?.drop();
  });

  async function open(query: string, user: { id: number; username: string } | null) {
    const result = await subscribe({ schema: live.schema, document: parse(query), contextValue: live.createContext(user) });
    if (!(Symbol.asyncIterator in result)) throw new Error(JSON.stringify(result));
    return result as AsyncGenerator<ExecutionResult>;
  }

  describe('custom events', () => {
    it('adds the event to the schema as a group subscription', () => {
      const field = live.schema.getSubscriptionType()!.getFields().taskReminder;
      expect(String(field.type)).toBe('String!');
      expect(field.args.map((a) => `${a.name}: ${String(a.type)}`)).toEqual(['group: TaskGroup!']);
    });

    it('delivers to subscribers of the row\'s group, after commit, and never after a rollback', async () => {
      const stream = await open(`subscription { taskReminder(group: { list: ${listId} }) }`, null);
      const next = stream.next();
      await ds.transaction(async (manager) => {
        await live.publishEvent('taskReminder', 'rolled back', { ...task }, manager);
        throw new Error('rollback');
      }).catch(() => undefined);
      await ds.transaction(async (manager) => {
        await live.publishEvent('taskReminder', 'after commit', { ...task }, manager);
      });
      await live.publishEvent('taskReminder', 'right away', { ...task });
      expect((await next).value).toEqual({ data: { taskReminder: 'after commit' } });
      expect((await stream.next()).value).toEqual({ data: { taskReminder: 'right away' } });
      await stream.return(undefined);
      expect(live.engine.activeSubscriptions).toBe(0);
    });

    it('does not deliver an event about a row the subscriber may not see', async () => {
      const stream = await open(`subscription { taskReminder(group: { list: ${listId} }) }`, null);
      const next = stream.next();
      // The same group, but the row is now in a private list: anonymous may not see it.
      await ds.getRepository(TodoList).update(listId, { private: true });
      await live.publishEvent('taskReminder', 'hidden', { ...task });
      await ds.getRepository(TodoList).update(listId, { private: false });
      await live.publishEvent('taskReminder', 'visible', { ...task });
      expect((await next).value).toEqual({ data: { taskReminder: 'visible' } });
      await stream.return(undefined);
    });

    it('rejects an unknown event name', async () => {
      await expect(live.publishEvent('nope', 1, {})).rejects.toThrow(/No resource declares the event "nope"/);
    });
  });
});
