import { createSecretKey, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ILike, type DataSource, type EntityManager } from 'typeorm';
import {
  isAuthenticated, allowAny, resource, defineApp, bulkUpdate, BadUserInputError, LiveError, NotFoundError, ForbiddenError, UnauthenticatedError,
  type AuthUser, type Identity, type LiveContext, type Resource,
} from '../src';
import { demoEntities, Post, Task, TodoList, User } from './entities';
import { hashPassword, verifyPassword } from './passwords';
import { seedDemo } from './seed';

/** Every `#tag` in a post body, lower-cased, each once. */
export function hashtags(body: string): string[] {
  return [...new Set([...body.matchAll(/#([\p{L}\p{N}_]+)/gu)].map((m) => m[1].toLowerCase()))];
}

/** `%` and `_` in user text are literal characters, not wildcards. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** What `authenticate` puts in `ctx.user`. */
export type DemoUser = { id: number; username: string };
export type DemoContext = LiveContext<DemoUser>;

const ownerOnly = (ctx: DemoContext) => (ctx.user ? { ownerId: ctx.user.id } : false);
const hash = (password: unknown) => {
  if (typeof password !== 'string' || password.length < 8) throw new BadUserInputError('password must have at least 8 characters', { field: 'password' });
  return hashPassword(password);
};

/** Refuses with RATE_LIMITED, naming when to try again, once `limiter` has no points left for this client. */
async function spend(limiter: RateLimiterMemory, ctx: LiveContext): Promise<void> {
  try {
    await limiter.consume(ctx.address ?? 'unknown');
  } catch (error) {
    if (!(error instanceof RateLimiterRes)) throw error;
    const retryAfter = Math.ceil(error.msBeforeNext / 1000);
    throw new LiveError('RATE_LIMITED', `Too many attempts from this address: try again in ${retryAfter} s`, { retryAfter });
  }
}

/** The user resource; with `signUps`, `createUser` spends one point of it per attempt and client address. */
function users(signUps?: RateLimiterMemory) {
  return resource<User, DemoContext>(User, {
    fields: ['id', 'username', 'email', 'password'],
    writeOnly: ['password'],
    fieldAccess: { email: (ctx, row) => row != null && ctx.user != null && String(ctx.user.id) === String(row.id) },
    permissions: { create: allowAny, patch: isAuthenticated, delete: isAuthenticated },
    policy: { create: () => true, write: (ctx) => (ctx.user ? { id: ctx.user.id } : false) },
    hooks: {
      beforeCreate: async (input, ctx) => {
        if (signUps) await spend(signUps, ctx);
        if (!/^[^@\s]+@[^@\s]+$/.test(String(input.email))) throw new BadUserInputError('email is not an address', { field: 'email' });
        return { ...input, password: await hash(input.password) };
      },
      beforePatch: async (input) => (input.password === undefined ? input : { ...input, password: await hash(input.password) }),
    },
  });
}

export const userResource = users();

export const todoListResource = resource<TodoList, DemoContext>(TodoList, {
  fields: ['id', 'name', 'private', 'owner'],
  readOnly: ['owner'],
  permissions: { create: isAuthenticated, patch: isAuthenticated, delete: isAuthenticated },
  policy: {
    read: (ctx) => (ctx.user ? [{ private: false }, { ownerId: ctx.user.id }] : { private: false }),
    write: ownerOnly,
  },
  hooks: { beforeCreate: (input, ctx) => ({ ...input, ownerId: ctx.user!.id }) },
});

export const taskResource = resource<Task, DemoContext>(Task, {
  fields: ['id', 'text', 'done', 'list'],
  fieldAccess: { done: isAuthenticated },
  permissions: { create: isAuthenticated, patch: isAuthenticated, delete: isAuthenticated },
  policy: {
    read: (ctx) => (ctx.user
      ? [{ list: { private: false } }, { list: { ownerId: ctx.user.id } }]
      : { list: { private: false } }),
    write: (ctx) => (ctx.user ? { list: { ownerId: ctx.user.id } } : false),
  },
  groups: { list: (t) => t.listId },
  actions: {
    completeAllTasks: {
      description: 'Marks every task of a list done (one bulk UPDATE); returns how many changed.',
      args: { list: 'ID!' },
      type: 'Int!',
      permission: isAuthenticated,
      resolve: async (args: { list: string }, ctx) => {
        const listId = Number(args.list);
        if (!Number.isSafeInteger(listId)) throw new BadUserInputError(`Invalid TodoList id ${JSON.stringify(args.list)}`);
        const list = await ctx.manager.findOneBy(TodoList, { id: listId });
        if (!list || (list.private && String(list.ownerId) !== String(ctx.user!.id))) throw new NotFoundError(`TodoList:${listId} not found`);
        if (String(list.ownerId) !== String(ctx.user!.id)) throw new ForbiddenError(`Not allowed to complete the tasks of TodoList:${listId}`);
        return completeAll(ctx.manager, listId);
      },
    },
  },
});

/** One UPDATE … RETURNING through `bulkUpdate`, so ORM capture delivers one UPDATED per task. */
function completeAll(manager: EntityManager, listId: number): Promise<number> {
  return bulkUpdate(manager, Task, { done: true }, '"listId" = $1 AND done = false', [listId]);
}

export const postResource = resource<Post, DemoContext>(Post, {
  fields: ['id', 'createdAt', 'body', 'author'],
  readOnly: ['author'],
  permissions: { create: isAuthenticated, patch: isAuthenticated, delete: isAuthenticated },
  policy: { write: (ctx) => (ctx.user ? { authorId: ctx.user.id } : false) },
  filters: {
    bodyContains: {
      type: 'String',
      description: 'Posts whose body contains this text (case-insensitive).',
      where: (value: string) => ({ body: ILike(`%${escapeLike(value)}%`) }),
    },
  },
  groups: { hashtag: (p) => hashtags(p.body), author: (p) => p.authorId },
  hooks: { beforeCreate: (input, ctx) => ({ ...input, authorId: ctx.user!.id }) },
});

export const demoTypeDefs = /* GraphQL */ `
  type AuthPayload {
    """Send as \`Authorization: Bearer <token>\` (HTTP) or \`{ "authorization": "Bearer <token>" }\` (WebSocket connection_init)."""
    token: String!
    user: User!
  }
  extend type Mutation {
    """Exchanges a username and password for a token."""
    login(username: String!, password: String!): AuthPayload!
  }
  extend type Query {
    """The signed-in user, or null."""
    me: User
  }
`;

export interface DemoApp {
  resources: Resource<any, any>[];
  typeDefs: string;
  resolvers: Record<string, any>;
  authenticate: (token: string) => Promise<Identity<DemoUser> | null>;
  /** Whether a signed-in caller's account still exists (asked every minute for open sockets and streams). */
  revalidate: (user: AuthUser) => Promise<boolean>;
}

export interface DemoOptions {
  /**
   * Per client address: failed logins (10 a minute) and sign-ups (20 in ten
   * minutes); over them RATE_LIMITED with `retryAfter` seconds. On for
   * `npm start`; off by default for programmatic use (tests, benchmarks).
   */
  rateLimits?: boolean;
}

/**
 * The demo's resources and auth. Tokens are HS256 JWTs signed with
 * `JWT_SECRET` (default: a random secret per process, so tokens end with it).
 */
export function createDemoApp(dataSource: DataSource, secret = process.env.JWT_SECRET ?? randomBytes(32).toString('hex'), { rateLimits = false }: DemoOptions = {}): DemoApp {
  const failedLogins = rateLimits ? new RateLimiterMemory({ points: 10, duration: 60 }) : undefined;
  const signUps = rateLimits ? new RateLimiterMemory({ points: 20, duration: 600 }) : undefined;
  // One key object for every request: given a string, jsonwebtoken builds a key per call.
  const key = createSecretKey(Buffer.from(secret));
  // An hour: at `exp` the server ends what the token opened (subscriptions, the WebSocket); clients sign in again.
  const sign = (user: User) => jwt.sign({ sub: String(user.id) }, key, { algorithm: 'HS256', expiresIn: '1h' });
  return {
    resources: [signUps ? users(signUps) : userResource, todoListResource, taskResource, postResource],
    typeDefs: demoTypeDefs,
    resolvers: {
      Mutation: {
        login: async (_: unknown, args: { username: string; password: string }, ctx: DemoContext) => {
          // A client that has failed too often is refused before any hashing: guessing costs it, not the server.
          const failed = failedLogins && (await failedLogins.get(ctx.address ?? 'unknown'));
          if (failed && failed.remainingPoints <= 0) await spend(failedLogins!, ctx);
          const user = await dataSource.getRepository(User).findOneBy({ username: args.username });
          if (!user || !(await verifyPassword(args.password, user.password))) {
            if (failedLogins) await spend(failedLogins, ctx);
            throw new UnauthenticatedError('Invalid username or password');
          }
          return { token: sign(user), user };
        },
      },
      Query: {
        me: (_: unknown, __: unknown, ctx: DemoContext) => (ctx.user ? dataSource.getRepository(User).findOneBy({ id: ctx.user.id }) : null),
      },
    },
    authenticate: async (token) => {
      let claims: jwt.JwtPayload;
      try {
        claims = jwt.verify(token, key, { algorithms: ['HS256'] }) as jwt.JwtPayload;
      } catch {
        return null;
      }
      const user = await dataSource.getRepository(User).findOneBy({ id: Number(claims.sub) });
      return user ? { user: { id: user.id, username: user.username }, expiresAt: claims.exp! * 1000 } : null;
    },
    // A deleted account loses its open sockets and streams at the next sweep, not only at its token's expiry.
    revalidate: async (user) => dataSource.getRepository(User).existsBy({ id: Number(user.id) }),
  };
}

export { Post, Task, TodoList, User };

/** The demo as an application the CLI can serve (`npm start`) or print (`npm run schema`). */
export default defineApp({
  entities: demoEntities,
  setup: (dataSource) => createDemoApp(dataSource, undefined, { rateLimits: true }),
  seed: seedDemo,
});
