import { GraphQLError } from 'graphql';

/**
 * Request errors: every one is a GraphQLError with `extensions.code`, so
 * yoga's error masking lets it through to the client unchanged while any
 * other thrown error is masked as INTERNAL_SERVER_ERROR and logged.
 */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  /** A subscriber fell too far behind and its subscription was ended. */
  | 'SLOW_CONSUMER'
  /** A resume cursor points before what the outbox still keeps: refetch, then subscribe again without `after`. */
  | 'CURSOR_EXPIRED'
  /** An operation asks for more than the server's operation limits allow (depth, aliases, tokens, directives, cost). */
  | 'QUERY_TOO_COMPLEX'
  /** A per-connection or per-request bound was reached (operations on one socket, request size). */
  | 'LIMIT_EXCEEDED'
  /** Too many attempts from one client address; `extensions.retryAfter` says in how many seconds to try again. */
  | 'RATE_LIMITED'
  /** Changes may have been missed (the change transport restarted or fell behind): refetch, then subscribe again. */
  | 'CHANGES_LOST'
  /** The operation's SQL ran longer than the server's `statementTimeout` and was cancelled. */
  | 'TIMEOUT'
  | 'INTERNAL_SERVER_ERROR';

export class LiveError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    // Only a refused credential changes the HTTP status (401); yoga strips `http` from the body.
    super(message, { extensions: { code, ...extra, ...(code === 'UNAUTHENTICATED' ? { http: { status: 401 } } : {}) } });
    this.name = 'LiveError';
  }
}

export class BadUserInputError extends LiveError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('BAD_USER_INPUT', message, extra);
  }
}

export class UnauthenticatedError extends LiveError {
  constructor(message = 'Authentication required', extra: Record<string, unknown> = {}) {
    super('UNAUTHENTICATED', message, extra);
  }
}

export class ForbiddenError extends LiveError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('FORBIDDEN', message, extra);
  }
}

export class NotFoundError extends LiveError {
  constructor(message: string, extra: Record<string, unknown> = {}) {
    super('NOT_FOUND', message, extra);
  }
}

/**
 * Schema-build errors: thrown while turning resources into a schema, never
 * during a request. Kept apart so a misconfiguration fails at start-up.
 */
export class SchemaDefinitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaDefinitionError';
  }
}

/**
 * What background work (change capture, routing, the outbox reader) does
 * with an error no request is waiting for, unless an `onError` option says
 * otherwise.
 */
export function reportBackgroundError(error: unknown): void {
  console.error('typeorm-graphql-live:', error);
}
