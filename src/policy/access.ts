import type { LiveContext } from '../define/context';
import { allowAny, denyAll, type Permission } from '../define/permissions';
import type { Action, RowPolicy } from '../define/resource';
import { ForbiddenError, UnauthenticatedError } from '../errors';
import type { ResourceModel } from '../model/resource-model';
import { evaluatePolicy, type Condition } from './where';

/** Reads are open unless a resource says otherwise; writes are closed. */
export function permissionFor(model: ResourceModel, action: Action): Permission {
  return (model.options.permissions?.[action] as Permission | undefined)
    ?? (action === 'list' || action === 'retrieve' ? allowAny : denyAll);
}

/** The row policy that applies to an action, following the fallbacks documented on `ResourceOptions.policy`. */
export function policyFor(model: ResourceModel, action: Action | 'read'): RowPolicy | undefined {
  const p = model.options.policy ?? {};
  switch (action) {
    case 'read': return p.read;
    case 'list': return p.list ?? p.read;
    case 'retrieve': return p.retrieve ?? p.read;
    case 'create': return p.create ?? p.write;
    case 'patch': return p.patch ?? p.write ?? p.read;
    case 'delete': return p.delete ?? p.write ?? p.read;
  }
}

export function conditionFor(model: ResourceModel, action: Action | 'read', ctx: LiveContext): Condition {
  return evaluatePolicy(policyFor(model, action), ctx);
}

/** The refusal of `what` for this caller: UNAUTHENTICATED when anonymous (signing in may help), FORBIDDEN otherwise. */
export function refusal(ctx: LiveContext, what: string, extensions: Record<string, unknown> = {}): Error {
  return ctx.user == null
    ? new UnauthenticatedError(`Authentication required to ${what}`, extensions)
    : new ForbiddenError(`Not allowed to ${what}`, extensions);
}

/** Throws UNAUTHENTICATED (anonymous) or FORBIDDEN unless the action's permission allows the caller. */
export async function assertPermission(
  model: ResourceModel,
  action: Action,
  ctx: LiveContext,
  args: Record<string, unknown>,
  target = model.names.type,
): Promise<void> {
  if (!(await permissionFor(model, action)(ctx, args))) throw refusal(ctx, `${action} ${target}`);
}
