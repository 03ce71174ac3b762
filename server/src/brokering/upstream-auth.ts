/**
 * baton as an OAuth client of a brokered upstream's authorization server (issue #20), with openid-client:
 * the server's metadata by discovery (RFC 8414 §3, OpenID Connect Discovery 1.0 §4; fetched once, again after
 * a failure), the authorization request (RFC 6749 §4.1.1 with PKCE S256, RFC 7636 §4.2, and RFC 8707
 * `resource`), the code's redemption (RFC 6749 §4.1.3, checking `state` and, where the server says it sends
 * one, RFC 9207 `iss`), the refresh (RFC 6749 §6) and, where the server has an endpoint for it, RFC 7009
 * revocation. Errors are typed: the upstream refused (invalid_grant: the person must connect again) or it
 * could not be asked (try later); no token is ever in a message.
 */
import * as oauth from 'openid-client';
import type { GatewayConfig } from '../config/schema.ts';
import type { NewTokens } from './grants.ts';

/** The upstream authorization server refused the grant (RFC 6749 §5.2 invalid_grant): connect again. */
export class UpstreamRefused extends Error {
  override name = 'UpstreamRefused';
}

/** The upstream authorization server could not be asked, or answered something unusable: try later. */
export class UpstreamUnavailable extends Error {
  override name = 'UpstreamUnavailable';
}

export interface UpstreamAuth {
  /** The authorization request for a person (the browser goes there). */
  authorizationUrl(p: { redirectUri: string; state: string; verifier: string }): Promise<string>;
  /** The code of the callback redeemed (state and PKCE checked). */
  redeem(callback: URL, p: { redirectUri: string; state: string; verifier: string }): Promise<NewTokens>;
  refresh(refreshToken: string): Promise<NewTokens>;
  /** RFC 7009: true when the server took the revocation, false when it has no revocation endpoint */
  revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function tokensOf(t: oauth.TokenEndpointResponse & oauth.TokenEndpointResponseHelpers): NewTokens {
  const sub = t.claims()?.sub;
  return {
    accessToken: t.access_token,
    ...(typeof t.expires_in === 'number' ? { expiresIn: t.expires_in } : {}),
    ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
    ...(t.scope !== undefined ? { scope: t.scope } : {}),
    ...(typeof sub === 'string' ? { upstreamSub: sub } : {}),
  };
}

/** The OAuth error code of a refusal from the upstream, or undefined when it is not one. */
function oauthError(err: unknown): string | undefined {
  return err instanceof oauth.ResponseBodyError ? err.error : undefined;
}

/**
 * The token endpoint refused the grant itself: RFC 6749 §5.2 `invalid_grant`, or a 400 without an OAuth
 * error body (Glewlwyd 2.7 answers a revoked or replayed refresh token so: openid-client's
 * OAUTH_RESPONSE_IS_NOT_JSON with the 400 response as its cause).
 */
function grantRefused(err: unknown): boolean {
  if (oauthError(err) === 'invalid_grant') return true;
  const e = err as { code?: string; cause?: { status?: unknown } };
  return e.code === 'OAUTH_RESPONSE_IS_NOT_JSON' && e.cause?.status === 400;
}

function unavailable(what: string, err: unknown): UpstreamUnavailable {
  const code = oauthError(err) ?? (err as { code?: string }).code ?? (err as Error).name;
  return new UpstreamUnavailable(`${what}: ${code}`);
}

/**
 * The upstream client of one gateway; `clientSecret` gives the secret at each use (a rotated one is used
 * from then on), undefined for a public client.
 */
export function upstreamAuth(
  gateway: GatewayConfig & { oauth: NonNullable<GatewayConfig['oauth']> },
  clientSecret: () => Promise<string | undefined>,
  options: { timeoutSeconds?: number; fetch?: oauth.CustomFetch } = {},
): UpstreamAuth {
  const settings = gateway.oauth;
  const issuer = new URL(settings.issuer);
  const resource = settings.send_resource ? (settings.resource ?? gateway.upstream) : undefined;
  let configuration: Promise<oauth.Configuration> | undefined;

  const discover = async (): Promise<oauth.Configuration> => {
    const secret = await clientSecret();
    const config = await oauth.discovery(
      issuer,
      settings.client_id,
      undefined,
      secret === undefined
        ? oauth.None()
        : settings.client_auth === 'client_secret_post'
          ? oauth.ClientSecretPost(secret)
          : oauth.ClientSecretBasic(secret),
      {
        // plain http only to a loopback upstream (development, tests); otherwise https, as RFC 6749 §3.1 wants
        ...(issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname)
          ? { execute: [oauth.allowInsecureRequests] }
          : {}),
        timeout: options.timeoutSeconds ?? 10,
        ...(options.fetch ? { [oauth.customFetch]: options.fetch } : {}),
      },
    );
    config.timeout = options.timeoutSeconds ?? 10;
    if (options.fetch) config[oauth.customFetch] = options.fetch;
    return config;
  };
  const config = (): Promise<oauth.Configuration> => {
    configuration ??= discover().catch((err: unknown) => {
      configuration = undefined; // asked again next time
      throw unavailable('discovery', err);
    });
    return configuration;
  };

  return {
    async authorizationUrl({ redirectUri, state, verifier }) {
      const c = await config();
      return oauth.buildAuthorizationUrl(c, {
        redirect_uri: redirectUri,
        response_type: 'code',
        ...(settings.scopes.length ? { scope: settings.scopes.join(' ') } : {}),
        ...(resource ? { resource } : {}),
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }).href;
    },
    async redeem(callback, { redirectUri, state, verifier }) {
      const c = await config();
      try {
        const t = await oauth.authorizationCodeGrant(
          c,
          callback,
          { pkceCodeVerifier: verifier, expectedState: state },
          { redirect_uri: redirectUri, ...(resource ? { resource } : {}) },
        );
        return tokensOf(t);
      } catch (err) {
        if (grantRefused(err) || err instanceof oauth.AuthorizationResponseError)
          throw new UpstreamRefused(
            `the upstream refused the authorization: ${oauthError(err) ?? (err as oauth.AuthorizationResponseError).error}`,
          );
        throw unavailable('token request', err);
      }
    },
    async refresh(refreshToken) {
      const c = await config();
      try {
        return tokensOf(await oauth.refreshTokenGrant(c, refreshToken, resource ? { resource } : {}));
      } catch (err) {
        if (grantRefused(err)) throw new UpstreamRefused('the upstream refused the refresh (invalid_grant)');
        throw unavailable('refresh', err);
      }
    },
    async revoke(token, hint) {
      const c = await config();
      if (!c.serverMetadata().revocation_endpoint) return false;
      try {
        await oauth.tokenRevocation(c, token, { token_type_hint: hint });
        return true;
      } catch (err) {
        throw unavailable('revocation', err);
      }
    },
  };
}
