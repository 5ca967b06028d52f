import { BadUserInputError } from '../errors';

/**
 * Where a change sits in the change log: the commit position of its
 * transaction and the change's sequence within the log. On the wire it is
 * `position:seq` (`XChange.cursor`, the `after` argument).
 */
export interface Cursor {
  position: bigint;
  seq: bigint;
  /**
   * The i-th (from 1) of the events a change causes for rows pointing at the
   * changed row (a list turning private: its tasks), on the wire
   * `position:seq:part`; absent for the change's own events. A client cut off
   * in the middle of such a burst resumes inside it.
   */
  part?: number;
}

/** The largest position or seq a cursor can hold (a PostgreSQL bigint). */
export const MAX_SEQ = 9223372036854775807n;

const CURSOR = /^(\d{1,19}):(\d{1,19})(?::(\d{1,9}))?$/;

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
  if (a.position !== b.position) return a.position > b.position;
  if (a.seq !== b.seq) return a.seq > b.seq;
  return (a.part ?? 0) >= (b.part ?? 0);
}

export function formatCursor(cursor: Cursor): string {
  return cursor.part ? `${cursor.position}:${cursor.seq}:${cursor.part}` : `${cursor.position}:${cursor.seq}`;
}

/** Parses a client's `after`; BAD_USER_INPUT when it is not a cursor this server gives out. */
export function parseCursor(text: string): Cursor {
  const m = CURSOR.exec(text);
  const cursor: Cursor | null = m && { position: BigInt(m[1]), seq: BigInt(m[2]), ...(m[3] ? { part: Number(m[3]) } : {}) };
  if (!cursor || cursor.position > MAX_SEQ || cursor.seq > MAX_SEQ || cursor.part === 0) throw new BadUserInputError(`Invalid cursor ${JSON.stringify(text)}`, { field: 'after' });
  return cursor;
}
