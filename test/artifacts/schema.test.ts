import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import ts from 'typescript';
import { appSchemaSDL } from '../../src/cli';
import demoApp from '../../example/app';

const root = join(__dirname, '../..');

describe('committed artifacts', () => {
  it('schema/schema.graphql is the sorted SDL of the demo app (run `npm run schema` when this fails)', async () => {
    const committed = await readFile(join(root, 'schema/schema.graphql'), 'utf8');
    expect(await appSchemaSDL(demoApp)).toBe(committed);
  });

  it('example/client/generated matches what codegen.ts generates (run `npm run codegen` when this fails)', async () => {
    // --check generates in memory and exits 1 when a committed file would change.
    const bin = join(root, 'node_modules/.bin/graphql-codegen');
    await expect(promisify(execFile)(bin, ['--config', 'codegen.ts', '--check'], { cwd: root })).resolves.toBeDefined();
  }, 60_000);
});

describe('typed documents', () => {
  const options: ts.CompilerOptions = {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16, skipLibCheck: true, types: ['node'],
  };

  function diagnostics(files: string[], host = ts.createCompilerHost(options)): string[] {
    const program = ts.createProgram(files, options, host);
    return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  }

  it('type-checks the demo client against the generated types', () => {
    expect(diagnostics([join(root, 'example/client/request.ts')])).toEqual([]);
  }, 60_000);

  it('rejects a client that reads a field with the wrong type', () => {
    const bad = join(root, 'example/client/__bad__.ts');
    const source = `import { request } from './request';
import { TasksOfListDocument } from './operations';
export async function f() { const r = await request('', TasksOfListDocument, { list: '1' }); const n: number = r.tasks[0].text; return n; }\n`;
    const host = ts.createCompilerHost(options);
    const read = host.readFile.bind(host);
    host.readFile = (file) => (file === bad ? source : read(file));
    const exists = host.fileExists.bind(host);
    host.fileExists = (file) => file === bad || exists(file);
    const errors = diagnostics([bad], host);
    expect(errors.join('\n')).toMatch(/Type 'string' is not assignable to type 'number'/);
  }, 60_000);
});
