import { graphql } from './generated';

/** The demo's client operations; `npm run codegen` types them from schema/schema.graphql. */

export const LoginDocument = graphql(`
  mutation Login($username: String!, $password: String!) {
    login(username: $username, password: $password) { token user { id username } }
  }
`);

export const TasksOfListDocument = graphql(`
  query TasksOfList($list: ID!, $limit: Int) {
    tasks(where: { list: $list }, orderBy: [{ id: ASC }], limit: $limit) { id text done list { id name } }
  }
`);

export const CreateTaskDocument = graphql(`
  mutation CreateTask($input: CreateTaskInput!) {
    createTask(input: $input) { id text done }
  }
`);

export const PatchTaskDocument = graphql(`
  mutation PatchTask($id: ID!, $input: PatchTaskInput!) {
    patchTask(id: $id, input: $input) { id text done }
  }
`);

export const TaskGroupChangedDocument = graphql(`
  subscription TaskGroupChanged($list: ID!) {
    taskGroupChanged(group: { list: $list }) { action id task { id text done } }
  }
`);

export const PostsByHashtagDocument = graphql(`
  subscription PostsByHashtag($tag: ID!) {
    postGroupChanged(group: { hashtag: $tag }) { action id post { id body createdAt author { username } } }
  }
`);
