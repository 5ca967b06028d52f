import type { DataSource } from 'typeorm';
import type { Authenticate } from './context';
import type { Resource } from './resource';

/** What an application hands to the server once its DataSource exists. */
export interface AppSetup {
  resources: Resource<any, any>[];
  /** Extra SDL (types of custom resolvers), merged into the generated schema. */
  typeDefs?: string;
  /** Resolvers for `typeDefs`. */
  resolvers?: Record<string, any>;
  /** Bearer token → user; see {@link Authenticate}. */
  authenticate: Authenticate;
}

/**
 * An application the CLI can serve or print the schema of: its entities, how
 * to set it up on a DataSource, and optionally how to seed an empty database.
 * @example export default defineApp({ entities: [Task], setup: (ds) => ({ resources: [resource(Task)], authenticate }) })
 */
export interface LiveApp {
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type -- entity classes, typed as TypeORM types them
  entities: Function[];
  setup(dataSource: DataSource): AppSetup | Promise<AppSetup>;
  /** Called by `serve` after the schema is synchronized; should do nothing on a database that already has data. */
  seed?(dataSource: DataSource): Promise<void>;
}

export function defineApp(app: LiveApp): LiveApp {
  return app;
}
