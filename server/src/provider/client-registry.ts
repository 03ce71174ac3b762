/**
 * Clients: static (from the configuration), registered (RFC 7591 DCR, managed by RFC 7592), and Client ID
 * Metadata Documents (CIMD, the MCP authorization 2026-07-28 default), behind one policy:
 *
 *   - the Client adapter serves static clients from the current configuration (so SIGHUP reloads them and a
 *     blocked id disappears at once), then registered ones from storage; URL ids fall through to CIMD;
 *   - a blocked client id (any kind) is unknown: invalid_client on its next request;
 *   - anonymous registrations and metadata documents can never claim first-party status, resources or
 *     scopes (baton_* metadata is for static clients only); their kind is agent or app;
 *   - redirect URIs of dynamic clients: https, http on loopback (any port, RFC 8252 §7.3), or a private-use
 *     scheme (RFC 8252 §7.1); never javascript:, data:, file:, fragments or wildcards;
 *   - CIMD fetches: allowed/denied host patterns, a per-host rate limit (shared through Redis), failures
 *     cached (briefly) with their reason, shown on the error page; the SSRF guard kept unless the
 *     development flag says otherwise; in development mode an http client id on loopback is accepted too;
 *   - URIs baton fetches (jwks_uri, request_uris) are checked at registration like the fetch would.
 */
import { isLimitReached, rateLimiter, RateLimitStoreError } from '../rate-limit.ts';
import type { Redis } from 'ioredis';
import { errors, type Configuration } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Adapter, AdapterPayload } from '../../../adapters/src/models.ts';
import type { Kek } from '../keys/kek.ts';
import type { Config, StaticClientConfig } from '../config/schema.ts';
import { isLoopbackHost } from '../config/schema.ts';
import type { Policy } from '../policy/policy.ts';
import { SEALED_SECRET, TOKEN_EXCHANGE } from '../consts.ts';
import { isIP } from 'node:net';
import {
  anyLoopbackPort,
  CIMD_CACHE_HEADERS,
  CIMD_DOCUMENT_LIMIT,
  isCimdDocumentFetch,
  isSpecialUseAddress,
  invalidRedirectUri,
  isValidHttpsClientIdUrl,
  outgoingDispatcher,
  SpecialUseAddressError,
} from './internals.ts';

// eslint-disable-next-line no-control-regex -- the point is to find them
const CONTROL = /[\u0000-\u001f\u007f]/;
/** Control characters, or text that is not well-formed Unicode (an unpaired surrogate) */
function notPrintable(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return CONTROL.test(value) || !value.isWellFormed();
  if (depth > 8 || value === null || typeof value !== 'object') return false;
  return Object.values(value).some((v) => notPrintable(v, depth + 1));
}

export const CLIENT_KIND = 'client_kind';
export const FIRST_PARTY = 'baton_first_party';
export const ALLOWED_RESOURCES = 'baton_resources';
export const ALLOWED_SCOPES = 'baton_scopes';
const STATIC_ONLY = new Set([FIRST_PARTY, ALLOWED_RESOURCES, ALLOWED_SCOPES]);
const KINDS = new Set(['agent', 'mcp_server', 'service', 'app']);
const DYNAMIC_KINDS = new Set(['agent', 'app']);

export function staticClientMetadata(c: StaticClientConfig, implied: readonly string[] = []): Record<string, unknown> {
  const auth = c.auth ?? (c.public ? 'none' : 'client_secret_basic');
  const grantTypes = [
    ...new Set([
      ...(c.grant_types ??
        (c.redirect_uris.length > 0 ? ['authorization_code', 'refresh_token'] : ['client_credentials'])),
      ...implied,
    ]),
  ];
  const native = c.redirect_uris.some((u) => {
    const url = URL.parse(u);
    return (
      url !== null && (url.protocol !== 'https:' && url.protocol !== 'http:' ? true : isLoopbackHost(url.hostname))
    );
  });
  return {
    client_id: c.client_id,
    ...(c.name ? { client_name: c.name } : {}),
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    ...(c.jwks_uri ? { jwks_uri: c.jwks_uri } : {}),
    token_endpoint_auth_method: auth,
    redirect_uris: c.redirect_uris,
    grant_types: grantTypes,
    response_types: grantTypes.includes('authorization_code') ? ['code'] : [],
    application_type: native ? 'native' : 'web',
    ...(c.dpop_bound_access_tokens ? { dpop_bound_access_tokens: true } : {}),
    [CLIENT_KIND]: c.kind,
    [FIRST_PARTY]: c.first_party,
    ...(c.resources ? { [ALLOWED_RESOURCES]: c.resources } : {}),
    [ALLOWED_SCOPES]: c.scopes,
  };
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

/**
 * Why a Client ID Metadata Document could not be used: a short category that is safe to show the client's
 * developer on the error page (tls, status 404, too large, not JSON, wrong content type, client_id mismatch,
 * host not allowed, rate limited, …). The detailed reason goes to the log.
 */
export class CimdFailure extends Error {
  override name = 'CimdFailure';
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`client_id metadata document: ${reason}`, options);
    this.reason = reason;
  }
}

/** A network-level fetch failure in a few words: which of TLS, timeout, refused, name, guard. */
export function networkFailureReason(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
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

/** The body of a response, at most `limit` bytes (undefined past it: the rest is never read). */
async function readCapped(res: Response, limit: number): Promise<Uint8Array | undefined> {
  if (Number(res.headers.get('content-length') ?? 0) > limit) {
    await res.body?.cancel();
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  let size = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks);
}

/**
 * A CIMD document response checked before oidc-provider reads it, so that each failure has its own reason
 * (draft-ietf-oauth-client-id-metadata-document §4: a 200 JSON document whose client_id is its URL; served as
 * application/json, not text/html or without a content type). Returns the response rebuilt from the
 * checked body, for oidc-provider's own checks (secrets, auth methods, URIs) that follow.
 */
async function checkedCimdResponse(url: string, res: Response): Promise<Response> {
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new CimdFailure(`status ${res.status} (the document must be served with 200)`);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    await res.body?.cancel();
    throw new CimdFailure(`wrong content type (${type || 'none'}; must be application/json)`);
  }
  const body = await readCapped(res, CIMD_DOCUMENT_LIMIT);
  if (!body) throw new CimdFailure(`too large (over ${CIMD_DOCUMENT_LIMIT} bytes)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new CimdFailure('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CimdFailure('not a JSON object');
  if ((parsed as { client_id?: unknown }).client_id !== url)
    throw new CimdFailure('client_id mismatch (the document must name its own URL as client_id)');
  const headers = new Headers({ 'content-type': 'application/json' });
  for (const name of CIMD_CACHE_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Response(body, { status: 200, headers });
}

/** What the error page says about a client id whose metadata document could not be used. */
export interface CimdProblem {
  clientId: string;
  reason: string;
}

/** Each policy's static clients as oidc-provider metadata, derived once per loaded policy (a cache). */
const derived = new WeakMap<Policy, Map<string, Record<string, unknown>>>();

/**
 * A static client's oidc-provider metadata under a policy: a `delegation` actor also gets the token-exchange
 * grant type (RFC 8693), which the client config need not list.
 */
export function staticMetadata(policy: Policy, id: string): Record<string, unknown> | undefined {
  let clients = derived.get(policy);
  if (!clients) {
    clients = new Map(
      [...policy.staticClients.values()].map((c) => [
        c.client_id,
        staticClientMetadata(c, policy.delegationActors.has(c.client_id) ? [TOKEN_EXCHANGE] : []),
      ]),
    );
    derived.set(policy, clients);
  }
  return clients.get(id);
}

export interface ClientDeps {
  config: Config;
  policy(): Policy;
  redis: Redis | undefined;
  log: Logger;
  /** encrypts registered clients' secrets at rest */
  kek: Kek;
}

/**
 * The stored payload's field for a registered client's secret, encrypted under the KEK (a compact JWE).
 * oidc-provider compares the secret it is given with the client's (client_secret_basic/post), so it needs
 * it back in the clear: the Client adapter decrypts on find and encrypts on upsert. A payload from before
 * this carries a plain `client_secret`: it is read as it is and sealed on its next write (or by `keys
 * rewrap`).
 */

async function sealSecret(kek: Kek, payload: AdapterPayload): Promise<AdapterPayload> {
  const { client_secret: secret, ...rest } = payload;
  return typeof secret === 'string' ? { ...rest, [SEALED_SECRET]: await kek.encrypt(secret) } : payload;
}

async function openSecret(kek: Kek, payload: AdapterPayload): Promise<AdapterPayload> {
  const { [SEALED_SECRET]: sealed, ...rest } = payload;
  return typeof sealed === 'string' ? { ...rest, client_secret: await kek.decrypt(sealed) } : payload;
}

export function clientRegistry(deps: ClientDeps) {
  const { cimd, dcr } = deps.config.clients.registration;
  const unusedTtl = dcr.unused_expiry_days * 86400;
  // CIMD URL → when it may be fetched again, and why it failed (a cache, safe to lose)
  const failures = new Map<string, { retryAt: number; reason: string }>();
  // per request: the CIMD ids whose fetch was attempted or refused (and why), so that oidc-provider's
  // second look-up of the same client in that request (its authorization error handler) fetches nothing
  const attempts = new WeakMap<object, Map<string, string | undefined>>();
  const attemptsOf = (ctx: unknown) => {
    if (!ctx || typeof ctx !== 'object') return undefined;
    let map = attempts.get(ctx);
    if (!map) attempts.set(ctx, (map = new Map<string, string | undefined>()));
    return map;
  };
  const isCimdId = (id: unknown): id is string =>
    isUrlClientId(id) || isDevelopmentLoopbackClientId(deps.config.mode, id);
  const limiter = rateLimiter(
    deps.redis,
    `${deps.config.storage.redis_key_prefix}cimd-rate`,
    cimd.rate_limit.per_host,
    cimd.rate_limit.window_seconds,
  );
  // always ours (oidc-provider's own guard only drops the socket after connecting): see internals.ts
  const dispatcher = outgoingDispatcher({
    ...(cimd.extra_ca ? { ca: cimd.extra_ca } : {}),
    allowPrivateNetwork: cimd.allow_private_network,
  });
  // development mode: an http loopback client id's document is on loopback by definition
  const loopbackDispatcher =
    deps.config.mode === 'development' ? outgoingDispatcher({ allowPrivateNetwork: true }) : undefined;
  const touched = new Map<string, number>();

  const isStatic = (id: unknown) => typeof id === 'string' && deps.policy().staticClients.has(id);

  /** The Client model's adapter: static clients first (current config), blocked ids unknown, then storage. */
  function clientAdapter(stored: Adapter): Adapter {
    return {
      ...stored,
      async find(id) {
        if (deps.policy().blocked.has(id)) return undefined;
        const fixed = staticMetadata(deps.policy(), id);
        if (fixed) return { ...fixed };
        if (isCimdId(id)) return undefined; // CIMD resolves it (an https id, or a loopback http one in development)
        const payload = await stored.find(id);
        return payload && openSecret(deps.kek, payload);
      },
      // RFC 7591 registrations expire when unused (touch() renews them); secrets are stored encrypted
      upsert: async (id, payload) => stored.upsert(id, await sealSecret(deps.kek, payload), unusedTtl),
      findByUid: (uid) => stored.findByUid(uid),
      findByUserCode: (code) => stored.findByUserCode(code),
      consume: (id) => stored.consume(id),
      destroy: (id) => stored.destroy(id),
      revokeByGrantId: (grantId) => stored.revokeByGrantId(grantId),
    };
  }

  /** A registered client that is used stays registered (at most one write an hour per process). */
  async function touch(stored: Adapter, clientId: string): Promise<void> {
    if (isStatic(clientId) || isCimdId(clientId)) return;
    const now = Date.now();
    if ((touched.get(clientId) ?? 0) > now - 3600_000) return;
    touched.set(clientId, now);
    const payload = await stored.find(clientId);
    if (payload) await stored.upsert(clientId, payload, unusedTtl);
  }

  function isFirstParty(client: { clientId: string; [key: string]: unknown }): boolean {
    if (client[FIRST_PARTY] === true) return true;
    if (deps.config.clients.first_party.includes(client.clientId)) return true;
    return isCimdId(client.clientId) && hostMatches(new URL(client.clientId).host, cimd.first_party_hosts);
  }

  const validator: NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']> = (
    ctx,
    key,
    value,
    metadata,
  ) => {
    const md = metadata as Record<string, unknown>;
    const dynamic = !isStatic(md.client_id);
    if (STATIC_ONLY.has(key) && dynamic && value !== undefined) {
      throw new errors.InvalidClientMetadata(`${key} cannot be registered`);
    }
    if (key !== CLIENT_KIND) return;
    // runs once per client (every client has this property's validator called)
    if (value !== undefined && (typeof value !== 'string' || !(dynamic ? DYNAMIC_KINDS : KINDS).has(value))) {
      throw new errors.InvalidClientMetadata(
        `${CLIENT_KIND} must be one of ${[...(dynamic ? DYNAMIC_KINDS : KINDS)].join(', ')}`,
      );
    }
    if (!dynamic) return;
    // registered or fetched metadata is shown on consent pages and stored: printable text only (PostgreSQL
    // jsonb cannot hold U+0000 or an unpaired surrogate at all)
    for (const [name, v] of Object.entries(md)) {
      if (notPrintable(v))
        throw new errors.InvalidClientMetadata(`${name} must not contain control characters or unpaired surrogates`);
    }
    if (value === undefined) md[CLIENT_KIND] = 'agent';
    // client_credentials is for configured services: a client's own scopes (baton_scopes) are static-only, so
    // a registered client could only ever get invalid_scope, and open registration must not mint services.
    // Checked when registered or updated (RFC 7591 §3.2.2, RFC 7592 §2.2: ctx is the request) and for CIMD
    // documents; a stored registration from before this rule is not refused when loaded (it gets no scope).
    if (
      (ctx !== undefined || isCimdId(md.client_id)) &&
      Array.isArray(md.grant_types) &&
      md.grant_types.includes('client_credentials')
    ) {
      throw new errors.InvalidClientMetadata(
        'grant_types: client_credentials is only for clients configured in clients.static',
      );
    }
    const redirects = Array.isArray(md.redirect_uris) ? (md.redirect_uris as unknown[]) : [];
    // RFC 7591 §3.2.2 invalid_redirect_uri, saying what is wrong
    for (const uri of redirects) {
      const problem = typeof uri === 'string' ? redirectUriProblem(uri) : 'must be a string';
      if (problem) throw invalidRedirectUri(String(uri), problem);
    }
    // OIDC RP-Initiated Logout §3.1: the same rules as redirect URIs
    const logouts = Array.isArray(md.post_logout_redirect_uris) ? (md.post_logout_redirect_uris as unknown[]) : [];
    for (const uri of logouts) {
      const problem = typeof uri === 'string' ? redirectUriProblem(uri) : 'must be a string';
      if (problem) throw new errors.InvalidClientMetadata(`post_logout_redirect_uris: ${String(uri)}: ${problem}`);
    }
    // URIs baton fetches: checked now, not only at the first fetch (the SSRF guard would refuse it then)
    if (md.jwks_uri !== undefined) {
      const problem = fetchedUriProblem(md.jwks_uri, cimd.allow_private_network);
      if (problem) {
        const shown = typeof md.jwks_uri === 'string' ? md.jwks_uri : JSON.stringify(md.jwks_uri);
        throw new errors.InvalidClientMetadata(`jwks_uri: ${shown}: ${problem}`);
      }
    }
    // CIMD normalization: a document without a secret is a public client (draft-02 §4.1 forbids secrets)
    if (
      isCimdId(md.client_id) &&
      md.client_secret === undefined &&
      typeof md.token_endpoint_auth_method === 'string' &&
      md.token_endpoint_auth_method.startsWith('client_secret')
    ) {
      md.token_endpoint_auth_method = 'none';
    }
    // RFC 8252 §7.3: loopback redirects match on any port
    if (
      redirects.some(
        (u) => typeof u === 'string' && URL.parse(u)?.protocol === 'http:' && isLoopbackHost(URL.parse(u)!.hostname),
      )
    ) {
      anyLoopbackPort(md);
    }
  };

  const cimdFeature = {
    enabled: cimd.enabled,
    ack: 'draft-02',
    cacheDuration: { min: 30, max: 3600 },
    allowFetch: async (ctx: unknown, clientId: string) => {
      const tried = attemptsOf(ctx);
      // the same request looking the client up again after a failure: not fetched twice
      if (tried?.has(clientId)) return false;
      const url = new URL(clientId);
      const host = url.host;
      const refuse = (reason: string, logged = reason, extra: Record<string, unknown> = {}) => {
        deps.log.warn({ client_id: clientId, reason: logged, ...extra }, 'cimd.fetch_refused');
        tried?.set(clientId, reason);
        return false;
      };
      if (deps.policy().blocked.has(clientId)) return refuse('client not allowed', 'client blocked');
      if (hostMatches(host, cimd.deny_hosts)) return refuse('host not allowed', 'host denied');
      if (cimd.allow_hosts.length > 0 && !hostMatches(host, cimd.allow_hosts)) return refuse('host not allowed');
      // draft-ietf-oauth-client-id-metadata-document §3: a client identifier URL SHOULD NOT include a query
      if (url.search) return refuse('the client id has a query string');
      const failed = failures.get(clientId);
      if (failed && failed.retryAt > Date.now()) {
        const wait = Math.ceil((failed.retryAt - Date.now()) / 1000);
        return refuse(`${failed.reason}; fetched again in ${wait} s`, 'recent fetch failure (cached)', {
          last_reason: failed.reason,
        });
      }
      try {
        await limiter.consume(host);
      } catch (err) {
        if (isLimitReached(err))
          return refuse('rate limited (too many documents fetched from the host)', 'rate limit for the host');
        throw new RateLimitStoreError('CIMD rate limit store failed', { cause: err });
      }
      tried?.set(clientId, undefined);
      return true;
    },
    allowClient: async (_ctx: unknown, client: { clientId: string }) => !deps.policy().blocked.has(client.clientId),
  };

  function recordFailure(url: string, reason: string): void {
    if (!cimd.failure_cache_seconds) return;
    const now = Date.now();
    if (failures.size > 10_000) for (const [k, v] of failures) if (v.retryAt <= now) failures.delete(k);
    failures.set(url, { retryAt: now + cimd.failure_cache_seconds * 1000, reason });
  }

  /**
   * oidc-provider's outgoing fetch, through our dispatcher (SSRF guard, CAs). A CIMD document is checked
   * here (status, content type, size, JSON, client_id) so that its failure has a reason for the error page,
   * and failures are cached for `failure_cache_seconds`.
   */
  const fetch = async (url: URL | string, options: RequestInit) => {
    const key = String(url);
    const document = isCimdId(key) && isCimdDocumentFetch(options);
    (options as { dispatcher?: unknown }).dispatcher =
      loopbackDispatcher && isDevelopmentLoopbackClientId(deps.config.mode, key) ? loopbackDispatcher : dispatcher;
    const failed = (err: unknown, reason: string) => {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      const message = (err as Error).message;
      deps.log.warn({ url: key, reason: cause ? `${message}: ${cause}` : message }, 'fetch.failed');
      if (document) recordFailure(key, reason);
    };
    let res: Response;
    try {
      res = await globalThis.fetch(url, options);
    } catch (err) {
      failed(err, networkFailureReason(err));
      throw document ? new CimdFailure(networkFailureReason(err), { cause: err }) : err;
    }
    if (!document) {
      if (!res.ok) deps.log.warn({ url: key, reason: `status ${res.status}` }, 'fetch.failed');
      return res;
    }
    try {
      return await checkedCimdResponse(key, res);
    } catch (err) {
      const reason = err instanceof CimdFailure ? err.reason : networkFailureReason(err);
      failed(err, reason);
      throw err instanceof CimdFailure ? err : new CimdFailure(reason, { cause: err });
    }
  };

  /**
   * The reason a request failed on a CIMD client id, for the error page: the failure of its document fetch
   * (carried by the error), the refusal to fetch it (recorded for this request), or a client id that is not
   * one baton accepts.
   */
  function cimdProblem(ctx: unknown, err: unknown): CimdProblem | undefined {
    const c = ctx as { oidc?: { params?: { client_id?: unknown } }; query?: { client_id?: unknown } } | undefined;
    const clientId = c?.oidc?.params?.client_id ?? c?.query?.client_id;
    if (typeof clientId !== 'string') return undefined;
    for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
      if (e instanceof CimdFailure) return { clientId, reason: e.reason };
    }
    const refused = ctx && typeof ctx === 'object' ? attempts.get(ctx)?.get(clientId) : undefined;
    if (refused) return { clientId, reason: refused };
    if (/^http:\/\//i.test(clientId) && isLoopbackHost(URL.parse(clientId)?.hostname ?? '') && !isCimdId(clientId))
      return {
        clientId,
        reason: 'the client id must be an https URL (http on a loopback host only with mode: development)',
      };
    return undefined;
  }

  return {
    clientAdapter,
    touch,
    isFirstParty,
    validator,
    cimdFeature,
    fetch,
    cimdProblem,
    /** CIMD ids oidc-provider does not recognise itself (see patches/client-id-urls.ts) */
    isDevelopmentLoopbackClientId: (id: unknown) => cimd.enabled && isDevelopmentLoopbackClientId(deps.config.mode, id),
    fetchedUriProblem: (uri: unknown) => fetchedUriProblem(uri, cimd.allow_private_network),
  };
}

export type ClientRegistry = ReturnType<typeof clientRegistry>;
