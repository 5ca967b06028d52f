import { buildLiveSchema, type BuildSchemaOptions } from '../schema/build';
import { serveLiveSchema, type LiveServer, type ServeOptions } from './serve';

export interface LiveServerOptions extends BuildSchemaOptions, ServeOptions {
  /**
   * Let `close()` also destroy `dataSource`, after both transports have
   * stopped and `onClose` has run. Leave it off when the DataSource outlives
   * the server (tests, scripts, several servers on one DataSource).
   *
   * @default false
   */
  closeDataSource?: boolean;
}

/**
 * Builds the live schema for `resources` and serves it: HTTP, SSE and
 * WebSocket on one port. Prints nothing; log `server.url` yourself.
 *
 * @example
 * const server = await createLiveServer({
 *   dataSource,
 *   resources: [users, todoLists, tasks],
 *   port: 4000,
 *   authenticate: (token) => verifyToken(token),
 * });
 * console.log(`GraphQL on ${server.url}`);
 */
export async function createLiveServer(options: LiveServerOptions): Promise<LiveServer> {
  const { closeDataSource = false, onClose, ...rest } = options;
  const live = buildLiveSchema(rest);
  return serveLiveSchema(live, {
    ...rest,
    onClose: async () => {
      await live.close();
      await onClose?.();
      if (closeDataSource && options.dataSource.isInitialized) await options.dataSource.destroy();
    },
  });
}
