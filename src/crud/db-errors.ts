import { QueryFailedError } from 'typeorm';
import { BadUserInputError } from '../errors';
import type { ResourceModel } from '../model/resource-model';

interface PgError {
  code?: string;
  detail?: string;
  column?: string;
  constraint?: string;
}

/**
 * Turns the database's refusal of bad input (unique, foreign key, not null,
 * check, bad text representation, too long) into BAD_USER_INPUT naming the
 * entity; anything else is rethrown and masked as an internal error.
 */
export function translateDbError(model: ResourceModel, error: unknown): unknown {
  if (!(error instanceof QueryFailedError)) return error;
  const pg = ((error as { driverError?: PgError }).driverError ?? error) as PgError;
  const type = model.names.type;
  switch (pg.code) {
    case '23505': {
      const field = /\((.+?)\)=/.exec(pg.detail ?? '')?.[1];
      return new BadUserInputError(`A ${type} with this ${field ?? 'value'} already exists`, { field });
    }
    case '23503': {
      const m = /\((.+?)\)=\((.+?)\)/.exec(pg.detail ?? '');
      return new BadUserInputError(`${type}: referenced row ${m ? `${m[1]}=${m[2]} ` : ''}does not exist or is still referenced`);
    }
    case '23502':
      return new BadUserInputError(`${type}: ${pg.column ?? 'a field'} may not be null`, { field: pg.column });
    case '23514':
      return new BadUserInputError(`${type}: check ${pg.constraint ?? ''} failed`.trim());
    case '22P02': case '22003': case '22007': case '22008':
      return new BadUserInputError(`${type}: invalid value`);
    case '22001':
      return new BadUserInputError(`${type}: value too long`);
    default:
      return error;
  }
}
