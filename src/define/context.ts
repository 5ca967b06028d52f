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
  /** When the caller's credential stops being valid (ms since the epoch), if `authenticate` said so. */
  expiresAt?: number;
  /** The client's network address (the TCP peer: behind a proxy, the proxy's), for rate limits. */
  address?: string;
  /**
   * Set by the server when it revalidates credentials (`revalidate`): a
   * long-lived stream opened with this context (an SSE subscription)
   * registers here, to be ended with UNAUTHENTICATED once the credential is
   * revoked.
   */
  watchCredential?: (held: { readonly closed: boolean; revoke(): void }) => void;
}

/**
 * An accepted credential with an end: at `expiresAt` (a Date or ms since the
 * epoch, e.g. a JWT's `exp * 1000`) the server ends the caller's
 * subscriptions with UNAUTHENTICATED and closes its WebSocket with 4403.
 */
export interface Identity<U extends AuthUser = AuthUser> {
  user: U;
  expiresAt?: Date | number;
}

/**
 * Turns a bearer token into the user it stands for.
 *
 * - Return the user to accept the token, or an {@link Identity} — the user
 *   and when the token expires — to have the server end what the token
 *   opened when it does.
 * - Return `null` to refuse it (expired, revoked, unknown).
 * - Throwing also refuses it (e.g. `jsonwebtoken.verify` on a bad signature);
 *   a thrown `LiveError` keeps its message, anything else is reported as an
 *   invalid token so verification internals never reach the client.
 */
export type Authenticate = (token: string) => AuthUser | Identity | null | Promise<AuthUser | Identity | null>;
