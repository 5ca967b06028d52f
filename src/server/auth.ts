import type { Authenticate, AuthUser, Identity } from '../define/context';
import { LiveError } from '../errors';

/** Who a request acts as, or why its credential was refused. */
export type Caller =
  | { user: AuthUser | null; expiresAt?: number; token?: string; refused?: undefined }
  | { refused: string; error?: unknown };

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Resolves an `Authorization` value — the HTTP header, or the `authorization`
 * field of a WebSocket `connection_init` payload — the same way for every
 * transport.
 *
 * Absent (or empty, as clients send when logged out) means anonymous.
 * Anything else must be a `Bearer <token>` that `authenticate` accepts: a
 * broken credential is refused, never silently downgraded to anonymous,
 * because a client that believes it is logged in would otherwise see a
 * quietly filtered world instead of an error.
 */
export async function resolveCaller(authorization: unknown, authenticate: Authenticate): Promise<Caller> {
  if (authorization === undefined || authorization === null || authorization === '') return { user: null };
  if (typeof authorization !== 'string') return { refused: 'Malformed authorization: expected "Bearer <token>"' };
  const match = BEARER.exec(authorization.trim());
  if (!match) return { refused: 'Malformed authorization: expected "Bearer <token>"' };
  try {
    const accepted = await authenticate(match[1]);
    if (!accepted) return { refused: 'Invalid or expired token' };
    // A user has an id; an identity holds the user.
    const identity: Identity = 'id' in accepted ? { user: accepted as AuthUser } : (accepted as Identity);
    const expiresAt = identity.expiresAt === undefined ? undefined : Number(identity.expiresAt);
    if (expiresAt !== undefined && !(expiresAt > Date.now())) return { refused: 'Invalid or expired token' };
    return { user: identity.user, expiresAt, token: match[1] };
  } catch (error) {
    return { refused: error instanceof LiveError ? error.message : 'Invalid or expired token', error };
  }
}
