import { randomUUID } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import type { DataSource } from 'typeorm';
import type { RowChange } from '../change/row-change';
import type { ChangeTransport, TransportState } from './change-transport';
import { decodeChanges, encodeChanges } from './wire';

export interface RedisTransportOptions {
  /** Default `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  url?: string;
  /** More ioredis options (TLS, sentinels, …). */
  redis?: RedisOptions;
  /** Key prefix: the stream is `<prefix>:changes`, its counter `<prefix>:changes:seq`. Default `live`. */
  prefix?: string;
  /** Entries the stream keeps (about: `MAXLEN ~`); a process further behind has lost changes. Default 100,000. */
  maxLength?: number;
  /** Transactions a process holds while Redis is unreachable; one more drops them all and every process is told. Default 10,000. */
  maxBacklog?: number;
  /** Errors of the connections (they reconnect by themselves); default: ignored once reported in `state`. */
  onError?: (error: unknown) => void;
}

/**
 * Appends one transaction atomically: the stream's own sequence number
 * (INCR), then the entry. Consecutive numbers let every reader tell a gap —
 * entries trimmed before it read them, a Redis that restarted empty — from
 * a quiet stream; Redis stream ids alone cannot.
 */
const PUBLISH = `
local seq = redis.call('INCR', KEYS[2])
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'origin', ARGV[2], 'tx', ARGV[3], 'kind', ARGV[4], 'data', ARGV[5])
`;

type Fields = Record<string, string>;
const fieldsOf = (list: string[]): Fields => {
  const out: Fields = {};
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i]] = list[i + 1];
  return out;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * ORM capture across processes over one Redis stream (ioredis 5). Why a
 * stream and not Redis pub/sub: pub/sub forgets a message as soon as it is
 * sent, so a process that was briefly disconnected (or slow) loses changes
 * without knowing; a stream keeps them, in one order every reader sees,
 * trimmed to a bounded length, and its entries carry our consecutive
 * sequence number, so a reader that missed some knows it did.
 *
 * Publishing: a transaction is encoded once and appended (one Lua call:
 * sequence number + XADD, pipelined when several wait). While Redis is
 * unreachable they wait in order in a bounded backlog, sent on reconnect;
 * past `maxBacklog` the backlog is dropped, this process's subscribers are
 * told at once, and a gap marker tells the other processes once Redis is
 * back. A retried append that had in fact gone through is recognised by
 * its (origin, transaction number) and skipped by every reader.
 *
 * Reading: one blocking connection per process, `XREAD` from the last id
 * read; the next batch is read only when the engine has routed this one.
 * This process's own transactions come back as the very objects its
 * capture recorded (so its in-flight row history stays exact); the others'
 * are decoded. A gap — a sequence number that jumps or starts over, a gap
 * marker — calls `lost`: the engine ends every subscription with
 * CHANGES_LOST, and clients refetch and subscribe again.
 */
export function redisTransport(dataSource: DataSource, options: RedisTransportOptions = {}): ChangeTransport {
  return new RedisStreamTransport(dataSource, options);
}

class RedisStreamTransport implements ChangeTransport {
  private readonly origin = randomUUID();
  private readonly writer: Redis;
  private readonly reader: Redis;
  private readonly stream: string;
  private readonly seqKey: string;
  private readonly maxLength: number;
  private readonly maxBacklog: number;
  /** This process's transactions not yet read back, by transaction number. */
  private readonly own = new Map<string, RowChange[]>();
  private backlog: { tx: string; data: string }[] = [];
  private txCount = 0;
  private flushing = false;
  /** A dropped backlog the other processes have not been told of yet. */
  private gapToAnnounce = false;
  private closed = false;
  private lastId = '0-0';
  private lastSeq = 0;
  /** Per origin, the last transaction number read (a retried append is read twice). */
  private readonly seen = new Map<string, number>();
  private lost: (reason: string) => void = () => undefined;
  private loop: Promise<void> | undefined;
  readonly state: TransportState = { connected: false, backlog: 0 };
  onDropped?: (changes: RowChange[]) => void;

  constructor(private readonly dataSource: DataSource, options: RedisTransportOptions) {
    const url = options.url ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const prefix = options.prefix ?? 'live';
    this.stream = `${prefix}:changes`;
    this.seqKey = `${prefix}:changes:seq`;
    this.maxLength = options.maxLength ?? 100_000;
    this.maxBacklog = options.maxBacklog ?? 10_000;
    const report = options.onError ?? (() => undefined);
    // Commands fail at once while disconnected (the backlog holds them, bounded), instead of ioredis's unbounded offline queue.
    const common: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, ...options.redis };
    this.writer = new Redis(url, common);
    this.reader = new Redis(url, { ...common, maxRetriesPerRequest: null });
    this.writer.defineCommand('livePublish', { numberOfKeys: 2, lua: PUBLISH });
    for (const connection of [this.writer, this.reader]) {
      connection.on('error', report);
    }
    this.writer.on('ready', () => {
      this.state.connected = true;
      void this.flush();
    });
    this.writer.on('close', () => void (this.state.connected = false));
    // Back after a disconnect: a Redis that restarted empty has lost what this process had not read.
    this.reader.on('ready', () => void this.checkReset());
  }

  publish(changes: RowChange[]): void {
    if (this.closed) return;
    const tx = String(++this.txCount);
    this.own.set(tx, changes);
    this.backlog.push({ tx, data: encodeChanges(changes) });
    if (this.backlog.length > this.maxBacklog) this.drop();
    this.state.backlog = this.backlog.length;
    void this.flush();
  }

  private drop(): void {
    const dropped = this.backlog;
    this.backlog = [];
    for (const { tx } of dropped) {
      const changes = this.own.get(tx);
      this.own.delete(tx);
      if (changes) this.onDropped?.(changes);
    }
    this.gapToAnnounce = true;
    this.gap(`${dropped.length} transactions could not be sent to Redis and were dropped`);
  }

  private gap(reason: string): void {
    this.state.lastGap = { at: new Date(), reason };
    this.lost(reason);
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    const send = (this.writer as unknown as { livePublish(...args: string[]): Promise<string> }).livePublish.bind(this.writer);
    try {
      while (!this.closed && this.writer.status === 'ready' && (this.backlog.length || this.gapToAnnounce)) {
        if (this.gapToAnnounce) {
          await send(this.stream, this.seqKey, String(this.maxLength), this.origin, '0', 'gap', '');
          this.gapToAnnounce = false;
        }
        const batch = this.backlog.slice(0, 64);
        if (batch.length) {
          const pipeline = this.writer.pipeline();
          for (const entry of batch) (pipeline as unknown as { livePublish(...args: string[]): void }).livePublish(this.stream, this.seqKey, String(this.maxLength), this.origin, entry.tx, 'changes', entry.data);
          const results = (await pipeline.exec()) ?? [];
          const failed = results.findIndex(([error]) => error);
          if (failed >= 0) {
            this.backlog.splice(0, failed);
            throw results[failed][0];
          }
        }
        this.backlog.splice(0, batch.length);
        this.state.backlog = this.backlog.length;
      }
    } catch {
      // Unreachable: the backlog waits for the next 'ready'. An append that did go through is skipped by readers.
    } finally {
      this.flushing = false;
      this.state.backlog = this.backlog.length;
    }
  }

  async start(sink: (changes: RowChange[]) => Promise<void>, lost: (reason: string) => void): Promise<void> {
    this.lost = lost;
    await Promise.all([this.writer.connect(), this.reader.connect()]);
    // Begin after the newest entry, atomically with the counter (INCR and XADD are one script).
    const results = (await this.reader.multi().get(this.seqKey).xrevrange(this.stream, '+', '-', 'COUNT', 1).exec()) ?? [];
    const seq = results[0]?.[1] as string | null;
    const last = results[1]?.[1] as [string, string[]][] | undefined;
    this.lastSeq = Number(seq ?? 0);
    this.lastId = last?.[0]?.[0] ?? '0-0';
    this.loop = this.read(sink);
  }

  private async read(sink: (changes: RowChange[]) => Promise<void>): Promise<void> {
    while (!this.closed) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader.xread('COUNT', 256, 'BLOCK', 1000, 'STREAMS', this.stream, this.lastId)) as typeof reply;
      } catch {
        if (this.closed) return;
        await sleep(100);
        continue;
      }
      for (const [id, list] of reply?.[0]?.[1] ?? []) {
        const fields = fieldsOf(list);
        const seq = Number(fields.seq);
        if (seq !== this.lastSeq + 1) {
          this.gap(seq <= this.lastSeq
            ? 'the change stream started over (Redis restarted without its data?)'
            : `changes ${this.lastSeq + 1}–${seq - 1} were trimmed from the stream before this process read them`);
        }
        this.lastSeq = seq;
        this.lastId = id;
        if (fields.kind === 'gap') {
          if (fields.origin !== this.origin) this.gap('another server process dropped changes it could not send to Redis');
          continue;
        }
        const tx = Number(fields.tx);
        if (tx <= (this.seen.get(fields.origin) ?? 0)) continue;
        this.seen.set(fields.origin, tx);
        let changes: RowChange[] | undefined;
        if (fields.origin === this.origin) {
          changes = this.own.get(fields.tx);
          this.own.delete(fields.tx);
        }
        try {
          await sink(changes ?? decodeChanges(this.dataSource, fields.data));
        } catch {
          // The engine reports its own failures; the next transaction goes on.
        }
      }
    }
  }

  /** After a reconnect: a counter that is gone or went back means Redis lost the stream. */
  private async checkReset(): Promise<void> {
    if (!this.loop) return;
    try {
      const seq = Number((await this.reader.get(this.seqKey)) ?? 0);
      if (seq < this.lastSeq) {
        this.gap('the change stream started over (Redis restarted without its data?)');
        this.lastSeq = seq;
        this.lastId = '0-0';
      }
    } catch {
      // Checked again at the next reconnect.
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader.disconnect();
    await this.loop?.catch(() => undefined);
    // What could still be sent is given a moment; the rest is gone with the process (as on a crash).
    await Promise.race([this.writer.quit().catch(() => undefined), sleep(1000)]);
    this.writer.disconnect();
  }
}
