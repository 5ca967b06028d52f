import { BadUserInputError } from '../errors';
import { integerMax } from './column-types';
import type { ResourceModel } from './resource-model';

const INTEGER_ID = /^-?\d{1,19}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates an `ID` argument against the primary key's type: BAD_USER_INPUT naming `label` when it cannot be one. */
export function parseId(model: ResourceModel, raw: unknown, label = model.names.type): string | number {
  const text = String(raw ?? '').trim();
  if (model.numericId) {
    const max = integerMax(model.metadata.dataSource, model.primary);
    if (!INTEGER_ID.test(text) || BigInt(text) > max || BigInt(text) < -max - 1n) {
      throw new BadUserInputError(`Invalid ${label} id ${JSON.stringify(raw)}`, { field: 'id' });
    }
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (/^uuid$/i.test(String(model.primary.type)) && !UUID.test(text)) {
    throw new BadUserInputError(`Invalid ${label} id ${JSON.stringify(raw)}`, { field: 'id' });
  }
  if (text === '') throw new BadUserInputError(`Invalid ${label} id ""`, { field: 'id' });
  return text;
}

/** A primary-key value as TypeORM's id maps give it (`{ id: 7 }` or `7`) → `7`. */
export function scalarId(id: unknown): string | number {
  if (id && typeof id === 'object') return scalarId(Object.values(id)[0]);
  return id as string | number;
}

/** Primary-key order: numerically when both are numbers, else as text. */
export function compareIds(a: unknown, b: unknown): number {
  const x = Number(a);
  const y = Number(b);
  if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
