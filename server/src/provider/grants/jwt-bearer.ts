/**
 * ID-JAG redemption: the RFC 7523 jwt-bearer grant under draft-ietf-oauth-identity-assertion-authz-grant-04
 * (§4.4) and the MCP Enterprise-Managed Authorization profile (XAA). An enterprise IdP that already signed
 * the user in issues an ID-JAG for baton; the client redeems it here, with no browser.
 *
 * Checks, each an `invalid_grant` with its reason logged (RFC 7521 §5.2, RFC 7523 §3, ID-JAG §4.4.1,
 * EMA §7.4, §7.6):
 *   typ oauth-id-jag+jwt; an algorithm allow-list (never `none`, never HMAC); the signature by a trusted,
 *   enabled IdP (accept_id_jag); aud exactly baton's issuer (a string, or an array of exactly one);
 *   client_id = the authenticated client; exp, iat, a maximum lifetime; jti single-use until exp across every
 *   process (EMA §7.4.2 makes it REQUIRED, where ID-JAG §4.4.3 would allow re-use); resource a configured
 *   resource; the user resolved from (iss, sub) and enabled.
 * Issued scope = requested ∩ the ID-JAG's ∩ what the user's roles grant (EMA §7.2.1). No refresh token
 * (ID-JAG §4.4.3).
 */
import { createHash } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Account, AccountStore } from '../../accounts/store.ts';
import { accountIdFor } from '../../accounts/store.ts';
import type { Adapter } from '../../../../adapters/src/models.ts';
import type { Config } from '../../config/schema.ts';
import type { IdpRegistry } from '../../idp/registry.ts';
import type { Policy } from '../../policy/policy.ts';
import { resourceAccessToken } from './extra-claims.ts';
import { TtlCache } from '../token-state.ts';
import { dpopProof } from '../internals.ts';
import { JWT_BEARER } from '../../consts.ts';

export const parameters = ['assertion', 'scope', 'resource'];

export interface JwtBearerDeps {
  config: Config;
  policy(): Policy;
  accounts: AccountStore;
  idps: IdpRegistry;
  /** single-use ID-JAG ids, shared by every process (a consumable model) */
  replay: Adapter;
}

const reject = (detail: string) => new errors.InvalidGrant(detail);

/**
 * The single-use record's id for an ID-JAG: SHA-256 of the issuer and the jti, each prefixed with its
 * length, so that no two (iss, jti) pairs share an id whatever characters they hold, and every store can
 * keep it (PostgreSQL text cannot hold U+0000). The record never holds the raw jti.
 */
export function replayKey(iss: string, jti: string): string {
  const hash = createHash('sha256');
  for (const part of [iss, jti]) hash.update(`${Buffer.byteLength(part)}:${part}`);
  return `idjag.${hash.digest('base64url')}`;
}

export function jwtBearerHandler(deps: JwtBearerDeps) {
  // the account state, as introspection sees it: a disabling reaches this process within STATE_CACHE_MS
  const accounts = new TtlCache<Account | undefined>();

  return async function jwtBearer(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const assertion = typeof params.assertion === 'string' ? params.assertion : '';
    if (!assertion) throw new errors.InvalidRequest('assertion is required');
    const provider: Provider = ctx.oidc.provider;
    const client = ctx.oidc.client!;

    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(assertion);
      unverified = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;
    } catch {
      throw new errors.InvalidRequest('assertion is not a JWT');
    }
    if (header.typ !== 'oauth-id-jag+jwt') throw reject(`typ ${String(header.typ)} is not oauth-id-jag+jwt`);
    const idp = deps.idps.list.find((i) => i.type === 'oidc' && i.issuer === unverified.iss);
    if (!idp || idp.type !== 'oidc' || !idp.accept_id_jag || !idp.enabled) {
      throw reject(`issuer ${String(unverified.iss)} is not a trusted, enabled ID-JAG issuer`);
    }

    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(assertion, deps.idps.keys(idp), {
        issuer: idp.issuer,
        typ: 'oauth-id-jag+jwt',
        algorithms: deps.config.id_jag.algorithms,
        requiredClaims: ['sub', 'aud', 'jti', 'exp', 'iat', 'client_id'],
        maxTokenAge: deps.config.id_jag.max_lifetime_seconds,
        clockTolerance: 5,
      }));
    } catch (err) {
      throw reject(`ID-JAG: ${(err as { code?: string }).code ?? (err as Error).message}`);
    }
    // ID-JAG §4.4.1: aud is baton's issuer, as a string or as an array of exactly one
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (aud.length !== 1 || aud[0] !== deps.config.issuer)
      throw reject(`aud ${JSON.stringify(claims.aud)} is not exactly ${deps.config.issuer}`);
    // RFC 7519 §4.1.7: jti is a string
    if (typeof claims.jti !== 'string' || !claims.jti || !claims.jti.isWellFormed())
      throw reject('jti is not a non-empty, well-formed string');
    if (claims.client_id !== client.clientId)
      throw reject(`client_id ${String(claims.client_id)} is not the authenticated client ${client.clientId}`);
    if (claims.exp! - claims.iat! > deps.config.id_jag.max_lifetime_seconds)
      throw reject('ID-JAG lifetime exceeds id_jag.max_lifetime_seconds');

    // EMA §7.6: the resource is one of baton's resources, and agrees with the request's
    const jagResources = Array.isArray(claims.resource)
      ? claims.resource
      : claims.resource === undefined
        ? []
        : [claims.resource];
    const asked = typeof params.resource === 'string' ? params.resource : undefined;
    const resourceUri = asked ?? (jagResources.length === 1 ? String(jagResources[0]) : undefined);
    if (!resourceUri) throw reject('no single resource in the ID-JAG or the request');
    if (jagResources.length > 0 && !jagResources.includes(resourceUri))
      throw reject(`resource ${resourceUri} is not in the ID-JAG`);
    const resource = deps.policy().resources.get(resourceUri);
    if (!resource) throw reject(`resource ${resourceUri} is not configured`);

    const accountId = accountIdFor(idp.issuer, String(claims.sub));
    const account = await accounts.get(accountId, () => deps.accounts.find(accountId));
    if (!account || account.disabled)
      throw reject(`user ${String(claims.sub)} of ${idp.issuer} is unknown or disabled`);

    // single use across every process, until exp (EMA §7.4.2): the key is the (iss, jti) pair, hashed
    const key = replayKey(idp.issuer, claims.jti);
    const ttl = Math.max(1, claims.exp! - Math.floor(Date.now() / 1000) + 5);
    if (!(await deps.replay.claim(key, { jti: key, iss: idp.issuer }, ttl)))
      throw reject(`ID-JAG ${key} was already redeemed`);

    const roles = deps.policy().rolesFor(idp.id, account.groups);
    const allowed = deps.policy().scopesFor(roles);
    const jagScope = typeof claims.scope === 'string' ? claims.scope.split(' ') : resource.scopes;
    const requested = typeof params.scope === 'string' ? params.scope.split(' ').filter(Boolean) : jagScope;
    const scope = requested.filter((s) => jagScope.includes(s) && resource.scopes.includes(s) && allowed.has(s));
    if (scope.length === 0) throw new errors.InvalidScope('no requested scope is granted', requested.join(' '));

    // ID-JAG §9.8: an ID-JAG bound to a key (cnf.jkt) needs a DPoP proof by that key; a proof binds the token
    const dPoP = await dpopProof(provider, ctx, client.clientId);
    const cnf = (claims.cnf as { jkt?: string } | undefined)?.jkt;
    if (cnf && dPoP?.thumbprint !== cnf)
      throw reject('the ID-JAG is bound to a key (cnf.jkt) and no matching DPoP proof was sent');
    const lifetime = resource.access_token_ttl ?? deps.config.tokens.access_token_ttl;
    const at = resourceAccessToken(ctx, {
      accountId: account.id,
      gty: JWT_BEARER,
      scope,
      resource,
      ttl: lifetime,
      alg: deps.config.keys.algorithm,
      jkt: dPoP?.thumbprint,
      claims: {
        idp: { iss: idp.issuer, sub: claims.sub },
        roles: deps.policy().rolesGranting(roles, scope),
        ...(typeof claims.auth_time === 'number' ? { auth_time: claims.auth_time } : {}),
      },
    });
    const value = await at.save();
    // ID-JAG §4.4.1 (5): the granted resource and scope are returned in the token response
    ctx.body = {
      access_token: value,
      token_type: at.tokenType,
      expires_in: lifetime,
      scope: scope.join(' '),
      resource: resource.uri,
    };
  };
}
