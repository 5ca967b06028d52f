/**
 * The demo app on its own fresh PostgreSQL database, executed in-process with
 * graphql's `graphql()` (parse + validate + execute), for the CRUD,
 * permission and bad-input suites.
 */
import { graphql, type ExecutionResult } from 'graphql';
import type { DataSource, Logger } from 'typeorm';
import { buildLiveSchema, type BuildSchemaOptions, type LiveSchema } from '../../src';
import { createDemoApp, type DemoUser } from '../../example/app';
import { demoEntities, Task, TodoList, User } from '../../example/entities';
import { createTestDatabase, testDataSource, type TestDatabase } from './database';

export type Result = ExecutionResult<Record<string, any>>;

/** Records the SQL of every query while `recording` is on (TypeORM calls a logger object for every query). */
export class QueryRecorder implements Logger {
  recording = false;
  readonly queries: string[] = [];
  logQuery(query: string): void {
    if (this.recording) this.queries.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  /** The statements `fn` ran, without transaction control. */
  async during(fn: () => Promise<unknown>): Promise<string[]> {
    this.queries.length = 0;
    this.recording = true;
    try {
      await fn();
    } finally {
      this.recording = false;
    }
    return this.queries.filter((q) => !/^(START TRANSACTION|BEGIN|COMMIT|ROLLBACK)/i.test(q));
  }
}

export interface DemoHarness {
  db: TestDatabase;
  ds: DataSource;
  live: LiveSchema;
  recorder: QueryRecorder;
  /** Runs a document as `user` (null: anonymous). */
  run(source: string, variables?: Record<string, unknown>, user?: DemoUser | null): Promise<Result>;
  /** Runs a document and fails the test on any error. */
  ok(source: string, variables?: Record<string, unknown>, user?: DemoUser | null): Promise<Record<string, any>>;
  /** Signs a user up through `createUser` (password `password-<username>`). */
  signUp(username: string): Promise<DemoUser>;
  /** Rows of the demo tables, for "nothing was written" checks. */
  counts(): Promise<{ users: number; lists: number; tasks: number; posts: number }>;
  close(): Promise<void>;
}

export const SECRET = 'test-secret';

export async function startDemo(prefix: string, extra: Partial<BuildSchemaOptions> = {}): Promise<DemoHarness> {
  const db = await createTestDatabase(prefix);
  const recorder = new QueryRecorder();
  let ds: DataSource | undefined;
  try {
    ds = await testDataSource(db.url, demoEntities, { logger: recorder });
    const app = createDemoApp(ds, SECRET);
    const live = buildLiveSchema({ dataSource: ds, ...app, ...extra });
    const run = (source: string, variables?: Record<string, unknown>, user: DemoUser | null = null) =>
      graphql({ schema: live.schema, source, variableValues: variables, contextValue: live.createContext(user) }) as Promise<Result>;
    const ok = async (source: string, variables?: Record<string, unknown>, user: DemoUser | null = null) => {
      const result = await run(source, variables, user);
      if (result.errors?.length) throw new Error(`unexpected errors: ${JSON.stringify(result.errors.map((e) => [e.message, e.extensions]))}`);
      return result.data!;
    };
    const dataSource = ds;
    return {
      db, ds, live, recorder, run, ok,
      signUp: async (username) => {
        const data = await ok(
          'mutation($input: CreateUserInput!) { createUser(input: $input) { id username } }',
          { input: { username, email: `${username}@example.com`, password: `password-${username}` } },
        );
        return { id: Number(data.createUser.id), username };
      },
      counts: async () => ({
        users: await dataSource.getRepository(User).count(),
        lists: await dataSource.getRepository(TodoList).count(),
        tasks: await dataSource.getRepository(Task).count(),
        posts: await dataSource.getRepository('Post').count(),
      }),
      close: async () => {
        await live.close();
        await dataSource.destroy();
        await db.drop();
      },
    };
  } catch (error) {
    await ds?.destroy().catch(() => undefined);
    await db.drop();
    throw error;
  }
}

/** `extensions.code` of the first error, if any. */
export function codeOf(result: Result): unknown {
  return result.errors?.[0]?.extensions?.code;
}
