/**
 * An upstream OpenID Connect IdP, through openid-client (the relying party) with our own extra check of
 * the ID token by jose: authorization code + PKCE (S256) + state + nonce (OIDC Core §3.1.2.1, RFC 7636),
 * the ID token's signature, issuer, audience, expiry and issue time (OIDC Core §3.1.3.7), userinfo when the
 * groups are not in the ID token (OIDC Core §5.3), and refresh to re-read groups.
 */
import * as client from 'openid-client';
import { jwtVerify, type JWTPayload } from 'jose';
import type { OidcIdpConfig } from '../config/schema.ts';
import { isLoopbackHost } from '../config/schema.ts';
import { IDP_ALGORITHMS, idpKeys, type IdpKeys } from './keys.ts';
import { noSubject, subjectOf } from './subject-claim.ts';

/** Why an upstream exchange failed: for logs (the user sees a generic page). */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  readonly reason:
    | 'unreachable'
    | 'idp_error'
    | 'client_auth_refused'
    | 'invalid_response'
    | 'invalid_id_token'
    | 'subject_claim_missing'
    | 'refresh_refused';
  constructor(reason: UpstreamError['reason'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

export interface UpstreamIdentity {
  /** the ID token's subject_claim (subject-claim.ts): the account's IdP subject */
  subject: string;
  /** the ID token's `sub` */
  sub: string;
  profile: Record<string, unknown>;
  groups: string[];
  refreshToken?: string;
  /** the ID token's `sid`: the IdP's session (OIDC Back-Channel Logout 1.0 §2.1), when it sends one */
  sid?: string;
}

export class OidcUpstream {
  readonly idp: OidcIdpConfig;
  readonly redirectUri: string;
  /** the IdP's one key set: sign-in ID tokens, ID-JAGs and ID tokens at token exchange (keys.ts) */
  readonly keys: IdpKeys;
  #config: Promise<client.Configuration> | undefined;

  constructor(idp: OidcIdpConfig, redirectUri: string) {
    this.idp = idp;
    this.redirectUri = redirectUri;
    this.keys = idpKeys(idp, async () => {
      const jwksUri = (await this.configuration()).serverMetadata().jwks_uri;
      if (!jwksUri) throw new UpstreamError('invalid_response', 'the IdP metadata has no jwks_uri');
      return jwksUri;
    });
  }

  /** Discovery, cached; a failure is not cached (the IdP may come back). */
  async configuration(): Promise<client.Configuration> {
    this.#config ??= (async () => {
      const loopback = isLoopbackHost(new URL(this.idp.issuer).hostname);
      const config = await client.discovery(
        new URL(this.idp.issuer),
        this.idp.client_id!, // the schema requires it of every IdP read through discovery
        { redirect_uris: [this.redirectUri] },
        clientAuth(this.idp),
        { timeout: 5, ...(loopback ? { execute: [client.allowInsecureRequests] } : {}) },
      );
      return config;
    })().catch((err: unknown) => {
      this.#config = undefined;
      throw err instanceof UpstreamError
        ? err
        : new UpstreamError('unreachable', `discovery failed: ${describe(err)}`, { cause: err });
    });
    return this.#config;
  }

  /** The authorization request (PKCE S256, state, nonce); the caller keeps the secrets server-side. */
  async start(loginHint?: string): Promise<{ url: string; state: string; nonce: string; verifier: string }> {
    const config = await this.configuration();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.idp.scopes.join(' '),
      response_type: 'code',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    return { url: url.href, state, nonce, verifier };
  }

  /** The callback: code → tokens, every check made, groups read. */
  async finish(
    callbackUrl: URL,
    checks: { state: string; nonce: string; verifier: string },
  ): Promise<UpstreamIdentity> {
    const config = await this.configuration();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.verifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (err) {
      throw await classify(err, this.authMethod(config));
    }
    const claims = await this.#verifyIdToken(tokens.id_token!, checks.nonce);
    const subject = subjectOf(this.idp, claims);
    if (subject === undefined) throw new UpstreamError('subject_claim_missing', noSubject(this.idp, 'the ID token'));
    const groups = await this.#groups(config, claims, tokens.access_token);
    return {
      subject,
      sub: claims.sub!,
      profile: profileOf(claims),
      groups,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(typeof claims.sid === 'string' && claims.sid ? { sid: claims.sid } : {}),
    };
  }

  /**
   * Refresh at the IdP and re-read the groups (a group removed at the IdP is gone now). `account` names the
   * person: `subject`, the account's subject_claim value, and `sub`, the sign-in ID token's. A refreshed ID
   * token keeps the `sub` (OIDC Core §12.2); userinfo's `sub` must be the ID token's (OIDC Core §5.3.2); the
   * subject_claim, read from the refreshed ID token or, when it lacks it, from userinfo, must be `subject`.
   */
  async refresh(
    refreshToken: string,
    account: { subject: string; sub: string },
  ): Promise<{ groups: string[]; refreshToken?: string }> {
    const config = await this.configuration();
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken);
    } catch (err) {
      const e = await classify(err, this.authMethod(config));
      throw e.reason === 'idp_error' ? new UpstreamError('refresh_refused', e.message, { cause: err }) : e;
    }
    let claims: JWTPayload = { sub: account.sub };
    if (tokens.id_token) {
      claims = await this.#verifyIdToken(tokens.id_token);
      if (claims.sub !== account.sub)
        throw new UpstreamError('invalid_id_token', 'refreshed ID token is for another subject');
    }
    const fromToken = tokens.id_token ? subjectOf(this.idp, claims) : undefined;
    const info = fromToken === undefined ? await this.#userinfo(config, claims, tokens.access_token) : undefined;
    const subject = fromToken ?? (info ? subjectOf(this.idp, info) : undefined);
    if (subject !== undefined && subject !== account.subject)
      throw new UpstreamError('invalid_id_token', `the refreshed ${this.idp.subject_claim} is another person's`);
    const groups = await this.#groups(config, claims, tokens.access_token, !tokens.id_token, info);
    return { groups, ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}) };
  }

  async #verifyIdToken(idToken: string, nonce?: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(idToken, this.keys, {
        issuer: this.idp.issuer,
        audience: this.idp.client_id!,
        algorithms: IDP_ALGORITHMS,
        requiredClaims: ['sub', 'iat', 'exp'],
        clockTolerance: 30,
        maxTokenAge: '1h',
      });
      if (nonce !== undefined && payload.nonce !== nonce) throw new Error('nonce mismatch');
      return payload;
    } catch (err) {
      throw new UpstreamError('invalid_id_token', `ID token rejected: ${describe(err)}`, { cause: err });
    }
  }

  async #groups(
    config: client.Configuration,
    claims: JWTPayload,
    accessToken: string,
    forceUserinfo = false,
    info?: client.UserInfoResponse,
  ): Promise<string[]> {
    const fromToken = forceUserinfo
      ? undefined
      : extractGroups(claims, this.idp.groups_claim, this.idp.groups_separator);
    if (fromToken) return fromToken;
    const read = info ?? (await this.#userinfo(config, claims, accessToken));
    return (read && extractGroups(read, this.idp.groups_claim, this.idp.groups_separator)) ?? [];
  }

  /** userinfo (OIDC Core §5.3), its `sub` checked against the ID token's (§5.3.2); undefined without an endpoint */
  async #userinfo(
    config: client.Configuration,
    claims: JWTPayload,
    accessToken: string,
  ): Promise<client.UserInfoResponse | undefined> {
    if (!config.serverMetadata().userinfo_endpoint) return undefined;
    try {
      return await client.fetchUserInfo(config, accessToken, claims.sub!);
    } catch (err) {
      throw await classify(err); // userinfo: a Bearer challenge is about the access token, not baton
    }
  }

  /** The client authentication baton uses at this IdP's token endpoint (see chooseAuthMethod). */
  authMethod(config: client.Configuration): AuthMethod {
    return chooseAuthMethod(this.idp, config.serverMetadata().token_endpoint_auth_methods_supported);
  }
}

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * The token endpoint client authentication (RFC 6749 §2.3.1): the configured
 * `token_endpoint_auth_method`, else one the IdP lists in `token_endpoint_auth_methods_supported` (RFC 8414
 * §2; absent means client_secret_basic): client_secret_basic when listed, else client_secret_post.
 */
export function chooseAuthMethod(idp: OidcIdpConfig, supported: readonly string[] | undefined): AuthMethod {
  if (!idp.client_secret) return 'none';
  if (idp.token_endpoint_auth_method) return idp.token_endpoint_auth_method;
  if (!supported?.length || supported.includes('client_secret_basic')) return 'client_secret_basic';
  if (supported.includes('client_secret_post')) return 'client_secret_post';
  return 'client_secret_basic'; // nothing baton speaks is listed: the IdP's refusal will say so
}

/** Chooses the method per request from the discovered metadata (discovery takes the ClientAuth up front). */
function clientAuth(idp: OidcIdpConfig): client.ClientAuth {
  return (as, c, body, headers) => {
    const method = chooseAuthMethod(idp, as.token_endpoint_auth_methods_supported);
    const auth =
      method === 'none' || !idp.client_secret
        ? client.None()
        : method === 'client_secret_post'
          ? client.ClientSecretPost(idp.client_secret)
          : client.ClientSecretBasic(idp.client_secret);
    auth(as, c, body, headers);
  };
}

/**
 * Groups at a claim path: `groups`, or a dot path such as `realm_access.roles`; an array of strings, or a
 * string (one group, or several joined by `separator`). Undefined when the claim is absent.
 */
export function extractGroups(claims: Record<string, unknown>, path: string, separator?: string): string[] | undefined {
  let value: unknown = claims;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === 'string' && g.length > 0);
  if (typeof value === 'string') {
    const parts = separator ? value.split(separator) : [value];
    return parts.map((g) => g.trim()).filter(Boolean);
  }
  return [];
}

function profileOf(claims: JWTPayload): Record<string, unknown> {
  const keep = ['email', 'email_verified', 'name', 'preferred_username', 'given_name', 'family_name'];
  return Object.fromEntries(keep.filter((k) => claims[k] !== undefined).map((k) => [k, claims[k]]));
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Why a token endpoint or userinfo call failed. A refused client authentication (RFC 6749 §5.2
 * `invalid_client`, or a 401 with a `WWW-Authenticate` challenge) is told apart and named with the method
 * used and the setting to change: some IdPs do not form-decode Basic credentials as RFC 6749 §2.3.1 asks.
 */
async function classify(err: unknown, method?: AuthMethod): Promise<UpstreamError> {
  if (err instanceof UpstreamError) return err;
  const said = method === undefined ? undefined : await refusal(err);
  if (method !== undefined && said !== undefined) {
    const other = method === 'client_secret_basic' ? 'client_secret_post' : 'client_secret_basic';
    const advice =
      method === 'none'
        ? 'set identity_providers[].client_secret, or check that the client is public at the IdP'
        : `check the client secret, or try identity_providers[].token_endpoint_auth_method: ${other}`;
    return new UpstreamError(
      'client_auth_refused',
      `the IdP refused baton's client authentication (${method}): ${said}; ${advice}`,
      { cause: err },
    );
  }
  if (err instanceof client.AuthorizationResponseError || err instanceof client.ResponseBodyError) {
    return new UpstreamError(
      'idp_error',
      `the IdP answered ${err.error}${err.error_description ? `: ${err.error_description}` : ''}`,
      { cause: err },
    );
  }
  const code = (err as { code?: string }).code ?? '';
  const cause = (err as { cause?: { code?: string } }).cause;
  if (
    err instanceof TypeError ||
    code === 'ECONNREFUSED' ||
    cause?.code === 'ECONNREFUSED' ||
    (err as Error).name === 'TimeoutError'
  ) {
    return new UpstreamError('unreachable', `the IdP is unreachable: ${describe(err)}`, { cause: err });
  }
  return new UpstreamError('invalid_response', `the IdP response was rejected: ${describe(err)}`, { cause: err });
}

function oauthText(error: string, description: string | undefined): string {
  return description ? `${error} — ${description}` : error;
}

/** What the IdP said when it refused the client's authentication, or undefined when it did not. */
async function refusal(err: unknown): Promise<string | undefined> {
  if (err instanceof client.ResponseBodyError)
    return err.error === 'invalid_client' || err.status === 401
      ? oauthText(err.error, err.error_description)
      : undefined;
  if (!(err instanceof client.WWWAuthenticateChallengeError)) return undefined;
  // a challenge (RFC 6749 §5.2: 401 + WWW-Authenticate): its `error` parameter, else the error body beside it
  const params = err.cause.find((c) => c.parameters.error)?.parameters;
  if (params?.error) return oauthText(params.error, params.error_description);
  let body: { error?: unknown; error_description?: unknown } | undefined;
  try {
    body = (await err.response.clone().json()) as typeof body;
  } catch {
    body = undefined; // no JSON body beside the challenge
  }
  if (typeof body?.error === 'string')
    return oauthText(body.error, typeof body.error_description === 'string' ? body.error_description : undefined);
  return `HTTP ${err.status} with a ${err.cause.map((c) => c.scheme).join(', ')} challenge`;
}
