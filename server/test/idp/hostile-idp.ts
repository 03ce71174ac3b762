/**
 * A hostile OpenID Connect provider for negative tests: it speaks the protocol (discovery, JWKS, token,
 * userinfo) but answers each token request the way the test asks: a good ID token (to prove the fixture
 * itself works), or one signed with the wrong key, `alg: none`, HS256 keyed with the public key, a wrong
 * audience, issuer or nonce, expired, issued in the future, or an OAuth error. It also signs ID-JAGs
 * (XAA) with its key, for the jwt-bearer tests. Given a client secret it checks the client's
 * authentication, and can behave like IdPs that list only some methods or read Basic credentials without
 * the form-decoding RFC 6749 §2.3.1 asks for. A sign-in can carry extra ID token claims (an Entra-shaped
 * `oid` beside a pairwise `sub`), a refresh token (then a refresh is answered with the plan's ID token), and
 * extra userinfo claims.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';

export type Mode =
  | 'good'
  | 'wrong-key'
  | 'alg-none'
  | 'hs256-public-key'
  | 'wrong-aud'
  | 'wrong-iss'
  | 'wrong-nonce'
  | 'expired'
  | 'future'
  | 'error'
  /** signed with a key published only at the second JWKS (`altJwksUri`), not the discovery document's */
  | 'alt-key';

export interface HostileIdp {
  issuer: string;
  clientId: string;
  /** a second JWKS, with another key than the discovery document's jwks_uri (for an IdP's `jwks_uri` setting) */
  altJwksUri: string;
  /** how many requests a path has had (e.g. `/jwks`: whether relying parties cache the key set) */
  served(path: string): number;
  /**
   * how the next token request is answered, for the given nonce (from the authorization URL); `as` signs in
   * another subject than mallory, with the IdP session `sid` (OIDC Back-Channel Logout 1.0 §2.1) when given
   */
  next(mode: Mode, nonce: string, as?: Plan): void;
  /** the public half of the published key, as a JWKS (for an IdP's `jwks` setting) */
  publicJwks: { keys: JWK[] };
  /** the private half of the published key (for suites that sign assertions themselves) */
  privateJwk: JWK;
  /** a JWT signed with the IdP's published key (or, with `evil`, with a key it does not publish) */
  sign(payload: Record<string, unknown>, header?: { typ?: string; alg?: string }, evil?: boolean): Promise<string>;
  stop(): Promise<void>;
}

/** who the next token request signs in, and what comes with it */
export interface Plan {
  sub?: string;
  sid?: string;
  /** more ID token claims (e.g. Entra's object id `oid`) */
  claims?: Record<string, unknown>;
  /** a refresh token in the token response; a `refresh_token` grant is then answered like the code */
  refreshToken?: string;
  /** more userinfo claims */
  userinfo?: Record<string, unknown>;
}

export interface HostileIdpOptions {
  /** when set, the token endpoint authenticates the client with this secret (else it accepts anyone) */
  clientSecret?: string;
  /** token_endpoint_auth_methods_supported: advertised, and the only methods accepted */
  authMethods?: string[];
  /** `raw`: Basic credentials are not form-decoded (the bug some IdPs have); `rfc`: RFC 6749 §2.3.1 */
  basicDecoding?: 'rfc' | 'raw';
}

export async function startHostileIdp(options: HostileIdpOptions = {}): Promise<HostileIdp> {
  const authMethods = options.authMethods ?? ['client_secret_basic', 'client_secret_post'];
  const good = await generateKeyPair('RS256', { extractable: true });
  const evil = await generateKeyPair('RS256', { extractable: true });
  const alt = await generateKeyPair('RS256', { extractable: true });
  const altJwk: JWK = { ...(await exportJWK(alt.publicKey)), kid: 'k2', alg: 'RS256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(good.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const clientId = 'baton-hostile';
  let issuer = '';
  let plan: Plan & { mode: Mode; nonce: string } = { mode: 'good', nonce: '' };
  const served = new Map<string, number>();

  async function idToken(refresh = false): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      // OIDC Core §12.2: a refreshed ID token has no nonce
      ...(refresh ? {} : { nonce: plan.mode === 'wrong-nonce' ? 'not-the-nonce' : plan.nonce }),
      email: 'mallory@example.com',
      groups: ['oncall'],
      ...(plan.sid ? { sid: plan.sid } : {}),
      ...plan.claims,
    };
    const base = new SignJWT(claims)
      .setSubject(plan.sub ?? 'mallory')
      .setIssuer(plan.mode === 'wrong-iss' ? 'https://evil.example.com' : issuer)
      .setAudience(plan.mode === 'wrong-aud' ? 'someone-else' : clientId)
      .setIssuedAt(plan.mode === 'future' ? now + 3600 : plan.mode === 'expired' ? now - 7200 : now)
      .setExpirationTime(plan.mode === 'expired' ? now - 3600 : now + 600);
    switch (plan.mode) {
      case 'alg-none':
        return new UnsecuredJWT({
          ...claims,
          sub: 'mallory',
          iss: issuer,
          aud: clientId,
          iat: now,
          exp: now + 600,
        }).encode();
      case 'hs256-public-key':
        return base
          .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
          .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
      case 'wrong-key':
        return base.setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(evil.privateKey);
      case 'alt-key':
        return base.setProtectedHeader({ alg: 'RS256', kid: 'k2' }).sign(alt.privateKey);
      default:
        return base.setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(good.privateKey);
    }
  }

  /** undefined when the client authenticated (or no secret is set), else how it tried */
  function authenticate(authorization: string | undefined, body: URLSearchParams): 'basic' | 'post' | undefined {
    if (options.clientSecret === undefined) return undefined;
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const formDecode = (v: string) =>
        options.basicDecoding === 'raw' ? v : decodeURIComponent(v.replace(/\+/g, ' '));
      const ok =
        authMethods.includes('client_secret_basic') &&
        formDecode(decoded.slice(0, colon)) === clientId &&
        formDecode(decoded.slice(colon + 1)) === options.clientSecret;
      return ok ? undefined : 'basic';
    }
    const ok =
      authMethods.includes('client_secret_post') &&
      body.get('client_id') === clientId &&
      body.get('client_secret') === options.clientSecret;
    return ok ? undefined : 'post';
  }

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    const path = new URL(req.url ?? '/', issuer).pathname;
    served.set(path, (served.get(path) ?? 0) + 1);
    if (path === '/.well-known/openid-configuration') {
      return send(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        userinfo_endpoint: `${issuer}/userinfo`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: authMethods,
      });
    }
    if (path === '/jwks') return send(200, { keys: [publicJwk] });
    if (path === '/jwks-alt') return send(200, { keys: [altJwk] });
    if (path === '/token') {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (raw += chunk));
      req.on('end', () => {
        const refused = authenticate(req.headers.authorization, new URLSearchParams(raw));
        if (refused) {
          // RFC 6749 §5.2: 401 invalid_client, with a challenge when the client tried the Authorization header
          res.writeHead(401, {
            'content-type': 'application/json',
            ...(refused === 'basic' ? { 'www-authenticate': 'Basic realm="hostile"' } : {}),
          });
          return res.end(
            JSON.stringify({ error: 'invalid_client', error_description: 'client authentication failed' }),
          );
        }
        if (plan.mode === 'error') return send(400, { error: 'invalid_grant', error_description: 'code expired' });
        const refresh = new URLSearchParams(raw).get('grant_type') === 'refresh_token';
        void idToken(refresh).then((token) =>
          send(200, {
            access_token: 'at-from-hostile',
            token_type: 'Bearer',
            expires_in: 300,
            id_token: token,
            ...(plan.refreshToken ? { refresh_token: plan.refreshToken } : {}),
          }),
        );
      });
      return;
    }
    if (path === '/userinfo') return send(200, { sub: plan.sub ?? 'mallory', groups: ['oncall'], ...plan.userinfo });
    send(404, { error: 'not_found' });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    clientId,
    altJwksUri: `${issuer}/jwks-alt`,
    served: (path) => served.get(path) ?? 0,
    next(mode, nonce, as = {}) {
      plan = { mode, nonce, ...as };
    },
    publicJwks: { keys: [publicJwk] },
    privateJwk: { ...(await exportJWK(good.privateKey)), kid: 'k1', alg: 'RS256' },
    sign: (payload, header = {}, useEvil = false) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: header.alg ?? 'RS256', typ: header.typ ?? 'oauth-id-jag+jwt', kid: 'k1' })
        .sign(useEvil ? evil.privateKey : good.privateKey),
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
