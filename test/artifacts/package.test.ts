/**
 * The package as users install it: built with `npm run build`, packed with
 * `npm pack`, unpacked into a node_modules folder, then each subpath of
 * `package.json` `exports` required by Node and type-checked by TypeScript
 * from a consumer outside the package. A broken export map, a missing file
 * in `files` or a declaration that does not resolve fails here.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';

const run = promisify(execFile);
const root = join(__dirname, '../..');

let work: string;
let consumer: string;

beforeAll(async () => {
  // Inside the repository, so the unpacked package finds its dependencies in ./node_modules.
  await mkdir(join(root, '.tmp'), { recursive: true });
  work = await mkdtemp(join(root, '.tmp', 'package-'));
  const build = join(work, 'build');
  // The package's own build, into a private folder (a build of the checkout's dist/ must not race other work).
  await run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(build, 'dist')], { cwd: root });
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  await writeFile(join(build, 'package.json'), JSON.stringify({ ...manifest, scripts: {} }, null, 2));
  await writeFile(join(build, 'README.md'), await readFile(join(root, 'README.md')));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: build });
  const [{ filename }] = JSON.parse(stdout);
  consumer = join(work, 'consumer');
  const installed = join(consumer, 'node_modules', manifest.name);
  await mkdir(installed, { recursive: true });
  // A package of its own: inside the repository's package scope, Node would resolve the name to the checkout itself.
  await writeFile(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  await run('tar', ['-xzf', join(work, filename), '-C', installed, '--strip-components=1']);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function node(source: string): Promise<string> {
  const { stdout } = await run(process.execPath, ['-e', source], { cwd: consumer });
  return stdout.trim();
}

describe('the packed package', () => {
  it('lists the three entry points in exports', async () => {
    const manifest = JSON.parse(await readFile(join(consumer, 'node_modules/typeorm-graphql-live/package.json'), 'utf8'));
    expect(Object.keys(manifest.exports)).toEqual(expect.arrayContaining(['.', './embedded', './internals']));
  });

  it('main entry: what applications write, and no internals', async () => {
    const names = JSON.parse(await node(`console.log(JSON.stringify(Object.keys(require('typeorm-graphql-live')).sort()))`));
    expect(names).toEqual(expect.arrayContaining([
      'resource', 'allowAny', 'isAuthenticated', 'defineApp', 'createLiveServer', 'createLiveRuntime', 'serveLiveSchema',
      'bulkUpdate', 'bulkDelete', 'LiveError', 'ForbiddenError', 'inProcessPubSub', 'installOutbox', 'outboxMigrationSQL',
    ]));
    for (const internal of ['LiveEngine', 'OutboxReader', 'matches', 'both', 'parseCursor', 'topic', 'startEmbeddedPostgres']) {
      expect(names).not.toContain(internal);
    }
  });

  it('/embedded and /internals resolve to their own modules', async () => {
    expect(await node(`console.log(typeof require('typeorm-graphql-live/embedded').startEmbeddedPostgres)`)).toBe('function');
    expect(await node(`const i = require('typeorm-graphql-live/internals'); console.log([typeof i.LiveEngine, typeof i.OutboxReader, typeof i.matches].join())`))
      .toBe('function,function,function');
  });

  it('files outside the export map cannot be imported', async () => {
    await expect(node(`require('typeorm-graphql-live/dist/live/engine.js')`)).rejects.toThrow(/ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  it('type-checks a consumer importing every entry point', async () => {
    const file = join(consumer, 'consumer.ts');
    await writeFile(file, `import { createLiveServer, resource, type LiveRuntime, type ResourceOptions } from 'typeorm-graphql-live';
import { startEmbeddedPostgres, type EmbeddedPostgres } from 'typeorm-graphql-live/embedded';
import { LiveEngine, type Condition } from 'typeorm-graphql-live/internals';
export const used: unknown[] = [createLiveServer, resource, startEmbeddedPostgres, LiveEngine];
export type Used = [LiveRuntime, ResourceOptions, EmbeddedPostgres, Condition];
import { LiveEngine as Hidden } from 'typeorm-graphql-live';
// @ts-expect-error the engine class is internal: the main entry exports its type only
export const hidden = Hidden;
`);
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16, types: ['node'], skipLibCheck: true,
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
    expect(errors).toEqual([]);
  }, 60_000);
});
