/**
 * Client ID Metadata Documents (CIMD, draft-ietf-oauth-client-id-metadata-document; the MCP authorization
 * 2026-07-28 default): oidc-provider's `clientIdMetadataDocument` feature with baton's fetch policy (blocked
 * ids, allowed/denied host patterns, a per-host rate limit shared through Redis, failures cached briefly with
 * their reason) and the reason shown on the error page when a CIMD client id could not be used.
 */
import { isLimitReached, rateLimiter, RateLimitStoreError } from '../../rate-limit.ts';
import type { Config } from '../../config/schema.ts';
import { isLoopbackHost } from '../../config/schema.ts';
import type { RegistryAudit } from './audit.ts';
import type { ClientDeps } from './deps.ts';
import { CimdFailure } from './cimd-document.ts';
import { causeChain, hostMatches, isCimdClientId } from './rules.ts';

type CimdConfig = Config['clients']['registration']['cimd'];

/** What the error page says about a client id whose metadata document could not be used. */
export interface CimdProblem {
  clientId: string;
  reason: string;
}

/** CIMD URL → when it may be fetched again, and why it failed (a cache, safe to lose). */
function failureCache(seconds: number) {
  const failures = new Map<string, { retryAt: number; reason: string }>();
  return {
    record: (url: string, reason: string): void => {
      if (!seconds) return;
      const now = Date.now();
      if (failures.size > 10_000) for (const [k, v] of failures) if (v.retryAt <= now) failures.delete(k);
      failures.set(url, { retryAt: now + seconds * 1000, reason });
    },
    /** the failure of a fetch that is not to be tried again yet */
    recent: (url: string): { retryAt: number; reason: string } | undefined => {
      const failed = failures.get(url);
      return failed && failed.retryAt > Date.now() ? failed : undefined;
    },
  };
}

/**
 * Per request: the CIMD ids whose fetch was attempted or refused (and why), so that oidc-provider's second
 * look-up of the same client in that request (its authorization error handler) fetches nothing.
 */
function requestAttempts() {
  const attempts = new WeakMap<object, Map<string, string | undefined>>();
  return {
    of: (ctx: unknown): Map<string, string | undefined> | undefined => {
      if (!ctx || typeof ctx !== 'object') return undefined;
      let map = attempts.get(ctx);
      if (!map) attempts.set(ctx, (map = new Map<string, string | undefined>()));
      return map;
    },
    refusal: (ctx: unknown, clientId: string): string | undefined =>
      ctx && typeof ctx === 'object' ? attempts.get(ctx)?.get(clientId) : undefined,
  };
}

/** A fetch the policy refuses whatever the state: the reason shown, and the one logged if it differs. */
function policyRefusal(url: URL, blocked: boolean, cimd: CimdConfig): { reason: string; logged?: string } | undefined {
  if (blocked) return { reason: 'client not allowed', logged: 'client blocked' };
  if (hostMatches(url.host, cimd.deny_hosts)) return { reason: 'host not allowed', logged: 'host denied' };
  if (cimd.allow_hosts.length > 0 && !hostMatches(url.host, cimd.allow_hosts)) return { reason: 'host not allowed' };
  // draft-ietf-oauth-client-id-metadata-document §3: a client identifier URL SHOULD NOT include a query
  if (url.search) return { reason: 'the client id has a query string' };
  return undefined;
}

/**
 * The reason a request failed on a CIMD client id, for the error page: the failure of its document fetch
 * (carried by the error), the refusal to fetch it (recorded for this request), or a client id that is not
 * one baton accepts.
 */
function problemOf(
  clientId: string,
  err: unknown,
  refused: string | undefined,
  isCimdId: boolean,
): CimdProblem | undefined {
  for (const e of causeChain(err)) {
    if (e instanceof CimdFailure) return { clientId, reason: e.reason };
  }
  if (refused) return { clientId, reason: refused };
  if (/^http:\/\//i.test(clientId) && isLoopbackHost(URL.parse(clientId)?.hostname ?? '') && !isCimdId)
    return {
      clientId,
      reason: 'the client id must be an https URL (http on a loopback host only with mode: development)',
    };
  return undefined;
}

export function cimdClients(deps: ClientDeps, audit?: RegistryAudit) {
  const { cimd } = deps.config.clients.registration;
  const failures = failureCache(cimd.failure_cache_seconds);
  const attempts = requestAttempts();
  const limiter = rateLimiter(
    deps.redis,
    `${deps.config.storage.redis_key_prefix}cimd-rate`,
    cimd.rate_limit.per_host,
    cimd.rate_limit.window_seconds,
  );

  async function allowFetch(ctx: unknown, clientId: string): Promise<boolean> {
    const tried = attempts.of(ctx);
    // the same request looking the client up again after a failure: not fetched twice
    if (tried?.has(clientId)) return false;
    const url = new URL(clientId);
    const refuse = (reason: string, logged = reason, extra: Record<string, unknown> = {}) => {
      deps.log.warn({ client_id: clientId, reason: logged, ...extra }, 'cimd.fetch_refused');
      audit?.refused(ctx, clientId, logged);
      tried?.set(clientId, reason);
      return false;
    };
    const refusal = policyRefusal(url, deps.isBlocked(clientId), cimd);
    if (refusal) return refuse(refusal.reason, refusal.logged);
    const failed = failures.recent(clientId);
    if (failed) {
      const wait = Math.ceil((failed.retryAt - Date.now()) / 1000);
      return refuse(`${failed.reason}; fetched again in ${wait} s`, 'recent fetch failure (cached)', {
        last_reason: failed.reason,
      });
    }
    try {
      await limiter.consume(url.host);
    } catch (err) {
      if (isLimitReached(err))
        return refuse('rate limited (too many documents fetched from the host)', 'rate limit for the host');
      throw new RateLimitStoreError('CIMD rate limit store failed', { cause: err });
    }
    tried?.set(clientId, undefined);
    return true;
  }

  return {
    feature: {
      enabled: cimd.enabled,
      ack: 'draft-02',
      cacheDuration: { min: 30, max: 3600 },
      allowFetch,
      allowClient: async (ctx: unknown, client: { clientId: string; metadata(): Record<string, unknown> }) => {
        if (deps.isBlocked(client.clientId)) return false;
        // the first time baton accepts this document: its client.registered record, durable before the answer
        await audit?.accepted(ctx, client.clientId, client.metadata());
        return true;
      },
    },
    /** the reason shown on the error page for the request's client id, if it is a CIMD problem */
    problem: (ctx: unknown, err: unknown): CimdProblem | undefined => {
      const c = ctx as { oidc?: { params?: { client_id?: unknown } }; query?: { client_id?: unknown } } | undefined;
      const clientId = c?.oidc?.params?.client_id ?? c?.query?.client_id;
      if (typeof clientId !== 'string') return undefined;
      return problemOf(clientId, err, attempts.refusal(ctx, clientId), isCimdClientId(deps.config.mode, clientId));
    },
    recordFailure: failures.record,
  };
}
