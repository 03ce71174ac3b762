/**
 * The pure rules on client ids, hosts and URIs (no state, no I/O): which ids are CIMD ids, host patterns,
 * redirect URIs (RFC 8252 §7), URIs baton fetches, printable metadata, and a network failure in a few words.
 */
import { isIP } from 'node:net';
import type { Config } from '../../config/schema.ts';
import { isLoopbackHost } from '../../config/schema.ts';
import { isSpecialUseAddress, isValidHttpsClientIdUrl, SpecialUseAddressError } from '../internals.ts';

// eslint-disable-next-line no-control-regex -- the point is to find them
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Control characters, or text that is not well-formed Unicode (an unpaired surrogate) */
export function notPrintable(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return CONTROL.test(value) || !value.isWellFormed();
  if (depth > 8 || value === null || typeof value !== 'object') return false;
  return Object.values(value).some((v) => notPrintable(v, depth + 1));
}

export function hostMatches(host: string, patterns: readonly string[]): boolean {
  const h = host.toLowerCase();
  return patterns.some((p) => (p.startsWith('*.') ? h.endsWith(p.slice(1)) && h.length > p.length - 1 : h === p));
}

export const isUrlClientId = (id: unknown): id is string => typeof id === 'string' && id.startsWith('https://');

/**
 * Development mode only: a CIMD client id may be an `http://` URL on a loopback host (127.0.0.1, [::1],
 * localhost), so a newcomer can try CIMD locally without https and a certificate. Otherwise the rules of an
 * https client id apply (upstream's own check on the https form: no fragment, userinfo, dot segments).
 * Never in production mode.
 */
export function isDevelopmentLoopbackClientId(mode: Config['mode'], id: unknown): id is string {
  if (mode !== 'development' || typeof id !== 'string' || !/^http:\/\//i.test(id)) return false;
  const url = URL.parse(id);
  return url !== null && isLoopbackHost(url.hostname) && isValidHttpsClientIdUrl(`https://${id.slice(7)}`);
}

/** A client id CIMD resolves: an https URL, or (development mode) an http one on loopback. */
export function isCimdClientId(mode: Config['mode'], id: unknown): id is string {
  return isUrlClientId(id) || isDevelopmentLoopbackClientId(mode, id);
}

/** An `http:` URI on a loopback host (RFC 8252 §7.3). */
export function isLoopbackHttpUri(uri: unknown): boolean {
  if (typeof uri !== 'string') return false;
  const url = URL.parse(uri);
  return url?.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** A port the URI names but that cannot be listened on or is missing (`host:` / `host:0`). */
function portProblem(uri: string, url: URL): string | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(uri)?.[1] ?? '';
  if (/:$/.test(authority)) return 'the port is empty';
  if (url.port === '0') return 'port 0 is not a port a client can listen on';
  return undefined;
}

/** RFC 8252 §7: https; http only on loopback; a private-use scheme (reverse domain: has a dot). */
export function redirectUriProblem(uri: string): string | undefined {
  if (/[*]/.test(uri)) return 'wildcards are not allowed';
  if (uri.includes('#')) return 'fragments are not allowed (RFC 6749 §3.1.2)';
  const url = URL.parse(uri);
  if (!url) return 'is not an absolute URI';
  const scheme = url.protocol.slice(0, -1);
  if (['javascript', 'data', 'file', 'vbscript', 'blob', 'about', 'ftp', 'ws', 'wss'].includes(scheme))
    return `the ${scheme}: scheme is not allowed`;
  if (scheme === 'https' || scheme === 'http') {
    const port = portProblem(uri, url);
    if (port) return port;
  }
  if (scheme === 'https') return undefined;
  if (scheme === 'http')
    return isLoopbackHost(url.hostname) ? undefined : 'http is allowed only on loopback (RFC 8252 §7.3)';
  if (!scheme.includes('.')) return 'a private-use scheme must be a reverse domain name (RFC 8252 §7.1)';
  return undefined;
}

/**
 * A URI baton itself fetches or sends requests to (jwks_uri, request_uris): https only, and never a loopback
 * or special-use address unless the development flag allows the private network (the same SSRF rule as
 * the fetch, applied at registration instead of at first use).
 */
export function fetchedUriProblem(uri: unknown, allowPrivateNetwork: boolean): string | undefined {
  if (typeof uri !== 'string') return 'must be a string';
  const url = URL.parse(uri);
  if (!url) return 'is not an absolute URI';
  if (uri.includes('#')) return 'fragments are not allowed';
  if (url.protocol !== 'https:') return 'must be an https URL';
  if (url.username || url.password) return 'must not contain userinfo';
  const port = portProblem(uri, url);
  if (port) return port;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!allowPrivateNetwork && (isLoopbackHost(url.hostname) || (isIP(host) !== 0 && isSpecialUseAddress(host))))
    return 'must not be a loopback, private or special-use address';
  return undefined;
}

/** An error and the causes it carries, at most five deep. */
export function* causeChain(err: unknown): Generator<unknown> {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) yield e;
}

/** A network-level fetch failure in a few words: which of TLS, timeout, refused, name, guard. */
export function networkFailureReason(err: unknown): string {
  for (const e of causeChain(err)) {
    if (e instanceof SpecialUseAddressError) return 'host not allowed (a private or special-use address)';
    const { name, code } = e as { name?: string; code?: unknown };
    if (name === 'TimeoutError' || name === 'AbortError') return 'timeout (the document must arrive within 2.5 s)';
    if (typeof code !== 'string') continue;
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_|ALTNAME|HOSTNAME_MISMATCH|EPROTO/.test(code)) return `tls (${code})`;
    if (code === 'ECONNREFUSED') return 'connection refused';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name not found';
    if (code === 'ECONNRESET') return 'connection reset';
  }
  return 'connection failed';
}
