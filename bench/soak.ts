/**
 * The convergence scenario of test/support/convergence.ts, longer or over
 * many seeds: seeded random writers, privacy flips, raw SQL (database
 * capture) and disconnects against the demo on a fresh PostgreSQL database;
 * at the end every observer's view against a fresh query. Exits 1 on any
 * mismatch or leak, printing the seed.
 *
 *   npm run soak -- --seconds 300 --seed 7                 # one long run per capture mode
 *   npm run soak -- --seconds 15 --seeds 1-50 --capture orm  # many short runs
 *
 * Flags: --seconds N (default 60), --seed N | --seeds A-B (default 1),
 * --capture orm|database|both (default both), --writers N (default 3), --keep
 * (a failure leaves its database in place, and says which),
 * --rate N (write operations a second, all writers together; default: as fast
 * as the server answers — more than a 2-core machine routes, so it falls
 * behind and catches up at the end).
 */
import 'reflect-metadata';
import { runConvergence, type ConvergenceResult } from '../test/support/convergence';
import { LiveHarness } from '../test/support/live';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

function seeds(): number[] {
  const range = option('seeds');
  if (range) {
    const [from, to] = range.split('-').map(Number);
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  }
  return [Number(option('seed') ?? 1)];
}

async function main(): Promise<number> {
  const seconds = Number(option('seconds') ?? 60);
  const writers = Number(option('writers') ?? 3);
  const rate = option('rate') ? Number(option('rate')) : undefined;
  const capture = option('capture') ?? 'both';
  const modes = capture === 'both' ? (['orm', 'database'] as const) : [capture as 'orm' | 'database'];
  const failures: ConvergenceResult[] = [];
  const totals = { runs: 0, writes: 0, events: 0, views: 0, disconnects: 0, resumes: 0 };
  for (const mode of modes) {
    const h = await LiveHarness.start({ prefix: 'soak', capture: mode });
    try {
      for (const seed of seeds()) {
        const result = await runConvergence(h, { seed, seconds, capture: mode, writers, rate, log: (line) => console.log(line), progressSeconds: seconds >= 60 ? 30 : undefined });
        totals.runs++;
        totals.writes += result.writes;
        totals.events += result.events;
        totals.views += result.views;
        totals.disconnects += result.disconnects;
        totals.resumes += result.resumes;
        if (result.mismatches.length || result.leaks.length) {
          failures.push(result);
          console.log(`FAILED seed ${seed} (${mode}):\n${[...result.leaks, ...result.mismatches].join('\n')}`);
          if (process.argv.includes('--keep')) console.log(`database kept for a look: ${h.keepDatabase()}`);
        }
      }
    } finally {
      await h.close();
    }
  }
  console.log(`${totals.runs} runs of ${seconds} s: ${totals.writes} writes, ${totals.events} events, ${totals.disconnects} disconnects (${totals.resumes} resumed), ${totals.views} views compared; ${failures.length} failed${failures.length ? `: ${failures.map((f) => `${f.seed}/${f.capture}`).join(', ')}` : ''}`);
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(1);
});
