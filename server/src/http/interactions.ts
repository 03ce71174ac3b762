/**
 * The interaction routes (oidc-provider's login and consent prompts), server-rendered, no JavaScript:
 *
 *   GET  /interaction/:uid                 the prompt: IdP chooser / local login / upstream redirect / consent
 *   POST /interaction/:uid/idp             chooser: an IdP, or a work email routed by its domain
 *   POST /interaction/:uid/login           local directory: username + password
 *   GET  /interaction/callback/:idp        the upstream IdP's redirect (no interaction cookie here) → below
 *   GET  /interaction/:uid/upstream        the upstream callback, bound to this browser's interaction
 *   POST /interaction/:uid/consent         allow / deny
 *   POST /interaction/:uid/abort           leave with access_denied
 *
 * Every POST carries a CSRF token bound to the interaction; the interaction itself is bound to the browser
 * by oidc-provider's interaction cookie. The upstream state is single-use and stored server-side.
 * MCP authorization 2026-07-28 §Security (confused deputy): a third-party client gets a consent page
 * naming it and its redirect host before any code is issued.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type Koa from 'koa';
import type { LoginThrottle } from './login-throttle.ts';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { AccountStore } from '../accounts/store.ts';
import type { Adapter } from '../../../adapters/src/models.ts';
import type { IdpConfig, LocalIdpConfig } from '../config/schema.ts';
import { UpstreamError } from '../idp/oidc.ts';
import { verifyPassword } from '../idp/password.ts';
import { localIssuer, type IdpRegistry } from '../idp/registry.ts';
import type { Policy } from '../policy/policy.ts';
import type { AccountAccess } from '../provider/accounts.ts';
import { splitScope, stringList } from '../params.ts';
import { chooserPage, consentPage, loginPage, messagePage, noAccessPage } from '../pages.ts';

export interface InteractionDeps {
  provider(): Provider;
  policy(): Policy;
  accounts: AccountStore;
  idps: IdpRegistry;
  grants: AccountAccess;
  /** server-side, single-use records of upstream logins (state → uid, PKCE verifier, nonce) */
  upstreamLogins: Adapter;
  csrfKey: string;
  /** the issuer's path ('' at the root) */
  base: string;
  /** failed local sign-ins per user and per address */
  throttle: LoginThrottle;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;
type Ctx = Koa.ParameterizedContext;

interface UpstreamLogin {
  uid: string;
  idp: string;
  verifier: string;
  nonce: string;
  [key: string]: unknown;
}

const UPSTREAM_TTL = 600;

export function interactionRoutes(deps: InteractionDeps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb', onError: () => undefined });

  const csrf = (uid: string) => createHmac('sha256', deps.csrfKey).update(`interaction:${uid}`).digest('base64url');
  const csrfOk = (uid: string, value: unknown) => {
    if (typeof value !== 'string') return false;
    const a = Buffer.from(csrf(uid));
    const b = Buffer.from(value);
    return a.length === b.length && timingSafeEqual(a, b);
  };
  const url = (path: string) => `${deps.base}${path}`;
  const body = (ctx: Ctx) => ((ctx.request as { body?: unknown }).body ?? {}) as Record<string, unknown>;

  const show = (ctx: Ctx, status: number, html: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = html;
  };
  const fail = (ctx: Ctx, status: number, title: string, message: string, reason: string) => {
    ctx.state.log.warn({ reason }, 'interaction.refused');
    show(ctx, status, messagePage(title, message));
  };

  /** The interaction of this browser, or undefined (and a page) when the cookie is missing or expired. */
  async function details(ctx: Ctx): Promise<Details | undefined> {
    try {
      const d = await deps.provider().interactionDetails(ctx.req, ctx.res);
      const wanted = (ctx.params as Record<string, string | undefined>).uid;
      if (wanted && d.uid !== wanted) throw new Error('uid mismatch');
      return d;
    } catch (err) {
      fail(
        ctx,
        400,
        'Sign-in expired',
        'This sign-in page has expired or was opened in another browser.',
        `interaction: ${(err as Error).message}`,
      );
      return undefined;
    }
  }

  async function finish(ctx: Ctx, result: InteractionResults, merge: boolean) {
    const to = await deps.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    ctx.redirect(to);
    ctx.status = 303;
  }

  const chooser = (ctx: Ctx, uid: string, error?: string) =>
    show(
      ctx,
      error ? 400 : 200,
      chooserPage({
        action: url(`/interaction/${uid}/idp`),
        csrf: csrf(uid),
        idps: deps.idps.signIn.map((i) => ({ id: i.id, name: deps.idps.displayName(i) })),
        emailRouting: deps.idps.signIn.some((i) => i.email_domains.length > 0),
        ...(error ? { error } : {}),
      }),
    );

  const localLogin = (ctx: Ctx, uid: string, idp: LocalIdpConfig, status = 200, error?: string, username?: string) =>
    show(
      ctx,
      status,
      loginPage({
        action: url(`/interaction/${uid}/login?idp=${encodeURIComponent(idp.id)}`),
        csrf: csrf(uid),
        idpName: deps.idps.displayName(idp),
        ...(error ? { error } : {}),
        ...(username ? { username } : {}),
      }),
    );

  async function toIdp(ctx: Ctx, uid: string, idp: IdpConfig, hint?: string) {
    if (idp.type === 'local') return localLogin(ctx, uid, idp);
    const upstream = deps.idps.upstream(idp.id)!;
    let start: Awaited<ReturnType<typeof upstream.start>>;
    try {
      start = await upstream.start(hint);
    } catch (err) {
      return fail(
        ctx,
        502,
        'Sign-in unavailable',
        `${deps.idps.displayName(idp)} cannot be reached right now.`,
        (err as Error).message,
      );
    }
    const record: UpstreamLogin = { uid, idp: idp.id, verifier: start.verifier, nonce: start.nonce };
    await deps.upstreamLogins.upsert(start.state, record, UPSTREAM_TTL);
    ctx.redirect(start.url);
    ctx.status = 303;
  }

  async function loginPrompt(ctx: Ctx, d: Details) {
    const hint = typeof d.params.login_hint === 'string' ? d.params.login_hint : undefined;
    const routed = hint ? deps.idps.forEmail(hint) : undefined;
    if (routed) return toIdp(ctx, d.uid, routed, hint);
    if (deps.idps.signIn.length === 1) return toIdp(ctx, d.uid, deps.idps.signIn[0]!, hint);
    if (deps.idps.signIn.length === 0) {
      return fail(ctx, 503, 'Sign-in unavailable', 'No identity provider is configured.', 'no identity_providers');
    }
    return chooser(ctx, d.uid);
  }

  async function consentView(ctx: Ctx, d: Details) {
    const accountId = d.session?.accountId;
    const account = accountId ? await deps.accounts.find(accountId) : undefined;
    if (!account || account.disabled)
      return fail(ctx, 403, 'Access denied', 'This account is disabled.', 'account disabled');
    const clientId = String(d.params.client_id);
    const client = await deps.provider().Client.find(clientId);
    if (!client) return fail(ctx, 400, 'Unknown application', 'The application is not registered.', 'client gone');
    const resources = stringList(d.params.resource);
    const { roles, decisions } = deps.grants.decide(account, splitScope(d.params.scope), resources);
    const { email, preferred_username: username } = account.profile;
    const user = typeof email === 'string' ? email : typeof username === 'string' ? username : account.idpSubject;
    const clientName = client.clientName ?? clientId;
    if (decisions.every((x) => x.granted.length === 0)) {
      ctx.state.log.info({ account: account.id, client: clientId, roles, resources }, 'interaction.nothing_grantable');
      return show(
        ctx,
        403,
        noAccessPage({
          action: url(`/interaction/${d.uid}/abort`),
          csrf: csrf(d.uid),
          clientName,
          user,
          roles,
          resources,
        }),
      );
    }
    const redirect = URL.parse(String(d.params.redirect_uri));
    const policy = deps.policy();
    show(
      ctx,
      200,
      consentPage({
        action: url(`/interaction/${d.uid}/consent`),
        csrf: csrf(d.uid),
        clientName,
        clientKind: typeof client['client_kind'] === 'string' ? client['client_kind'] : 'application',
        redirectHost: redirect?.host || String(d.params.redirect_uri),
        user,
        items: decisions
          .filter((x) => x.granted.length > 0)
          .map((x) => {
            const rs = policy.resources.get(x.resource);
            return { ...x, resourceName: rs?.name ?? x.resource, descriptions: rs?.scope_descriptions ?? {} };
          }),
      }),
    );
  }

  router.get('/interaction/callback/:idp', async (ctx) => {
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : undefined;
    const record = state ? ((await deps.upstreamLogins.find(state)) as UpstreamLogin | undefined) : undefined;
    if (!record || record.idp !== ctx.params.idp || record.consumed) {
      return fail(
        ctx,
        400,
        'Sign-in expired',
        'This sign-in has expired or was already completed. Start again from the application.',
        'unknown or used upstream state',
      );
    }
    // back under /interaction/:uid so the browser's interaction cookie comes along
    ctx.redirect(url(`/interaction/${record.uid}/upstream?${ctx.querystring}`));
    ctx.status = 303;
  });

  router.get('/interaction/:uid', async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name === 'login') return loginPrompt(ctx, d);
    if (d.prompt.name === 'consent') return consentView(ctx, d);
    return fail(ctx, 400, 'Sign-in error', 'This request cannot be completed.', `unknown prompt ${d.prompt.name}`);
  });

  router.post('/interaction/:uid/idp', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    const b = body(ctx);
    if (!csrfOk(d.uid, b.csrf)) return fail(ctx, 403, 'Sign-in error', 'The form expired; start again.', 'csrf');
    if (typeof b.email === 'string' && b.email) {
      const idp = deps.idps.forEmail(b.email);
      if (!idp) return chooser(ctx, d.uid, 'No sign-in provider is set up for that email domain.');
      return toIdp(ctx, d.uid, idp, b.email);
    }
    const idp = typeof b.idp === 'string' ? deps.idps.forSignIn(b.idp) : undefined;
    if (!idp) return chooser(ctx, d.uid, 'Choose a sign-in provider.');
    return toIdp(ctx, d.uid, idp);
  });

  router.post('/interaction/:uid/login', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    const b = body(ctx);
    if (!csrfOk(d.uid, b.csrf)) return fail(ctx, 403, 'Sign-in error', 'The form expired; start again.', 'csrf');
    const idp = typeof ctx.query.idp === 'string' ? deps.idps.get(ctx.query.idp) : undefined;
    if (!idp || idp.type !== 'local')
      return fail(ctx, 400, 'Sign-in error', 'Unknown sign-in provider.', 'login to a non-local idp');
    const username = typeof b.username === 'string' ? b.username.slice(0, 64) : '';
    const password = typeof b.password === 'string' ? b.password.slice(0, 1024) : '';
    const user = deps.idps.localUser(idp, username);
    // what was typed as a username is logged only when it names a user: a password typed into the
    // username field must not reach the logs (an unknown name is logged as a short hash, to correlate)
    const who = user
      ? { username }
      : { username_sha256: createHash('sha256').update(username).digest('hex').slice(0, 16) };
    // the attempt is counted before the password is checked (so attempts sent at once cannot all be checked);
    // past the limit the password is not even checked: guessing stops until the window ends
    const attempt = await deps.throttle.attempt(idp.id, username, ctx.ip);
    if (!attempt.allowed) {
      const wait = attempt.retryAfter;
      ctx.state.log.warn({ idp: idp.id, ...who, address: ctx.ip, retry_after: wait }, 'login.throttled');
      ctx.set('Retry-After', String(wait));
      const minutes = Math.ceil(wait / 60);
      return localLogin(
        ctx,
        d.uid,
        idp,
        429,
        `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
        username,
      );
    }
    const ok = await verifyPassword(password, user?.password_hash);
    if (!user || !ok || user.disabled) {
      // the attempt keeps its points
      ctx.state.log.warn(
        { idp: idp.id, ...who, reason: !user ? 'unknown user' : user.disabled ? 'user disabled' : 'wrong password' },
        'login.failed',
      );
      return localLogin(ctx, d.uid, idp, 401, 'Wrong username or password.', username);
    }
    await attempt.succeeded();
    const account = await deps.accounts.recordLogin({
      idpId: idp.id,
      idpIssuer: localIssuer(idp.id),
      idpSubject: user.username,
      profile: {
        preferred_username: user.username,
        ...(user.email ? { email: user.email } : {}),
        ...(user.name ? { name: user.name } : {}),
      },
      groups: user.groups,
      roles: deps.policy().rolesFor(idp.id, user.groups),
    });
    if (account.disabled)
      return fail(ctx, 403, 'Access denied', 'This account is disabled.', `account ${account.id} disabled`);
    ctx.state.log.info({ idp: idp.id, account: account.id }, 'login.success');
    return finish(ctx, { login: { accountId: account.id, amr: ['pwd'] } }, false);
  });

  router.get('/interaction/:uid/upstream', async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const record = state ? ((await deps.upstreamLogins.find(state)) as UpstreamLogin | undefined) : undefined;
    if (!record || record.uid !== d.uid || record.consumed) {
      return fail(
        ctx,
        400,
        'Sign-in expired',
        'This sign-in has expired or was already completed. Start again from the application.',
        'upstream state mismatch',
      );
    }
    try {
      await deps.upstreamLogins.consume(state); // single use, across processes
    } catch {
      return fail(ctx, 400, 'Sign-in expired', 'This sign-in was already completed.', 'upstream state replayed');
    }
    const idp = deps.idps.get(record.idp);
    const upstream = deps.idps.upstream(record.idp);
    if (!idp || !upstream) return fail(ctx, 400, 'Sign-in error', 'Unknown sign-in provider.', 'idp gone');
    let identity: Awaited<ReturnType<typeof upstream.finish>>;
    try {
      const callback = new URL(upstream.redirectUri);
      callback.search = ctx.querystring;
      identity = await upstream.finish(callback, { state, nonce: record.nonce, verifier: record.verifier });
    } catch (err) {
      const reason = err instanceof UpstreamError ? `${err.reason}: ${err.message}` : (err as Error).message;
      const unreachable = err instanceof UpstreamError && err.reason === 'unreachable';
      // baton's own credentials at the IdP are wrong: not the user's doing (the log says what to change)
      const misconfigured = err instanceof UpstreamError && err.reason === 'client_auth_refused';
      return fail(
        ctx,
        unreachable ? 502 : 400,
        'Sign-in failed',
        unreachable
          ? `${deps.idps.displayName(idp)} cannot be reached right now.`
          : misconfigured
            ? `${deps.idps.displayName(idp)} did not accept the credentials of this sign-in service. An ` +
              `administrator must fix its settings before anyone can sign in with ${deps.idps.displayName(idp)}.`
            : `${deps.idps.displayName(idp)} did not confirm your sign-in.`,
        reason,
      );
    }
    const account = await deps.accounts.recordLogin({
      idpId: idp.id,
      idpIssuer: upstream.idp.issuer,
      idpSubject: identity.subject,
      profile: identity.profile,
      groups: identity.groups,
      roles: deps.policy().rolesFor(idp.id, identity.groups),
      ...(identity.refreshToken ? { upstreamRefreshToken: identity.refreshToken } : {}),
    });
    if (account.disabled)
      return fail(ctx, 403, 'Access denied', 'This account is disabled.', `account ${account.id} disabled`);
    ctx.state.log.info({ idp: idp.id, account: account.id }, 'login.success');
    return finish(ctx, { login: { accountId: account.id, amr: ['fed'] } }, false);
  });

  router.post('/interaction/:uid/consent', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    const b = body(ctx);
    if (!csrfOk(d.uid, b.csrf)) return fail(ctx, 403, 'Sign-in error', 'The form expired; start again.', 'csrf');
    if (d.prompt.name !== 'consent')
      return fail(ctx, 400, 'Sign-in error', 'Nothing to consent to.', 'no consent prompt');
    if (b.decision !== 'allow') {
      return finish(ctx, { error: 'access_denied', error_description: 'the user denied the request' }, true);
    }
    const accountId = d.session?.accountId;
    const account = accountId ? await deps.accounts.find(accountId) : undefined;
    if (!account || account.disabled)
      return fail(ctx, 403, 'Access denied', 'This account is disabled.', 'account disabled');
    const clientId = String(d.params.client_id);
    const requested = splitScope(d.params.scope);
    // recomputed here: nothing from the form decides what is granted
    const { decisions } = deps.grants.decide(account, requested, stringList(d.params.resource));
    if (decisions.every((x) => x.granted.length === 0)) {
      return finish(
        ctx,
        { error: 'access_denied', error_description: 'none of the requested scopes is granted to this user' },
        true,
      );
    }
    for (const x of decisions)
      if (x.granted.length) await deps.accounts.saveConsent(account.id, clientId, x.resource, x.granted);
    const grantId = await deps.grants.buildGrant(deps.provider(), account.id, clientId, requested, decisions);
    ctx.state.log.info({ account: account.id, client: clientId, decisions }, 'consent.given');
    return finish(ctx, { consent: { grantId } }, true);
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (!csrfOk(d.uid, body(ctx).csrf))
      return fail(ctx, 403, 'Sign-in error', 'The form expired; start again.', 'csrf');
    return finish(
      ctx,
      { error: 'access_denied', error_description: 'none of the requested scopes is granted to this user' },
      true,
    );
  });

  return router;
}
