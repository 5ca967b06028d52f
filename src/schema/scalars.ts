import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { BadUserInputError } from '../errors';

function toDate(value: unknown): Date {
  const date = value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : new Date(NaN);
  if (Number.isNaN(date.getTime())) throw new BadUserInputError(`DateTime cannot represent ${JSON.stringify(value)}: use an ISO-8601 string`);
  return date;
}

/**
 * Only ISO-8601 (a date, or a date and time with `Z` or an offset) is accepted
 * from clients: `new Date` alone also takes "5" (May 2001), rolls 2024-02-30
 * over to March 1 and reads a time without an offset in the server's zone.
 */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/i;

function parseIso(text: string): Date {
  const m = ISO_DATE_TIME.exec(text);
  const fields = m ? m.slice(1).map((v) => Number(v ?? 0)) : [];
  const probe = new Date(0);
  probe.setUTCFullYear(fields[0], fields[1] - 1, fields[2]);
  probe.setUTCHours(fields[3], fields[4], fields[5]);
  const valid = m && probe.getUTCFullYear() === fields[0] && probe.getUTCMonth() === fields[1] - 1 && probe.getUTCDate() === fields[2]
    && probe.getUTCHours() === fields[3] && probe.getUTCMinutes() === fields[4] && probe.getUTCSeconds() === fields[5];
  if (!valid) throw new BadUserInputError(`DateTime cannot represent ${JSON.stringify(text)}: use an ISO-8601 string such as 2026-01-31T12:00:00Z`);
  return toDate(text);
}

/** ISO-8601 date-time strings on the wire, `Date` inside. */
export const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An ISO-8601 date-time string, e.g. 2026-01-31T12:00:00.000Z.',
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => {
    if (typeof value !== 'string') throw new BadUserInputError('DateTime must be a string');
    return parseIso(value);
  },
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new BadUserInputError('DateTime must be a string');
    return parseIso(ast.value);
  },
});

function literal(ast: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (ast.kind) {
    case Kind.STRING: case Kind.BOOLEAN: case Kind.ENUM: return ast.value;
    case Kind.INT: case Kind.FLOAT: return Number(ast.value);
    case Kind.NULL: return null;
    case Kind.LIST: return ast.values.map((v) => literal(v, variables));
    case Kind.OBJECT: return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value, variables)]));
    case Kind.VARIABLE: return variables?.[ast.name.value];
  }
}

/** Any JSON value (json/jsonb columns). */
export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: literal,
});
