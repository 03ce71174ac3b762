/**
 * The development XAA issuer: an ES256 key pair that ships in the repository (config/dev/), so that
 * `npm start` can redeem an ID-JAG with no enterprise IdP (`baton dev mint-id-jag` signs one). Its private
 * half is public knowledge: configuration validation refuses, outside `mode: development`, any IdP whose
 * `jwks` holds this key (schema.ts), so it can never be trusted in production.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Config, OidcIdpConfig } from '../config/schema.ts';
import { DEV_XAA_PRIVATE_JWK_PATH, DEV_XAA_THUMBPRINT, isDevXaaKey } from '../config/dev-xaa-key.ts';

/** The development issuer cannot be used here (not development mode, or no IdP trusts its key). */
export class DevIssuerError extends Error {
  override name = 'DevIssuerError';
}

/** The IdP of a configuration that trusts the shipped key (its `jwks` holds it), if any. */
export function devIssuerOf(config: Config): OidcIdpConfig | undefined {
  return config.identity_providers.find(
    (i): i is OidcIdpConfig => i.type === 'oidc' && (i.jwks?.keys ?? []).some((k) => isDevXaaKey(k)),
  );
}

/**
 * An ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §3: typ oauth-id-jag+jwt; iss, sub, aud = the
 * authorization server, client_id, jti, iat, exp, resource, scope) signed with the shipped development key,
 * for `baton dev mint-id-jag`: what an enterprise IdP would hand a client, to try XAA on `npm start`.
 */
export async function mintDevIdJag(
  config: Config,
  o: { subject: string; clientId: string; resource: string; scope?: string },
): Promise<string> {
  if (config.mode !== 'development')
    throw new DevIssuerError('dev mint-id-jag runs only on a development configuration (mode: development)');
  const idp = devIssuerOf(config);
  if (!idp)
    throw new DevIssuerError(
      `no identity provider trusts the development XAA issuer's key (jwks: file:dev/xaa-issuer.jwks.json, as in config/development.yaml)`,
    );
  const jwk = JSON.parse(readFileSync(DEV_XAA_PRIVATE_JWK_PATH, 'utf8')) as JWK;
  const key = await importJWK(jwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    client_id: o.clientId,
    resource: o.resource,
    ...(o.scope ? { scope: o.scope } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: DEV_XAA_THUMBPRINT })
    .setIssuer(idp.issuer)
    .setSubject(o.subject)
    .setAudience(config.issuer)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + Math.min(300, config.id_jag.max_lifetime_seconds))
    .sign(key);
}
