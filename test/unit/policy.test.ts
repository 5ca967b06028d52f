import {
  And, Between, Column, Entity, Equal, ILike, In, IsNull, JoinColumn, LessThan, LessThanOrEqual, Like, ManyToOne, MoreThan,
  MoreThanOrEqual, Not, Or, PrimaryGeneratedColumn, type DataSource, type EntityTarget, type FindOptionsWhere,
} from 'typeorm';
import { taskResource, todoListResource, type DemoContext, type DemoUser } from '../../example/app';
import { Task, TodoList, User } from '../../example/entities';
import { both, evaluatePolicy, matches, normalize, relationPaths, toFindWhere, type Condition } from '../../src/internals';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';

/** Test-only: nullable columns of several types, a nullable relation with a mapped key and one without. */
@Entity()
class PolicyNote {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'int', nullable: true })
  score: number | null;

  @Column({ type: 'varchar', length: 50, nullable: true })
  label: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  dueAt: Date | null;

  @Column({ type: 'int', nullable: true })
  listId: number | null;

  @ManyToOne(() => TodoList, { nullable: true, onDelete: 'SET NULL' })
  @JoinColumn({ name: 'listId' })
  list: TodoList | null;

  /** No mapped foreign-key property: the key lives only in the relation. */
  @ManyToOne(() => User, { nullable: true, onDelete: 'SET NULL' })
  author: User | null;
}

let db: TestDatabase;
let ds: DataSource;
const users: Record<'alice' | 'bob' | 'carol', User> = {} as any;
const lists: Record<'alicePublic' | 'alicePrivate' | 'bobPublic' | 'bobPrivate' | 'carolPublic', TodoList> = {} as any;

beforeAll(async () => {
  db = await createTestDatabase('policy');
  ds = await testDataSource(db.url, [User, TodoList, Task, PolicyNote]);
  for (const name of ['alice', 'bob', 'carol'] as const) {
    users[name] = await ds.getRepository(User).save({ username: name, email: `${name}@example.com`, password: 'x' });
  }
  const list = (name: string, owner: User, isPrivate: boolean) => ds.getRepository(TodoList).save({ name, ownerId: owner.id, private: isPrivate });
  lists.alicePublic = await list('Groceries', users.alice, false);
  lists.alicePrivate = await list('Secret_plans', users.alice, true);
  lists.bobPublic = await list('100% fun', users.bob, false);
  lists.bobPrivate = await list("bob's stuff", users.bob, true);
  lists.carolPublic = await list('groceries', users.carol, false);
  const tasks: [keyof typeof lists, string, boolean][] = [
    ['alicePublic', 'milk', false],
    ['alicePublic', 'Milk chocolate', true],
    ['alicePublic', 'eggs', false],
    ['alicePrivate', 'take over the world', false],
    ['alicePrivate', 'a_e', true],
    ['bobPublic', '100% effort', true],
    ['bobPublic', '100 percent', false],
    ['bobPrivate', 'ace', false],
    ['bobPrivate', '😀', true],
    ['carolPublic', 'MILK', false],
    ['carolPublic', 'bread', true],
  ];
  for (const [l, text, done] of tasks) await ds.getRepository(Task).save({ listId: lists[l].id, text, done });
  const note = (score: number | null, label: string | null, dueAt: string | null, l: keyof typeof lists | null, author: User | null) =>
    ds.getRepository(PolicyNote).save({ score, label, dueAt: dueAt ? new Date(dueAt) : null, listId: l ? lists[l].id : null, author });
  await note(1, 'alpha', '2024-01-01T00:00:00Z', 'alicePublic', users.alice);
  await note(5, 'Beta', '2024-06-01T00:00:00Z', 'bobPublic', users.bob);
  await note(null, null, null, null, null);
  await note(10, 'a_b', '2025-01-01T00:00:00Z', 'alicePrivate', users.alice);
  await note(5, '😀', '2024-03-15T12:00:00Z', 'carolPublic', users.carol);
  await note(-3, 'a%b', null, 'bobPrivate', null);
});

afterAll(async () => {
  await ds?.destroy();
  await db?.drop();
});

const ctx = (user: User | null): DemoContext => ({
  user: user ? ({ id: user.id, username: user.username } as DemoUser) : null,
  dataSource: ds,
  loaders: new Map(),
});

/** Ids the database returns for a condition. */
async function sqlIds(entity: EntityTarget<any>, condition: Condition): Promise<number[]> {
  if (condition === false) return [];
  const rows = await ds.getRepository(entity).find({ where: toFindWhere(condition), order: { id: 'ASC' } });
  return rows.map((r) => r.id);
}

/** `['list', 'list.owner']` → `{ list: { owner: true } }` (TypeORM 1.x removed the string-array syntax). */
function relationsOption(paths: string[]): Record<string, any> {
  const out: Record<string, any> = {};
  for (const path of paths) {
    let node = out;
    const parts = path.split('.');
    parts.forEach((part, i) => {
      if (i === parts.length - 1) node[part] ??= true;
      else node = node[part] = typeof node[part] === 'object' ? node[part] : {};
    });
  }
  return out;
}

/** Ids for which the in-memory half says yes, on rows loaded with exactly the relations `relationPaths` names. */
async function memoryIds(entity: EntityTarget<any>, condition: Condition): Promise<number[]> {
  const metadata = ds.getMetadata(entity);
  const relations = relationsOption(relationPaths(metadata, condition));
  const rows = await ds.getRepository(entity).find({ relations, order: { id: 'ASC' } });
  return rows.filter((row) => matches(metadata, condition, row)).map((r) => r.id);
}

/** Both halves agree; returns the ids so a case can also pin them. */
async function agree(entity: EntityTarget<any>, condition: Condition): Promise<number[]> {
  const [sql, memory] = [await sqlIds(entity, condition), await memoryIds(entity, condition)];
  expect(memory).toEqual(sql);
  return sql;
}

const taskIds = async (texts: string[]) =>
  (await ds.getRepository(Task).find({ where: { text: In(texts) }, order: { id: 'ASC' } })).map((t) => t.id);
const noteIds = async (labels: (string | null)[]) => {
  const all = await ds.getRepository(PolicyNote).find({ order: { id: 'ASC' } });
  return all.filter((n) => labels.includes(n.label)).map((n) => n.id);
};

describe('the demo policies', () => {
  it.each(['anonymous', 'alice', 'bob', 'carol'] as const)('Task read policy for %s: SQL and memory agree', async (who) => {
    const user = who === 'anonymous' ? null : users[who];
    const ids = await agree(Task, evaluatePolicy(taskResource.options.policy!.read as any, ctx(user)));
    const visible = ['milk', 'Milk chocolate', 'eggs', '100% effort', '100 percent', 'MILK', 'bread'];
    if (who === 'alice') visible.push('take over the world', 'a_e');
    if (who === 'bob') visible.push('ace', '😀');
    expect(ids).toEqual(await taskIds(visible));
  });

  it.each(['anonymous', 'alice', 'bob'] as const)('Task write policy for %s: SQL and memory agree', async (who) => {
    const user = who === 'anonymous' ? null : users[who];
    const ids = await agree(Task, evaluatePolicy(taskResource.options.policy!.write as any, ctx(user)));
    expect(ids).toEqual(who === 'anonymous' ? [] : await taskIds(who === 'alice'
      ? ['milk', 'Milk chocolate', 'eggs', 'take over the world', 'a_e']
      : ['100% effort', '100 percent', 'ace', '😀']));
  });

  it.each(['anonymous', 'alice', 'bob'] as const)('TodoList read policy for %s: SQL and memory agree', async (who) => {
    const user = who === 'anonymous' ? null : users[who];
    const ids = await agree(TodoList, evaluatePolicy(todoListResource.options.policy!.read as any, ctx(user)));
    expect(ids.length).toBe(who === 'anonymous' ? 3 : 4);
  });
});

type Case = [string, () => FindOptionsWhere<any> | FindOptionsWhere<any>[], (() => Promise<number[]>)?];
/** Rows of one length: jest passes a `done` callback when a row is shorter than the test function's parameters. */
const rows = (cases: Case[]) => cases.map(([name, where, expected]) => ({ name, where, expected }));

describe('operators on Task', () => {
  const cases: Case[] = [
    ['equality', () => ({ text: 'milk' }), () => taskIds(['milk'])],
    ['Not', () => ({ text: Not('milk') })],
    ['In', () => ({ text: In(['eggs', 'bread', 'nothing']) }), () => taskIds(['eggs', 'bread'])],
    ['In with an empty list', () => ({ text: In([]) }), async () => []],
    ['Not(In)', () => ({ text: Not(In(['eggs', 'bread'])) })],
    ['LessThan on text (C collation: upper case sorts first)', () => ({ text: LessThan('b') })],
    ['LessThanOrEqual on a boolean', () => ({ done: LessThanOrEqual(false) })],
    ['MoreThanOrEqual on the id', () => ({ id: MoreThanOrEqual(6) })],
    ['MoreThan on the foreign key', () => ({ listId: MoreThan(lists.bobPublic.id) })],
    ['Between on the id', () => ({ id: Between(3, 7) })],
    ['Like with % (case-sensitive)', () => ({ text: Like('%ilk%') }), () => taskIds(['milk', 'Milk chocolate'])],
    ['Like with _ as one character', () => ({ text: Like('a_e') }), () => taskIds(['ace', 'a_e'])],
    ['Like with _ on a character outside the BMP', () => ({ text: Like('_') }), () => taskIds(['😀'])],
    ['Like with an escaped _', () => ({ text: Like('a\\_e') }), () => taskIds(['a_e'])],
    ['ILike with % (case-insensitive)', () => ({ text: ILike('milk%') }), () => taskIds(['milk', 'Milk chocolate', 'MILK'])],
    ['ILike with an escaped %', () => ({ text: ILike('100\\%%') }), () => taskIds(['100% effort'])],
    ['ILike with _', () => ({ text: ILike('m_lk') }), () => taskIds(['milk', 'MILK'])],
    ['And of two operators', () => ({ id: And(MoreThan(2), LessThan(6), Not(4)) })],
    ['Or of operators', () => ({ text: Or(Equal('eggs'), ILike('%bread%'), Like('1%')) })],
    ['several keys are AND', () => ({ done: true, text: Like('%e%') })],
    ['an array is OR', () => [{ done: true }, { text: 'eggs' }, { listId: lists.carolPublic.id }]],
    ['a nested relation object', () => ({ list: { private: true } })],
    ['a relation two levels deep', () => ({ list: { owner: { username: 'bob' } } }), () => taskIds(['100% effort', '100 percent', 'ace', '😀'])],
    ['a relation by id', () => ({ list: { id: lists.bobPublic.id } }), () => taskIds(['100% effort', '100 percent'])],
    ['a relation by id and another column', () => ({ list: { id: In([lists.alicePublic.id, lists.alicePrivate.id]), private: false } })],
    ['an operator inside a relation', () => ({ list: { name: ILike('groc%') }, done: false }), () => taskIds(['milk', 'eggs', 'MILK'])],
    ['OR across relation and column', () => [{ list: { ownerId: users.carol.id } }, { list: { private: true }, done: true }]],
  ];

  it.each(rows(cases))('$name: SQL and memory agree', async ({ where, expected }) => {
    const ids = await agree(Task, normalize(where()));
    if (expected) expect(ids).toEqual(await expected());
    else expect(ids.length).toBeGreaterThan(0);
  });
});

describe('operators on nullable columns and relations', () => {
  const d = (iso: string) => new Date(iso);
  const cases: Case[] = [
    ['IsNull', () => ({ score: IsNull() }), () => noteIds([null])],
    ['Not(IsNull())', () => ({ label: Not(IsNull()) }), () => noteIds(['alpha', 'Beta', 'a_b', '😀', 'a%b'])],
    ['Not(value) leaves NULL out, as SQL does', () => ({ score: Not(5) }), () => noteIds(['alpha', 'a_b', 'a%b'])],
    ['LessThan leaves NULL out', () => ({ score: LessThan(5) }), () => noteIds(['alpha', 'a%b'])],
    ['MoreThanOrEqual with a negative bound', () => ({ score: MoreThanOrEqual(-3) })],
    ['Between on integers, bounds included', () => ({ score: Between(1, 5) }), () => noteIds(['alpha', 'Beta', '😀'])],
    ['In leaves NULL out', () => ({ score: In([5, 10]) })],
    ['LessThan on a timestamp', () => ({ dueAt: LessThan(d('2024-03-15T12:00:00Z')) }), () => noteIds(['alpha'])],
    ['Between on timestamps', () => ({ dueAt: Between(d('2024-03-15T12:00:00Z'), d('2024-06-01T00:00:00Z')) }), () => noteIds(['Beta', '😀'])],
    ['Like with an escaped %', () => ({ label: Like('a\\%b') }), () => noteIds(['a%b'])],
    ['Like where _ matches one character', () => ({ label: Like('a_b') }), () => noteIds(['a_b', 'a%b'])],
    ['ILike', () => ({ label: ILike('b%') }), () => noteIds(['Beta'])],
    ['IsNull on the foreign key', () => ({ listId: IsNull() }), () => noteIds([null])],
    ['a nested condition skips rows without the relation', () => ({ list: { private: false } }), () => noteIds(['alpha', 'Beta', '😀'])],
    ['Not inside a nested condition', () => ({ list: { name: Not('Groceries') } }), () => noteIds(['Beta', 'a_b', '😀', 'a%b'])],
    ['a relation without a mapped key, by id', () => ({ author: { id: users.alice.id } }), () => noteIds(['alpha', 'a_b'])],
    ['a relation without a mapped key, by a column', () => ({ author: { username: In(['bob', 'carol']) } }), () => noteIds(['Beta', '😀'])],
    ['a relation without a mapped key, two levels', () => ({ list: { owner: { id: users.bob.id } }, author: { id: Not(users.carol.id) } }), () => noteIds(['Beta'])],
    ['And on a nullable column', () => ({ score: And(Not(IsNull()), Not(1)) }), () => noteIds(['Beta', 'a_b', '😀', 'a%b'])],
    ['OR with a NULL branch', () => [{ score: IsNull() }, { label: 'alpha' }], () => noteIds([null, 'alpha'])],
    ['Or(IsNull(), value) in one key', () => ({ score: Or(IsNull(), Equal(10)) }), () => noteIds([null, 'a_b'])],
    ['Not(In([]))', () => ({ score: Not(In([])) })],
    ['Not(Between())', () => ({ score: Not(Between(0, 5)) }), () => noteIds(['a_b', 'a%b'])],
    ['Not(Like()) leaves NULL out', () => ({ label: Not(Like('a%')) }), () => noteIds(['Beta', '😀'])],
    ['Not(And())', () => ({ score: Not(And(MoreThan(0), LessThan(6))) }), () => noteIds(['a_b', 'a%b'])],
    ['Not(Not(IsNull())) is IsNull', () => ({ score: Not(Not(IsNull())) }), () => noteIds([null])],
    ['Not(Or(IsNull(), value))', () => ({ score: Not(Or(IsNull(), Equal(5))) }), () => noteIds(['alpha', 'a_b', 'a%b'])],
    ['Not(And(Not(IsNull()), value))', () => ({ score: Not(And(Not(IsNull()), Equal(5))) }), () => noteIds(['alpha', null, 'a_b', 'a%b'])],
    ['Not(Equal())', () => ({ label: Not(Equal('alpha')) })],
  ];

  it.each(rows(cases))('$name: SQL and memory agree', async ({ where, expected }) => {
    const ids = await agree(PolicyNote, normalize(where()));
    if (expected) expect(ids).toEqual(await expected());
    else expect(ids.length).toBeGreaterThan(0);
  });
});

describe('relationPaths and matches', () => {
  it('names the relations a condition reads, leaving out those only compared by a mapped key', () => {
    const task = ds.getMetadata(Task);
    expect(relationPaths(task, [{ list: { id: 1 } }])).toEqual([]);
    expect(relationPaths(task, [{ list: { private: false } }, { list: { owner: { username: 'x' } } }]).sort()).toEqual(['list', 'list.owner']);
    expect(relationPaths(task, [{ list: { owner: { id: 1 } } }])).toEqual(['list']);
    expect(relationPaths(task, true)).toEqual([]);
  });

  it('asks to load a relation without a mapped key even for its id', () => {
    expect(relationPaths(ds.getMetadata(PolicyNote), [{ author: { id: 1 } }])).toEqual(['author']);
  });

  it('evaluates a relation by id from the foreign key of an unloaded row', async () => {
    const task = await ds.getRepository(Task).findOneByOrFail({ text: 'eggs' });
    expect(matches(ds.getMetadata(Task), [{ list: { id: lists.alicePublic.id } }], task)).toBe(true);
    expect(matches(ds.getMetadata(Task), [{ list: { id: lists.bobPublic.id } }], task)).toBe(false);
  });

  it('throws when a condition needs a relation that was not loaded', async () => {
    const task = await ds.getRepository(Task).findOneByOrFail({ text: 'eggs' });
    expect(() => matches(ds.getMetadata(Task), [{ list: { private: false } }], task)).toThrow(/must be loaded/);
  });

  it('answers true and false conditions without looking at the row', () => {
    expect(matches(ds.getMetadata(Task), true, { id: 1 })).toBe(true);
    expect(matches(ds.getMetadata(Task), false, { id: 1 })).toBe(false);
    expect(matches(ds.getMetadata(Task), true, null)).toBe(false);
  });
});

describe('both()', () => {
  const T = Task;

  it('keeps true and false as identity and zero', () => {
    const c: Condition = [{ done: true }];
    expect(both(true, c)).toBe(c);
    expect(both(c, true)).toBe(c);
    expect(both(false, c)).toBe(false);
    expect(both(c, false)).toBe(false);
    expect(both(true, true)).toBe(true);
  });

  const pairs: [string, () => Condition, () => Condition][] = [
    ['different keys', () => [{ done: true }], () => [{ text: Like('%e%') }]],
    ['the same key with two values becomes And (no row)', () => [{ listId: lists.alicePublic.id }], () => [{ listId: lists.bobPublic.id }]],
    ['the same key with two operators becomes And', () => [{ id: MoreThan(2) }], () => [{ id: LessThan(8) }]],
    ['a value and an operator on the same key', () => [{ done: true }], () => [{ done: Not(false) }]],
    ['an operator and In on the same key', () => [{ text: ILike('%m%') }], () => [{ text: Not(In(['milk'])) }]],
    ['nested relation objects merge', () => [{ list: { private: false } }], () => [{ list: { ownerId: users.alice.id } }]],
    ['nested objects with a clash inside', () => [{ list: { ownerId: users.alice.id } }], () => [{ list: { ownerId: Not(users.bob.id), private: true } }]],
    ['OR times OR gives every pair', () => [{ done: true }, { listId: lists.carolPublic.id }], () => [{ text: Like('%e%') }, { list: { private: true } }]],
    ['the demo read policy with a where on the list', () => evaluatePolicy(taskResource.options.policy!.read as any, ctx(users.bob)), () => [{ list: { id: In([lists.alicePrivate.id, lists.bobPrivate.id]) } }]],
    ['the demo read policy with a where on the key', () => evaluatePolicy(taskResource.options.policy!.read as any, ctx(null)), () => [{ listId: lists.bobPublic.id }]],
  ];

  it.each(pairs)('%s: is the intersection, in SQL and in memory', async (_, a, b) => {
    const merged = both(a(), b());
    const left = new Set(await sqlIds(T, a()));
    const right = await sqlIds(T, b());
    const ids = await agree(T, merged);
    expect(ids).toEqual(right.filter((id) => left.has(id)));
  });

  it('merges a clashing key into And and nested objects into one object', () => {
    const merged = both([{ listId: 1, list: { private: false } }], [{ listId: Not(2), list: { ownerId: 7 } }]) as Record<string, any>[];
    expect(merged).toHaveLength(1);
    expect(merged[0].listId.type).toBe('and');
    expect(merged[0].list).toEqual({ private: false, ownerId: 7 });
    expect(both([{ a: 1 }, { b: 2 }], [{ c: 3 }, { d: 4 }])).toEqual([{ a: 1, c: 3 }, { a: 1, d: 4 }, { b: 2, c: 3 }, { b: 2, d: 4 }]);
  });
});
