/**
 * `POST ${issuer}/idp/:idp/backchannel-logout`: OpenID Connect Back-Channel Logout 1.0, baton as the relying
 * party of an upstream IdP (`identity_providers[].back_channel_logout`). The IdP posts a logout token
 * (§2.5: `application/x-www-form-urlencoded`, `logout_token`); baton validates it (§2.6, idp/logout-token.ts),
 * uses its `jti` once across every process (§2.6 step 7: the ReplayDetection store), ends the baton sessions
 * it names (sessions/logins.ts) and, with `everything`, revokes all the account holds (revocation/revoke.ts).
 * §2.8: 200 with `Cache-Control: no-store` when done (also when nobody was signed in: nothing to do), 400
 * `invalid_request` for a bad request (a generic text; the reason in the log and the audit record).
 */
import { createHash } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Knex } from 'knex';
import type Koa from 'koa';
import type { Adapter } from '../../../adapters/src/models.ts';
import { accountIdFor, accountsByUpstreamSub } from '../accounts/store.ts';
import type { AuditEvent } from '../audit/record.ts';
import type { OidcIdpConfig } from '../config/schema.ts';
import {
  CLOCK_SKEW_SECONDS,
  IdpKeysUnavailable,
  LogoutTokenRefused,
  MAX_AGE_SECONDS,
  verifyLogoutToken,
} from '../idp/logout-token.ts';
import type { IdpRegistry } from '../idp/registry.ts';
import { keyedBySub } from '../idp/subject-claim.ts';
import { recordNow, type AuditSink } from '../audit/sink.ts';
import { replayKey } from '../idp/replay-key.ts';
import { countsOf, revoke, UnknownTarget, type RevocationCounts, type RevocationStores } from '../revocation/revoke.ts';
import { endSessions, sessionLogins, type SessionSelector } from '../sessions/logins.ts';

export interface BackChannelLogoutDeps {
  idps: IdpRegistry;
  db: Knex;
  /** the Session adapter (whichever store holds sessions) */
  sessions: Adapter;
  /** one-time logout token ids (the ReplayDetection store, shared by every process) */
  replay: Pick<Adapter, 'claim' | 'destroy'>;
  revocation: RevocationStores;
  audit?: AuditSink | undefined;
}

/** the most a form with one logout token needs (a JWT of a few KiB) */
export const MAX_BODY_BYTES = 16 * 1024;
const REPLAY_TAG = 'bclogout';

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
const logOf = (ctx: Koa.Context) => (ctx.state as { log: Log }).log;

class Refusal extends Error {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  readonly reason: string;
  constructor(status: number, error: string, description: string, reason: string) {
    super(reason);
    this.status = status;
    this.error = error;
    this.description = description;
    this.reason = reason;
  }
}

const bad = (reason: string) => new Refusal(400, 'invalid_request', 'the logout request is not valid', reason);

function answer(ctx: Koa.Context, status: number, body: unknown): void {
  ctx.status = status;
  // §2.8: the response is not cached
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('base64url');

/** §2.5: the form's one `logout_token`, at most MAX_BODY_BYTES (koa's parser, which stops at the limit) */
async function logoutTokenOf(ctx: Koa.Context, parse: Koa.Middleware): Promise<string> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded')
    throw new Refusal(
      415,
      'invalid_request',
      'the body must be application/x-www-form-urlencoded',
      `content-type ${ctx.get('content-type') || 'none'}`,
    );
  const tooLarge = new Refusal(
    413,
    'invalid_request',
    `the body is larger than ${MAX_BODY_BYTES} bytes`,
    'body too large',
  );
  if (Number(ctx.get('content-length') || 0) > MAX_BODY_BYTES) throw tooLarge;
  try {
    await parse(ctx, async () => {});
  } catch (err) {
    if ((err as { status?: number }).status === 413) throw tooLarge;
    throw bad(`body: ${(err as Error).message}`);
  }
  const token = ((ctx.request as { body?: Record<string, unknown> }).body ?? {}).logout_token;
  if (typeof token !== 'string' || !token) throw bad('no single logout_token parameter');
  return token;
}

export function backChannelLogoutRoutes(deps: BackChannelLogoutDeps): Router {
  const router = new Router();
  const parse = bodyParser({ enableTypes: ['form'], formLimit: MAX_BODY_BYTES }) as unknown as Koa.Middleware;
  router.post('/idp/:idp/backchannel-logout', async (ctx) => {
    const idp = deps.idps.get(ctx.params.idp!);
    // a disabled IdP (enabled: false) signs nothing baton accepts: its logout tokens neither
    if (!idp || idp.type !== 'oidc' || idp.back_channel_logout === 'off' || !idp.enabled) {
      logOf(ctx).warn({ idp: ctx.params.idp, status: 404, reason: 'no back-channel logout here' }, 'logout.refused');
      return answer(ctx, 404, { error: 'not_found', error_description: 'no back-channel logout endpoint here' });
    }
    try {
      await logout(ctx, deps, idp, await logoutTokenOf(ctx, parse));
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      logOf(ctx).warn({ idp: idp.id, status: err.status, reason: err.reason }, 'logout.refused');
      const event: AuditEvent = {
        type: 'session.ended',
        outcome: 'refused',
        error: err.error,
        reason: err.reason,
        details: { idp: idp.id, via: 'back_channel_logout' },
      };
      if (deps.audit) await recordNow(deps.audit, [event], logOf(ctx)).catch(() => {});
      answer(ctx, err.status, { error: err.error, error_description: err.description });
    }
  });
  return router;
}

/** A valid logout token, used once: the sessions it names ended (and, with `everything`, the accounts revoked). */
async function logout(ctx: Koa.Context, deps: BackChannelLogoutDeps, idp: OidcIdpConfig, raw: string): Promise<void> {
  let token: Awaited<ReturnType<typeof verifyLogoutToken>>;
  try {
    token = await verifyLogoutToken(idp, deps.idps.keys(idp), raw);
  } catch (err) {
    if (err instanceof IdpKeysUnavailable) return unavailable(ctx, idp, err);
    if (err instanceof LogoutTokenRefused) throw bad(err.message);
    throw err;
  }
  // §2.6 step 7: single use, across processes; kept while the token could still be accepted (iat + max age)
  const key = replayKey(idp.issuer, token.jti, REPLAY_TAG);
  const ttl = Math.max(1, token.iat + MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS - Math.floor(Date.now() / 1000));
  let first: boolean;
  try {
    first = await deps.replay.claim(key, { jti: key, iss: idp.issuer, kind: 'ReplayDetection' }, ttl);
  } catch (err) {
    return unavailable(ctx, idp, err);
  }
  if (!first) throw bad(`logout token ${key} was already used`);
  let done: { account: string | undefined; sessions: number; revoked: Revoked[] };
  try {
    done = await endAndRevoke(deps, idp, token);
  } catch (err) {
    // nothing said it was done: the IdP may send the same token again
    await deps.replay.destroy(key).catch(() => {});
    return unavailable(ctx, idp, err);
  }
  const fields = { idp: idp.id, mode: idp.back_channel_logout, account: done.account, sessions: done.sessions };
  logOf(ctx).info({ ...fields, revoked: done.revoked.length }, 'logout.accepted');
  if (deps.audit) await recordNow(deps.audit, acceptedEvents(idp, token, key, done), logOf(ctx)).catch(() => {});
  answer(ctx, 200, '');
}

interface Revoked {
  account: string;
  counts: RevocationCounts;
}

/**
 * The accounts a logout token's `sub` (§2.4: the ID token's `sub`) names: the account keyed by it, or, with
 * another `subject_claim` (the account keyed by, say, Entra's `oid`), the accounts whose last sign-in's ID
 * token had that `sub` (accounts.upstream_sub).
 */
async function accountsNamed(deps: BackChannelLogoutDeps, idp: OidcIdpConfig, sub: string): Promise<string[]> {
  if (keyedBySub(idp)) return [accountIdFor(idp.issuer, sub)];
  return (await accountsByUpstreamSub(deps.db, idp.issuer, sub)).map((a) => a.id);
}

/**
 * §2.6: by `sid`, the baton sessions signed in through that IdP session (of `sub`'s account, when it is
 * given too); by `sub` alone, every baton session of that account signed in through this IdP.
 */
async function endAndRevoke(deps: BackChannelLogoutDeps, idp: OidcIdpConfig, token: { sub?: string; sid?: string }) {
  const named = token.sub !== undefined ? await accountsNamed(deps, idp, token.sub) : undefined;
  const which: SessionSelector[] =
    named === undefined
      ? [{ idp: idp.id, sid: token.sid! }]
      : named.map((account) =>
          token.sid !== undefined ? { idp: idp.id, sid: token.sid, account } : { idp: idp.id, account },
        );
  const found = (await Promise.all(which.map((w) => sessionLogins(deps.db, w)))).flat();
  const sessions = await endSessions(
    deps.db,
    deps.sessions,
    found.map((s) => s.uid),
  );
  const revoked: Revoked[] = [];
  if (idp.back_channel_logout === 'everything') {
    const accounts = new Set([...(named ?? []), ...found.map((s) => s.account)]);
    for (const user of accounts) {
      try {
        revoked.push({ account: user, counts: countsOf(await revoke(deps.revocation, { user })) });
      } catch (err) {
        if (!(err instanceof UnknownTarget)) throw err; // nobody ever signed in as that subject: nothing to cut
      }
    }
  }
  return {
    account: named?.[0] ?? found[0]?.account,
    sessions: sessions + revoked.reduce((n, r) => n + r.counts.sessions, 0),
    revoked,
  };
}

/** `session.ended`, and with `everything` one `token.revoked` per account, saying the IdP asked */
function acceptedEvents(
  idp: OidcIdpConfig,
  token: { sub?: string; sid?: string },
  record: string,
  done: { account: string | undefined; sessions: number; revoked: Revoked[] },
): AuditEvent[] {
  const via = { idp: idp.id, via: 'back_channel_logout' };
  return [
    {
      type: 'session.ended',
      outcome: 'success',
      ...(done.account ? { account: done.account } : {}),
      ...(token.sub !== undefined ? { idp: { iss: idp.issuer, sub: token.sub } } : {}),
      reason: 'back_channel_logout',
      details: {
        ...via,
        mode: idp.back_channel_logout,
        sessions: done.sessions,
        ...(token.sid !== undefined ? { sid_sha256: sha256(token.sid) } : {}),
        record,
      },
    },
    ...done.revoked.map((r): AuditEvent => ({
      type: 'token.revoked',
      outcome: 'success',
      account: r.account,
      reason: 'back_channel_logout',
      details: { ...via, target: 'user', id: r.account, ...r.counts },
    })),
  ];
}

function unavailable(ctx: Koa.Context, idp: OidcIdpConfig, err: unknown): void {
  logOf(ctx).error({ idp: idp.id, reason: (err as Error).message }, 'logout.failed');
  ctx.set('Retry-After', '5');
  answer(ctx, 503, { error: 'temporarily_unavailable', error_description: 'the logout could not be done; try again' });
}
