import type { PoolClient } from 'pg';
import type { DataSource } from 'typeorm';

/**
 * A pooled connection kept for `LISTEN channel`, reopened whenever it drops.
 * NOTIFY is only a wake-up: what committed while nobody listened is found by
 * the reader's next read, which `onWake` starts on every (re)connect too.
 */
export class OutboxListener {
  private client: PoolClient | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private running = false;
  /** Times the listener (re)connected; for tests and logs. */
  listens = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly channel: string,
    private readonly onWake: () => void,
    private readonly onError: (error: unknown) => void,
    private readonly retryMs = 200,
  ) {}

  /** Whether a LISTEN connection is open right now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Resolves once listening, or once the first attempt failed (reported; retried in the background). */
  async start(): Promise<void> {
    this.running = true;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.reconnect);
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners('notification');
      await client.query('UNLISTEN *').catch(() => undefined);
      client.release();
    }
  }

  private async connect(): Promise<void> {
    const pool = (this.dataSource.driver as unknown as { master: { connect(): Promise<PoolClient> } }).master;
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      const dropped = (error?: unknown) => {
        if (this.client !== client) return;
        this.client = undefined;
        client!.removeAllListeners('notification');
        client!.release(error instanceof Error ? error : new Error('listener connection ended'));
        if (this.running) this.retry();
      };
      client.on('error', dropped);
      client.on('end', () => dropped());
      client.on('notification', () => this.onWake());
      await client.query(`SET application_name = 'typeorm-graphql-live outbox listener'`);
      await client.query(`LISTEN "${this.channel.replace(/"/g, '""')}"`);
      if (!this.running) {
        client.release();
        return;
      }
      this.client = client;
      this.listens++;
      this.onWake();
    } catch (error) {
      client?.release(error instanceof Error ? error : true);
      if (!this.running) return;
      this.onError(error);
      this.retry();
    }
  }

  private retry(): void {
    clearTimeout(this.reconnect);
    this.reconnect = setTimeout(() => void this.connect(), this.retryMs);
    this.reconnect.unref();
  }
}
