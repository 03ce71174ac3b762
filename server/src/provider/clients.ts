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
 *     cached, the SSRF guard kept unless the development flag says otherwise.
 */
import { isLimitReached, rateLimiter, RateLimitStoreError } from '../http/rate-limit.ts';
import type { Redis } from 'ioredis';
import { errors, type Configuration } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Adapter, AdapterPayload } from '../../../adapters/src/models.ts';
import type { Kek } from '../keys/kek.ts';
import type { Config, StaticClientConfig } from '../config/schema.ts';
import { isLoopbackHost } from '../config/schema.ts';
import type { Policy } from '../policy/policy.ts';
import { outgoingDispatcher } from './internals.ts';

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

/** RFC 8252 §7: https; http only on loopback; a private-use scheme (reverse domain: has a dot). */
export function redirectUriProblem(uri: string): string | undefined {
  if (/[*]/.test(uri)) return 'wildcards are not allowed';
  if (uri.includes('#')) return 'fragments are not allowed (RFC 6749 §3.1.2)';
  const url = URL.parse(uri);
  if (!url) return 'is not an absolute URI';
  const scheme = url.protocol.slice(0, -1);
  if (['javascript', 'data', 'file', 'vbscript', 'blob', 'about', 'ftp', 'ws', 'wss'].includes(scheme))
    return `the ${scheme}: scheme is not allowed`;
  if (scheme === 'https') return undefined;
  if (scheme === 'http')
    return isLoopbackHost(url.hostname) ? undefined : 'http is allowed only on loopback (RFC 8252 §7.3)';
  if (!scheme.includes('.')) return 'a private-use scheme must be a reverse domain name (RFC 8252 §7.1)';
  return undefined;
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
export const SEALED_SECRET = 'client_secret_jwe';

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
  const failures = new Map<string, number>(); // CIMD URL → retry-after epoch ms (a cache, safe to lose)
  const limiter = rateLimiter(
    deps.redis,
    `${deps.config.storage.redis_key_prefix}cimd-rate`,
    cimd.rate_limit.per_host,
    cimd.rate_limit.window_seconds,
  );
  const dispatcher =
    cimd.allow_private_network || cimd.extra_ca
      ? outgoingDispatcher({
          ...(cimd.extra_ca ? { ca: cimd.extra_ca } : {}),
          allowPrivateNetwork: cimd.allow_private_network,
        })
      : undefined;
  const touched = new Map<string, number>();

  const isStatic = (id: unknown) => typeof id === 'string' && deps.policy().staticClients.has(id);

  /** The Client model's adapter: static clients first (current config), blocked ids unknown, then storage. */
  function clientAdapter(stored: Adapter): Adapter {
    return {
      ...stored,
      async find(id) {
        if (deps.policy().blocked.has(id)) return undefined;
        const fixed = deps.policy().staticClients.get(id);
        if (fixed) return { ...fixed };
        if (isUrlClientId(id)) return undefined; // CIMD resolves it
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
    if (isStatic(clientId) || isUrlClientId(clientId)) return;
    const now = Date.now();
    if ((touched.get(clientId) ?? 0) > now - 3600_000) return;
    touched.set(clientId, now);
    const payload = await stored.find(clientId);
    if (payload) await stored.upsert(clientId, payload, unusedTtl);
  }

  function isFirstParty(client: { clientId: string; [key: string]: unknown }): boolean {
    if (client[FIRST_PARTY] === true) return true;
    if (deps.config.clients.first_party.includes(client.clientId)) return true;
    return isUrlClientId(client.clientId) && hostMatches(new URL(client.clientId).host, cimd.first_party_hosts);
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
      (ctx !== undefined || isUrlClientId(md.client_id)) &&
      Array.isArray(md.grant_types) &&
      md.grant_types.includes('client_credentials')
    ) {
      throw new errors.InvalidClientMetadata(
        'grant_types: client_credentials is only for clients configured in clients.static',
      );
    }
    const redirects = Array.isArray(md.redirect_uris) ? (md.redirect_uris as unknown[]) : [];
    for (const uri of redirects) {
      const problem = typeof uri === 'string' ? redirectUriProblem(uri) : 'must be a string';
      if (problem) throw new errors.InvalidRedirectUri({ detail: `${String(uri)}: ${problem}` });
    }
    // CIMD normalization: a document without a secret is a public client (draft-02 §4.1 forbids secrets)
    if (
      isUrlClientId(md.client_id) &&
      md.client_secret === undefined &&
      typeof md.token_endpoint_auth_method === 'string' &&
      md.token_endpoint_auth_method.startsWith('client_secret')
    ) {
      md.token_endpoint_auth_method = 'none';
    }
    // RFC 8252 §7.3: loopback redirects match on any port, which oidc-provider does for native clients
    if (
      redirects.some(
        (u) => typeof u === 'string' && URL.parse(u)?.protocol === 'http:' && isLoopbackHost(URL.parse(u)!.hostname),
      )
    ) {
      md.application_type = 'native';
    }
  };

  const cimdFeature = {
    enabled: cimd.enabled,
    ack: 'draft-02',
    cacheDuration: { min: 30, max: 3600 },
    allowFetch: async (_ctx: unknown, clientId: string) => {
      const host = new URL(clientId).host;
      const refuse = (reason: string) => {
        deps.log.warn({ client_id: clientId, reason }, 'cimd.fetch_refused');
        return false;
      };
      if (deps.policy().blocked.has(clientId)) return refuse('client blocked');
      if (hostMatches(host, cimd.deny_hosts)) return refuse('host denied');
      if (cimd.allow_hosts.length > 0 && !hostMatches(host, cimd.allow_hosts)) return refuse('host not allowed');
      const retryAt = failures.get(clientId);
      if (retryAt && retryAt > Date.now()) return refuse('recent fetch failure (cached)');
      try {
        await limiter.consume(host);
      } catch (err) {
        if (isLimitReached(err)) return refuse('rate limit for the host');
        throw new RateLimitStoreError('CIMD rate limit store failed', { cause: err });
      }
      return true;
    },
    allowClient: async (_ctx: unknown, client: { clientId: string }) => !deps.policy().blocked.has(client.clientId),
  };

  /** oidc-provider's outgoing fetch: our dispatcher when configured; CIMD failures cached. */
  const fetch = async (url: URL | string, options: RequestInit) => {
    if (dispatcher) (options as { dispatcher?: unknown }).dispatcher = dispatcher;
    const key = String(url);
    try {
      const res = await globalThis.fetch(url, options);
      if (!res.ok && cimd.failure_cache_seconds) failures.set(key, Date.now() + cimd.failure_cache_seconds * 1000);
      return res;
    } catch (err) {
      if (cimd.failure_cache_seconds) failures.set(key, Date.now() + cimd.failure_cache_seconds * 1000);
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      deps.log.warn(
        { url: key, reason: cause ? `${(err as Error).message}: ${cause}` : (err as Error).message },
        'fetch.failed',
      );
      throw err;
    }
  };

  return { clientAdapter, touch, isFirstParty, validator, cimdFeature, fetch };
}

export type ClientRegistry = ReturnType<typeof clientRegistry>;
