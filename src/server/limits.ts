import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { NoSchemaIntrospectionCustomRule, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * What one operation may ask for, checked while parsing and validating —
 * before any resolver runs — on every transport (HTTP, SSE and WebSocket go
 * through the same envelop). A refusal is a GraphQL error with
 * `extensions.code = 'QUERY_TOO_COMPLEX'` naming the limit. The defaults
 * leave the demo's operations, the codegen documents and GraphiQL's
 * introspection several times their size.
 */
export interface OperationLimits {
  /** Selection depth, fragments followed, introspection included. @default 15 */
  depth?: number;
  /** Aliases in one operation. @default 30 */
  aliases?: number;
  /** Lexical tokens in one document. @default 2000 */
  tokens?: number;
  /** Directives in one document. @default 20 */
  directives?: number;
  /** GraphQL Armor's cost: fields and objects, weighted by depth (introspection exempt). @default 5000 */
  cost?: number;
}

export const DEFAULT_LIMITS: Required<OperationLimits> = { depth: 15, aliases: 30, tokens: 2000, directives: 20, cost: 5000 };

/** Gives a refusal of GraphQL Armor our code (its own errors carry none). */
const coded = [(_context: unknown, error: GraphQLError) => {
  Object.assign(error.extensions, { code: 'QUERY_TOO_COMPLEX' });
}];

/** The envelop plugins enforcing `limits` (none for `false`). */
export function limitPlugins(limits: OperationLimits | false = {}): Plugin[] {
  if (limits === false) return [];
  const l = { ...DEFAULT_LIMITS, ...limits };
  return [
    maxTokensPlugin({ n: l.tokens, onReject: coded }),
    // Introspection is not exempt from depth: a 40-deep introspection query is as costly as any other.
    maxDepthPlugin({ n: l.depth, flattenFragments: true, ignoreIntrospection: false, onReject: coded }),
    maxAliasesPlugin({ n: l.aliases, onReject: coded }),
    maxDirectivesPlugin({ n: l.directives, onReject: coded }),
    costLimitPlugin({ maxCost: l.cost, onReject: coded }),
  ] as Plugin[];
}

/** Refuses `__schema` / `__type` in validation (introspection off); `__typename` stays allowed. */
export function noIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}
