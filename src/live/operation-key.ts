import { getOperationAST, Kind, print, visit, type DocumentNode } from 'graphql';

/**
 * Which subscribers share a delivery class (one execution and one
 * serialized result per event): those whose document, operation name and
 * variables give the same key — and whose visibility key is equal, which
 * the engine adds. The document is printed from its AST, so comments,
 * whitespace and other cosmetic variants of one operation share a class
 * (and cannot multiply the work per event). The variable that only carries
 * the root field's `after` cursor is left out, so clients that resumed from
 * different cursors share a class once live.
 */
export function operationKey(
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): string {
  return JSON.stringify([print(document), operationName ?? null, withoutResumeCursor(document, operationName, variables)]);
}

function withoutResumeCursor(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): Record<string, unknown> | null {
  if (!variables) return null;
  const root = getOperationAST(document, operationName)?.selectionSet.selections[0];
  const arg = root?.kind === Kind.FIELD ? root.arguments?.find((a) => a.name.value === 'after') : undefined;
  if (arg?.value.kind !== Kind.VARIABLE || !(arg.value.name.value in variables)) return variables;
  const name = arg.value.name.value;
  let uses = 0;
  visit(document, { Variable: (node) => void (node.name.value === name && uses++), VariableDefinition: () => false });
  if (uses !== 1) return variables;
  const { [name]: _cursor, ...rest } = variables;
  return rest;
}
