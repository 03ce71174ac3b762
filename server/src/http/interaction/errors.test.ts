/**
 * The interaction error table, without a server: every reason has a status and a page, the page never
 * carries the internal detail, and the wire text and logged detail are exactly what the sign-in pages
 * have always said (the HTTP tests check a few of them end to end).
 */
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../idp/oidc.ts';
import { messagePage } from '../../pages.ts';
import { interactionKit, type Ctx, type InteractionDeps } from './context.ts';
import { REFUSALS, refusal, upstreamFailure, type Facts, type Reason, type Refusal } from './errors.ts';

const IDP = 'Corp SSO';
const ERROR = 'SECRET-DETAIL invalid_client at https://idp.internal/token';

/** facts for every reason; the detail parts are sentinels that must not reach the page */
const FACTS: { [R in Reason]: Facts[R] } = {
  interaction_expired: { error: ERROR },
  csrf: {},
  unknown_prompt: { prompt: 'SECRET-PROMPT' },
  no_identity_providers: {},
  upstream_start_failed: { idp: IDP, error: ERROR },
  upstream_state_unknown: {},
  upstream_state_mismatch: {},
  upstream_state_replayed: {},
  idp_gone: {},
  not_local_idp: {},
  upstream_unreachable: { idp: IDP, error: ERROR },
  upstream_client_auth_refused: { idp: IDP, error: ERROR },
  upstream_refused: { idp: IDP, error: ERROR },
  upstream_subject_missing: { idp: IDP, error: ERROR },
  account_disabled: { account: 'SECRET-ACCOUNT' },
  client_unknown: {},
  no_consent_prompt: {},
  audit_unavailable: {},
};

const EXPIRED = 'This sign-in has expired or was already completed. Start again from the application.';

/** status, title, message, logged detail: as the pages said before the table */
const WIRE: Record<Reason, [number, string, string, string]> = {
  interaction_expired: [
    400,
    'Sign-in expired',
    'This sign-in page has expired or was opened in another browser.',
    `interaction: ${ERROR}`,
  ],
  csrf: [403, 'Sign-in error', 'The form expired; start again.', 'csrf'],
  unknown_prompt: [400, 'Sign-in error', 'This request cannot be completed.', 'unknown prompt SECRET-PROMPT'],
  no_identity_providers: [503, 'Sign-in unavailable', 'No identity provider is configured.', 'no identity_providers'],
  upstream_start_failed: [502, 'Sign-in unavailable', 'Corp SSO cannot be reached right now.', ERROR],
  upstream_state_unknown: [400, 'Sign-in expired', EXPIRED, 'unknown or used upstream state'],
  upstream_state_mismatch: [400, 'Sign-in expired', EXPIRED, 'upstream state mismatch'],
  upstream_state_replayed: [400, 'Sign-in expired', 'This sign-in was already completed.', 'upstream state replayed'],
  idp_gone: [400, 'Sign-in error', 'Unknown sign-in provider.', 'idp gone'],
  not_local_idp: [400, 'Sign-in error', 'Unknown sign-in provider.', 'login to a non-local idp'],
  upstream_unreachable: [502, 'Sign-in failed', 'Corp SSO cannot be reached right now.', ERROR],
  upstream_client_auth_refused: [
    400,
    'Sign-in failed',
    'Corp SSO did not accept the credentials of this sign-in service. An administrator must fix its settings ' +
      'before anyone can sign in with Corp SSO.',
    ERROR,
  ],
  upstream_refused: [400, 'Sign-in failed', 'Corp SSO did not confirm your sign-in.', ERROR],
  upstream_subject_missing: [
    400,
    'Sign-in failed',
    'Corp SSO signed you in but did not say who you are in the way this sign-in service expects. An ' +
      'administrator must fix the settings of Corp SSO or of this service.',
    ERROR,
  ],
  account_disabled: [403, 'Access denied', 'This account is disabled.', 'account SECRET-ACCOUNT disabled'],
  client_unknown: [400, 'Unknown application', 'The application is not registered.', 'client gone'],
  no_consent_prompt: [400, 'Sign-in error', 'Nothing to consent to.', 'no consent prompt'],
  audit_unavailable: [
    503,
    'Sign-in unavailable',
    'Signing in is not possible right now. Try again in a few minutes.',
    'the audit record could not be written',
  ],
};

const reasons = Object.keys(REFUSALS) as Reason[];
/** refusal() with the sentinel facts of any reason (its signature asks for the facts of one named reason) */
const refusalOf = (reason: Reason): Refusal => (refusal as (r: Reason, f: unknown) => Refusal)(reason, FACTS[reason]);

/** type-checked, never run: the compiler asks for the facts a reason needs, and only for those */
export function _typeChecks(): void {
  // @ts-expect-error unknown_prompt needs the prompt's name
  refusal('unknown_prompt');
  // @ts-expect-error an upstream refusal needs the IdP's name for its page
  refusal('upstream_refused', { error: 'x' });
  // @ts-expect-error csrf has no facts
  refusal('csrf', { error: 'x' });
  refusal('csrf');
  refusal('account_disabled');
}

describe('the interaction error table', () => {
  it('has a row for every reason, and the tests know every row', () => {
    expect(reasons.sort()).toEqual(Object.keys(WIRE).sort());
    expect(reasons.length).toBe(18);
  });

  it.each(reasons)('%s: the status, page and logged detail the sign-in pages have always had', (reason) => {
    const r = refusalOf(reason);
    expect([r.status, r.title, r.message, r.detail]).toEqual(WIRE[reason]);
    expect(r.reason).toBe(reason);
  });

  it.each(reasons)('%s: an error status and a page that does not carry the internal detail', (reason) => {
    const r = refusalOf(reason);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(600);
    const html = messagePage(r.title, r.message);
    expect(html).toContain(`<h1>${r.title}</h1>`);
    expect(html).not.toContain('SECRET-');
    expect(html).not.toContain(r.detail);
  });

  it('a disabled account the refusal does not name is logged without an id', () => {
    expect(refusal('account_disabled').detail).toBe('account disabled');
  });
});

describe('upstreamFailure', () => {
  it('classifies a failed callback: unreachable, client authentication refused, anything else refused', () => {
    expect(upstreamFailure(new UpstreamError('unreachable', 'connect ECONNREFUSED'))).toEqual({
      reason: 'upstream_unreachable',
      error: 'unreachable: connect ECONNREFUSED',
    });
    expect(upstreamFailure(new UpstreamError('client_auth_refused', 'invalid_client'))).toEqual({
      reason: 'upstream_client_auth_refused',
      error: 'client_auth_refused: invalid_client',
    });
    expect(upstreamFailure(new UpstreamError('subject_claim_missing', 'no oid'))).toEqual({
      reason: 'upstream_subject_missing',
      error: 'subject_claim_missing: no oid',
    });
    for (const kind of ['idp_error', 'invalid_response', 'invalid_id_token', 'refresh_refused'] as const)
      expect(upstreamFailure(new UpstreamError(kind, 'x'))).toEqual({
        reason: 'upstream_refused',
        error: `${kind}: x`,
      });
    expect(upstreamFailure(new Error('ERR_JWKS_NO_MATCHING_KEY'))).toEqual({
      reason: 'upstream_refused',
      error: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });
});

/** a koa context reduced to what a refusal touches */
function fakeCtx() {
  const logged: [Record<string, unknown>, string][] = [];
  const headers: Record<string, string> = {};
  const ctx = {
    status: 404,
    type: '',
    body: undefined as unknown,
    params: { uid: 'uid-1' },
    req: {},
    res: {},
    set: (name: string, value: string) => (headers[name] = value),
    state: { log: { warn: (fields: Record<string, unknown>, msg: string) => logged.push([fields, msg]) } },
  };
  return { ctx, asCtx: ctx as unknown as Ctx, logged, headers };
}

describe('refuse and details (the kit)', () => {
  const deps = {
    csrfKey: 'k',
    base: '',
    provider: () => ({
      interactionDetails: () => Promise.reject(new Error('interaction session id cookie not found')),
    }),
  } as unknown as InteractionDeps;
  const kit = interactionKit(deps);

  it('answers with the page of the reason, not stored, and logs only its detail as interaction.refused', () => {
    const { ctx, asCtx, logged, headers } = fakeCtx();
    kit.refuse(asCtx, 'upstream_client_auth_refused', { idp: IDP, error: ERROR });
    expect(ctx.status).toBe(400);
    expect(ctx.type).toBe('html');
    expect(headers['Cache-Control']).toBe('no-store');
    expect(ctx.body).toBe(messagePage('Sign-in failed', WIRE.upstream_client_auth_refused[2]));
    expect(logged).toEqual([[{ reason: ERROR }, 'interaction.refused']]);
  });

  it('an interaction oidc-provider does not find is the expired page, its message logged', async () => {
    const { ctx, asCtx, logged } = fakeCtx();
    expect(await kit.details(asCtx)).toBeUndefined();
    expect(ctx.status).toBe(400);
    expect(ctx.body).toBe(messagePage('Sign-in expired', WIRE.interaction_expired[2]));
    expect(logged).toEqual([
      [{ reason: 'interaction: interaction session id cookie not found' }, 'interaction.refused'],
    ]);
  });

  it('the CSRF token is bound to the interaction', () => {
    expect(kit.csrfOk('uid-1', kit.csrf('uid-1'))).toBe(true);
    expect(kit.csrfOk('uid-2', kit.csrf('uid-1'))).toBe(false);
    expect(kit.csrfOk('uid-1', undefined)).toBe(false);
    expect(kit.csrfOk('uid-1', 'short')).toBe(false);
  });
});
