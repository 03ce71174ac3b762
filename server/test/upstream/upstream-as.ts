/**
 * A third-party upstream authorization server for tests of per-user credential brokering (issue #20): the
 * authorization server of a SaaS MCP server, from which baton gets each user's own token. It is a real
 * Glewlwyd 2.7 (server/test/idp/glewlwyd.ts, scripts/glewlwyd/), started in the role README.md "Upstream
 * authorization server" describes: short access tokens, the scope `mcp.search`, RFC 8707 resource indicators
 * for the MCP server's URI (access tokens then carry it as `aud`), RFC 7009 revocation and RFC 7662
 * introspection with the client's own secret, and optionally one-use (rotated) refresh tokens.
 */
import { freePort } from '../helpers.ts';
import { startGlewlwyd, type Glewlwyd } from '../idp/glewlwyd.ts';

export const MCP_SCOPE = 'mcp.search';

export interface UpstreamAs {
  /** http://127.0.0.1:<port>/api/oidc (discovery: <issuer>/.well-known/openid-configuration) */
  issuer: string;
  /** <issuer>/jwks */
  jwksUri: string;
  clientId: string;
  clientSecret: string;
  /** the scope for the MCP server (`mcp.search`) */
  scope: string;
  /** the MCP server's URI, the RFC 8707 `resource` the client may ask for (undefined: indicators off) */
  resource: string | undefined;
  /** Logs `user` in for the authorization request and returns the redirect URL (with `code`, or `error`). */
  login(authorizationUrl: string, user: string, password: string): Promise<string>;
  /**
   * RFC 7009 §2.1 revocation request with the client's credentials (client_secret_basic). Glewlwyd answers
   * 200 with an empty body, also for a token it does not know (§2.2).
   */
  revoke(token: string, hint?: 'refresh_token' | 'access_token'): Promise<{ status: number; body: string }>;
  /** RFC 7662 §2.1 introspection request with the client's credentials; the answer's JSON (§2.2). */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** Stops Glewlwyd (the authorization server is down from then on) and removes its state. */
  stop(): Promise<void>;
}

export interface UpstreamAsOptions {
  /** the relying party's (baton's) redirect URI */
  redirectUri: string;
  /** the MCP server's URI, allowed as the RFC 8707 resource of `mcp.search`; omitted: no resource indicators */
  resource?: string;
  /** access token lifetime (default 3600) */
  accessTokenSeconds?: number;
  /** `always`: each refresh returns a new refresh token and disables the one used (default never) */
  refreshTokenOneUse?: 'never' | 'always';
  /** default: a free port */
  port?: number;
}

export async function startUpstreamAs(opts: UpstreamAsOptions): Promise<UpstreamAs> {
  const glewlwyd: Glewlwyd = await startGlewlwyd({
    port: opts.port ?? (await freePort()),
    redirectUri: opts.redirectUri,
    as: {
      accessTokenSeconds: opts.accessTokenSeconds ?? 3600,
      scopes: [MCP_SCOPE],
      revocation: true,
      ...(opts.resource ? { resources: { [MCP_SCOPE]: [opts.resource] } } : {}),
      refreshTokenOneUse: opts.refreshTokenOneUse ?? 'never',
      allowNonOidc: true,
    },
  });
  const basic = `Basic ${Buffer.from(
    // RFC 6749 §2.3.1: client id and secret form-urlencoded before the Basic encoding
    `${encodeURIComponent(glewlwyd.clientId)}:${encodeURIComponent(glewlwyd.clientSecret)}`,
  ).toString('base64')}`;
  const post = (path: string, params: Record<string, string>): Promise<Response> =>
    fetch(`${glewlwyd.issuer}/${path}`, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });

  return {
    issuer: glewlwyd.issuer,
    jwksUri: `${glewlwyd.issuer}/jwks`,
    clientId: glewlwyd.clientId,
    clientSecret: glewlwyd.clientSecret,
    scope: MCP_SCOPE,
    resource: opts.resource,
    login: (url, user, password) => glewlwyd.login(url, user, password),
    async revoke(token, hint) {
      const res = await post('revoke', { token, ...(hint ? { token_type_hint: hint } : {}) });
      return { status: res.status, body: await res.text() };
    },
    async introspect(token) {
      const res = await post('introspect', { token });
      if (!res.ok) throw new Error(`introspection: HTTP ${res.status}: ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    },
    stop: () => glewlwyd.stop(),
  };
}
