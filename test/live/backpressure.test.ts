/**
 * A subscriber that stops reading is bounded in bytes: once its connection
 * holds more than `subscriberBufferBytes` unsent when an event is due, it is
 * ended (SLOW_CONSUMER), and nobody else notices. Counted in bytes, a client
 * that picks large results is cut as soon as one that picks small ones
 * would be by volume — with the event limit (1000 by default) these 512 kB
 * events would pile up to half a gigabyte.
 */
import { randomBytes } from 'node:crypto';
import { Post } from '../../example/entities';
import { LiveHarness, POST_HASHTAG, waitUntil, type LiveUser } from '../support/live';
import { describeEachCapture } from '../support/capture';

const BUFFER_BYTES = 256 * 1024;
describeEachCapture('backpressure', (capture) => {
  let h: LiveHarness;
  let alice: LiveUser;

  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'live_backpressure', capture, server: { subscriberBufferBytes: BUFFER_BYTES } });
    alice = await h.signUp('alice');
  });
  afterAll(async () => { await h?.close(); });

  it('a socket that never reads is cut off at its bound; a reading subscriber gets every event', async () => {
    const query = 'subscription($tag: ID!) { postGroupChanged(group: { hashtag: $tag }) { action id post { id body } } }';
    const reader = await h.subscribe(h.client(), POST_HASHTAG, { tag: 'flood' });

    // The stalled one: graphql-transport-ws by hand, then its socket stops reading.
    const stalled = await h.rawSocket(alice);
    stalled.send({ id: 'stalled', type: 'subscribe', payload: { query, variables: { tag: 'flood' } } });
    await waitUntil(() => h.engine.activeSubscriptions === 2, 10_000, () => 'the stalled subscription to be held');
    (stalled.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

    // Large posts fill the kernel's socket buffers quickly; after that the
    // server cannot flush, stops pulling the stalled queue, and the queue
    // overflows. Each write waits for the reader, so the reader is never behind.
    const big = randomBytes(256 * 1024).toString('hex'); // 512 kB of text per event
    const repo = h.ds.getRepository(Post);
    let written = 0;
    while (h.engine.activeSubscriptions === 2) {
      // The kernel's socket buffers take some megabytes first; then the bound is 256 kB plus one event.
      if (written >= 60) throw new Error(`the stalled subscriber was not cut after ${written} events of 512 kB`);
      await repo.save({ body: `#flood ${written} ${big}`, authorId: Number(alice.id) });
      written++;
      await reader.waitFor(written);
    }
    expect(h.engine.activeSubscriptions).toBe(1);
    expect(written).toBeGreaterThan(1);

    // The reader carries on and has missed nothing.
    for (let i = 0; i < 3; i++) await repo.save({ body: `#flood after ${i}`, authorId: Number(alice.id) });
    const events = await reader.waitFor(written + 3);
    expect(events).toHaveLength(written + 3);
    expect(events.every((e) => e.action === 'CREATED')).toBe(true);
    expect(events.map((e) => e.post.body.split(' ').slice(0, 2).join(' '))).toEqual([
      ...Array.from({ length: written }, (_, i) => `#flood ${i}`),
      '#flood after', '#flood after', '#flood after',
    ]);

    // Reading again, the stalled socket gets what was already on the wire and then a clear SLOW_CONSUMER error.
    (stalled.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    await waitUntil(() => stalled.messages.some((m) => JSON.stringify(m).includes('SLOW_CONSUMER')), 20_000, () => 'the SLOW_CONSUMER error');
    const ending = stalled.messages.filter((m) => m.id === 'stalled' && (m.type !== 'next' || m.payload.errors));
    expect(ending).toEqual([
      { id: 'stalled', type: 'next', payload: { errors: [expect.objectContaining({ extensions: { code: 'SLOW_CONSUMER' } })] } },
      { id: 'stalled', type: 'complete' },
    ]);
    expect(stalled.messages.filter((m) => m.type === 'next' && !m.payload.errors).length).toBeLessThan(written);

    reader.unsubscribe();
    await h.settled();
    expect(h.engine.activeSubscriptions).toBe(0);
  });
});
