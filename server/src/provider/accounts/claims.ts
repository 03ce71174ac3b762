/** The scopes and claims of a user's tokens (`getResourceServerInfo`, `extraTokenClaims`). */
import type { KoaContextWithOIDC } from 'oidc-provider';
import { splitScope } from '../../params.ts';
import { batonAccountOf, rolesOf, type AccountAccessDeps } from './deps.ts';

/** The scopes of a resource this user may have right now (token endpoint, user grants). */
export function allowedScopes(
  deps: Pick<AccountAccessDeps, 'policy'>,
  ctx: KoaContextWithOIDC,
  resource: { scopes: readonly string[] },
): string[] | undefined {
  const account = batonAccountOf(ctx);
  if (!account) return undefined;
  return deps.policy().userCeiling(resource, rolesOf(deps, account));
}

/** Claims baton adds to a user's access token: the IdP anchor, the roles behind the scopes, auth_time. */
export async function userClaims(
  deps: AccountAccessDeps,
  ctx: KoaContextWithOIDC,
  accountId: string,
  scope: string | undefined,
) {
  const account = batonAccountOf(ctx)?.id === accountId ? batonAccountOf(ctx) : await deps.accounts.find(accountId);
  if (!account) return {};
  const entities = ctx.oidc.entities as {
    AuthorizationCode?: { authTime?: number };
    RefreshToken?: { authTime?: number };
  };
  const authTime = entities.AuthorizationCode?.authTime ?? entities.RefreshToken?.authTime;
  return {
    ...(authTime ? { auth_time: authTime } : {}),
    idp: { iss: account.idpIssuer, sub: account.idpSubject },
    roles: deps.policy().rolesGranting(rolesOf(deps, account), splitScope(scope)),
  };
}
