/**
 * Records which sign-in each browser session came from (sessions/logins.ts), once oidc-provider saved the
 * session: at the resume of an authorization request whose interaction signed the account in (the session
 * id is final then: oidc-provider regenerates it at login, the uid stays), and, as a session lives longer
 * each time it is saved, its row's expiry after later requests. A failure is logged, the answer stays (the
 * session then cannot be found by a back-channel logout or `revoke user` on Redis: `session.index_failed`).
 */
import type { Knex } from 'knex';
import type Koa from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { extendSessionLogin, recordSessionLogin } from '../sessions/logins.ts';
import { savedSession } from './internals.ts';

/** a row's expiry is written again once it lags the session's by more than this */
const EXTEND_SLACK_SECONDS = 3600;

type Log = { error(obj: object, msg: string): void };

export function sessionLogins(db: Knex): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    const saved = savedSession(ctx as unknown as KoaContextWithOIDC);
    if (!saved) return;
    try {
      if (saved.login)
        await recordSessionLogin(db, {
          sessionUid: saved.uid,
          idpId: saved.login.idp,
          upstreamSid: saved.login.sid,
          accountId: saved.accountId,
          expiresAt: saved.exp,
        });
      else await extendSessionLogin(db, saved.uid, saved.exp, EXTEND_SLACK_SECONDS);
    } catch (err) {
      (ctx.state as { log?: Log }).log?.error(
        { reason: (err as Error).message, account: saved.accountId },
        'session.index_failed',
      );
    }
  };
}
