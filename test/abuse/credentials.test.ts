/**
 * The demo's credential endpoints under a flood from one address (rate
 * limits on, as `npm start` serves them): failed logins and sign-ups are
 * refused with RATE_LIMITED and a retry time, refused sign-ups write
 * nothing, and hashing runs off the event loop, so everyone else is still
 * served meanwhile.
 */
import { User } from '../../example/entities';
import { LiveHarness } from '../support/live';

let h: LiveHarness;
beforeAll(async () => {
  h = await LiveHarness.start({ prefix: 'credentials', capture: 'orm', demo: { rateLimits: true } });
});
afterAll(async () => { await h?.close(); });

const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }';
const SIGN_UP = 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }';

/** The slowest `{ __typename }` answer while `work` runs. */
async function slowestAnswerDuring(work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true));
  let slowest = 0;
  while (!done) {
    const started = Date.now();
    await h.ok('{ __typename }');
    slowest = Math.max(slowest, Date.now() - started);
  }
  await work;
  return slowest;
}

const code = (r: { errors?: readonly any[] }) => r.errors?.[0]?.extensions?.code;

it('sign-ups: 20 per address, then RATE_LIMITED with retryAfter, and nothing written', async () => {
  const attempts = await Promise.all(Array.from({ length: 26 }, (_, i) => h.request(SIGN_UP, { i: { username: `flood${i}`, email: `flood${i}@example.com`, password: 'password-flood' } })));
  expect(attempts.filter((r) => !r.errors).length).toBe(20);
  const refused = attempts.filter((r) => r.errors);
  expect(refused.map(code)).toEqual(Array(6).fill('RATE_LIMITED'));
  expect(refused[0].errors![0].extensions!.retryAfter).toBeGreaterThan(0);
  expect(await h.ds.getRepository(User).count()).toBe(20);
});

it('failed logins: 10 per address, then RATE_LIMITED before any hashing; the server keeps answering meanwhile', async () => {
  const flood = Promise.all(Array.from({ length: 40 }, () => h.request(LOGIN, { u: 'flood0', p: 'not the password' })));
  const slowest = await slowestAnswerDuring(flood);
  const results = await flood;
  expect(results.filter((r) => code(r) === 'UNAUTHENTICATED').length).toBe(10);
  expect(results.filter((r) => code(r) === 'RATE_LIMITED').length).toBe(30);
  // Liveness only (the figure is in the bench): hashing never held the event loop for seconds.
  expect(slowest).toBeLessThan(2_000);
  // Still refused with the right password until the window passes: a guesser cannot slip one in.
  expect(code(await h.request(LOGIN, { u: 'flood0', p: 'password-flood' }))).toBe('RATE_LIMITED');
});
