/**
 * The fan-out benchmark: N graphql-transport-ws subscribers, one writer
 * sending `patchTask` over HTTP, for three systems run by the same harness:
 *
 * - `live`  — typeorm-graphql-live serving the demo app (bench/live-server.ts);
 * - `naive` — graphql-yoga + graphql-ws + TypeORM + createPubSub, one execution
 *             per subscriber per event (bench/naive-server.ts);
 * - `limit` — plain `ws` + `pg`, one pre-serialized string per event (bench/limit-server.ts).
 *
 * Workloads (bench/lib/load.ts): W1 one hot group, W2 many groups, W3 mixed
 * rights. Phases: A latency (open loop), B throughput (closed loop).
 *
 *   npm run bench                         # short: W1, N=1000, all systems (about 2–3 minutes)
 *   npm run bench -- --full               # W1/W2/W3 × N=100,1000,4000 × 3 systems (BENCH_FULL=1 too)
 *   npm run bench -- --systems live --workloads W1,W3 --n 100,4000 --phases B
 *   npm run bench -- --profile /tmp/prof  # + V8 CPU profiles of the server children
 *
 * Other flags: --writes-a 200 --interval 50 --writes-b 400 --in-flight 4
 * --warmup 20 --calibration 200 --attempts 3 --deadline <s> --name <name> --no-save;
 * --render <name> rewrites <name>.md and .svg from <name>.json.
 * Results go to bench/results/<name>.{json,md,svg}: `short` and `full` by
 * default; a run with a custom selection is saved only with --name.
 *
 * Needs the real PostgreSQL (PG_ADMIN_URL, see test/support/database.ts). A
 * fresh database is created and dropped at the end — also on errors, on the
 * deadline and on Ctrl-C; server children are closed (SIGKILL after 10 s).
 * Everything runs on 127.0.0.1: server, load client and PostgreSQL share the
 * machine's cores.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, databaseExists, type TestDatabase } from '../test/support/database';
import { children, runOne, SYSTEMS, WORKLOADS, type PhaseName, type RunResult, type Settings, type SystemName, type WorkloadName } from './lib/load';
import { markdown, svg, type Report } from './lib/report';
import { machineBusySeconds, sleep } from './lib/proc';
import { seedDatabase } from './lib/seed';

// ---------------------------------------------------------------- flags

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const inline = argv.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
};
const list = (name: string) => option(name)?.split(',').map((s) => s.trim()).filter(Boolean);

const KNOWN = new Set(['render', 'full', 'systems', 'workloads', 'n', 'phases', 'writes-a', 'interval', 'writes-b', 'in-flight', 'warmup', 'calibration', 'deadline', 'attempts', 'name', 'no-save', 'profile', 'help']);
for (const a of argv) {
  if (a.startsWith('--') && !KNOWN.has(a.slice(2).split('=')[0])) {
    console.error(`unknown flag ${a}; see the comment at the top of bench/run.ts`);
    process.exit(64);
  }
}
if (flag('help')) {
  console.log('npm run bench [-- --full] [--systems live,naive,limit] [--workloads W1,W2,W3] [--n 100,1000,4000] [--phases A,B]\n' +
    '  [--writes-a 200] [--interval 50] [--writes-b 400] [--in-flight 4] [--warmup 20] [--calibration 200]\n' +
    '  [--attempts 3: repeat a run disturbed by other processes]\n' +
    '  [--deadline seconds] [--name name] [--no-save] [--profile dir]\n' +
    'npm run bench -- --render <name>   # rewrite bench/results/<name>.md and .svg from its JSON');
  process.exit(0);
}

// `--render <name>`: rewrite bench/results/<name>.md and .svg from its JSON (after changing the report code).
const render = option('render');
if (render) {
  const dir = path.join(__dirname, 'results');
  const report = JSON.parse(readFileSync(path.join(dir, `${render}.json`), 'utf8')) as Report;
  writeFileSync(path.join(dir, `${render}.md`), markdown(report));
  writeFileSync(path.join(dir, `${render}.svg`), svg(report));
  console.log(`rendered bench/results/${render}.{md,svg}`);
  process.exit(0);
}

const full = flag('full') || process.env.BENCH_FULL === '1';
const custom = ['systems', 'workloads', 'n', 'phases', 'writes-a', 'writes-b', 'interval', 'in-flight'].some((f) => option(f) !== undefined);
const systems = (list('systems') ?? ['live', 'naive', 'limit']) as SystemName[];
const workloads = (list('workloads') ?? (full ? ['W1', 'W2', 'W3'] : ['W1'])).map((w) => w.toUpperCase()) as WorkloadName[];
const sizes = (list('n') ?? (full ? ['100', '1000', '4000'] : ['1000'])).map(Number);
const phases = (list('phases') ?? ['A', 'B']).map((p) => p.toUpperCase()) as PhaseName[];
for (const s of systems) if (!(s in SYSTEMS)) throw new Error(`unknown system ${s}`);
for (const w of workloads) if (!(w in WORKLOADS)) throw new Error(`unknown workload ${w}`);
for (const p of phases) if (p !== 'A' && p !== 'B') throw new Error(`unknown phase ${p}`);
for (const n of sizes) if (!Number.isSafeInteger(n) || n < 1) throw new Error(`bad N ${n}`);

const name = option('name') ?? (full ? 'full' : 'short');
const save = !flag('no-save') && (!custom || option('name') !== undefined);
const settings: Settings = {
  writesA: Number(option('writes-a') ?? 200),
  intervalMs: Number(option('interval') ?? 50),
  writesB: Number(option('writes-b') ?? 400),
  inFlight: Number(option('in-flight') ?? 4),
  warmupWrites: Number(option('warmup') ?? 20),
  calibrationWrites: Number(option('calibration') ?? 200),
  connectBatch: 100,
  quietMs: 5000,
  phaseCapMs: 600_000,
  phases,
  profileDir: option('profile'),
  attempts: Number(option('attempts') ?? 3),
};
const deadlineMs = Number(option('deadline') ?? (full || custom ? 7200 : 420)) * 1000;

// ---------------------------------------------------------------- main

/** Which code ran: HEAD, and a fingerprint of uncommitted changes in src/ and example/ (what the live server loads). */
function codeVersion(): { commit: string; uncommitted: string[]; fingerprint: string } {
  const git = (...args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: path.resolve(__dirname, '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  const commit = git('rev-parse', '--short', 'HEAD').trim() || '?';
  const uncommitted = git('status', '--porcelain', '--', 'src', 'example').split('\n').filter(Boolean).map((l) => l.slice(3));
  const fingerprint = createHash('sha1').update(commit).update(git('diff', 'HEAD', '--', 'src', 'example')).update(uncommitted.join()).digest('hex').slice(0, 10);
  return { commit, uncommitted, fingerprint };
}

/** A phase during which other processes used more than this (% of one core) makes the run count as disturbed. */
const NOISY_PCT = 25;

/**
 * Waits (up to 2 minutes) until the machine is nearly idle — under 30% of
 * one core busy over a second — so that a run does not start while other
 * work (a test suite, another benchmark) shares the cores. Runs disturbed
 * anyway are flagged by each phase's `otherCpuPct`.
 */
async function waitForQuiet(): Promise<void> {
  const start = Date.now();
  let busy = 0;
  while (!aborted && Date.now() - start < 120_000) {
    const before = machineBusySeconds();
    await sleep(1000);
    busy = machineBusySeconds() - before;
    if (busy < 0.3) {
      if (Date.now() - start > 1500) log(`  (waited ${Math.round((Date.now() - start) / 1000)} s for other processes to finish)`);
      return;
    }
  }
  if (!aborted) log(`  ! the machine is busy (${Math.round(busy * 100)}% of a core used by other processes); running anyway`);
}

const started = Date.now();
const stamp = () => `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s]`;
const log = (line: string) => console.log(line.startsWith('  ') ? line : `${stamp()} ${line}`);
let aborted = false;
let abortReason = '';
let db: TestDatabase | undefined;

function abort(reason: string, code: number): void {
  if (aborted) return;
  aborted = true;
  abortReason = reason;
  console.error(`\n${stamp()} aborting: ${reason}`);
  for (const child of children) child.kill('SIGKILL'); // each by its own pid
  process.exitCode = code;
  // Whatever is still pending gets 20 s to unwind (and drop the database), then we leave.
  setTimeout(() => {
    console.error('cleanup took too long; exiting');
    process.exit(code);
  }, 20_000).unref();
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const codeAtStart = codeVersion();
  const deadline = setTimeout(() => abort(`still running after ${deadlineMs / 1000} s (--deadline)`, 2), deadlineMs);
  const onSignal = (signal: NodeJS.Signals) => abort(signal, 130);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const runs: RunResult[] = [];
  let postgres = '?';
  try {
    db = await createTestDatabase('bench');
    const secret = randomBytes(32).toString('hex');
    const maxW2 = workloads.includes('W2') ? Math.max(...sizes.map((n) => Math.ceil(n / 10))) : 0;
    const layout = await seedDatabase(db.url, secret, maxW2);
    postgres = layout.postgresVersion;
    log(`database ${db.name}; ${os.cpus().length} CPUs; load client pid ${process.pid}; systems ${systems.join(', ')}; workloads ${workloads.join(', ')}; N ${sizes.join(', ')}; phases ${phases.join(', ')}`);
    const doneState = new Map<number, boolean>();
    for (const workload of workloads) {
      for (const n of sizes) {
        for (const system of systems) {
          if (aborted) break;
          log(`${workload} N=${n} ${system}`);
          let result: RunResult;
          for (let attempt = 1; ; attempt++) {
            await waitForQuiet();
            result = await runOne({
              system, workload, n, databaseUrl: db.url, secret, layout, settings, doneState, log, isAborted: () => aborted,
            });
            result.attempt = attempt;
            const noisy = Math.max(0, ...result.phases.map((p) => p.otherCpuPct));
            if (noisy <= NOISY_PCT || attempt >= settings.attempts || aborted || result.status !== 'ok') break;
            log(`  other processes used up to ${noisy}% of a core during this run; running it again (attempt ${attempt + 1} of ${settings.attempts})`);
          }
          runs.push(result);
          for (const p of result.phases) log(`  phase ${p.phase}: net of the write cost ${p.serverCpuUsPerDeliveryNet} µs/delivery, ${p.serverCpuMsPerWrite} ms server CPU per write`);
          if (result.rssBytesPerSubscriber !== undefined) {
            log(`  ${result.subscriptions} subscriptions in ${result.connectS} s (${result.markerRounds} marker round(s)); RSS ${(result.rssIdleBytes! / 1048576).toFixed(0)} → ${(result.rssSubscribedBytes! / 1048576).toFixed(0)} MB, ${(result.rssBytesPerSubscriber / 1024).toFixed(1)} KB per subscriber; write cost ${result.writeCostUs} µs` +
              (workload === 'W3' ? `; anonymous private-list ops refused ${result.refusedOps} / silent ${result.silentOps}` : ''));
          }
        }
      }
    }
  } catch (error) {
    if (!aborted) {
      console.error(error);
      process.exitCode = 1;
    }
  } finally {
    clearTimeout(deadline);
    for (const child of children) child.kill('SIGKILL');
    if (db) {
      try {
        await db.drop();
        if (await databaseExists(db.name)) {
          console.error(`database ${db.name} is still there`);
          process.exitCode = 1;
        }
      } catch (error) {
        console.error(`dropping ${db.name} failed:`, error);
        process.exitCode = 1;
      }
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  if (runs.length === 0) return;
  const cpus = os.cpus();
  const report: Report = {
    name,
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    startedAt,
    finishedAt: new Date().toISOString(),
    status: aborted ? 'aborted' : 'complete',
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? '?',
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      os: `${os.type()} ${os.release()}`,
      postgres,
    },
    settings: { ...settings, systems, workloads, sizes },
    code: { ...codeAtStart, changedDuringRun: codeVersion().fingerprint !== codeAtStart.fingerprint },
    runs,
  };
  const problems = runs.filter((r) => r.status !== 'ok' || r.phases.some((p) => p.violations + p.wrong + p.duplicates + p.lost + p.writeErrors > 0));
  if (problems.length > 0 && !process.exitCode) process.exitCode = 3; // results are still written
  const md = markdown(report);
  console.log(`\n${md}`);
  if (aborted) {
    console.error(`not saved: ${abortReason}`);
    return;
  }
  if (!save) {
    console.log('(not saved: custom selection without --name, or --no-save)');
    return;
  }
  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, `${name}.md`), md);
  writeFileSync(path.join(dir, `${name}.svg`), svg(report));
  log(`saved bench/results/${name}.{json,md,svg}`);
}

// Last resort: whatever escapes still kills the children and drops the database.
process.on('uncaughtException', (error) => {
  console.error(error);
  abort('uncaught exception', 1);
  (db?.drop() ?? Promise.resolve()).catch(() => undefined).finally(() => process.exit(1));
});

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
