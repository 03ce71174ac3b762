/**
 * The admin console's gate: who is signed in, with which admin scopes, and whether a form came from the
 * console. Every page asks here before it runs an admin operation:
 *
 *   - the session cookie names a session in the shared store (sessions.ts); none, or its token about to
 *     expire → the browser goes through the sign-in again (silent while baton's own session lasts);
 *   - the session's access token is checked as the admin API checks one (own-api-token.ts verifyToken: its
 *     signature, audience, expiry, not revoked, the account not disabled, the client not blocked): an
 *     admin whose account was disabled or whose tokens were revoked is out at their next click;
 *   - a page needs `admin.read`; a form needs `admin.write`, the session's CSRF token in the body (compared
 *     in constant time) and, when the browser says, the console's own origin (Origin, Sec-Fetch-Site):
 *     OWASP's synchronizer token pattern, with SameSite=Lax cookies besides.
 */
import type Koa from 'koa';
import { ADMIN_CONSOLE_CLIENT, ADMIN_READ_SCOPE, ADMIN_WRITE_SCOPE } from '../../consts.ts';
import { splitScope } from '../../params.ts';
import { verifyToken, Refused, type OwnApi, type OwnApiDeps } from '../own-api-token.ts';
import type { AdminCaller } from '../../admin/audit-record.ts';
import { isId, sameSecret, type ConsoleSession, type ConsoleStore } from './sessions.ts';

export const SESSION_COOKIE = 'baton_admin';
export const LOGIN_COOKIE = 'baton_admin_login';
/** a token this close to its expiry is renewed by a sign-in before a page uses it (seconds) */
const RENEW_BEFORE = 15;

export interface Signed {
  session: ConsoleSession;
  caller: AdminCaller;
  canWrite: boolean;
}

/** Why the gate stopped a request, and what the console does about it. */
export type GateStop =
  | { kind: 'sign_in' }
  | { kind: 'ended'; detail: string }
  | { kind: 'forbidden'; scope: string; detail: string }
  | { kind: 'csrf'; detail: string };

export class Stopped extends Error {
  readonly stop: GateStop;
  constructor(stop: GateStop) {
    super(stop.kind);
    this.stop = stop;
  }
}

export interface CookieOptions {
  path: string;
  secure: boolean;
}

export function setCookie(ctx: Koa.Context, name: string, value: string | null, o: CookieOptions, maxAge?: number) {
  ctx.cookies.set(name, value, {
    path: o.path,
    httpOnly: true,
    sameSite: 'lax',
    secure: o.secure,
    signed: false,
    overwrite: true,
    ...(maxAge !== undefined && value !== null ? { maxAge: maxAge * 1000 } : {}),
  });
}

/** The signed-in admin of this request, with `scope`, or a stop. */
export async function signedIn(
  ctx: Koa.Context,
  deps: { store: ConsoleStore; own: OwnApiDeps; api: OwnApi },
  scope: typeof ADMIN_READ_SCOPE | typeof ADMIN_WRITE_SCOPE,
): Promise<Signed & { id: string }> {
  const id = ctx.cookies.get(SESSION_COOKIE, { signed: false });
  const session = isId(id) ? await deps.store.find(id) : undefined;
  if (!id || !session || session.exp - RENEW_BEFORE <= Date.now() / 1000) throw new Stopped({ kind: 'sign_in' });
  try {
    await verifyToken(ctx, deps.own, deps.api, 'Bearer', session.token);
  } catch (err) {
    await deps.store.end(id);
    throw new Stopped({ kind: 'ended', detail: err instanceof Refused ? err.detail : (err as Error).message });
  }
  if (!session.scope.includes(scope))
    throw new Stopped({ kind: 'forbidden', scope, detail: `the admin's token has no ${scope}` });
  return {
    id,
    session,
    caller: { client: ADMIN_CONSOLE_CLIENT, account: session.account },
    canWrite: session.scope.includes(ADMIN_WRITE_SCOPE),
  };
}

/** A console form's checks: its CSRF token, and the console's own origin when the browser names one. */
export function checkForm(ctx: Koa.Context, session: ConsoleSession, issuer: URL, body: Record<string, unknown>) {
  const origin = ctx.get('Origin');
  if (origin && origin !== issuer.origin) throw new Stopped({ kind: 'csrf', detail: `origin ${origin.slice(0, 100)}` });
  const site = ctx.get('Sec-Fetch-Site');
  if (site && site !== 'same-origin')
    throw new Stopped({ kind: 'csrf', detail: `sec-fetch-site ${site.slice(0, 20)}` });
  const csrf = body.csrf;
  if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrf))
    throw new Stopped({ kind: 'csrf', detail: typeof csrf === 'string' ? 'csrf token mismatch' : 'no csrf token' });
}

/** The scopes a token response granted (RFC 6749 §5.1 `scope`) that the console cares about. */
export const adminScopes = (scope: string) =>
  splitScope(scope).filter((s) => s === ADMIN_READ_SCOPE || s === ADMIN_WRITE_SCOPE);
