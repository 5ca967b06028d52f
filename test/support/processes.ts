/**
 * Server processes for multi-process tests (./server-process.ts), each in
 * its own process group so a test can SIGKILL it (and anything it started)
 * and nothing outlives the test file; plus a private redis-server for
 * tests that stop Redis.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  wsUrl: string;
}

const started = new Set<ChildProcess>();

/** Kills the process group of `child` (SIGKILL by default). */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

export function killAll(): void {
  for (const child of started) killGroup(child);
  started.clear();
}

export function startServerProcess(args: string[]): Promise<ServerProcess> {
  const child = fork(path.join(__dirname, 'server-process.ts'), args, {
    execArgv: ['--import', 'tsx'],
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  started.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error('server process did not start within 60 s'));
    }, 60_000);
    child.on('message', (m: any) => {
      if (m?.type !== 'ready') return;
      clearTimeout(timer);
      resolve({ child, url: m.url, wsUrl: m.wsUrl });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server process exited (${code ?? signal}) before it served`));
    });
  });
}

/** Asks a server process to close, then kills its group if it has not exited within 5 s. */
export async function stopServerProcess(p: ServerProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  if (p.child.connected) p.child.send('close');
  const timer = setTimeout(() => killGroup(p.child), 5_000);
  await exited;
  clearTimeout(timer);
  started.delete(p.child);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A redis-server of this test's own, without persistence (a restart loses everything, as a crash would). */
export async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { detached: true, stdio: 'ignore' });
  started.add(child);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function post(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<{ data?: any; errors?: any[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: any[] };
}

export async function ok(url: string, query: string, variables: Record<string, unknown> = {}, token?: string): Promise<any> {
  const result = await post(url, query, variables, token);
  if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

export interface User { id: string; token: string }

export async function signUp(url: string, username: string): Promise<User> {
  const password = `${username}-password`;
  const { createUser } = await ok(url, 'mutation($i: CreateUserInput!) { createUser(input: $i) { id } }', { i: { username, email: `${username}@example.com`, password } });
  const { login } = await ok(url, 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', { u: username, p: password });
  return { id: String(createUser.id), token: login.token };
}

/** A subscription's events and its end, over a graphql-ws client of its own. */
export class Watch {
  readonly events: any[] = [];
  errors: any[] = [];
  ended = false;
  private readonly client: Client;

  constructor(wsUrl: string, query: string, variables: Record<string, unknown>, token?: string) {
    this.client = createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined, connectionParams: token ? { authorization: `Bearer ${token}` } : {} });
    this.client.subscribe({ query, variables }, {
      next: (r) => {
        if (r.errors) this.errors = [...r.errors];
        else this.events.push(Object.values(r.data!)[0]);
      },
      error: (e) => {
        this.errors = Array.isArray(e) ? e : [e];
        this.ended = true;
      },
      complete: () => void (this.ended = true),
    });
  }

  async until(test: (w: Watch) => boolean, timeoutMs = 10_000, what = 'events'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: have ${JSON.stringify(this.events.slice(-5))} ${JSON.stringify(this.errors)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): Promise<void> {
    return this.client.dispose() as Promise<void>;
  }
}
