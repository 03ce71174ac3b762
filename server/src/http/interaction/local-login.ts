/**
 * The local directory: POST /interaction/:uid/login?idp=<id> with username + password, throttled per user
 * and per address (login-throttle.ts).
 */
import type Router from '@koa/router';
import type { LocalIdpConfig } from '../../config/schema.ts';
import { verifyPassword } from '../../idp/password.ts';
import { localIssuer } from '../../idp/registry.ts';
import { loginPage } from '../../pages.ts';
import { clientOfInteraction, loginFailed, loginSucceeded, typedUsername } from './audit.ts';
import type { Ctx, Details, Kit } from './context.ts';

type LocalUser = NonNullable<ReturnType<Kit['deps']['idps']['localUser']>>;

/** The login form of a local directory; again with `error` (and what was typed as the username) after a failure. */
export function localLoginPage(
  kit: Kit,
  ctx: Ctx,
  uid: string,
  idp: LocalIdpConfig,
  status = 200,
  error?: string,
  username?: string,
): void {
  kit.show(
    ctx,
    status,
    loginPage({
      action: kit.url(`/interaction/${uid}/login?idp=${encodeURIComponent(idp.id)}`),
      csrf: kit.csrf(uid),
      idpName: kit.deps.idps.displayName(idp),
      ...(error ? { error } : {}),
      ...(username ? { username } : {}),
    }),
  );
}

export function mountLocalLogin(router: Router, kit: Kit): void {
  const { deps } = kit;
  kit.postForm(router, '/interaction/:uid/login', async (ctx, d, b) => {
    const idp = typeof ctx.query.idp === 'string' ? deps.idps.get(ctx.query.idp) : undefined;
    if (!idp || idp.type !== 'local') return kit.refuse(ctx, 'not_local_idp');
    const username = typeof b.username === 'string' ? b.username.slice(0, 64) : '';
    const password = typeof b.password === 'string' ? b.password.slice(0, 1024) : '';
    const user = deps.idps.localUser(idp, username);
    // what was typed as a username is logged (and recorded) only when it names a user: a password typed into
    // the username field must not reach the logs (an unknown name is logged as a short hash, to correlate)
    const who = typedUsername(username, user !== undefined);
    const client = clientOfInteraction(d.params);
    const failed = (reason: string) =>
      kit.record(ctx, [loginFailed(ctx, { idp: idp.id, reason, client, typed: who })], { guards: false });
    // the attempt is counted before the password is checked (so attempts sent at once cannot all be checked);
    // past the limit the password is not even checked: guessing stops until the window ends
    const attempt = await deps.throttle.attempt(idp.id, username, ctx.ip);
    if (!attempt.allowed) {
      const wait = attempt.retryAfter;
      ctx.state.log.warn({ idp: idp.id, ...who, address: ctx.ip, retry_after: wait }, 'login.throttled');
      await failed('throttled');
      ctx.set('Retry-After', String(wait));
      const minutes = Math.ceil(wait / 60);
      const error = `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`;
      return localLoginPage(kit, ctx, d.uid, idp, 429, error, username);
    }
    const ok = await verifyPassword(password, user?.password_hash);
    if (!user || !ok || user.disabled) {
      // the attempt keeps its points
      const reason = !user ? 'unknown user' : user.disabled ? 'user disabled' : 'wrong password';
      ctx.state.log.warn({ idp: idp.id, ...who, reason }, 'login.failed');
      await failed(reason);
      return localLoginPage(kit, ctx, d.uid, idp, 401, 'Wrong username or password.', username);
    }
    await attempt.succeeded();
    return signIn(kit, ctx, d, idp, user);
  });
}

/**
 * The password was right: the account is recorded (its roles from the policy), then the sign-in's audit
 * record (durable first: without it the login is not handed back), then the login handed back.
 */
async function signIn(kit: Kit, ctx: Ctx, d: Details, idp: LocalIdpConfig, user: LocalUser): Promise<void> {
  const account = await kit.deps.accounts.recordLogin({
    idpId: idp.id,
    idpIssuer: localIssuer(idp.id),
    idpSubject: user.username,
    profile: {
      preferred_username: user.username,
      ...(user.email ? { email: user.email } : {}),
      ...(user.name ? { name: user.name } : {}),
    },
    groups: user.groups,
    roles: kit.deps.policy().rolesFor(idp.id, user.groups),
  });
  const client = clientOfInteraction(d.params);
  if (account.disabled) {
    const failed = loginFailed(ctx, { idp: idp.id, reason: 'account disabled', client, account: account.id });
    await kit.record(ctx, [failed], { guards: false });
    return kit.refuse(ctx, 'account_disabled', { account: account.id });
  }
  const ts = Math.floor(Date.now() / 1000);
  const identity = { iss: localIssuer(idp.id), sub: user.username };
  const event = loginSucceeded(ctx, { idp: idp.id, account: account.id, identity, authTime: ts, client });
  if (!(await kit.record(ctx, [event], { guards: true }))) return; // the audit_unavailable page (index.ts)
  ctx.state.log.info({ idp: idp.id, account: account.id }, 'login.success');
  const sessionLogin = { idp: idp.id }; // sessions/logins.ts: found again by account (revoke user)
  return kit.finish(ctx, { login: { accountId: account.id, amr: ['pwd'], ts }, session_login: sessionLogin }, false);
}
