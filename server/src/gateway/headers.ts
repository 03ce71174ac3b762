/**
 * Which headers cross the gateway. Both directions are allowlists: only what MCP Streamable HTTP needs goes
 * to the upstream (never the caller's `Authorization`, `DPoP` or `Cookie`, nor a header named like the
 * upstream credential: a forged `X-API-Key` stops here), and only what an MCP client needs comes back (never
 * the upstream's `Set-Cookie` or `WWW-Authenticate`). Hop-by-hop headers (RFC 9110 §7.6.1: `Connection`,
 * `Keep-Alive`, `Transfer-Encoding`, `TE`, `Upgrade`, `Proxy-*`, and those `Connection` names) are never in
 * either list; the framing is each side's own.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** MCP transports 2025-11-25 §Streamable HTTP, §Session Management, §Resumability; MCP 2026-07-28 SEP-2243 */
const TO_UPSTREAM = [
  'accept',
  'content-type',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  'mcp-method',
  'mcp-name',
  'user-agent',
];

const FROM_UPSTREAM = ['content-type', 'mcp-session-id', 'mcp-protocol-version', 'cache-control', 'retry-after'];

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

/**
 * The headers of the forwarded request: the allowlisted ones of the caller's (the session id: the upstream's
 * own, never the caller's as sent), then the credential (a header of the caller's with the credential's name
 * is never among them: it is not on the list, and set last).
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  credential: [string, string] | undefined,
  /** the upstream's own session id for the caller's (sessions.ts), when the caller sent one */
  sessionId?: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TO_UPSTREAM) {
    const value = name === 'mcp-session-id' ? sessionId : first(incoming[name]);
    if (value !== undefined && (!credential || credential[0] !== name)) out[name] = value;
  }
  if (credential) out[credential[0]] = credential[1];
  return out;
}

/** The upstream's answer headers an MCP client gets. */
export function downstreamHeaders(
  upstream: Record<string, string | string[] | undefined>,
  /** the caller's id for the upstream's session id (sessions.ts) */
  bindSession: (upstreamId: string) => string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of FROM_UPSTREAM) {
    const value = first(upstream[name]);
    if (value !== undefined) out[name] = value;
  }
  if (out['mcp-session-id'] !== undefined) out['mcp-session-id'] = bindSession(out['mcp-session-id']);
  return out;
}
