/**
 * Revalidation on its own: one question per token and sweep however much it
 * holds, revocation on `false` or a LiveError, and an outage of the user
 * store (any other failure) signing nobody out.
 */
import { UnauthenticatedError } from '../../src';
import { Revalidation, type Revocable } from '../../src/internals';

class Held implements Revocable {
  closed = false;
  revoked = 0;
  revoke(): void {
    this.revoked++;
    this.closed = true;
  }
}

const alice = { id: 1 };
const bob = { id: 2 };

it('asks once per token and sweep, revokes what a false answer covers, forgets what closed', async () => {
  const answers = new Map<string, boolean>([['a', true], ['b', true]]);
  const asked: string[] = [];
  const r = new Revalidation((_, token) => {
    asked.push(token);
    return answers.get(token)!;
  }, 3_600_000, () => undefined);
  const [a1, a2, b1] = [new Held(), new Held(), new Held()];
  r.watch('a', alice, a1);
  r.watch('a', alice, a2);
  r.watch('b', bob, b1);
  await r.sweep();
  expect(asked).toEqual(['a', 'b']);
  expect([a1.revoked, a2.revoked, b1.revoked]).toEqual([0, 0, 0]);

  answers.set('a', false);
  await r.sweep();
  expect([a1.revoked, a2.revoked, b1.revoked]).toEqual([1, 1, 0]);
  expect(r.size).toBe(1);

  b1.closed = true; // closed by its client
  asked.length = 0;
  await r.sweep();
  expect(asked).toEqual([]);
  expect(r.size).toBe(0);
  r.close();
});

it('a LiveError revokes; any other failure keeps the caller and is logged', async () => {
  const logged: unknown[] = [];
  let failure: Error = new Error('user store down');
  const r = new Revalidation(() => Promise.reject(failure), 3_600_000, (e) => logged.push(e));
  const held = new Held();
  r.watch('t', alice, held);
  await r.sweep();
  expect(held.revoked).toBe(0);
  expect(logged).toEqual([failure]);
  failure = new UnauthenticatedError('locked');
  await r.sweep();
  expect(held.revoked).toBe(1);
  expect(logged).toHaveLength(1);
  r.close();
});
