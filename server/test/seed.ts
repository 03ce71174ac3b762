/**
 * Seeds what the sign-in flow (a later issue) would create: an account, a grant and an authorization
 * code with a PKCE challenge, written through oidc-provider's own models onto the shared store, so that
 * tests can redeem the code over HTTP against any server process.
 */
import { createHash, randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { AccountStore } from '../src/accounts/store.ts';
import { localIssuer } from '../src/idp/registry.ts';

export const AGENT = 'ide-agent';
export const AGENT_REDIRECT = 'http://127.0.0.1/callback';
export const LOGS = 'https://logs.mcp.example.com/mcp';

/** Alice of the local directory, signed in (as the login route records her): a developer. */
export async function seedAccount(accounts: AccountStore): Promise<string> {
  const account = await accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: 'alice',
    profile: { email: 'alice@example.com' },
    groups: ['developers'],
    roles: ['developer'],
  });
  return account.id;
}

export async function seedCode(
  provider: Provider,
  accountId: string,
  resource = LOGS,
  /** what the grant and the code hold of `resource` (an authorization request's outcome) */
  scopes: readonly string[] = ['logs.read'],
): Promise<{ code: string; verifier: string; grantId: string; resource: string }> {
  const client = await provider.Client.find(AGENT);
  if (!client) throw new Error('seed: no ide-agent client');
  const grant = new provider.Grant({ accountId, clientId: AGENT });
  grant.addOIDCScope('openid');
  grant.addResourceScope(resource, scopes.join(' '));
  const grantId = await grant.save();
  const verifier = randomBytes(32).toString('base64url');
  const code = new provider.AuthorizationCode({
    accountId,
    client,
    grantId,
    redirectUri: AGENT_REDIRECT,
    scope: ['openid', ...scopes].join(' '),
    resource,
    codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
    codeChallengeMethod: 'S256',
    authTime: Math.floor(Date.now() / 1000),
    gty: 'authorization_code',
  });
  return { code: await code.save(), verifier, grantId, resource };
}

export function codeForm(seed: { code: string; verifier: string; resource?: string }): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    code: seed.code,
    code_verifier: seed.verifier,
    redirect_uri: AGENT_REDIRECT,
    client_id: AGENT,
    resource: seed.resource ?? LOGS,
  };
}

/** A valid authorization request of ide-agent for the logs MCP server (PKCE: RFC 7636 Appendix B's pair). */
export const AGENT_AUTHORIZATION = {
  client_id: AGENT,
  response_type: 'code',
  redirect_uri: AGENT_REDIRECT,
  resource: LOGS,
  scope: 'logs.read',
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  code_challenge_method: 'S256',
} as const;
