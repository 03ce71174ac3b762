/** Static clients (clients.static in the configuration) as oidc-provider metadata, from the current policy. */
import type { StaticClientConfig } from '../../config/schema.ts';
import { isLoopbackHost } from '../../config/schema.ts';
import type { Policy } from '../../policy/policy.ts';
import { TOKEN_EXCHANGE } from '../../consts.ts';
import { ALLOWED_RESOURCES, ALLOWED_SCOPES, CLIENT_KIND, FIRST_PARTY } from './properties.ts';

export function staticClientMetadata(c: StaticClientConfig, implied: readonly string[] = []): Record<string, unknown> {
  const auth = c.auth ?? (c.public ? 'none' : 'client_secret_basic');
  const grantTypes = [
    ...new Set([
      ...(c.grant_types ??
        (c.redirect_uris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials'])),
      ...implied,
    ]),
  ];
  const native = c.redirect_uris.some((u) => {
    const url = URL.parse(u);
    return (
      url !== null && (url.protocol !== 'https:' && url.protocol !== 'http:' ? true : isLoopbackHost(url.hostname))
    );
  });
  return {
    client_id: c.client_id,
    ...(c.name ? { client_name: c.name } : {}),
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    ...(c.jwks_uri ? { jwks_uri: c.jwks_uri } : {}),
    token_endpoint_auth_method: auth,
    redirect_uris: c.redirect_uris,
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    application_type: native ? 'native' : 'web',
    ...(c.dpop_bound_access_tokens ? { dpop_bound_access_tokens: true } : {}),
    [CLIENT_KIND]: c.kind,
    [FIRST_PARTY]: c.first_party,
    ...(c.resources ? { [ALLOWED_RESOURCES]: c.resources } : {}),
    [ALLOWED_SCOPES]: c.scopes,
  };
}

/** Each policy's static clients as oidc-provider metadata, derived once per loaded policy (a cache). */
const derived = new WeakMap<Policy, Map<string, Record<string, unknown>>>();

/**
 * A static client's oidc-provider metadata under a policy: a `delegation` actor also gets the token-exchange
 * grant type (RFC 8693), which the client config need not list.
 */
export function staticMetadata(policy: Policy, id: string): Record<string, unknown> | undefined {
  let clients = derived.get(policy);
  if (!clients) {
    clients = new Map(
      [...policy.staticClients.values()].map((c) => [
        c.client_id,
        staticClientMetadata(c, policy.delegationActors.has(c.client_id) ? [TOKEN_EXCHANGE] : []),
      ]),
    );
    derived.set(policy, clients);
  }
  return clients.get(id);
}

/** Whether the id is one of the policy's static clients. */
export const isStaticClient = (policy: Policy, id: unknown): boolean =>
  typeof id === 'string' && policy.staticClients.has(id);
