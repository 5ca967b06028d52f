import type { DataSource } from 'typeorm';
import type { RowChange } from '../change/row-change';

/**
 * A transaction's changes as text between processes: the entity by name,
 * rows as JSON in which Dates, Buffers and bigints keep their type (a
 * policy comparing a Date must see a Date in every process).
 */
export function encodeChanges(changes: RowChange[]): string {
  return JSON.stringify(
    changes.map((c) => ({ t: c.metadata.name, op: c.op, id: c.id, b: c.before, a: c.after })),
    function replacer(this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key];
      if (raw instanceof Date) return { $date: raw.getTime() };
      if (Buffer.isBuffer(raw)) return { $buf: raw.toString('base64') };
      if (typeof raw === 'bigint') return { $big: raw.toString() };
      return value;
    },
  );
}

export function decodeChanges(dataSource: DataSource, text: string): RowChange[] {
  const items = JSON.parse(text, (_key, value) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1) {
        if (keys[0] === '$date') return new Date(value.$date);
        if (keys[0] === '$buf') return Buffer.from(value.$buf, 'base64');
        if (keys[0] === '$big') return BigInt(value.$big);
      }
    }
    return value;
  }) as { t: string; op: RowChange['op']; id: string | number; b?: Record<string, unknown>; a?: Record<string, unknown> }[];
  return items.map((item) => ({
    metadata: dataSource.getMetadata(item.t),
    op: item.op,
    id: item.id,
    ...(item.b ? { before: item.b } : {}),
    ...(item.a ? { after: item.a } : {}),
  }));
}
