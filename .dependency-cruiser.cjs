// Dependency rules for src/ (and for how bench/ and example/ use it).
// Run with: npx depcruise src bench example --config .dependency-cruiser.cjs
//
// The rules are written on folder names, so they hold however the files
// inside a folder are split. The layers, from the bottom up:
//
//   model, define, policy, change     what a resource is, who may see it, what a change is
//   schema, crud, pubsub, capture     GraphQL schema, reads/writes, event transport, change capture
//   live                              the subscription engine (gets changes through change/)
//   runtime                           wires the layers together
//   server, embedded                  HTTP/WebSocket serving, embedded PostgreSQL
//   index.ts, internals.ts, cli.ts    entry points
//   client                            client helpers, standalone

/** Entry points: the only files outside runtime/ and server/ that may use them. */
const ENTRY = '^src/(index|internals|cli)\\.ts$';
/** Packages a client helper must not pull in. */
const SERVER_ONLY_PACKAGES = '(^|/)node_modules/(typeorm|pg|ws|graphql-yoga|@types/(pg|ws))/';

/** @type {import('dependency-cruiser').ICruiseOptions} */
const options = {
  doNotFollow: { path: 'node_modules' },
  // Type-only imports are dependencies too (they couple the code all the same).
  tsPreCompilationDeps: true,
  tsConfig: { fileName: 'tsconfig.json' },
  enhancedResolveOptions: {
    exportsFields: ['exports'],
    conditionNames: ['import', 'require', 'node', 'default', 'types'],
    mainFields: ['module', 'main', 'types', 'typings'],
  },
  skipAnalysisNotInRules: true,
};

/**
 * Folder cycles: two sibling folders (src/schema and src/crud, or src/capture/orm and
 * src/capture/database) that depend on each other, directly or through other
 * siblings, even when no single module is in a cycle (src/a/x -> src/b/y -> src/a/z).
 *
 * dependency-cruiser's own `scope: 'folder'` + `circular` rule misses a cycle whose edge
 * into a folder lands in a subfolder of it (src/a/x -> src/b/sub/y, src/b/w -> src/a/z),
 * and `via`/`reachable` only see module-level paths. So the folder graph is built
 * here from a first cruise of src/: every import between two modules is an edge between
 * the two sibling folders under their closest common folder (imports of a folder's own
 * top-level files, like src/errors.ts, are not folder edges). Each strongly connected
 * set of sibling folders becomes one rule that forbids every import between them; each
 * such import lies on a folder cycle.
 */
async function folderCycleRules() {
  const { cruise } = await import('dependency-cruiser');
  const { default: extractTSConfig } = await import('dependency-cruiser/config-utl/extract-ts-config');
  const { output } = await cruise(['src'], options, {}, { tsConfig: extractTSConfig(options.tsConfig.fileName) });

  /** @type {Map<string, Set<string>>} folder -> sibling folders it depends on */
  const graph = new Map();
  for (const module of output.modules) {
    for (const { resolved } of module.dependencies) {
      if (!resolved.startsWith('src/')) continue;
      const from = module.source.split('/');
      const to = resolved.split('/');
      let depth = 0; // length of the common folder path
      while (depth < from.length - 1 && depth < to.length - 1 && from[depth] === to[depth]) depth++;
      // Both ends must lie in a subfolder of the common folder.
      if (depth >= from.length - 1 || depth >= to.length - 1) continue;
      const fromFolder = from.slice(0, depth + 1).join('/');
      const toFolder = to.slice(0, depth + 1).join('/');
      if (!graph.has(fromFolder)) graph.set(fromFolder, new Set());
      if (!graph.has(toFolder)) graph.set(toFolder, new Set());
      graph.get(fromFolder).add(toFolder);
    }
  }

  // Tarjan's strongly connected components.
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const visit = (folder) => {
    index.set(folder, index.size);
    low.set(folder, index.get(folder));
    stack.push(folder);
    onStack.add(folder);
    for (const next of graph.get(folder)) {
      if (!index.has(next)) {
        visit(next);
        low.set(folder, Math.min(low.get(folder), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(folder, Math.min(low.get(folder), index.get(next)));
      }
    }
    if (low.get(folder) === index.get(folder)) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        onStack.delete(member);
        component.push(member);
      } while (member !== folder);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const folder of [...graph.keys()].sort()) if (!index.has(folder)) visit(folder);

  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return components.map((folders) => {
    const anyOf = `^(${folders.map(escape).join('|')})/`;
    return {
      name: 'no-folder-cycle',
      severity: 'error',
      comment:
        `The folders ${folders.join(', ')} depend on each other (a folder cycle); every import ` +
        'between them is listed. Move what they share into a lower layer.',
      from: { path: anyOf },
      to: { path: anyOf, pathNot: '^$1/' },
    };
  });
}

/** @returns {Promise<import('dependency-cruiser').IConfiguration>} */
module.exports = (async () => ({
  forbidden: [
    ...(await folderCycleRules()),
    // Cycles ----------------------------------------------------------------
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module depends, directly or through others, on itself. Type-only imports count.',
      from: {},
      to: { circular: true },
    },

    // Layers ----------------------------------------------------------------
    {
      name: 'only-entry-points-to-server',
      severity: 'error',
      comment: 'Only src/server itself and the entry points (index.ts, internals.ts, cli.ts) use src/server.',
      from: { path: '^src/', pathNot: ['^src/server/', ENTRY] },
      to: { path: '^src/server/' },
    },
    {
      name: 'only-server-and-entry-points-to-runtime',
      severity: 'error',
      comment: 'Only src/runtime itself, src/server and the entry points use src/runtime.',
      from: { path: '^src/', pathNot: ['^src/(runtime|server)/', ENTRY] },
      to: { path: '^src/runtime/' },
    },
    {
      name: 'base-layers-stay-low',
      severity: 'error',
      comment:
        'model, define, policy and change are the base layers: they do not use schema, crud, ' +
        'live, capture or pubsub (runtime and server are covered by the rules above). So ' +
        'policies are applied by crud, never the other way round.',
      from: { path: '^src/(model|define|policy|change)/' },
      to: { path: '^src/(schema|crud|live|capture|pubsub)/' },
    },
    {
      name: 'crud-not-to-live-or-pubsub',
      severity: 'error',
      comment: 'Reads and writes do not publish: changes reach live through capture and change.',
      from: { path: '^src/crud/' },
      to: { path: '^src/(live|pubsub)/' },
    },
    {
      name: 'capture-feeds-live-only-through-change',
      severity: 'error',
      comment: 'Capture (capture/orm, capture/database) hands changes on through src/change only.',
      from: { path: '^src/capture/' },
      to: { path: '^src/(live|schema|crud)/' },
    },
    {
      name: 'live-not-to-capture',
      severity: 'error',
      comment: 'The live engine gets changes and the change log through src/change, not from capture.',
      from: { path: '^src/live/' },
      to: { path: '^src/capture/' },
    },
    {
      name: 'client-is-standalone',
      severity: 'error',
      comment: 'Client helpers have no server dependencies: nothing else in src/ and no server-only packages.',
      from: { path: '^src/client/' },
      to: { path: ['^src/', SERVER_ONLY_PACKAGES], pathNot: '^src/client/' },
    },

    // Around src/ -----------------------------------------------------------
    {
      name: 'src-not-to-test-bench-example',
      severity: 'error',
      comment: 'The library does not depend on its tests, benchmarks or example.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|example)/' },
    },
    {
      name: 'example-uses-public-api',
      severity: 'error',
      comment: 'The example uses the package as a user would: src/index.ts, src/internals.ts or src/embedded.',
      from: { path: '^example/' },
      to: { path: '^src/', pathNot: ['^src/(index|internals)\\.ts$', '^src/embedded/'] },
    },
    {
      name: 'bench-uses-public-api',
      severity: 'warn',
      comment: 'Benchmarks should measure the package through src/index.ts, src/internals.ts or src/embedded.',
      from: { path: '^bench/' },
      to: { path: '^src/', pathNot: ['^src/(index|internals)\\.ts$', '^src/embedded/'] },
    },
    {
      name: 'src-not-to-dev-dependencies',
      severity: 'error',
      comment: 'The published library may only use packages from dependencies (type packages aside).',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], pathNot: '(^|/)node_modules/@types/' },
    },

    // Hygiene ---------------------------------------------------------------
    {
      name: 'not-to-unresolvable',
      severity: 'warn',
      comment: 'An import that does not resolve to a file on disk.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-orphans',
      severity: 'warn',
      comment: 'A module nothing imports and that imports nothing: dead code, or a missing import.',
      from: { orphan: true, pathNot: ['(^|/)\\.[^/]+\\.(c|m)?js$', '\\.d\\.ts$', '(^|/)tsconfig\\.json$'] },
      to: {},
    },
  ],

  options: {
    ...options,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
}))();
