/**
 * The benchmark database: the demo's tables (created by TypeORM from
 * example/entities.ts, so every system sees the same schema) and one data
 * layout serving every workload, written with plain SQL.
 *
 * - user `owner` (password `bench-password`) owns every list;
 * - W1: one public list with 100 tasks;
 * - W2: `maxN / 10` public lists with 100 tasks each;
 * - W3: one public list with 90 tasks and one private list with 10 tasks.
 */
import { hashPassword } from '../../example/passwords';
import jwt from 'jsonwebtoken';
import { demoEntities } from '../../example/entities';
import { testDataSource } from '../../test/support/database';

export interface ListRows {
  listId: number;
  private: boolean;
  taskIds: number[];
}

export interface Layout {
  ownerId: number;
  /** HS256 JWT for `owner`, as the demo's `login` would sign it. */
  ownerToken: string;
  w1: ListRows;
  w2: ListRows[];
  w3: { public: ListRows; private: ListRows };
  postgresVersion: string;
}

export async function seedDatabase(url: string, secret: string, w2Lists: number): Promise<Layout> {
  const dataSource = await testDataSource(url, demoEntities);
  try {
    const q = (sql: string, params: unknown[] = []) => dataSource.query(sql, params) as Promise<any[]>;
    const password = await hashPassword('bench-password');
    const [{ id: ownerId }] = await q(`INSERT INTO "user" (username, email, password) VALUES ('owner', 'owner@example.com', $1) RETURNING id`, [password]);

    const createList = async (name: string, isPrivate: boolean, tasks: number): Promise<ListRows> => {
      const [{ id: listId }] = await q(`INSERT INTO todo_list (name, private, "ownerId") VALUES ($1, $2, $3) RETURNING id`, [name, isPrivate, ownerId]);
      const rows = await q(
        `INSERT INTO task (text, done, "listId") SELECT 'task ' || g, false, $1 FROM generate_series(1, $2) g RETURNING id`,
        [listId, tasks],
      );
      return { listId, private: isPrivate, taskIds: rows.map((r) => r.id).sort((a, b) => a - b) };
    };

    const w1 = await createList('W1', false, 100);
    const w3 = { public: await createList('W3 public', false, 90), private: await createList('W3 private', true, 10) };
    const w2: ListRows[] = [];
    for (let i = 0; i < w2Lists; i++) w2.push(await createList(`W2 #${i + 1}`, false, 100));
    await q('ANALYZE');
    const [{ server_version: postgresVersion }] = await q('SHOW server_version');

    const ownerToken = jwt.sign({ sub: String(ownerId) }, secret, { algorithm: 'HS256', expiresIn: '7d' });
    return { ownerId, ownerToken, w1, w2, w3, postgresVersion };
  } finally {
    await dataSource.destroy();
  }
}
