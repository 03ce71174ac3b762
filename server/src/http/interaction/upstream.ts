/**
 * Sign-in at an upstream OIDC IdP (openid-client, idp/oidc.ts):
 *
 *   startUpstream                          the authorization request, with state, nonce and PKCE
 *   GET  /interaction/callback/:idp        the IdP's redirect (no interaction cookie here) → below
 *   GET  /interaction/:uid/upstream        the callback, bound to this browser's interaction
 *
 * The upstream state is single-use and stored server-side (RFC 9700 §4.7.1: the state binds the callback
 * to the request that started it; consumed once, across processes).
 */
import type Router from '@koa/router';
import type { OidcIdpConfig } from '../../config/schema.ts';
import type { Ctx, Kit } from './context.ts';
import { clientOfInteraction, loginFailed, loginSucceeded } from './audit.ts';
import { upstreamFailure } from './errors.ts';

interface UpstreamLogin {
  uid: string;
  idp: string;
  verifier: string;
  nonce: string;
  [key: string]: unknown;
}

const UPSTREAM_TTL = 600;

/** Redirects the browser to the IdP (OIDC Core §3.1.2.1), `hint` passed on as its `login_hint`. */
export async function startUpstream(kit: Kit, ctx: Ctx, uid: string, idp: OidcIdpConfig, hint?: string) {
  const { deps } = kit;
  const upstream = deps.idps.upstream(idp.id)!;
  let start: Awaited<ReturnType<typeof upstream.start>>;
  try {
    start = await upstream.start(hint);
  } catch (err) {
    return kit.refuse(ctx, 'upstream_start_failed', { idp: deps.idps.displayName(idp), error: (err as Error).message });
  }
  const record: UpstreamLogin = { uid, idp: idp.id, verifier: start.verifier, nonce: start.nonce };
  await deps.upstreamLogins.upsert(start.state, record, UPSTREAM_TTL);
  ctx.redirect(start.url);
  ctx.status = 303;
}

/** Both routes; the callback first: `/interaction/callback/<idp>` also has the shape `/interaction/:uid/upstream`. */
export function mountUpstream(router: Router, kit: Kit): void {
  const { deps } = kit;
  router.get('/interaction/callback/:idp', async (ctx) => {
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : undefined;
    const record = state ? ((await deps.upstreamLogins.find(state)) as UpstreamLogin | undefined) : undefined;
    if (!record || record.idp !== ctx.params.idp || record.consumed) return kit.refuse(ctx, 'upstream_state_unknown');
    // back under /interaction/:uid so the browser's interaction cookie comes along
    ctx.redirect(kit.url(`/interaction/${record.uid}/upstream?${ctx.querystring}`));
    ctx.status = 303;
  });

  router.get('/interaction/:uid/upstream', async (ctx) => {
    const d = await kit.details(ctx);
    if (!d) return;
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const record = state ? ((await deps.upstreamLogins.find(state)) as UpstreamLogin | undefined) : undefined;
    if (!record || record.uid !== d.uid || record.consumed) return kit.refuse(ctx, 'upstream_state_mismatch');
    try {
      await deps.upstreamLogins.consume(state); // single use, across processes
    } catch {
      return kit.refuse(ctx, 'upstream_state_replayed');
    }
    return completeUpstream(kit, ctx, state, record, clientOfInteraction(d.params));
  });
}

/**
 * The code is redeemed and the ID token checked (OIDC Core §3.1.3.7, with the nonce and PKCE verifier of
 * this login) in idp/oidc.ts; the account is recorded with the IdP's groups and the login handed back.
 */
async function completeUpstream(
  kit: Kit,
  ctx: Ctx,
  state: string,
  record: UpstreamLogin,
  client: { client?: string },
): Promise<void> {
  const { deps } = kit;
  const idp = deps.idps.get(record.idp);
  const upstream = deps.idps.upstream(record.idp);
  if (!idp || !upstream) return kit.refuse(ctx, 'idp_gone');
  let identity: Awaited<ReturnType<typeof upstream.finish>>;
  try {
    const callback = new URL(upstream.redirectUri);
    callback.search = ctx.querystring;
    identity = await upstream.finish(callback, { state, nonce: record.nonce, verifier: record.verifier });
  } catch (err) {
    // unreachable, baton's own client authentication refused (not the user's doing), or not confirmed
    const { reason, error } = upstreamFailure(err);
    await kit.record(ctx, [loginFailed(ctx, { idp: idp.id, reason, client })], { guards: false });
    return kit.refuse(ctx, reason, { idp: deps.idps.displayName(idp), error });
  }
  const account = await deps.accounts.recordLogin({
    idpId: idp.id,
    idpIssuer: upstream.idp.issuer,
    idpSubject: identity.subject,
    upstreamSub: identity.sub,
    profile: identity.profile,
    groups: identity.groups,
    roles: deps.policy().rolesFor(idp.id, identity.groups),
    ...(identity.refreshToken ? { upstreamRefreshToken: identity.refreshToken } : {}),
  });
  if (account.disabled) {
    const failed = loginFailed(ctx, { idp: idp.id, reason: 'account disabled', client, account: account.id });
    await kit.record(ctx, [failed], { guards: false });
    return kit.refuse(ctx, 'account_disabled', { account: account.id });
  }
  // the sign-in's record is durable before the login is handed back (issue #13)
  const ts = Math.floor(Date.now() / 1000);
  const person = { iss: upstream.idp.issuer, sub: identity.subject };
  const event = loginSucceeded(ctx, { idp: idp.id, account: account.id, identity: person, authTime: ts, client });
  if (!(await kit.record(ctx, [event], { guards: true }))) return; // the audit_unavailable page (index.ts)
  ctx.state.log.info({ idp: idp.id, account: account.id }, 'login.success');
  // which IdP session this baton session comes from (sessions/logins.ts: back-channel logout by `sid`)
  const sessionLogin = { idp: idp.id, ...(identity.sid ? { sid: identity.sid } : {}) };
  return kit.finish(ctx, { login: { accountId: account.id, amr: ['fed'], ts }, session_login: sessionLogin }, false);
}
