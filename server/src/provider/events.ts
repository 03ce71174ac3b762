/**
 * The one owner of provider events. Every listener on a provider is registered here, in this order, because
 * the order matters:
 *
 *   1. the seam's corrections (internals.ts), which fix oidc-provider's error code in the rendered body
 *      and on the error object before anyone else sees it;
 *   2. the log (internal reasons — `error_detail` and baton's `reason` code — for operators; the wire keeps
 *      the generic text);
 *   3. the metrics (counters only);
 *   4. reactions: a reused code or refresh token revokes its grant; a client's last use is recorded.
 *
 * baton's own decisions are typed events (`BatonEvents`) emitted through the provider with `emitEvent`, so
 * that a subscriber (metrics, the audit trail) reads one list: oidc-provider's `<noun>.<verb>` events and
 * these. A refusal is oidc-provider's `grant.error` whose error carries a typed reason (provider/refusals.ts).
 * Listeners never throw.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { AlreadyConsumed } from '../storage/oauth-errors.ts';
import { errorCorrections } from './internals.ts';
import { reasonOf } from './refusals.ts';
import { emitEvent, onEvent } from './baton-events.ts';
import { recordFor, track, type AuditSink } from './audit-trail.ts';
import { isMintingGrant } from './grants/mint.ts';
import { grantRevokedEvent, issuedEvent, refusedEvent } from './audit-events.ts';
import { takeEntries } from '../status-list/issue.ts';
import type { RevokedSelection } from '../status-list/entry.ts';

/** what the metrics count (http/metrics.ts implements it) */
export interface MetricsObserver {
  tokenIssued(grantType: unknown): void;
  grantRefused(grantType: unknown, error: unknown): void;
  /** an exchange for `audience`, labelled by it only when it is a configured resource */
  exchanged(audience: string, isResource: boolean): void;
  storeFailed(model: unknown, op: unknown): void;
}

export interface EventDeps {
  log: Logger;
  metrics?: MetricsObserver | undefined;
  isResource: (uri: string) => boolean;
  /** records a client's last use (a failure is logged, the request is not affected) */
  touchClient: (clientId: string) => Promise<void>;
  /** the audit trail: oidc-provider's own grants' tokens and every refusal (baton's grants write theirs) */
  audit?: AuditSink | undefined;
  /**
   * where the Token Status List entries of oidc-provider's grants' tokens are written when `audit` is not
   * given (audit off): the writer, which keeps them as it keeps lineage rows
   */
  statuses?: AuditSink | undefined;
  /** sets the Token Status List entries of revoked tokens to INVALID (status-list/entry.ts markRevoked) */
  revokeStatuses?: ((which: RevokedSelection) => Promise<number>) | undefined;
}

type Err = {
  error?: string;
  error_detail?: string;
  message?: string;
  status?: number;
  name?: string;
  cause?: unknown;
  model?: unknown;
  op?: unknown;
};
type Listener = (ctx: KoaContextWithOIDC, err: Err) => void;

/** the endpoints' error events oidc-provider emits (one log line each) */
const failures = [
  'grant.error',
  'authorization.error',
  'introspection.error',
  'revocation.error',
  'registration_create.error',
  'registration_read.error',
  'registration_update.error',
  'registration_delete.error',
  'userinfo.error',
  'jwks.error',
  'discovery.error',
  'pushed_authorization_request.error',
  'end_session.error',
] as const;

const clientOf = (ctx: KoaContextWithOIDC | undefined) => ctx?.oidc?.client?.clientId;
const grantTypeOf = (ctx: KoaContextWithOIDC | undefined): unknown => ctx?.oidc?.params?.grant_type;

export function attachEvents(provider: Provider, deps: EventDeps): void {
  const on = provider.on.bind(provider) as (event: string, fn: Listener) => void;
  // 1. the seam's corrections (provider/patches/), in their order
  for (const [event, correct] of errorCorrections) on(event, correct);
  // 2. the log
  attachLog(on, deps.log);
  // 3. the metrics
  if (deps.metrics) attachMetrics(provider, on, deps.metrics, deps.isResource);
  // 4. reactions
  revokeReusedGrants(provider, on, deps.log);
  if (deps.revokeStatuses) revokeGrantStatuses(on, deps.log, deps.revokeStatuses);
  if (deps.audit) attachAudit(on, deps.audit);
  else if (deps.statuses) attachStatusEntries(on, deps.statuses);
  on('grant.success', (ctx) => {
    const id = clientOf(ctx);
    if (id) deps.touchClient(id).catch((err: Error) => deps.log.warn({ reason: err.message }, 'client.touch_failed'));
  });
}

/**
 * issue #13: every token issued and every refusal at the token endpoint, durable before the answer; every
 * grant revoked (oidc-provider's `grant.revoked`, with the grant id: a refresh token revoked at the
 * revocation endpoint, a code or refresh token reused, a sign-out; and baton's own, with `{ grant }`, when a
 * reuse raced: revokeReusedGrants), a removal whose failed write is logged only.
 */
function attachAudit(on: (event: string, fn: Listener) => void, sink: AuditSink): void {
  (on as unknown as (event: string, fn: (ctx: KoaContextWithOIDC, g: string | { grant: string }) => void) => void)(
    'grant.revoked',
    (ctx, g) => {
      const [gid, reason] = typeof g === 'string' ? [g, revokedBecause(ctx)] : [g.grant, 'reused'];
      void recordFor(ctx, sink, { audit: [grantRevokedEvent(ctx, gid, reason)] }, { guards: false });
    },
  );
  on('grant.success', (ctx) => {
    if (isMintingGrant(grantTypeOf(ctx))) return; // written by the grant with its token (grants/*)
    // the token's status list entry (made in the extraTokenClaims hook) in the same batch
    void recordFor(ctx, sink, { audit: [issuedEvent(ctx)], statuses: takeEntries(ctx) });
  });
  on('grant.error', (ctx, err) => {
    // a refusal hands out nothing: a failed write is logged, the refusal stays precise
    void recordFor(ctx, sink, { audit: [refusedEvent(ctx, err, reasonOf(err))] }, { guards: false });
  });
}

/**
 * With audit off, the status list entries of oidc-provider's grants' tokens are still durable before the
 * token leaves (draft-ietf-oauth-status-list-20 §6.2: a token names its slot; revocation flips it).
 */
function attachStatusEntries(on: (event: string, fn: Listener) => void, sink: AuditSink): void {
  on('grant.success', (ctx) => {
    const statuses = takeEntries(ctx);
    if (statuses.length) void recordFor(ctx, sink, { statuses });
  });
}

/** why oidc-provider revoked a grant, from the route that did it (lib/helpers/revoke.js callers) */
function revokedBecause(ctx: KoaContextWithOIDC): string {
  const route = ctx.oidc?.route;
  if (route === 'revocation') return 'revoked'; // RFC 7009: its refresh token was revoked
  if (route === 'end_session') return 'signed_out';
  return 'reused'; // RFC 6749 §4.1.2, RFC 9700 §4.14.2: a code or refresh token presented again
}

function logOf(ctx: KoaContextWithOIDC | undefined, root: Logger): Logger {
  return (ctx?.state as { log?: Logger } | undefined)?.log ?? root;
}

function attachLog(on: (event: string, fn: Listener) => void, root: Logger): void {
  on('server_error', (ctx, err) => {
    const cause = err.cause instanceof Error ? err.cause.message : undefined;
    logOf(ctx, root).error(
      { err: { name: err.name, message: err.message, cause, model: err.model, op: err.op } },
      'server_error',
    );
  });
  for (const event of failures) {
    on(event, (ctx, err) => {
      // baton's JWT access tokens are introspected and revoked by baton itself (provider/jwt-token-state.ts)
      if (err.error === 'unsupported_token_type' && (event === 'introspection.error' || event === 'revocation.error'))
        return;
      const reason = reasonOf(err);
      logOf(ctx, root).warn(
        {
          event,
          client_id: clientOf(ctx),
          error: err.error,
          ...(reason ? { reason } : {}),
          detail: err.error_detail ?? err.message,
        },
        event,
      );
    });
  }
  on('grant.success', (ctx) => {
    if (!root.isLevelEnabled('info')) return; // the hot path: no request logger made for nothing
    logOf(ctx, root).info(
      { event: 'grant.success', client_id: clientOf(ctx), grant_type: grantTypeOf(ctx) },
      'grant.success',
    );
  });
}

function attachMetrics(
  provider: Provider,
  on: (event: string, fn: Listener) => void,
  metrics: MetricsObserver,
  isResource: (uri: string) => boolean,
): void {
  on('grant.success', (ctx) => metrics.tokenIssued(grantTypeOf(ctx)));
  on('grant.error', (ctx, err) => metrics.grantRefused(grantTypeOf(ctx), err.error));
  onEvent(provider, 'token_exchange.issued', (_ctx, { audience }) => metrics.exchanged(audience, isResource(audience)));
  on('server_error', (_ctx, err) => {
    if (err.name === 'AdapterError') metrics.storeFailed(err.model, err.op);
  });
}

/**
 * A revoked grant (oidc-provider's `grant.revoked` with its id: a refresh token revoked (RFC 7009), a code
 * or refresh token reused, a sign-out; baton's with `{ grant }`: a reuse that raced, revokeReusedGrants)
 * takes every token of it, exchanged descendants included (their entries carry the root grant), out of the
 * Token Status List (draft-ietf-oauth-status-list-20 §7.1 INVALID), as introspection already refuses them
 * (the grant is gone). The answer waits for it; a failure is logged (`status_list.revoke_failed`).
 */
function revokeGrantStatuses(
  on: (event: string, fn: Listener) => void,
  root: Logger,
  revokeStatuses: (which: RevokedSelection) => Promise<number>,
): void {
  (on as unknown as (event: string, fn: (ctx: KoaContextWithOIDC, g: string | { grant: string }) => void) => void)(
    'grant.revoked',
    (ctx, g) => {
      const grantId = typeof g === 'string' ? g : g.grant;
      const done = revokeStatuses({ grantId }).then(
        () => undefined,
        (e: Error) =>
          logOf(ctx, root).error({ err: { message: e.message }, grant: grantId }, 'status_list.revoke_failed'),
      );
      if (ctx) track(ctx, done, false);
    },
  );
}

/**
 * RFC 6749 §4.1.2 (SHOULD), OAuth 2.1 §4.3.1: a code or refresh token presented twice revokes its grant.
 * oidc-provider does so when the second presentation comes after the first; when the two race, the
 * adapter's atomic consume refuses the loser (AlreadyConsumed, with the grant id) and the grant is
 * revoked here: the winner's refresh token stops working and its access tokens (gid) become inactive.
 */
function revokeReusedGrants(provider: Provider, on: (event: string, fn: Listener) => void, root: Logger): void {
  on('grant.error', (ctx, err) => {
    if (!(err instanceof AlreadyConsumed) || !err.grantId) return;
    const grantId = err.grantId;
    const models = [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode];
    const revoked = Promise.all([
      ...models.map((m) => m.revokeByGrantId(grantId)),
      provider.Grant.find(grantId).then((g) => g?.destroy()),
    ]).then(
      () => {
        logOf(ctx, root).warn(
          { event: 'grant.revoked', grant: grantId, client_id: clientOf(ctx), reason: 'reused' },
          'grant.revoked',
        );
        emitEvent(ctx, 'grant.revoked', { grant: grantId }, provider);
      },
      (e: Error) => logOf(ctx, root).error({ err: { message: e.message }, grant: grantId }, 'grant.revoke_failed'),
    );
    // the refusal is answered once the grant is revoked (and its audit record, written on grant.revoked)
    track(ctx, revoked, false);
  });
}
