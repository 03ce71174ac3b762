/**
 * The audit records of the sign-in pages (issue #13): `login.success`, `login.failed`, `consent.given`
 * (docs/events.md "Audit"). Ids and reasons only: never a password, and never what was typed as a local
 * username unless it names a user (the same rule as the `login.failed` log line: a password typed into the
 * username field must not be kept).
 */
import { createHash } from 'node:crypto';
import type { AuditEvent } from '../../audit/record.ts';
import type { Decision } from '../../provider/accounts.ts';
import type { Ctx } from './context.ts';

/** what was typed as a local username, as it may be logged and recorded: itself only when it names a user */
export function typedUsername(username: string, known: boolean): { username: string } | { username_sha256: string } {
  return known ? { username } : { username_sha256: createHash('sha256').update(username).digest('hex').slice(0, 16) };
}

const requestId = (ctx: Ctx): { request_id?: string } => {
  const id = (ctx.state as { reqId?: unknown }).reqId;
  return typeof id === 'string' ? { request_id: id } : {};
};

/** the client of the interaction (its authorization request's client_id) */
export const clientOfInteraction = (params: Record<string, unknown>): { client?: string } =>
  typeof params.client_id === 'string' ? { client: params.client_id } : {};

export interface SignedIn {
  idp: string;
  account: string;
  identity: { iss: string; sub: string };
  /** OIDC Core §2: the time of the authentication, as the tokens will carry it (seconds) */
  authTime: number;
  client: { client?: string };
}

export function loginSucceeded(ctx: Ctx, s: SignedIn): AuditEvent {
  return {
    type: 'login.success',
    outcome: 'success',
    account: s.account,
    idp: s.identity,
    ...s.client,
    details: { idp: s.idp, auth_time: s.authTime },
    ...requestId(ctx),
  };
}

export interface FailedLogin {
  idp: string;
  reason: string;
  client: { client?: string };
  account?: string;
  /** the local username as typedUsername gives it */
  typed?: Record<string, string>;
}

export function loginFailed(ctx: Ctx, f: FailedLogin): AuditEvent {
  return {
    type: 'login.failed',
    outcome: 'refused',
    ...(f.account ? { account: f.account } : {}),
    ...f.client,
    reason: f.reason,
    details: { idp: f.idp, ...f.typed },
    ...requestId(ctx),
  };
}

/** the scopes granted per resource (the resource column too when there is one) */
export function consentGiven(
  ctx: Ctx,
  c: { account: string; client: string; grantId: string; decisions: readonly Decision[]; authTime?: number },
): AuditEvent {
  const granted = c.decisions.filter((d) => d.granted.length > 0);
  return {
    type: 'consent.given',
    outcome: 'success',
    account: c.account,
    client: c.client,
    gid: c.grantId,
    ...(granted.length === 1 ? { resource: granted[0]!.resource } : {}),
    details: {
      granted: granted.map((d) => ({ resource: d.resource, scopes: [...d.granted] })),
      // the sign-in that started it (login.success records the same time)
      ...(c.authTime !== undefined ? { auth_time: c.authTime } : {}),
    },
    ...requestId(ctx),
  };
}
