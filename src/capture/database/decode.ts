import type { EntityMetadata } from 'typeorm';
import { carryDeletedParents } from '../../change/cascade';
import type { LoggedTransaction } from '../../change/change-log';
import { afterTransaction } from '../../change/cursor';
import { collapse, type RowChange } from '../../change/row-change';
import { decodeRow } from '../decode-row';

/** One outbox row joined with its transaction's position, as the reader selects it. */
export interface OutboxRow {
  position: string;
  seq: string;
  table_name: string;
  op: 'I' | 'U' | 'D';
  old: Record<string, unknown> | null;
  new: Record<string, unknown> | null;
}

const OPS = { I: 'insert', U: 'update', D: 'delete' } as const;

/**
 * Outbox rows in (position, seq) order → one {@link LoggedTransaction} per
 * position: decoded into entity properties, cascaded deletes carrying their
 * parent, collapsed per row like ORM capture. Rows of tables not in
 * `byTable` are left out. When `partial`, the last transaction may go on
 * beyond these rows: reading goes on from its last row.
 */
export function decodeTransactions(rows: OutboxRow[], byTable: Map<string, EntityMetadata>, partial = false): LoggedTransaction[] {
  const out: LoggedTransaction[] = [];
  let position: bigint | undefined;
  let changes: RowChange[] = [];
  const flush = () => {
    if (position !== undefined) out.push({ position, changes: collapse(carryDeletedParents(changes)), through: afterTransaction(position) });
  };
  for (const row of rows) {
    const at = BigInt(row.position);
    if (at !== position) {
      flush();
      position = at;
      changes = [];
    }
    const metadata = byTable.get(row.table_name);
    if (!metadata) continue;
    const op = OPS[row.op];
    const before = op === 'insert' ? undefined : decodeRow(metadata, row.old);
    const after = op === 'delete' ? undefined : decodeRow(metadata, row.new);
    const id = (after ?? before)![metadata.primaryColumns[0].propertyName] as string | number;
    changes.push({ metadata, op, id, before, after, cursor: { position: at, seq: BigInt(row.seq) } });
  }
  flush();
  const last = out[out.length - 1];
  if (partial && last) last.through = { position: last.position, seq: BigInt(rows[rows.length - 1].seq) };
  return out;
}
