/**
 * Claims a custom grant decided for one access token (act, idp, roles, auth_time, gid), handed to
 * oidc-provider's extraTokenClaims hook, which runs inside `token.save()`.
 */
const pending = new WeakMap<object, Record<string, unknown>>();

export function setTokenClaims(token: object, claims: Record<string, unknown>): void {
  pending.set(token, claims);
}

export function tokenClaimsFor(token: object): Record<string, unknown> | undefined {
  return pending.get(token);
}
