import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { createGraphQLError, maskError } from 'graphql-yoga';

/**
 * An error as a client receives it on any transport: unexpected errors
 * masked like yoga's HTTP answers (and logged with their stack), everything
 * a GraphQLError.
 */
export function clientErrors(maskedErrors: boolean, log: (error: unknown) => void): (error: unknown) => GraphQLError {
  return (error) => {
    const masked = maskedErrors ? maskError(error, 'Unexpected error.') : error;
    if (masked !== error) log(error);
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

