/**
 * The common life of a benchmark server child (live, naive, limit): start,
 * report `{ url, wsUrl, pid }` to the parent over IPC, answer `'gc'` (run a
 * full collection before an RSS reading; the parent forks with
 * `--expose-gc`), and close on `'close'`, SIGTERM / SIGINT, or when the
 * parent goes away.
 */
export interface BenchServer {
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export function serveChild(name: string, start: () => Promise<BenchServer>): void {
  start().then(
    (server) => {
      console.log(`${name} ${server.url} pid ${process.pid}`);
      process.send?.({ type: 'ready', url: server.url, wsUrl: server.wsUrl, pid: process.pid });

      let closing: Promise<void> | undefined;
      const close = () => {
        closing ??= server.close().then(
          () => process.exit(0),
          (error) => {
            console.error(error);
            process.exit(1);
          },
        );
        // Never linger: a server that cannot close in 10 s is cut.
        setTimeout(() => process.exit(1), 10_000).unref();
      };
      process.on('message', (message: any) => {
        if (message === 'close') close();
        else if (message === 'gc') {
          (globalThis as { gc?: () => void }).gc?.();
          process.send?.('gc-done');
        }
      });
      process.on('disconnect', close);
      process.on('SIGTERM', close);
      process.on('SIGINT', close);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

/** The harness passes `<database-url> <jwt-secret>`. */
export function childArgs(script: string): { databaseUrl: string; secret: string } {
  const [databaseUrl, secret] = process.argv.slice(2);
  if (!databaseUrl || !secret) throw new Error(`usage: tsx bench/${script} <database-url> <jwt-secret>`);
  return { databaseUrl, secret };
}
