/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation Login($username: String!, $password: String!) {\n    login(username: $username, password: $password) { token user { id username } }\n  }\n": typeof types.LoginDocument,
    "\n  query TasksOfList($list: ID!, $limit: Int) {\n    tasks(where: { list: $list }, orderBy: [{ id: ASC }], limit: $limit) { id text done list { id name } }\n  }\n": typeof types.TasksOfListDocument,
    "\n  mutation CreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) { id text done }\n  }\n": typeof types.CreateTaskDocument,
    "\n  mutation PatchTask($id: ID!, $input: PatchTaskInput!) {\n    patchTask(id: $id, input: $input) { id text done }\n  }\n": typeof types.PatchTaskDocument,
    "\n  subscription TaskGroupChanged($list: ID!) {\n    taskGroupChanged(group: { list: $list }) { action id task { id text done } }\n  }\n": typeof types.TaskGroupChangedDocument,
    "\n  subscription PostsByHashtag($tag: ID!) {\n    postGroupChanged(group: { hashtag: $tag }) { action id post { id body createdAt author { username } } }\n  }\n": typeof types.PostsByHashtagDocument,
};
const documents: Documents = {
    "\n  mutation Login($username: String!, $password: String!) {\n    login(username: $username, password: $password) { token user { id username } }\n  }\n": types.LoginDocument,
    "\n  query TasksOfList($list: ID!, $limit: Int) {\n    tasks(where: { list: $list }, orderBy: [{ id: ASC }], limit: $limit) { id text done list { id name } }\n  }\n": types.TasksOfListDocument,
    "\n  mutation CreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) { id text done }\n  }\n": types.CreateTaskDocument,
    "\n  mutation PatchTask($id: ID!, $input: PatchTaskInput!) {\n    patchTask(id: $id, input: $input) { id text done }\n  }\n": types.PatchTaskDocument,
    "\n  subscription TaskGroupChanged($list: ID!) {\n    taskGroupChanged(group: { list: $list }) { action id task { id text done } }\n  }\n": types.TaskGroupChangedDocument,
    "\n  subscription PostsByHashtag($tag: ID!) {\n    postGroupChanged(group: { hashtag: $tag }) { action id post { id body createdAt author { username } } }\n  }\n": types.PostsByHashtagDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Login($username: String!, $password: String!) {\n    login(username: $username, password: $password) { token user { id username } }\n  }\n"): (typeof documents)["\n  mutation Login($username: String!, $password: String!) {\n    login(username: $username, password: $password) { token user { id username } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query TasksOfList($list: ID!, $limit: Int) {\n    tasks(where: { list: $list }, orderBy: [{ id: ASC }], limit: $limit) { id text done list { id name } }\n  }\n"): (typeof documents)["\n  query TasksOfList($list: ID!, $limit: Int) {\n    tasks(where: { list: $list }, orderBy: [{ id: ASC }], limit: $limit) { id text done list { id name } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) { id text done }\n  }\n"): (typeof documents)["\n  mutation CreateTask($input: CreateTaskInput!) {\n    createTask(input: $input) { id text done }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PatchTask($id: ID!, $input: PatchTaskInput!) {\n    patchTask(id: $id, input: $input) { id text done }\n  }\n"): (typeof documents)["\n  mutation PatchTask($id: ID!, $input: PatchTaskInput!) {\n    patchTask(id: $id, input: $input) { id text done }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription TaskGroupChanged($list: ID!) {\n    taskGroupChanged(group: { list: $list }) { action id task { id text done } }\n  }\n"): (typeof documents)["\n  subscription TaskGroupChanged($list: ID!) {\n    taskGroupChanged(group: { list: $list }) { action id task { id text done } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription PostsByHashtag($tag: ID!) {\n    postGroupChanged(group: { hashtag: $tag }) { action id post { id body createdAt author { username } } }\n  }\n"): (typeof documents)["\n  subscription PostsByHashtag($tag: ID!) {\n    postGroupChanged(group: { hashtag: $tag }) { action id post { id body createdAt author { username } } }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;