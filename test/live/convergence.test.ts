/**
 * Every subscriber's view converges to the database: seeded random writers,
 * privacy flips, raw SQL (database capture) and random disconnects, then
 * each observer's view against a fresh query as that observer, and no value
 * it may not read ever received (test/support/convergence.ts). A few fixed
 * seeds here; `npm run soak -- --seconds 300 --seed N` runs longer.
 */
import { describeEachCapture } from '../support/capture';
import { runConvergence } from '../support/convergence';
import { LiveHarness } from '../support/live';

const SEEDS = [1, 2, 3];
const SECONDS = 4;

describeEachCapture('convergence', (capture) => {
  let h: LiveHarness;
  beforeAll(async () => {
    h = await LiveHarness.start({ prefix: 'converge', capture });
  });
  afterAll(async () => { await h?.close(); });

  it.each(SEEDS)('seed %i: every observer ends with what a fresh query shows it, and never receives what it may not read', async (seed) => {
    const result = await runConvergence(h, { seed, seconds: SECONDS, capture });
    const report = `seed ${seed} (${capture} capture) failed — rerun with npm run soak -- --seed ${seed} --seconds ${SECONDS} --capture ${capture}\n`;
    expect({ leaks: result.leaks, mismatches: result.mismatches, report: result.leaks.length || result.mismatches.length ? report : '' })
      .toEqual({ leaks: [], mismatches: [], report: '' });
    // It did something: writes went through, events reached observers, sockets dropped and came back.
    expect(result.writes).toBeGreaterThan(20);
    expect(result.events).toBeGreaterThan(20);
    expect(result.disconnects).toBeGreaterThan(0);
    expect(result.views).toBe(20);
  }, 120_000);
});
