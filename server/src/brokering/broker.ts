/**
 * The gateway's side of brokering (issue #20): for a call by a person through a brokered gateway, the
 * upstream access token to send, never the agent's. In order:
 *   - this process's cache (safe to lose: the store has the same token) while the token has more than
 *     EXPIRY_SKEW_MS to live;
 *   - the store's grant (another process may have refreshed it);
 *   - a refresh (RFC 6749 §6) under the grant's row lock (grants.ts `refreshing`), audited
 *     `upstream.refreshed`; a refused refresh (invalid_grant: revoked or expired at the upstream) removes the
 *     grant, audited `upstream.disconnected`, and the person is asked to connect again;
 *   - no grant: NotConnected, with the connect link (tickets.ts) the gateway gives the agent as an MCP URL
 *     elicitation (MCP 2025-11-25 §Elicitation, URL mode: error -32042).
 * `refused` (the upstream refused the token it was just sent: revoked there before it expired) refreshes
 * even a token that looks fresh, unless another process has already replaced that one.
 */
import type { AuditEvent } from '../audit/record.ts';
import type { GrantStore, UpstreamGrant } from './grants.ts';
import type { Tickets } from './tickets.ts';
import { UpstreamRefused, type UpstreamAuth } from './upstream-auth.ts';

/**
 * a token is renewed once it has less than this to live (clock skew, the call's own duration), or less than
 * half its lifetime for a token that lives under a minute
 */
export const EXPIRY_SKEW_MS = 30_000;
const skew = (from: number, until: number) => Math.min(EXPIRY_SKEW_MS, (until - from) / 2);

/** The person has no grant at this upstream (or it was just removed): the link to connect. */
export class NotConnected extends Error {
  override name = 'NotConnected';
  readonly connectUrl: string;
  readonly reason: 'not_connected' | 'refresh_refused';
  constructor(connectUrl: string, reason: 'not_connected' | 'refresh_refused') {
    super(reason === 'not_connected' ? 'not connected' : 'the upstream refused the refresh: connect again');
    this.connectUrl = connectUrl;
    this.reason = reason;
  }
}

export interface Broker {
  /** `refused`: the token the upstream just refused (it is not used again) */
  token(gatewayId: string, account: string, opts?: { refused?: string }): Promise<string>;
}

export interface BrokerDeps {
  issuer: string;
  grants: GrantStore;
  /** each brokered gateway's upstream client */
  auth: ReadonlyMap<string, UpstreamAuth>;
  tickets: Tickets;
  /** an audit record (upstream.refreshed, upstream.disconnected): written, never awaited by the call */
  audit: (event: AuditEvent) => void;
}

const fresh = (g: UpstreamGrant | undefined, now: number) =>
  g?.accessToken !== undefined &&
  (g.accessExpiresAt === undefined || g.accessExpiresAt - skew(g.updatedAt, g.accessExpiresAt) > now);

export function broker(deps: BrokerDeps): Broker {
  const cache = new Map<string, { token: string; from: number; until: number }>();
  const base = deps.issuer.replace(/\/$/, '');
  const connectUrl = (gatewayId: string, account: string) =>
    `${base}/connect/${encodeURIComponent(gatewayId)}?ticket=${deps.tickets.issue(account, gatewayId)}`;

  return {
    async token(gatewayId, account, { refused } = {}) {
      const key = `${gatewayId}\n${account}`;
      const now = Date.now();
      const cached = cache.get(key);
      if (cached && cached.token !== refused && cached.until - skew(cached.from, cached.until) > now)
        return cached.token;
      const auth = deps.auth.get(gatewayId);
      if (!auth) throw new Error(`gateway ${gatewayId} is not brokered`);
      const stored = await deps.grants.get(account, gatewayId);
      if (!stored) {
        cache.delete(key);
        throw new NotConnected(connectUrl(gatewayId, account), 'not_connected');
      }
      const grant =
        fresh(stored, now) && stored.accessToken !== refused
          ? stored
          : await deps.grants.refreshing(account, gatewayId, async (current) => {
              // another process refreshed it while this one waited for the lock: that token is used
              if (fresh(current, Date.now()) && current.accessToken !== refused) return undefined;
              if (!current.refreshToken) return 'remove';
              try {
                const next = await auth.refresh(current.refreshToken);
                deps.audit({
                  type: 'upstream.refreshed',
                  outcome: 'success',
                  account,
                  details: { gateway: gatewayId, ...(refused ? { reason: 'refused_by_upstream' } : {}) },
                });
                return next;
              } catch (err) {
                if (!(err instanceof UpstreamRefused)) throw err;
                deps.audit({
                  type: 'upstream.disconnected',
                  outcome: 'failure',
                  account,
                  reason: 'refresh_refused',
                  details: { gateway: gatewayId },
                });
                return 'remove';
              }
            });
      if (!grant?.accessToken) {
        cache.delete(key);
        throw new NotConnected(connectUrl(gatewayId, account), 'refresh_refused');
      }
      cache.set(key, {
        token: grant.accessToken,
        from: grant.updatedAt,
        until: grant.accessExpiresAt ?? now + 3600_000,
      });
      return grant.accessToken;
    },
  };
}
