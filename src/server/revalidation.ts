import type { AuthUser } from '../define/context';

/**
 * Asks whether a signed-in caller may go on: false (or a rejection with a
 * LiveError) revokes what its credential opened — a password changed, an
 * account locked or deleted, a token revoked. Any other failure (the user
 * store is down) keeps the caller and is logged: an outage must not sign
 * everybody out.
 */
export type Revalidate = (user: AuthUser, token: string) => boolean | Promise<boolean>;

/** Something a credential opened: a WebSocket, an SSE stream. */
export interface Revocable {
  /** Already over (closed by the client, ended otherwise): forgotten at the next sweep. */
  readonly closed: boolean;
  /** The credential was revoked: end it with UNAUTHENTICATED. */
  revoke(): void;
}

/**
 * The long-lived things each credential holds open, revalidated every
 * `intervalMs`: one call of `revalidate` per distinct token and sweep, however
 * many sockets and streams it holds, and one timer for the server. A sweep
 * does not start while the last one runs.
 */
export class Revalidation {
  private readonly byToken = new Map<string, { user: AuthUser; held: Set<Revocable> }>();
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;

  constructor(private readonly revalidate: Revalidate, intervalMs: number, private readonly log: (error: unknown) => void) {
    this.timer = setInterval(() => void this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** Starts watching what `token` opened; it is dropped once closed. */
  watch(token: string, user: AuthUser, held: Revocable): void {
    let entry = this.byToken.get(token);
    if (!entry) this.byToken.set(token, (entry = { user, held: new Set() }));
    entry.held.add(held);
  }

  /** Tokens being watched (diagnostics). */
  get size(): number {
    return this.byToken.size;
  }

  /** One pass: forget what closed, ask about the rest, revoke what is no longer allowed. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const asked: Promise<void>[] = [];
      for (const [token, entry] of this.byToken) {
        for (const held of entry.held) if (held.closed) entry.held.delete(held);
        if (!entry.held.size) {
          this.byToken.delete(token);
          continue;
        }
        asked.push(this.ask(token, entry));
      }
      await Promise.all(asked);
    } finally {
      this.sweeping = false;
    }
  }

  private async ask(token: string, entry: { user: AuthUser; held: Set<Revocable> }): Promise<void> {
    let allowed: boolean;
    try {
      allowed = (await this.revalidate(entry.user, token)) !== false;
    } catch (error) {
      const revoked = (error as { extensions?: { code?: string } })?.extensions?.code !== undefined;
      if (!revoked) this.log(error);
      allowed = !revoked;
    }
    if (allowed) return;
    this.byToken.delete(token);
    for (const held of entry.held) if (!held.closed) held.revoke();
  }

  close(): void {
    clearInterval(this.timer);
    this.byToken.clear();
  }
}
