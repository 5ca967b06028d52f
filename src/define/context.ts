import type { DataSource } from 'typeorm';

/**
 * The user an authenticated request acts as. The library only needs an `id`;
 * applications keep whatever else their `authenticate` returns.
 */
export interface AuthUser {
  id: string | number;
  [key: string]: unknown;
}

/**
 * What every permission, row policy, field rule, hook and action receives.
 * One is made per HTTP request and per WebSocket operation.
 */
export interface LiveContext<U extends AuthUser = AuthUser> {
  /** The caller, or null when anonymous. */
  user: U | null;
  /** The application's TypeORM DataSource. */
  dataSource: DataSource;
  /** Per-request caches (DataLoaders); owned by the library. */
  loaders: Map<string, unknown>;
}

/**
 * Turns a bearer token into the user it stands for.
 *
 * - Return the user to accept the token.
 * - Return `null` to refuse it (expired, revoked, unknown).
 * - Throwing also refuses it (e.g. `jsonwebtoken.verify` on a bad signature);
 *   a thrown `LiveError` keeps its message, anything else is reported as an
 *   invalid token so verification internals never reach the client.
 */
export type Authenticate = (token: string) => AuthUser | null | Promise<AuthUser | null>;
