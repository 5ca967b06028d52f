import { BadUserInputError } from '../errors';

/**
 * Where a change sits in the change log: the commit position of its
 * transaction and the change's sequence within the log. On the wire it is
 * `position:seq` (`XChange.cursor`, the `after` argument).
 */
export interface Cursor {
  position: bigint;
  seq: bigint;
}

/** The largest position or seq a cursor can hold (a PostgreSQL bigint). */
export const MAX_SEQ = 9223372036854775807n;

const CURSOR = /^(\d{1,19}):(\d{1,19})$/;

/** The cursor just after a whole transaction. */
export function afterTransaction(position: bigint): Cursor {
  return { position, seq: MAX_SEQ };
}

/** Whether the cursor stands after its whole transaction rather than inside it. */
export function isAfterTransaction(cursor: Cursor): boolean {
  return cursor.seq === MAX_SEQ;
}

/** Whether `a` is at or after `b` in the log. */
export function atOrAfter(a: Cursor, b: Cursor): boolean {
  return a.position > b.position || (a.position === b.position && a.seq >= b.seq);
}

export function formatCursor(cursor: Cursor): string {
  return `${cursor.position}:${cursor.seq}`;
}

/** Parses a client's `after`; BAD_USER_INPUT when it is not a cursor this server gives out. */
export function parseCursor(text: string): Cursor {
  const m = CURSOR.exec(text);
  const cursor = m && { position: BigInt(m[1]), seq: BigInt(m[2]) };
  if (!cursor || cursor.position > MAX_SEQ || cursor.seq > MAX_SEQ) throw new BadUserInputError(`Invalid cursor ${JSON.stringify(text)}`, { field: 'after' });
  return cursor;
}
