import { names } from '../model/names';
import type { FieldModel, ResourceModel } from '../model/resource-model';

function outputType(field: FieldModel): string {
  const base = field.isArray ? `[${field.graphqlType}!]` : field.graphqlType;
  // Hidden fields come back null; related rows may be invisible to the caller.
  const nullable = field.nullable || !!field.access || !!field.relation;
  return nullable ? base : `${base}!`;
}

function inputType(field: FieldModel, required: boolean): string {
  const named = field.relation ? 'ID' : field.graphqlType;
  const base = field.isArray ? `[${named}!]` : named;
  return required ? `${base}!` : base;
}

function comparable(field: FieldModel): boolean {
  return field.readable && !field.isArray && field.graphqlType !== names.jsonScalar;
}

/** The SDL of one resource: its type, inputs, change payload and enums. */
export function resourceTypeDefs(m: ResourceModel): string {
  const n = m.names;
  const out: string[] = [];
  const readable = m.fields.filter((f) => f.readable);
  out.push(`type ${n.type} {\n${readable.map((f) => `  ${f.name}: ${outputType(f)}`).join('\n')}\n}`);
  const creatable = m.fields.filter((f) => f.creatable);
  if (creatable.length) {
    out.push(`input ${names.createInput(n)} {\n${creatable.map((f) => `  ${f.name}: ${inputType(f, f.requiredOnCreate)}`).join('\n')}\n}`);
  }
  const patchable = m.fields.filter((f) => f.patchable);
  if (patchable.length) {
    out.push(`input ${names.patchInput(n)} {\n${patchable.map((f) => `  ${f.name}: ${inputType(f, false)}`).join('\n')}\n}`);
  }
  const whereFields = m.fields.filter(comparable).map((f) => `  ${f.name}: ${inputType(f, false)}`);
  whereFields.push(`  """Any of these conditions (combined with the other fields by AND)."""\n  OR: [${names.whereInput(n)}!]`);
  for (const [name, filter] of Object.entries(m.options.filters ?? {})) {
    whereFields.push(`${filter.description ? `  """${filter.description}"""\n` : ''}  ${name}: ${filter.type}`);
  }
  out.push(`input ${names.whereInput(n)} {\n${whereFields.join('\n')}\n}`);
  const orderFields = m.fields.filter((f) => comparable(f) && (!f.relation || f.foreignKey));
  out.push(`"""One field per entry; entries apply in order."""\ninput ${names.orderInput(n)} @oneOf {\n${orderFields.map((f) => `  ${f.name}: ${names.sortDirection}`).join('\n')}\n}`);
  const groups = Object.keys(m.options.groups ?? {});
  if (groups.length) out.push(`input ${names.groupInput(n)} @oneOf {\n${groups.map((g) => `  ${g}: ID`).join('\n')}\n}`);
  out.push(`type ${names.changeType(n)} {\n  action: ${names.changeAction}!\n  id: ID!\n  ${names.changeRowField(n)}: ${n.type}\n${CURSOR_DOC}\n  cursor: String\n}`);
  for (const f of m.fields) {
    if (f.enumValues) out.push(`enum ${f.graphqlType} {\n${Object.keys(f.enumValues).map((v) => `  ${v}`).join('\n')}\n}`);
  }
  return out.join('\n\n');
}

function args(spec: Record<string, string> | undefined): string {
  const entries = Object.entries(spec ?? {});
  return entries.length ? `(${entries.map(([k, t]) => `${k}: ${t}`).join(', ')})` : '';
}

const CURSOR_DOC = `  """
  Where this change sits in the change log (database capture; null with ORM
  capture). Pass the last one received as \`after\` to resume.
  """`;

const AFTER_ARG = `"""
    Resume: first the changes after this cursor that the caller may see now,
    then live ones. CURSOR_EXPIRED when they are no longer kept: refetch and
    subscribe without it.
    """
    after: String`;

/** Query, Mutation and Subscription fields of one resource, named by the inflection (../model/names.ts). */
export function rootFields(m: ResourceModel): { query: string[]; mutation: string[]; subscription: string[] } {
  const n = m.names;
  const query = [
    `  ${names.retrieveQuery(n)}(id: ID!): ${n.type}`,
    `  ${names.listQuery(n)}(where: ${names.whereInput(n)}, orderBy: [${names.orderInput(n)}!], limit: Int, offset: Int): [${n.type}!]!`,
  ];
  const mutation: string[] = [];
  if (m.fields.some((f) => f.creatable)) mutation.push(`  ${names.createMutation(n)}(input: ${names.createInput(n)}!): ${n.type}!`);
  if (m.fields.some((f) => f.patchable)) mutation.push(`  ${names.patchMutation(n)}(id: ID!, input: ${names.patchInput(n)}!): ${n.type}!`);
  mutation.push(`  ${names.deleteMutation(n)}(id: ID!): ID!`);
  const subscription = [`  ${names.instanceSubscription(n)}(id: ID!, ${AFTER_ARG}): ${names.changeType(n)}!`];
  if (Object.keys(m.options.groups ?? {}).length) {
    subscription.push(`  ${names.groupSubscription(n)}(group: ${names.groupInput(n)}!, ${AFTER_ARG}): ${names.changeType(n)}!`);
    for (const [name, event] of Object.entries(m.options.events ?? {})) {
      const doc = event.description ? `  """${event.description}"""\n` : '';
      subscription.push(`${doc}  ${name}(group: ${names.groupInput(n)}!): ${event.type}`);
    }
  }
  for (const [name, action] of Object.entries(m.options.actions ?? {})) {
    const line = `${action.description ? `  """${action.description}"""\n` : ''}  ${name}${args(action.args)}: ${action.type}`;
    (action.kind === 'query' ? query : mutation).push(line);
  }
  return { query, mutation, subscription };
}

export const commonTypeDefs = `
"""An ISO-8601 date-time string."""
scalar ${names.dateTimeScalar}
"""Any JSON value."""
scalar ${names.jsonScalar}
enum ${names.sortDirection} { ASC DESC }
"""How a change looks to the subscriber that receives it."""
enum ${names.changeAction} { CREATED UPDATED DELETED }
`;
