import { graphql, printType, type GraphQLSchema } from 'graphql';
import {
  Column, CreateDateColumn, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn, UpdateDateColumn, type DataSource,
} from 'typeorm';
import { allowAny, buildLiveSchema, isAuthenticated, resource, SchemaDefinitionError, type LiveSchema, type Resource } from '../../src';
import { createTestDatabase, testDataSource, type TestDatabase } from '../support/database';
import { QueryRecorder } from '../support/demo';

enum Status { Draft = 'draft', InReview = 'in-review', Published = 'PUBLISHED' }

@Entity()
class GenAuthor {
  @PrimaryGeneratedColumn()
  id: number;

  @Column('varchar', { length: 40 })
  name: string;
}

/** One column of every supported kind; the comments say what the generator should make of it. */
@Entity()
class GenItem {
  @PrimaryGeneratedColumn()
  id: number;

  @Column('int') // Int, required; hidden from anonymous callers (fieldAccess) so nullable on output
  count: number;

  @Column('smallint', { default: 0 }) // Int, optional on create (default)
  small: number;

  @Column('bigint', { nullable: true }) // String: pg returns int8 as text to keep its precision
  big: string | null;

  @Column('double precision')
  ratio: number;

  @Column('real', { nullable: true })
  approx: number | null;

  @Column('numeric', { precision: 10, scale: 2 }) // String, exact
  price: string;

  @Column('varchar', { length: 20 })
  code: string;

  @Column('text', { nullable: true })
  notes: string | null;

  @Column('boolean', { default: true })
  active: boolean;

  @Column('timestamptz')
  happensAt: Date;

  @Column('date', { nullable: true }) // String "YYYY-MM-DD"
  day: string | null;

  @Column('json', { nullable: true })
  meta: unknown;

  @Column('jsonb', { default: {} })
  settings: unknown;

  @Column({ type: 'enum', enum: Status, default: Status.Draft }) // "in-review" needs a sanitised GraphQL name
  status: Status;

  @Column('simple-array', { nullable: true })
  tags: string[] | null;

  @Column('int', { array: true, default: '{}' })
  scores: number[];

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  @Column('varchar', { length: 100 }) // writeOnly
  secret: string;

  @Column('varchar', { length: 20, default: 'v1' }) // readOnly
  version: string;

  @Column('int', { nullable: true })
  authorId: number | null;

  /** Many-to-one with a mapped foreign-key property. */
  @ManyToOne(() => GenAuthor, { nullable: true })
  @JoinColumn({ name: 'authorId' })
  author: GenAuthor | null;

  /** Many-to-one without a mapped foreign-key property. */
  @ManyToOne(() => GenAuthor, { nullable: false })
  reviewer: GenAuthor;
}

@Entity()
class GenToken {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column('varchar', { length: 30 })
  label: string;
}

/** Two enum values that sanitise to the same GraphQL name. */
@Entity()
class GenClash {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'enum', enum: ['a-b', 'A_B'] })
  kind: string;
}

let db: TestDatabase;
let ds: DataSource;
let live: LiveSchema;
const open = { create: allowAny, patch: allowAny, delete: allowAny };
const itemResource = resource(GenItem, {
  writeOnly: ['secret'],
  readOnly: ['version'],
  fieldAccess: { count: isAuthenticated },
  permissions: open,
  groups: { author: (row) => row.authorId },
});
const resources: Resource[] = [resource(GenAuthor, { permissions: open }), itemResource, resource(GenToken, { permissions: open })];
const someone = { id: 1 };
const recorder = new QueryRecorder();

beforeAll(async () => {
  db = await createTestDatabase('generator');
  ds = await testDataSource(db.url, [GenAuthor, GenItem, GenToken, GenClash], { logger: recorder });
  live = buildLiveSchema({ dataSource: ds, resources });
});

afterAll(async () => {
  await live?.close();
  await ds?.destroy();
  await db?.drop();
});

const print = (schema: GraphQLSchema, name: string) => {
  const type = schema.getType(name);
  if (!type) throw new Error(`no type ${name}`);
  return printType(type);
};
const sdl = (text: string) => text.trim().replace(/^ {4}/gm, '');

async function run(source: string, variables: Record<string, unknown> = {}, user: { id: number } | null = someone) {
  return graphql({ schema: live.schema, source, variableValues: variables, contextValue: live.createContext(user) });
}
async function ok(source: string, variables: Record<string, unknown> = {}, user: { id: number } | null = someone): Promise<any> {
  const result = await run(source, variables, user);
  if (result.errors?.length) throw new Error(`unexpected errors: ${JSON.stringify(result.errors.map((e) => [e.message, e.extensions]))}`);
  return result.data;
}

describe('generated SDL', () => {
  it('maps every column type to an output field; nullable columns, hidden fields and relations are nullable', () => {
    expect(print(live.schema, 'GenItem')).toBe(sdl(`
    type GenItem {
      id: ID!
      count: Int
      small: Int!
      big: String
      ratio: Float!
      approx: Float
      price: String!
      code: String!
      notes: String
      active: Boolean!
      happensAt: DateTime!
      day: String
      meta: JSON
      settings: JSON!
      status: GenItemStatus!
      tags: [String!]
      scores: [Int!]!
      createdAt: DateTime!
      updatedAt: DateTime!
      version: String!
      author: GenAuthor
      reviewer: GenAuthor
    }`));
  });

  it('makes create inputs require columns without null or default, and leaves out generated, read-only and date columns', () => {
    expect(print(live.schema, 'CreateGenItemInput')).toBe(sdl(`
    input CreateGenItemInput {
      count: Int!
      small: Int
      big: String
      ratio: Float!
      approx: Float
      price: String!
      code: String!
      notes: String
      active: Boolean
      happensAt: DateTime!
      day: String
      meta: JSON
      settings: JSON
      status: GenItemStatus
      tags: [String!]
      scores: [Int!]
      secret: String!
      author: ID
      reviewer: ID!
    }`));
  });

  it('makes every patch input field optional', () => {
    expect(print(live.schema, 'PatchGenItemInput')).toBe(sdl(`
    input PatchGenItemInput {
      count: Int
      small: Int
      big: String
      ratio: Float
      approx: Float
      price: String
      code: String
      notes: String
      active: Boolean
      happensAt: DateTime
      day: String
      meta: JSON
      settings: JSON
      status: GenItemStatus
      tags: [String!]
      scores: [Int!]
      secret: String
      author: ID
      reviewer: ID
    }`));
  });

  it('filters by readable scalar columns and relations by ID, never by JSON, arrays or write-only fields', () => {
    expect(print(live.schema, 'GenItemWhere')).toBe(sdl(`
    input GenItemWhere {
      id: ID
      count: Int
      small: Int
      big: String
      ratio: Float
      approx: Float
      price: String
      code: String
      notes: String
      active: Boolean
      happensAt: DateTime
      day: String
      status: GenItemStatus
      createdAt: DateTime
      updatedAt: DateTime
      version: String
      author: ID
      reviewer: ID

      """Any of these conditions (combined with the other fields by AND)."""
      OR: [GenItemWhere!]
    }`));
  });

  it('orders by the same fields, and by a relation only through a mapped foreign key', () => {
    expect(print(live.schema, 'GenItemOrder')).toBe(sdl(`
    """One field per entry; entries apply in order."""
    input GenItemOrder @oneOf {
      id: SortDirection
      count: SortDirection
      small: SortDirection
      big: SortDirection
      ratio: SortDirection
      approx: SortDirection
      price: SortDirection
      code: SortDirection
      notes: SortDirection
      active: SortDirection
      happensAt: SortDirection
      day: SortDirection
      status: SortDirection
      createdAt: SortDirection
      updatedAt: SortDirection
      version: SortDirection
      author: SortDirection
    }`));
  });

  it('names enum values after the stored values, sanitising those that are not GraphQL names', () => {
    expect(print(live.schema, 'GenItemStatus')).toBe(sdl(`
    enum GenItemStatus {
      draft
      IN_REVIEW
      PUBLISHED
    }`));
  });

  it('generates the change payload, the group input and the root fields with the pinned names', () => {
    expect(print(live.schema, 'GenItemChange')).toBe(sdl(`
    type GenItemChange {
      action: ChangeAction!
      id: ID!
      genItem: GenItem

      """
      Where this change sits in the change log (database capture; null with ORM
      capture). Pass the last one received as \`after\` to resume.
      """
      cursor: String
    }`));
    expect(print(live.schema, 'GenItemGroup')).toBe(sdl(`
    input GenItemGroup @oneOf {
      author: ID
    }`));
    const fields = (type: string) => {
      const t = live.schema.getType(type) as any;
      return Object.values(t.getFields()).map((f: any) => `${f.name}(${f.args.map((a: any) => `${a.name}: ${a.type}`).join(', ')}): ${f.type}`)
        .filter((line) => /genItem|GenItem/.test(line));
    };
    expect(fields('Query')).toEqual([
      'genItem(id: ID!): GenItem',
      'genItems(where: GenItemWhere, orderBy: [GenItemOrder!], limit: Int, offset: Int): [GenItem!]!',
    ]);
    expect(fields('Mutation')).toEqual([
      'createGenItem(input: CreateGenItemInput!): GenItem!',
      'patchGenItem(id: ID!, input: PatchGenItemInput!): GenItem!',
      'deleteGenItem(id: ID!): ID!',
    ]);
    expect(fields('Subscription')).toEqual([
      'genItemInstanceChanged(id: ID!, after: String): GenItemChange!',
      'genItemGroupChanged(group: GenItemGroup!, after: String): GenItemChange!',
    ]);
  });

  it('exposes a uuid primary key as ID and keeps it out of the inputs', () => {
    expect(print(live.schema, 'GenToken')).toBe(sdl(`
    type GenToken {
      id: ID!
      label: String!
    }`));
    expect(print(live.schema, 'CreateGenTokenInput')).toBe(sdl(`
    input CreateGenTokenInput {
      label: String!
    }`));
  });

  it('uses the name and plural options for every generated name', () => {
    const schema = buildLiveSchema({ dataSource: ds, capture: 'none', resources: [resource(GenAuthor, { name: 'Person', plural: 'people', permissions: open })] }).schema;
    const query = Object.keys((schema.getQueryType()!).getFields());
    expect(query).toEqual(['person', 'people']);
    expect(Object.keys(schema.getMutationType()!.getFields())).toEqual(['createPerson', 'patchPerson', 'deletePerson']);
    expect(schema.getType('PersonWhere')).toBeDefined();
    expect(schema.getType('GenAuthor')).toBeUndefined();
  });

  it('drops relations to entities that are not exposed', () => {
    const schema = buildLiveSchema({ dataSource: ds, capture: 'none', resources: [resource(GenItem)] }).schema;
    const fields = Object.keys((schema.getType('GenItem') as any).getFields());
    expect(fields).not.toContain('author');
    expect(fields).not.toContain('reviewer');
    expect(fields).not.toContain('authorId');
  });

  it('limits the output type to the fields option', () => {
    const schema = buildLiveSchema({ dataSource: ds, capture: 'none', resources: [resource(GenAuthor), resource(GenItem, { fields: ['id', 'code', 'authorId', 'reviewer'] })] }).schema;
    expect(print(schema, 'GenItem')).toBe(sdl(`
    type GenItem {
      id: ID!
      code: String!
      authorId: Int
      reviewer: GenAuthor
    }`));
  });
});

describe('schema definition errors', () => {
  const build = (res: Resource[]) => () => buildLiveSchema({ dataSource: ds, resources: res, capture: 'none' });

  it('throws SchemaDefinitionError for an unknown field name in any option', () => {
    expect(build([resource(GenItem, { fields: ['id', 'nope' as any] })])).toThrow(SchemaDefinitionError);
    expect(build([resource(GenItem, { fields: ['id', 'nope' as any] })])).toThrow('GenItem: unknown field "nope"');
    expect(build([resource(GenItem, { readOnly: ['nope' as any] })])).toThrow(SchemaDefinitionError);
    expect(build([resource(GenItem, { writeOnly: ['nope' as any] })])).toThrow(SchemaDefinitionError);
    expect(build([resource(GenItem, { fieldAccess: { nope: allowAny } as any })])).toThrow(SchemaDefinitionError);
  });

  it('throws SchemaDefinitionError for a relation to an unexposed entity named in fields', () => {
    expect(build([resource(GenItem, { fields: ['id', 'author'] })])).toThrow(SchemaDefinitionError);
  });

  it('throws SchemaDefinitionError when an entity is exposed twice under one name', () => {
    expect(build([resource(GenToken), resource(GenToken)])).toThrow(/exposed twice/);
  });

  it('throws SchemaDefinitionError for enum values that sanitise to the same name', () => {
    expect(build([resource(GenClash)])).toThrow(SchemaDefinitionError);
  });
});

describe('round trip through the generated schema', () => {
  let authorA = '';
  let authorB = '';
  const fields = 'id count small big ratio approx price code notes active happensAt day meta settings status tags scores createdAt updatedAt version author { id name } reviewer { id name }';

  beforeAll(async () => {
    authorA = (await ok('mutation { createGenAuthor(input: { name: "Ann" }) { id } }')).createGenAuthor.id;
    authorB = (await ok('mutation { createGenAuthor(input: { name: "Ben" }) { id } }')).createGenAuthor.id;
  });

  const base = () => ({
    count: 1, ratio: 0.5, price: '1.00', code: 'c', happensAt: '2024-01-01T00:00:00.000Z', secret: 's', reviewer: authorB,
  });

  /** Creates a row with `input` merged over the required fields, then reads it back with the list query. */
  async function roundTrip(input: Record<string, unknown>, where: Record<string, unknown> = {}) {
    const created = (await ok(`mutation($input: CreateGenItemInput!) { createGenItem(input: $input) { ${fields} } }`, { input: { ...base(), ...input } })).createGenItem;
    const listed = (await ok(`query($where: GenItemWhere) { genItems(where: $where) { ${fields} } }`, { where: { id: created.id, ...where } })).genItems;
    expect(listed).toEqual([created]);
    return created;
  }

  it('fills defaults, generated keys and create/update dates', async () => {
    const before = Date.now();
    const row = await roundTrip({});
    expect(row).toMatchObject({
      id: expect.stringMatching(/^\d+$/), small: 0, big: null, approx: null, notes: null, active: true, day: null, meta: null,
      settings: {}, status: 'draft', tags: null, scores: [], version: 'v1', author: null, reviewer: { id: authorB, name: 'Ben' },
    });
    expect(row.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(row.createdAt) - before)).toBeLessThan(60_000);
    expect(row.updatedAt).toBe(row.createdAt);
  });

  const cases: { name: string; input: Record<string, unknown>; out: Record<string, unknown>; where?: Record<string, unknown> }[] = [
    { name: 'int', input: { count: 2147483647 }, out: { count: 2147483647 }, where: { count: 2147483647 } },
    { name: 'smallint', input: { small: -32768 }, out: { small: -32768 }, where: { small: -32768 } },
    { name: 'bigint beyond 2^53, as a string', input: { big: '9007199254740993' }, out: { big: '9007199254740993' }, where: { big: '9007199254740993' } },
    { name: 'double precision', input: { ratio: 0.1 }, out: { ratio: 0.1 }, where: { ratio: 0.1 } },
    { name: 'real', input: { approx: 1.5 }, out: { approx: 1.5 } },
    { name: 'numeric, exact', input: { price: '12345678.9' }, out: { price: '12345678.90' }, where: { price: '12345678.90' } },
    { name: 'varchar at its length', input: { code: 'x'.repeat(20) }, out: { code: 'x'.repeat(20) }, where: { code: 'x'.repeat(20) } },
    { name: 'text', input: { notes: 'two\nlines ☃' }, out: { notes: 'two\nlines ☃' }, where: { notes: 'two\nlines ☃' } },
    { name: 'boolean', input: { active: false }, out: { active: false }, where: { active: false } },
    {
      name: 'timestamptz: ISO in with an offset, ISO UTC out',
      input: { happensAt: '2024-02-29T23:59:59.123+02:00' }, out: { happensAt: '2024-02-29T21:59:59.123Z' }, where: { happensAt: '2024-02-29T21:59:59.123Z' },
    },
    { name: 'date', input: { day: '2024-02-29' }, out: { day: '2024-02-29' }, where: { day: '2024-02-29' } },
    { name: 'json object', input: { meta: { a: [1, 'two', null, { b: true }], c: 1.5 } }, out: { meta: { a: [1, 'two', null, { b: true }], c: 1.5 } } },
    { name: 'json scalar', input: { meta: 'just a string' }, out: { meta: 'just a string' } },
    { name: 'jsonb array', input: { settings: ['x', 1, { deep: { er: [] } }] }, out: { settings: ['x', 1, { deep: { er: [] } }] } },
    { name: 'enum with a sanitised name', input: { status: 'IN_REVIEW' }, out: { status: 'IN_REVIEW' }, where: { status: 'IN_REVIEW' } },
    { name: 'enum with its own name', input: { status: 'PUBLISHED' }, out: { status: 'PUBLISHED' }, where: { status: 'PUBLISHED' } },
    { name: 'simple-array', input: { tags: ['a', 'b c'] }, out: { tags: ['a', 'b c'] } },
    { name: 'int array', input: { scores: [3, 1, 2] }, out: { scores: [3, 1, 2] } },
    { name: 'many-to-one with a mapped key', input: { author: '<A>' }, out: { author: { id: '<A>', name: 'Ann' } }, where: { author: '<A>' } },
    { name: 'many-to-one without a mapped key', input: { reviewer: '<A>' }, out: { reviewer: { id: '<A>', name: 'Ann' } }, where: { reviewer: '<A>' } },
    { name: 'a null relation', input: { author: null }, out: { author: null }, where: { author: null } },
  ];

  it.each(cases)('$name', async ({ input, out, where }) => {
    const fill = (value: Record<string, unknown>) => JSON.parse(JSON.stringify(value).replaceAll('"<A>"', JSON.stringify(authorA)));
    const row = await roundTrip(fill(input), fill(where ?? {}));
    expect(row).toMatchObject(fill(out));
  });

  it('stores enums by value, write-only fields as given and array columns natively', async () => {
    const row = await roundTrip({ status: 'IN_REVIEW', secret: 'hush', tags: ['p', 'q'], scores: [7] });
    const [raw] = await ds.query('SELECT status, secret, tags, scores FROM gen_item WHERE id = $1', [Number(row.id)]);
    expect(raw).toEqual({ status: 'in-review', secret: 'hush', tags: 'p,q', scores: [7] });
  });

  it('takes JSON and enum values as literals too', async () => {
    const { createGenItem } = await ok(`mutation($r: ID!) {
      createGenItem(input: { count: 1, ratio: 1, price: "1", code: "lit", happensAt: "2024-01-01T00:00:00Z", secret: "s", reviewer: $r,
        status: IN_REVIEW, meta: { list: [1, 2.5, "x", true, null], nested: { key: "v" } } }) { status meta }
    }`, { r: authorA });
    expect(createGenItem).toEqual({ status: 'IN_REVIEW', meta: { list: [1, 2.5, 'x', true, null], nested: { key: 'v' } } });
  });

  it('patches each kind of field, including back to null, and bumps updatedAt', async () => {
    const row = await roundTrip({ author: authorA, meta: { a: 1 }, day: '2024-01-01' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const { patchGenItem } = await ok(`mutation($id: ID!, $input: PatchGenItemInput!) { patchGenItem(id: $id, input: $input) { ${fields} } }`, {
      id: row.id,
      input: { author: null, meta: null, day: null, status: 'PUBLISHED', happensAt: '2030-06-01T12:00:00Z', tags: [], scores: [9, 9] },
    });
    expect(patchGenItem).toMatchObject({
      author: null, meta: null, day: null, status: 'PUBLISHED', happensAt: '2030-06-01T12:00:00.000Z', scores: [9, 9],
      count: row.count, code: row.code, createdAt: row.createdAt,
    });
    expect(Date.parse(patchGenItem.updatedAt)).toBeGreaterThan(Date.parse(row.updatedAt));
  });

  it('orders by a timestamptz and by an enum', async () => {
    const { genItems } = await ok('{ genItems(where: { code: "order" }, orderBy: [{ happensAt: DESC }]) { happensAt } }');
    expect(genItems).toEqual([]);
    for (const [happensAt, status] of [['2020-01-01T00:00:00Z', 'PUBLISHED'], ['2022-01-01T00:00:00Z', 'draft'], ['2021-01-01T00:00:00Z', 'IN_REVIEW']]) {
      await roundTrip({ code: 'order', happensAt, status });
    }
    const byTime = await ok('{ genItems(where: { code: "order" }, orderBy: [{ happensAt: DESC }]) { happensAt } }');
    expect(byTime.genItems.map((r: any) => r.happensAt.slice(0, 4))).toEqual(['2022', '2021', '2020']);
    // PostgreSQL orders an enum by its declaration order: draft, in-review, PUBLISHED.
    const byStatus = await ok('{ genItems(where: { code: "order" }, orderBy: [{ status: ASC }]) { status } }');
    expect(byStatus.genItems.map((r: any) => r.status)).toEqual(['draft', 'IN_REVIEW', 'PUBLISHED']);
  });

  it('resolves both kinds of many-to-one for many rows in a constant number of queries', async () => {
    for (let i = 0; i < 6; i++) await roundTrip({ code: 'many', author: i % 2 ? authorA : authorB, reviewer: i % 2 ? authorB : authorA });
    const q = 'query($limit: Int) { genItems(where: { code: "many" }, limit: $limit) { author { name } reviewer { name } } }';
    let rows: any[] = [];
    const all = await recorder.during(async () => { rows = (await ok(q)).genItems; });
    expect(rows).toHaveLength(6);
    expect(rows.map((r) => `${r.author.name}/${r.reviewer.name}`)).toEqual(['Ben/Ann', 'Ann/Ben', 'Ben/Ann', 'Ann/Ben', 'Ben/Ann', 'Ann/Ben']);
    const one = await recorder.during(() => ok(q, { limit: 1 }));
    expect(all.length).toBe(one.length);
    expect(all.length).toBeLessThanOrEqual(2);
  });

  it('hides a field with a fieldAccess rule from callers it refuses', async () => {
    const row = await roundTrip({ count: 42 });
    const anonymous = await ok('query($id: ID!) { genItem(id: $id) { count code } }', { id: row.id }, null);
    expect(anonymous.genItem).toEqual({ count: null, code: 'c' });
  });

  it('rejects null for a required relation in a patch with BAD_USER_INPUT', async () => {
    const row = await roundTrip({});
    const result = await run('mutation($id: ID!) { patchGenItem(id: $id, input: { reviewer: null }) { id } }', { id: row.id });
    expect(result.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await ok('query($id: ID!) { genItem(id: $id) { reviewer { id } } }', { id: row.id })).genItem.reviewer).toEqual({ id: authorB });
  });

  it('creates, retrieves and deletes a row with a uuid key, and rejects ids that are not uuids', async () => {
    const { createGenToken } = await ok('mutation { createGenToken(input: { label: "t" }) { id label } }');
    expect(createGenToken.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect((await ok('query($id: ID!) { genToken(id: $id) { id label } }', { id: createGenToken.id })).genToken).toEqual(createGenToken);
    expect((await ok('query($id: ID!) { genTokens(where: { id: $id }) { label } }', { id: createGenToken.id })).genTokens).toEqual([{ label: 't' }]);
    const bad = await run('{ genToken(id: "not-a-uuid") { id } }');
    expect(bad.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    expect((await ok('query($id: ID!) { deleteGenToken(id: $id) }'.replace('query', 'mutation'), { id: createGenToken.id })).deleteGenToken).toBe(createGenToken.id);
    expect((await ok('query($id: ID!) { genToken(id: $id) { id } }', { id: createGenToken.id })).genToken).toBeNull();
  });

  it.each([
    ['a smallint out of range', { small: 40000 }],
    ['a varchar over its length', { code: 'x'.repeat(21) }],
    ['a text over the server\'s maxTextLength (10,000)', { notes: 'x'.repeat(10_001) }],
    ['a numeric that is not a number', { price: 'abc' }],
    ['a numeric over its precision', { price: '123456789012' }],
    ['a bigint that is not a number', { big: '12x' }],
    ['a date that is not a date', { day: 'someday' }],
    ['a date that does not exist', { day: '2023-02-29' }],
    ['an unknown reviewer', { reviewer: '987654' }],
  ])('rejects %s with BAD_USER_INPUT and writes nothing', async (_, input) => {
    const before = await ds.getRepository(GenItem).count();
    const result = await run('mutation($input: CreateGenItemInput!) { createGenItem(input: $input) { id } }', { input: { ...base(), ...input } });
    expect(result.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(await ds.getRepository(GenItem).count()).toBe(before);
  });
});
