/**
 * baton's pages as a test reads them over HTTP, like a browser without JavaScript: the authorization request
 * that starts a flow, the form on a page (its CSRF token and action), and the redirects between pages.
 * (Chromium drives the same pages in server/test/browser/.)
 */
import { createHash, randomBytes } from 'node:crypto';
import type request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';

/** The CSRF token of the form on one of baton's pages ('' when there is none). */
export const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** Where the form on one of baton's pages posts to ('' when there is none). */
export const actionOf = (html: string): string =>
  /<form method="post" action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&') ?? '';

/**
 * An authorization request to `issuer` (RFC 6749 §4.1.1) with a fresh PKCE pair (RFC 7636, S256) and state:
 * the URL to open, and the verifier and state the client keeps.
 */
export function authorizationRequest(
  issuer: string,
  params: Record<string, string>,
): { url: string; verifier: string; state: string } {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const url = new URL(`${issuer}/auth`);
  url.search = new URLSearchParams({
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    ...params,
  }).toString();
  return { url: url.href, verifier, state };
}

/**
 * Follows redirects with `agent` (a supertest agent on baton's origin, keeping its cookies) from `location`
 * until one that `stop` accepts, returned as `stoppedAt` and not requested (the client's redirect URI, an
 * upstream IdP), or an answer that is not a redirect, returned as `page`.
 */
export async function followRedirects(
  agent: TestAgent,
  location: string,
  stop: (location: string) => boolean,
  max = 10,
): Promise<{ stoppedAt?: string; page?: request.Response }> {
  let next = location;
  for (let i = 0; i < max; i++) {
    if (stop(next)) return { stoppedAt: next };
    const url = URL.parse(next);
    const res = await agent.get(url ? url.pathname + url.search : next);
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      next = res.headers.location;
      continue;
    }
    return { page: res };
  }
  throw new Error('too many redirects');
}

/** The IDE agent's redirect URI in the test configuration (helpers.ts makeConfig) */
export const AGENT_CALLBACK = 'http://127.0.0.1/callback';

/**
 * The IDE agent's authorization request path (PKCE S256 with `verifier`, a fresh state) for the logs MCP
 * server, with `openid offline_access logs.read` unless `extra` says otherwise.
 */
export function agentAuthorizePath(verifier: string, extra: Record<string, string> = {}): string {
  return `/auth?${new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: AGENT_CALLBACK,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    resource: 'https://logs.mcp.example.com/mcp',
    scope: 'openid offline_access logs.read',
    ...extra,
  }).toString()}`;
}

/**
 * From `location` on, follows the redirects to the IDE agent's callback and redeems its code (RFC 6749
 * §4.1.3, the PKCE `verifier`) at `url`: the token response.
 */
export async function redeemAtAgentCallback(
  url: string,
  agent: TestAgent,
  location: string,
  verifier: string,
): Promise<{ access_token: string; refresh_token: string }> {
  const { stoppedAt, page } = await followRedirects(agent, location, (l) => l.startsWith(AGENT_CALLBACK), 12);
  if (!stoppedAt) throw new Error(`the sign-in did not reach the client: ${page?.status} ${page?.text.slice(0, 300)}`);
  const res = await fetch(`${url}/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: new URL(stoppedAt).searchParams.get('code') ?? '',
      code_verifier: verifier,
      redirect_uri: AGENT_CALLBACK,
      client_id: 'ide-agent',
      resource: 'https://logs.mcp.example.com/mcp',
    }),
  });
  const body = (await res.json()) as { access_token: string; refresh_token: string };
  if (res.status !== 200) throw new Error(`the code was not redeemed: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * At the local directory's sign-in page `html` (Example Corp), posts `username` / `<username>-password`
 * with the page's CSRF token; the 303's Location.
 */
export async function postLocalSignIn(agent: TestAgent, html: string, username: string): Promise<string> {
  const posted = await agent
    .post(actionOf(html))
    .type('form')
    .send({ csrf: csrfOf(html), username, password: `${username}-password` })
    .expect(303);
  return posted.headers.location!;
}
