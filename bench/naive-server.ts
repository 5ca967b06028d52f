/**
 * Baseline `naive` of the benchmark: what a team would hand-roll for live
 * task lists with the usual stack — graphql-yoga + graphql-ws (yoga's
 * graphql-ws recipe) + TypeORM + yoga's `createPubSub`, publishing after
 * `save`, one GraphQL execution per subscriber per event.
 *
 *   tsx bench/naive-server.ts <database-url> <jwt-secret>
 *
 * Same entities as the demo (example/entities.ts), a hand-written SDL with
 * the same shapes the load client selects (`patchTask(id, input)`,
 * `taskGroupChanged(group: { list })` → `{ action id task { id text done } }`)
 * and the demo's rules, written by hand: tokens are HS256 JWTs whose `sub`
 * is a user id (looked up once per request / connection); `done` is null for
 * anonymous callers; only the owner of a list may patch its tasks; events of
 * a private list are filtered out for everyone but its owner, inside each
 * subscriber's iterator.
 */
import 'reflect-metadata';
import { createSecretKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga, filter, pipe, type YogaInitialContext } from 'graphql-yoga';
import jwt from 'jsonwebtoken';
import { DataSource } from 'typeorm';
import { WebSocketServer } from 'ws';
import { demoEntities, Task, TodoList, User } from '../example/entities';
import { childArgs, serveChild } from './lib/child';

type Caller = { id: number; username: string } | null;
interface Context {
  user: Caller;
}
interface TaskChangeEvent {
  change: { action: 'CREATED' | 'UPDATED' | 'DELETED'; id: string; task: Task | null };
  private: boolean;
  ownerId: number;
}

const typeDefs = /* GraphQL */ `
  type TodoList { id: ID! name: String! private: Boolean! }
  type Task { id: ID! text: String! done: Boolean list: TodoList! }
  enum ChangeAction { CREATED UPDATED DELETED }
  type TaskChange { action: ChangeAction! id: ID! task: Task }
  input TaskGroup { list: ID }
  input PatchTaskInput { text: String done: Boolean }
  type Query { task(id: ID!): Task }
  type Mutation { patchTask(id: ID!, input: PatchTaskInput!): Task! }
  type Subscription { taskGroupChanged(group: TaskGroup!): TaskChange! }
`;

serveChild('naive-server', async () => {
  const { databaseUrl, secret } = childArgs('naive-server.ts');
  const dataSource = await new DataSource({ type: 'postgres', url: databaseUrl, entities: demoEntities, synchronize: false }).initialize();
  const tasks = dataSource.getRepository(Task);
  const key = createSecretKey(Buffer.from(secret)); // as the demo does: given a string, jsonwebtoken derives a key on every call
  const pubSub = createPubSub<{ taskGroup: [listId: string, event: TaskChangeEvent] }>();

  const userFromToken = async (authorization: unknown): Promise<Caller | undefined> => {
    if (authorization === undefined || authorization === null) return null;
    const match = /^Bearer (.+)$/.exec(String(authorization));
    if (!match) return undefined;
    try {
      const sub = Number((jwt.verify(match[1], key, { algorithms: ['HS256'] }) as jwt.JwtPayload).sub);
      const user = await dataSource.getRepository(User).findOneBy({ id: sub });
      return user ? { id: user.id, username: user.username } : undefined;
    } catch {
      return undefined;
    }
  };

  const schema = createSchema<Context>({
    typeDefs,
    resolvers: {
      Query: {
        task: async (_: unknown, args: { id: string }, ctx: Context) => {
          const task = await tasks.findOne({ where: { id: Number(args.id) }, relations: { list: true } });
          return task && (!task.list.private || task.list.ownerId === ctx.user?.id) ? task : null;
        },
      },
      Task: {
        done: (task: Task, _: unknown, ctx: Context) => (ctx.user ? task.done : null),
        list: (task: Task) => task.list ?? dataSource.getRepository(TodoList).findOneBy({ id: task.listId }),
      },
      Mutation: {
        patchTask: async (_: unknown, args: { id: string; input: { text?: string | null; done?: boolean | null } }, ctx: Context) => {
          if (!ctx.user) throw new GraphQLError('Not authenticated', { extensions: { code: 'UNAUTHENTICATED' } });
          const task = await tasks.findOne({ where: { id: Number(args.id) }, relations: { list: true } });
          if (!task || task.list.ownerId !== ctx.user.id) throw new GraphQLError(`Task:${args.id} not found`, { extensions: { code: 'NOT_FOUND' } });
          if (args.input.text != null) task.text = args.input.text;
          if (args.input.done != null) task.done = args.input.done;
          await tasks.save(task);
          pubSub.publish('taskGroup', String(task.listId), {
            change: { action: 'UPDATED', id: String(task.id), task },
            private: task.list.private,
            ownerId: task.list.ownerId,
          });
          return task;
        },
      },
      Subscription: {
        taskGroupChanged: {
          subscribe: (_: unknown, args: { group: { list?: string } }, ctx: Context) =>
            pipe(
              pubSub.subscribe('taskGroup', String(args.group.list)),
              filter((event: TaskChangeEvent) => !event.private || event.ownerId === ctx.user?.id),
            ),
          resolve: (event: TaskChangeEvent) => event.change,
        },
      },
    },
  });

  const yoga = createYoga<object, Context>({
    schema,
    graphiql: false,
    logging: false,
    context: async (initial: YogaInitialContext & { user?: Caller }) => {
      if ('user' in initial) return { user: initial.user ?? null }; // WebSocket: authenticated in onConnect
      const user = await userFromToken(initial.request.headers.get('authorization') ?? undefined);
      if (user === undefined) throw new GraphQLError('Invalid token', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      return { user };
    },
  });

  const httpServer = createServer(yoga);
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  type Args = ExecutionArgs & { rootValue: { execute: Enveloped['execute']; subscribe: Enveloped['subscribe'] } };
  const disposable = useServer<Record<string, unknown> | undefined, { user?: Caller }>(
    {
      onConnect: async (ctx) => {
        const user = await userFromToken(ctx.connectionParams?.authorization);
        if (user === undefined) return false;
        ctx.extra.user = user;
        return true;
      },
      execute: (args) => (args as Args).rootValue.execute(args),
      subscribe: (args) => (args as Args).rootValue.subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          user: ctx.extra.user ?? null,
        });
        const args: Args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    close: async () => {
      for (const socket of wss.clients) socket.terminate();
      await disposable.dispose();
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await dataSource.destroy();
    },
  };
});
