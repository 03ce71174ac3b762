/**
 * Step-up with the MCP SDK client (1.32), for MCP client authors. MCP authorization 2026-07-28 §Scope
 * Challenge Handling (SEP-2350): on 403 `insufficient_scope` the client re-authorizes with the union of the
 * scopes it was granted and those the server challenged. SDK 1.32's StreamableHTTPClientTransport instead
 * calls auth() with the challenged scope alone, which refreshes when it holds a refresh token (a refresh
 * cannot widen a grant, RFC 6749 §6), re-sends the call (a second 403), and gives up. So: hide the challenge
 * from the transport (one 403, no refresh), then start the authorization yourself.
 */
import { auth, extractWWWAuthenticateParams, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/**
 * A fetch for StreamableHTTPClientTransport (`{ fetch: challenges.fetch }`): it keeps the scope of the last
 * 403 insufficient_scope challenge and hands the transport that answer without its WWW-Authenticate, so the
 * transport throws (StreamableHTTPError 403) instead of refreshing and re-sending the call.
 */
export function scopeChallenges(base: FetchLike = fetch) {
  let challenged: string | undefined;
  const wrapped: FetchLike = async (url, init) => {
    const res = await base(url, init);
    if (res.status !== 403) return res;
    const { error, scope } = extractWWWAuthenticateParams(res); // RFC 6750 §3
    if (error !== 'insufficient_scope' || !scope) return res;
    challenged = scope;
    const headers = new Headers(res.headers);
    headers.delete('www-authenticate');
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
  return {
    fetch: wrapped,
    /** the scope the server last challenged for (once), or undefined */
    take(): string | undefined {
      const scope = challenged;
      challenged = undefined;
      return scope;
    },
  };
}

/** The scopes granted so far ∪ the challenged ones (SEP-2350), space-separated, each once. */
export function scopeUnion(granted: string | undefined, challenged: string): string {
  return [...new Set([...(granted ?? '').split(' '), ...challenged.split(' ')].filter(Boolean))].join(' ');
}

/**
 * Starts the step-up authorization: forgets the tokens (so auth() does not refresh) and asks for the union.
 * Returns 'REDIRECT' (the provider's redirectToAuthorization got the URL); after the user comes back, call
 * transport.finishAuth(code), reconnect and retry the call once. Limit attempts per resource and operation
 * (MCP authorization §Scope Challenge Handling): if the new token still lacks the scope, the user's roles do
 * not allow it; do not loop.
 */
export async function stepUp(
  provider: OAuthClientProvider & Required<Pick<OAuthClientProvider, 'invalidateCredentials'>>,
  serverUrl: URL,
  challenged: string,
) {
  const scope = scopeUnion((await provider.tokens())?.scope, challenged);
  await provider.invalidateCredentials('tokens');
  return { scope, result: await auth(provider, { serverUrl, scope }) };
}
