import type { DataSource } from 'typeorm';
import { Post, Task, TodoList, User } from './entities';
import { hashPassword } from './passwords';

/**
 * A little data to look at: two users (password `password123`), a public and
 * a private list, a few tasks and posts. Does nothing if users exist.
 */
export async function seedDemo(dataSource: DataSource): Promise<void> {
  await dataSource.transaction(async (m) => {
    if ((await m.count(User)) > 0) return;
    const password = await hashPassword('password123');
    const [alice, bob] = await m.save(User, [
      { username: 'alice', email: 'alice@example.com', password },
      { username: 'bob', email: 'bob@example.com', password },
    ]);
    const [groceries, secret] = await m.save(TodoList, [
      { name: 'Groceries', private: false, ownerId: alice.id },
      { name: 'Birthday surprise', private: true, ownerId: alice.id },
    ]);
    await m.save(Task, [
      { text: 'Milk', listId: groceries.id },
      { text: 'Bread', done: true, listId: groceries.id },
      { text: 'Order the cake', listId: secret.id },
    ]);
    await m.save(Post, [
      { body: 'Hello #GraphQL and #typeorm', authorId: alice.id },
      { body: 'Live queries are fun #graphql', authorId: bob.id },
    ]);
  });
}
