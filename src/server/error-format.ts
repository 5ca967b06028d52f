import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { createGraphQLError, maskError } from 'graphql-yoga';
import { LiveError } from '../errors';

/** PostgreSQL cancelled a statement that ran past `statement_timeout`. */
function isStatementTimeout(error: unknown): boolean {
  for (let e = error as { originalError?: unknown; driverError?: { code?: string; message?: string } } | undefined; e; e = e.originalError as typeof e) {
    const driver = e.driverError ?? (e as { code?: string; message?: string });
    if (driver.code === '57014' && /statement timeout/.test(driver.message ?? '')) return true;
  }
  return false;
}

/**
 * yoga's masking, except that a statement cancelled by `statementTimeout`
 * tells the client so (TIMEOUT) instead of INTERNAL_SERVER_ERROR: the caller
 * asked for too much, the server is fine.
 */
export const maskServerError: typeof maskError = (error, message, isDev) =>
  isStatementTimeout(error)
    ? new LiveError('TIMEOUT', 'The operation ran longer than the server allows and was cancelled: ask for less')
    : maskError(error, message, isDev);

/**
 * An error as a client receives it on any transport: unexpected errors
 * masked like yoga's HTTP answers (and logged with their stack), everything
 * a GraphQLError.
 */
export function clientErrors(maskedErrors: boolean, log: (error: unknown) => void): (error: unknown) => GraphQLError {
  return (error) => {
    const masked = maskedErrors ? maskServerError(error, 'Unexpected error.') : error;
    if (masked !== error && !(masked instanceof LiveError)) log(error);
    if (masked instanceof GraphQLError) return masked;
    return createGraphQLError(masked instanceof Error ? masked.message : String(masked));
  };
}

/**
 * yoga tags errors with server-side hints — `http` (a status for HTTP
 * responses) and `unexpected` (masked) — and strips them when it answers
 * over HTTP; they mean nothing on a socket either.
 */
export function formatError(error: GraphQLError | GraphQLFormattedError): GraphQLFormattedError {
  const formatted = error instanceof GraphQLError ? error.toJSON() : error;
  if (!formatted.extensions) return formatted;
  const { http: _http, unexpected: _unexpected, ...extensions } = formatted.extensions;
  const { extensions: _all, ...rest } = formatted;
  return Object.keys(extensions).length > 0 ? { ...rest, extensions } : rest;
}

