import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { CreateTaskDocument, LoginDocument, TasksOfListDocument } from './operations';

/** A typed request over HTTP: the result and variable types come from the document. */
export async function request<TResult, TVariables>(
  url: string,
  document: TypedDocumentNode<TResult, TVariables>,
  variables: TVariables,
  token?: string,
): Promise<TResult> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: TResult; errors?: { message: string }[] };
  if (body.errors?.length || !body.data) throw new Error(body.errors?.map((e) => e.message).join('; ') ?? 'no data');
  return body.data;
}

/** Signs in and adds a task; every field access below is checked against the schema by tsc. */
export async function addTask(url: string, list: string, text: string): Promise<{ id: string; done: boolean | null }> {
  const { login } = await request(url, LoginDocument, { username: 'alice', password: 'password123' });
  const { createTask } = await request(url, CreateTaskDocument, { input: { list, text } }, login.token);
  const { tasks } = await request(url, TasksOfListDocument, { list, limit: 10 }, login.token);
  const names: string[] = tasks.map((t) => `${t.text} in ${t.list?.name ?? '?'}`);
  void names;
  return { id: createTask.id, done: createTask.done ?? null };
}
