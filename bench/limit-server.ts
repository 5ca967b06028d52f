/**
 * Baseline `limit` of the benchmark: about the least work a Node process can
 * do to turn a write into N WebSocket messages. No GraphQL execution, no
 * ORM: plain `ws` + `pg`.
 *
 *   tsx bench/limit-server.ts <database-url> <jwt-secret>
 *
 * - HTTP `POST /graphql` takes the body the load client sends to every
 *   system, `{ query, variables: { id, i: { text?, done? } } }`, ignores the
 *   query text, checks the bearer token (HS256 JWT, `sub` = user id) and runs
 *   one `UPDATE … FROM todo_list … RETURNING` restricted to lists the caller
 *   owns (the same write rule as the demo). Then it fans out and answers
 *   `{ data: { patchTask: { id } } }`.
 * - WebSocket: just enough `graphql-transport-ws` for the load client:
 *   `connection_init` (optional `authorization: 'Bearer <jwt>'`, bad token →
 *   close 4403) → `connection_ack`; `subscribe` remembers the operation id
 *   and the list id from `variables.l` (the query text is not parsed);
 *   `complete`; `ping` → `pong`.
 * - Fan-out: the change is serialized once per event (twice when anonymous
 *   subscribers need the variant with `done: null`); per subscriber only the
 *   operation id is concatenated in front. The same visibility rules as the
 *   demo: `done` only for authenticated subscribers, rows of a private list
 *   only to its owner.
 */
import { createSecretKey } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { Pool } from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import { childArgs, serveChild } from './lib/child';

interface Subscription {
  socket: WebSocket;
  /** `"<operation id>"`, JSON-encoded once at subscribe time. */
  idJson: string;
  userId: number | null;
  listId: number;
}

const UPDATE = `
  UPDATE task t SET text = COALESCE($2, t.text), done = COALESCE($3, t.done)
  FROM todo_list l
  WHERE t.id = $1 AND l.id = t."listId" AND l."ownerId" = $4
  RETURNING t.id, t.text, t.done, t."listId" AS "listId", l.private, l."ownerId" AS "ownerId"`;

serveChild('limit-server', async () => {
  const { databaseUrl, secret } = childArgs('limit-server.ts');
  const pool = new Pool({ connectionString: databaseUrl, max: 10 });
  const byList = new Map<number, Set<Subscription>>();
  const key = createSecretKey(Buffer.from(secret)); // once: given a string, jsonwebtoken derives a key on every call

  const verify = (authorization: unknown): number | null | undefined => {
    if (authorization === undefined || authorization === null) return null; // anonymous
    const match = /^Bearer (.+)$/.exec(String(authorization));
    if (!match) return undefined;
    try {
      const sub = Number((jwt.verify(match[1], key, { algorithms: ['HS256'] }) as jwt.JwtPayload).sub);
      return Number.isSafeInteger(sub) ? sub : undefined;
    } catch {
      return undefined;
    }
  };

  const fanOut = (row: { id: number; text: string; done: boolean; listId: number; private: boolean; ownerId: number }) => {
    const subscribers = byList.get(row.listId);
    if (!subscribers) return;
    const id = String(row.id);
    const tail = (done: boolean | null) =>
      `,"type":"next","payload":{"data":{"taskGroupChanged":${JSON.stringify({ action: 'UPDATED', id, task: { id, text: row.text, done } })}}}}`;
    const withDone = tail(row.done);
    let anonymous: string | undefined;
    for (const s of subscribers) {
      if (row.private && s.userId !== row.ownerId) continue;
      s.socket.send(`{"id":${s.idJson}${s.userId !== null ? withDone : (anonymous ??= tail(null))}`);
    }
  };

  const answer = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return answer(res, 404, { errors: [{ message: 'POST only' }] });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const userId = verify(req.headers.authorization);
    if (userId === undefined) return answer(res, 401, { errors: [{ message: 'bad token' }] });
    if (userId === null) return answer(res, 200, { errors: [{ message: 'not authenticated' }] });
    let args: { id: string; i: { text?: string; done?: boolean } };
    try {
      args = JSON.parse(Buffer.concat(chunks).toString()).variables;
    } catch {
      return answer(res, 400, { errors: [{ message: 'bad JSON' }] });
    }
    const { rows } = await pool.query(UPDATE, [Number(args.id), args.i?.text ?? null, args.i?.done ?? null, userId]);
    if (rows.length === 0) return answer(res, 200, { errors: [{ message: `Task:${args.id} not found` }] });
    fanOut(rows[0]);
    answer(res, 200, { data: { patchTask: { id: String(rows[0].id) } } });
  };

  const httpServer = createServer((req, res) => {
    onRequest(req, res).catch((error) => {
      console.error(error);
      if (!res.headersSent) answer(res, 500, { errors: [{ message: 'Unexpected error.' }] });
    });
  });

  const wss = new WebSocketServer({
    server: httpServer,
    path: '/graphql',
    handleProtocols: (protocols) => (protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false),
  });
  wss.on('connection', (socket) => {
    let userId: number | null | undefined; // undefined until connection_init
    const operations = new Map<string, Subscription>();
    const remove = (s: Subscription) => {
      const set = byList.get(s.listId);
      set?.delete(s);
      if (set?.size === 0) byList.delete(s.listId);
    };
    socket.on('message', (raw) => {
      let message: any;
      try {
        message = JSON.parse(raw.toString());
      } catch {
        return socket.close(4400, 'Invalid message');
      }
      switch (message.type) {
        case 'connection_init': {
          if (userId !== undefined) return socket.close(4429, 'Too many initialisation requests');
          userId = verify(message.payload?.authorization);
          if (userId === undefined) return socket.close(4403, 'Forbidden');
          return socket.send('{"type":"connection_ack"}');
        }
        case 'subscribe': {
          if (userId === undefined) return socket.close(4401, 'Unauthorized');
          const id = String(message.id);
          if (operations.has(id)) return socket.close(4409, `Subscriber for ${id} already exists`);
          const listId = Number(message.payload?.variables?.l);
          const s: Subscription = { socket, idJson: JSON.stringify(id), userId, listId };
          operations.set(id, s);
          let set = byList.get(listId);
          if (!set) byList.set(listId, (set = new Set()));
          set.add(s);
          return;
        }
        case 'complete': {
          const s = operations.get(String(message.id));
          if (s) {
            operations.delete(String(message.id));
            remove(s);
          }
          return;
        }
        case 'ping':
          return socket.send('{"type":"pong"}');
        case 'pong':
          return;
        default:
          return socket.close(4400, 'Invalid message');
      }
    });
    socket.on('close', () => {
      for (const s of operations.values()) remove(s);
      operations.clear();
    });
  });

  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    close: async () => {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      await pool.end();
    },
  };
});
