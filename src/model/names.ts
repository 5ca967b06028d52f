/**
 * Every generated GraphQL name comes from here (PostGraphile's inflectors),
 * so the schema, the resolvers, the tests and the docs never disagree.
 * For a type `Task`: camel `task`, plural `tasks`.
 */

export function camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

export function pluralize(word: string): string {
  if (/[^aeiou]y$/i.test(word)) return word.slice(0, -1) + 'ies';
  if (/(s|x|z|ch|sh)$/i.test(word)) return word + 'es';
  return word + 's';
}

export interface TypeNames {
  type: string;
  camel: string;
  plural: string;
}

export function typeNames(type: string, plural?: string): TypeNames {
  return { type, camel: camel(type), plural: plural ?? pluralize(camel(type)) };
}

export const names = {
  retrieveQuery: (n: TypeNames) => n.camel, // task
  listQuery: (n: TypeNames) => n.plural, // tasks
  createMutation: (n: TypeNames) => `create${n.type}`,
  patchMutation: (n: TypeNames) => `patch${n.type}`,
  deleteMutation: (n: TypeNames) => `delete${n.type}`,
  instanceSubscription: (n: TypeNames) => `${n.camel}InstanceChanged`,
  groupSubscription: (n: TypeNames) => `${n.camel}GroupChanged`,
  createInput: (n: TypeNames) => `Create${n.type}Input`,
  patchInput: (n: TypeNames) => `Patch${n.type}Input`,
  whereInput: (n: TypeNames) => `${n.type}Where`,
  orderInput: (n: TypeNames) => `${n.type}Order`,
  groupInput: (n: TypeNames) => `${n.type}Group`,
  changeType: (n: TypeNames) => `${n.type}Change`,
  /** Field of the change payload carrying the row: `task`. */
  changeRowField: (n: TypeNames) => n.camel,
  enumType: (n: TypeNames, property: string) => `${n.type}${property.charAt(0).toUpperCase()}${property.slice(1)}`,
  changeAction: 'ChangeAction',
  sortDirection: 'SortDirection',
  dateTimeScalar: 'DateTime',
  jsonScalar: 'JSON',
} as const;
