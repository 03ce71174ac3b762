/**
 * The web admin console (issue #15), `${issuer}/admin`: server-rendered pages over the admin operations
 * (admin/operations.ts: the same ones the admin API and the `baton` commands run, recorded as
 * `admin.operation` with `details.via: admin_console` and the admin's account).
 *
 *   GET  /admin/sign-in     a new sign-in: authorization code + PKCE at baton itself (oauth-client.ts)
 *   GET  /admin/callback    the code redeemed, the session made (sessions.ts), on to the page asked for
 *   POST /admin/sign-out    the session ended (page-routes.ts, a form like the others)
 *   GET  /admin/assets/console.css
 *   the pages (page-routes.ts), each behind the gate (gate.ts)
 *
 * Pages are never framed and load nothing but the console's stylesheet (`Content-Security-Policy`, set here
 * and kept by securityHeaders); no script runs. Every refusal is a clear page with the right status.
 */
import Router from '@koa/router';
import type Koa from 'koa';
import type { RequestListener } from 'node:http';
import { ADMIN_CONSOLE_PATH, ADMIN_READ_SCOPE } from '../../consts.ts';
import type { AccountStore } from '../../accounts/store.ts';
import { Refused, verifyToken, type OwnApiDeps } from '../own-api-token.ts';
import { adminApi } from '../admin-api.ts';
import type { AdminCaller } from '../../admin/audit-record.ts';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { takePoint } from '../../rate-limit.ts';
import { consoleOAuth } from './oauth-client.ts';
import { adminScopes, LOGIN_COOKIE, SESSION_COOKIE, setCookie, signedIn, type GateStop } from './gate.ts';
import { isId, newId, LOGIN_TTL, type ConsoleStore } from './sessions.ts';
import { pageRoutes, type PageKit } from './page-routes.ts';
import { CONSOLE_CSS } from './console.css.ts';
import { errorPage, forbiddenPage, signedOutPage } from './views.ts';

/** CSP Level 3: the console's pages load their stylesheet and nothing else; forms post to the console only */
export const CONSOLE_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface ConsoleDeps extends OwnApiDeps {
  /** runs an admin operation as the signed-in admin (runOperation, via admin_console) */
  run(caller: AdminCaller, name: string, args: Record<string, unknown>): Promise<unknown>;
  store: ConsoleStore;
  accounts: Pick<AccountStore, 'find'>;
  /** baton's own HTTP handler: the console redeems its codes there, in process */
  handler(): RequestListener;
  /** sign-ins started per client address (admin_console.sign_in_rate_per_minute), shared through Redis */
  signInLimiter: RateLimiterAbstract;
}

const html = (ctx: Koa.Context, status: number, body: string) => {
  ctx.status = status;
  ctx.type = 'text/html';
  ctx.set('Cache-Control', 'no-store');
  (ctx.state as { csp?: string }).csp = CONSOLE_POLICY;
  ctx.body = body;
};

const NO_ADMIN_SCOPE =
  'baton granted it no admin.read: an administrator can bind one of your identity provider groups to a role that lists it.';

/** A console path to land on after signing in: one of the console's own GET pages, nothing else. */
function landing(base: string, value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return base;
  const url = URL.parse(value, 'http://console.invalid');
  if (!url || url.origin !== 'http://console.invalid') return base;
  const path = url.pathname;
  if (path !== base && !path.startsWith(`${base}/`)) return base;
  if (path.startsWith(`${base}/sign-`) || path.startsWith(`${base}/callback`) || path.startsWith(`${base}/api`))
    return base;
  return `${path}${url.search}`;
}

function displayName(profile: Record<string, unknown> | undefined, fallback: string): string {
  for (const k of ['name', 'email', 'preferred_username'])
    if (typeof profile?.[k] === 'string' && profile[k]) return profile[k];
  return fallback;
}

export function adminConsoleRoutes(deps: ConsoleDeps): Router {
  const issuer = new URL(deps.issuer);
  const issuerPath = issuer.pathname.replace(/\/$/, '');
  const base = `${issuerPath}${ADMIN_CONSOLE_PATH}`;
  const api = adminApi(deps.issuer);
  const oauth = consoleOAuth(deps.issuer, () => deps.handler());
  const cookies = { path: base, secure: issuer.protocol === 'https:' };
  const router = new Router();

  /** What the console does when the gate stops a request. */
  const stopped = (ctx: Koa.Context, stop: GateStop) => {
    const log = (ctx.state as { log?: { info(o: object, m: string): void } }).log;
    log?.info({ stop: stop.kind, ...('detail' in stop ? { detail: stop.detail } : {}) }, 'admin_console.stopped');
    if (stop.kind === 'sign_in') {
      const back = ctx.method === 'GET' ? landing(base, ctx.originalUrl.slice(issuerPath.length)) : base;
      ctx.status = 303;
      ctx.redirect(`${base}/sign-in?return_to=${encodeURIComponent(back)}`);
      return;
    }
    if (stop.kind === 'forbidden')
      return html(
        ctx,
        403,
        errorPage({ base }, 403, 'Not allowed', `This needs ${stop.scope}, which your roles do not grant.`),
      );
    if (stop.kind === 'ended') {
      setCookie(ctx, SESSION_COOKIE, null, cookies);
      return html(
        ctx,
        401,
        errorPage({ base }, 401, 'Session ended', 'Your admin session is no longer valid. Sign in again.'),
      );
    }
    return html(
      ctx,
      403,
      errorPage(
        { base },
        403,
        'Form refused',
        'This form did not come from this console or has expired. Go back, reload the page and try again.',
      ),
    );
  };

  const kit: PageKit = {
    base,
    issuer,
    html,
    gate: (ctx, scope) => signedIn(ctx, { store: deps.store, own: deps, api }, scope),
    run: (caller, name, args) => deps.run(caller, name, args),
    stopped,
    signOut: async (ctx, id) => {
      await deps.store.end(id);
      setCookie(ctx, SESSION_COOKIE, null, cookies);
      html(ctx, 200, signedOutPage(base));
    },
  };

  router.get(`${ADMIN_CONSOLE_PATH}/assets/console.css`, (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = CONSOLE_CSS;
  });

  router.get(`${ADMIN_CONSOLE_PATH}/sign-in`, async (ctx) => {
    // each start keeps a record for 10 minutes: an address may not fill the store with them
    const wait = await takePoint(deps.signInLimiter, ctx.ip, 'admin console sign-in');
    if (wait !== undefined) {
      ctx.set('Retry-After', String(wait));
      return html(
        ctx,
        429,
        errorPage({ base }, 429, 'Too many sign-ins', `Too many sign-ins from here: try again in ${wait} s.`),
      );
    }
    const start = await oauth.start();
    const id = await deps.store.startLogin({
      state: start.state,
      verifier: start.verifier,
      return_to: landing(base, ctx.query.return_to),
    });
    setCookie(ctx, LOGIN_COOKIE, id, cookies, LOGIN_TTL);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(start.url);
  });

  router.get(`${ADMIN_CONSOLE_PATH}/callback`, async (ctx) => {
    const loginId = ctx.cookies.get(LOGIN_COOKIE, { signed: false });
    const pending = isId(loginId) ? await deps.store.takeLogin(loginId) : undefined;
    setCookie(ctx, LOGIN_COOKIE, null, cookies);
    const log = ctx.state.log as { info(o: object, m: string): void; warn(o: object, m: string): void };
    if (!pending) {
      log.info({ reason: 'no sign-in under way' }, 'admin_console.sign_in_failed');
      return html(
        ctx,
        400,
        errorPage({ base }, 400, 'Sign-in expired', 'This sign-in has expired or was already used.'),
      );
    }
    // RFC 6749 §4.1.2.1: the authorization server refused (a person without an admin role: access_denied)
    if (typeof ctx.query.error === 'string') {
      log.info({ reason: `authorization error ${ctx.query.error.slice(0, 64)}` }, 'admin_console.sign_in_failed');
      return html(ctx, 403, forbiddenPage(base, NO_ADMIN_SCOPE));
    }
    let tokens: Awaited<ReturnType<typeof oauth.redeem>>;
    let claims: Awaited<ReturnType<typeof verifyToken>>;
    try {
      const callback = new URL(oauth.redirectUri);
      callback.search = ctx.querystring;
      tokens = await oauth.redeem(callback, pending);
      claims = await verifyToken(ctx, deps, api, 'Bearer', tokens.access_token);
    } catch (err) {
      const reason = err instanceof Refused ? err.detail : (err as Error).message;
      log.warn({ reason: reason.slice(0, 300) }, 'admin_console.sign_in_failed');
      return html(ctx, 400, errorPage({ base }, 400, 'Sign-in failed', 'The sign-in could not be completed.'));
    }
    const account = String(claims.sub);
    const scope = adminScopes(typeof claims.scope === 'string' ? claims.scope : '');
    if (!scope.includes(ADMIN_READ_SCOPE)) {
      log.info({ reason: 'no admin.read', account }, 'admin_console.sign_in_failed');
      return html(ctx, 403, forbiddenPage(base, NO_ADMIN_SCOPE));
    }
    const found = await deps.accounts.find(account);
    const id = await deps.store.create({
      token: tokens.access_token,
      exp: Number(claims.exp),
      csrf: newId(),
      account,
      name: displayName(found?.profile, account),
      scope,
    });
    setCookie(ctx, SESSION_COOKIE, id, cookies);
    log.info({ account, scope }, 'admin_console.signed_in');
    ctx.status = 303;
    ctx.redirect(pending.return_to);
  });

  pageRoutes(router, kit);

  router.all(`${ADMIN_CONSOLE_PATH}/*rest`, async (ctx, next) => {
    if (ctx.path.startsWith(`${ADMIN_CONSOLE_PATH}/api/`) || ctx.path === `${ADMIN_CONSOLE_PATH}/api`) {
      await next();
      return;
    }
    html(ctx, 404, errorPage({ base }, 404, 'Not found', 'There is no such page in the console.'));
  });
  return router;
}
