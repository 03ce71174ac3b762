/**
 * The admin console as an OAuth client of baton itself (issue #15: "sign-in through baton itself,
 * authorization code + PKCE, like any client"): openid-client builds the authorization request (RFC 6749
 * §4.1.1, PKCE S256 per RFC 7636 §4.2, RFC 8707 `resource` for the admin API) and redeems the code at the
 * token endpoint (RFC 6749 §4.1.3, checking `state` and, RFC 9207 §2.4, `iss`). The token request never
 * leaves the process: it is dispatched into baton's own HTTP handler (light-my-request), so the console works
 * behind any proxy or listen address, and goes through everything a client's request goes through.
 */
import inject from 'light-my-request';
import type { RequestListener } from 'node:http';
import * as oauth from 'openid-client';
import {
  ADMIN_CONSOLE_CALLBACK,
  ADMIN_CONSOLE_CLIENT,
  ADMIN_READ_SCOPE,
  ADMIN_RESOURCE_PATH,
  ADMIN_WRITE_SCOPE,
} from '../../consts.ts';

/** what the console asks for: both admin scopes; the person's roles decide which the token carries */
export const CONSOLE_SCOPE = `${ADMIN_READ_SCOPE} ${ADMIN_WRITE_SCOPE}`;

export interface ConsoleOAuth {
  /** the admin API's resource identifier (`${issuer}/admin/api`) */
  resource: string;
  redirectUri: string;
  /** A new sign-in: the authorization URL to send the browser to, and what the callback must check. */
  start(): Promise<{ url: string; state: string; verifier: string }>;
  /** The callback's code, redeemed: the access token and when it expires. Throws on any refusal. */
  redeem(
    callback: URL,
    pending: { state: string; verifier: string },
  ): Promise<{ access_token: string; expires_in: number; scope: string }>;
}

/** A WHATWG Response of the in-process answer (openid-client reads status, headers and body). */
function responseOf(res: inject.Response): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [String(value)]) headers.append(name, v);
  }
  return new Response(res.statusCode === 204 ? null : res.rawPayload, { status: res.statusCode, headers });
}

/** openid-client's fetch, answered by baton's own handler (the path under the issuer, its host). */
function inProcessFetch(issuer: URL, handler: () => RequestListener): oauth.CustomFetch {
  return async (url, options) => {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    new Headers(options.headers).forEach((v, k) => (headers[k] = v));
    const res = await inject(handler(), {
      method: options.method as inject.InjectOptions['method'],
      url: `${target.pathname}${target.search}`,
      headers: { ...headers, host: issuer.host },
      // openid-client sends form bodies (URLSearchParams) to the token endpoint
      ...(options.body instanceof URLSearchParams ? { payload: options.body.toString() } : {}),
    });
    return responseOf(res);
  };
}

export function consoleOAuth(issuerUrl: string, handler: () => RequestListener): ConsoleOAuth {
  const base = issuerUrl.replace(/\/$/, '');
  return selfClient(issuerUrl, handler, {
    clientId: ADMIN_CONSOLE_CLIENT,
    redirectUri: `${base}${ADMIN_CONSOLE_CALLBACK}`,
    scope: CONSOLE_SCOPE,
    resource: `${base}${ADMIN_RESOURCE_PATH}`,
  });
}

/**
 * A built-in client of baton itself (public, authorization code + PKCE): the admin console's, the connect
 * pages' (http/connect/). Its token requests go to baton's own handler in process (inProcessFetch).
 */
export function selfClient(
  issuerUrl: string,
  handler: () => RequestListener,
  client: { clientId: string; redirectUri: string; scope: string; resource: string },
): ConsoleOAuth {
  const issuer = new URL(issuerUrl);
  const base = issuerUrl.replace(/\/$/, '');
  const { resource, redirectUri } = client;
  const config = new oauth.Configuration(
    {
      issuer: issuerUrl,
      authorization_endpoint: `${base}/auth`,
      token_endpoint: `${base}/token`,
      authorization_response_iss_parameter_supported: true,
    },
    client.clientId,
    { token_endpoint_auth_method: 'none' },
    oauth.None(),
  );
  config[oauth.customFetch] = inProcessFetch(issuer, handler);
  // development issuers are http on loopback (the configuration refuses http elsewhere)
  if (issuer.protocol === 'http:') oauth.allowInsecureRequests(config);
  return {
    resource,
    redirectUri,
    async start() {
      const verifier = oauth.randomPKCECodeVerifier();
      const state = oauth.randomState();
      const url = oauth.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: client.scope,
        resource,
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, state, verifier };
    },
    async redeem(callback, pending) {
      const tokens = await oauth.authorizationCodeGrant(
        config,
        callback,
        { pkceCodeVerifier: pending.verifier, expectedState: pending.state },
        // RFC 8707 §2.2: the token request names the resource too (redirect_uri: the callback's, without query)
        { resource },
      );
      if (typeof tokens.expires_in !== 'number') throw new Error('the token response has no expires_in');
      return { access_token: tokens.access_token, expires_in: tokens.expires_in, scope: tokens.scope ?? '' };
    },
  };
}
