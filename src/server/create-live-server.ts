import { createLiveRuntime, type LiveRuntime, type LiveRuntimeOptions } from '../runtime/create-live-runtime';
import { serveLiveSchema, type LiveServer, type ServeOptions } from './serve';

export interface LiveServerOptions extends LiveRuntimeOptions, ServeOptions {
  /**
   * Let `close()` also destroy `dataSource`, after both transports have
   * stopped and `onClose` has run. Leave it off when the DataSource outlives
   * the server (tests, scripts, several servers on one DataSource).
   *
   * @default false
   */
  closeDataSource?: boolean;
}

/** A served live schema: the server plus its runtime — schema, change engine (`live.engine.activeSubscriptions`), capture. */
export interface LiveSchemaServer extends LiveServer {
  live: LiveRuntime;
}

/**
 * Builds the live schema for `resources`, starts change capture and serves
 * it: HTTP, SSE and WebSocket on one port. Prints nothing; log `server.url`
 * yourself. `close()` stops capture and ends every subscription too.
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
export async function createLiveServer(options: LiveServerOptions): Promise<LiveSchemaServer> {
  const { closeDataSource = false, onClose, ...rest } = options;
  const live = createLiveRuntime(rest);
  try {
    await live.ready;
  } catch (error) {
    await live.close();
    throw error;
  }
  const server = await serveLiveSchema(live, {
    ...rest,
    onClose: async () => {
      await live.close();
      await onClose?.();
      if (closeDataSource && options.dataSource.isInitialized) await options.dataSource.destroy();
    },
  });
  return Object.assign(server, { live });
}
