/**
 * The interaction error table: every reason a sign-in page refuses a request, and what each one shows and
 * logs. The page (status, title, message) is generic: at most it names the IdP by its display name. The
 * internal detail goes to the log only, as the `reason` field of a warn line `interaction.refused`
 * (docs/events.md); it may carry an error message from the IdP or from oidc-provider, never a secret.
 */
import { UpstreamError } from '../../idp/oidc.ts';

type None = Record<string, never>;

/** What each reason needs to write its page and its log detail. */
export interface Facts {
  /** oidc-provider has no interaction for this browser (cookie missing or expired), or it is another one */
  interaction_expired: { error: string };
  /** RFC 6749 §10.12: a form posted without this interaction's CSRF token */
  csrf: None;
  /** oidc-provider asked for a prompt that has no page here */
  unknown_prompt: { prompt: string };
  /** nothing to sign in with: no local directory, no IdP with `sign_in` */
  no_identity_providers: None;
  /** the upstream authorization request could not be prepared (discovery, PAR) */
  upstream_start_failed: { idp: string; error: string };
  /** the IdP's redirect carries a state that is unknown, used, or issued for another IdP */
  upstream_state_unknown: None;
  /** the state was issued for another interaction than this browser's */
  upstream_state_mismatch: None;
  /** the state was consumed in between (a replay, possibly racing on another process) */
  upstream_state_replayed: None;
  /** the state names an IdP that is no longer configured */
  idp_gone: None;
  /** a password posted for an IdP that is not a local directory */
  not_local_idp: None;
  /** the IdP's token endpoint or keys could not be reached */
  upstream_unreachable: { idp: string; error: string };
  /** the IdP refused baton's own client authentication: the administrator's doing, not the user's */
  upstream_client_auth_refused: { idp: string; error: string };
  /** the IdP answered with an error, or its answer failed a check (OIDC Core §3.1.3.7) */
  upstream_refused: { idp: string; error: string };
  /** the ID token has no `identity_providers[].subject_claim` to key the account by: the IdP's settings, not the user */
  upstream_subject_missing: { idp: string; error: string };
  /** the account is disabled (or gone); `account` when the refusal names it */
  account_disabled: { account?: string };
  /** the client of the interaction is no longer registered */
  client_unknown: None;
  /** a consent form posted while oidc-provider asks for something else */
  no_consent_prompt: None;
  /** issue #13: the audit record of a sign-in or consent could not be written; nothing is handed out */
  audit_unavailable: None;
}

export type Reason = keyof Facts;

type Text<F> = string | ((facts: F) => string);

/** the statuses a sign-in page refuses with */
export type Status = 400 | 403 | 502 | 503;

interface Row<F> {
  status: Status;
  title: string;
  message: Text<F>;
  /** logged as `reason` */
  detail: Text<F>;
}

const EXPIRED = 'This sign-in has expired or was already completed. Start again from the application.';
const FORM_EXPIRED = 'The form expired; start again.';
const UNKNOWN_IDP = 'Unknown sign-in provider.';
const unreachable = ({ idp }: { idp: string }) => `${idp} cannot be reached right now.`;

/** The one mapping: a row per reason (the compiler refuses a reason without one). */
export const REFUSALS: { readonly [R in Reason]: Row<Facts[R]> } = {
  interaction_expired: {
    status: 400,
    title: 'Sign-in expired',
    message: 'This sign-in page has expired or was opened in another browser.',
    detail: ({ error }) => `interaction: ${error}`,
  },
  csrf: { status: 403, title: 'Sign-in error', message: FORM_EXPIRED, detail: 'csrf' },
  unknown_prompt: {
    status: 400,
    title: 'Sign-in error',
    message: 'This request cannot be completed.',
    detail: ({ prompt }) => `unknown prompt ${prompt}`,
  },
  no_identity_providers: {
    status: 503,
    title: 'Sign-in unavailable',
    message: 'No identity provider is configured.',
    detail: 'no identity_providers',
  },
  upstream_start_failed: {
    status: 502,
    title: 'Sign-in unavailable',
    message: unreachable,
    detail: ({ error }) => error,
  },
  upstream_state_unknown: {
    status: 400,
    title: 'Sign-in expired',
    message: EXPIRED,
    detail: 'unknown or used upstream state',
  },
  upstream_state_mismatch: {
    status: 400,
    title: 'Sign-in expired',
    message: EXPIRED,
    detail: 'upstream state mismatch',
  },
  upstream_state_replayed: {
    status: 400,
    title: 'Sign-in expired',
    message: 'This sign-in was already completed.',
    detail: 'upstream state replayed',
  },
  idp_gone: { status: 400, title: 'Sign-in error', message: UNKNOWN_IDP, detail: 'idp gone' },
  not_local_idp: { status: 400, title: 'Sign-in error', message: UNKNOWN_IDP, detail: 'login to a non-local idp' },
  upstream_unreachable: { status: 502, title: 'Sign-in failed', message: unreachable, detail: ({ error }) => error },
  upstream_client_auth_refused: {
    status: 400,
    title: 'Sign-in failed',
    message: ({ idp }) =>
      `${idp} did not accept the credentials of this sign-in service. An administrator must fix its settings ` +
      `before anyone can sign in with ${idp}.`,
    detail: ({ error }) => error,
  },
  upstream_refused: {
    status: 400,
    title: 'Sign-in failed',
    message: ({ idp }) => `${idp} did not confirm your sign-in.`,
    detail: ({ error }) => error,
  },
  upstream_subject_missing: {
    status: 400,
    title: 'Sign-in failed',
    message: ({ idp }) =>
      `${idp} signed you in but did not say who you are in the way this sign-in service expects. An ` +
      `administrator must fix the settings of ${idp} or of this service.`,
    detail: ({ error }) => error,
  },
  account_disabled: {
    status: 403,
    title: 'Access denied',
    message: 'This account is disabled.',
    detail: ({ account }) => (account ? `account ${account} disabled` : 'account disabled'),
  },
  client_unknown: {
    status: 400,
    title: 'Unknown application',
    message: 'The application is not registered.',
    detail: 'client gone',
  },
  no_consent_prompt: {
    status: 400,
    title: 'Sign-in error',
    message: 'Nothing to consent to.',
    detail: 'no consent prompt',
  },
  audit_unavailable: {
    status: 503,
    title: 'Sign-in unavailable',
    message: 'Signing in is not possible right now. Try again in a few minutes.',
    detail: 'the audit record could not be written',
  },
};

export interface Refusal {
  reason: Reason;
  status: Status;
  title: string;
  message: string;
  /** internal: for the log, never for the page */
  detail: string;
}

/** The arguments after the reason: its facts, optional where it needs none. */
export type FactsOf<R extends Reason> = None extends Facts[R] ? [facts?: Facts[R]] : [facts: Facts[R]];

export function refusal<R extends Reason>(reason: R, ...[facts]: FactsOf<R>): Refusal {
  const row: Row<Facts[R]> = REFUSALS[reason];
  const given = (facts ?? {}) as Facts[R];
  const text = (t: Text<Facts[R]>) => (typeof t === 'string' ? t : t(given));
  return { reason, status: row.status, title: row.title, message: text(row.message), detail: text(row.detail) };
}

export type UpstreamFailure =
  'upstream_unreachable' | 'upstream_client_auth_refused' | 'upstream_subject_missing' | 'upstream_refused';

/**
 * A failed upstream callback, classified: the IdP cannot be reached, it refused baton's own client
 * authentication (the error says which setting to change), or it did not confirm the sign-in.
 */
export function upstreamFailure(err: unknown): { reason: UpstreamFailure; error: string } {
  if (!(err instanceof UpstreamError)) return { reason: 'upstream_refused', error: (err as Error).message };
  const error = `${err.reason}: ${err.message}`;
  if (err.reason === 'unreachable') return { reason: 'upstream_unreachable', error };
  if (err.reason === 'client_auth_refused') return { reason: 'upstream_client_auth_refused', error };
  if (err.reason === 'subject_claim_missing') return { reason: 'upstream_subject_missing', error };
  return { reason: 'upstream_refused', error };
}
