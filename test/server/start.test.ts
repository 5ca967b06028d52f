import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '../..');

/** Starts `npm start`'s command on a free port and the embedded database; resolves with the printed URL. */
function start(): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [join(root, 'node_modules/tsx/dist/cli.mjs'), 'src/cli.ts', 'serve', '--app', 'example/app.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', DATABASE_URL: '', JWT_SECRET: 'start-test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed in 60 s:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = /on (http:\/\/\S+\/graphql)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`exited with ${code} before serving:\n${out}`)); });
  });
}

describe('npm start (embedded database)', () => {
  it('serves the seeded demo, answers a query and a login, and exits cleanly on SIGTERM', async () => {
    const { child, url, output } = await start();
    try {
      const post = (query: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) }).then((r) => r.json());
      const tasks = await post('{ tasks(orderBy: [{ id: ASC }]) { text done list { name } } }');
      expect(tasks).toEqual({ data: { tasks: [
        { text: 'Milk', done: null, list: { name: 'Groceries' } },
        { text: 'Bread', done: null, list: { name: 'Groceries' } },
      ] } });
      const login = await post('mutation { login(username: "alice", password: "password123") { user { username } } }');
      expect(login.data.login.user.username).toBe('alice');
      expect(output()).toMatch(/Try: mutation \{ login/);
      const html = await fetch(url, { headers: { accept: 'text/html' } }).then((r) => r.text());
      expect(html).toMatch(/graphiql/i);
    } finally {
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 90_000);
});
