/**
 * Why baton refuses a token request: one typed reason code per refusal its own logic decides, and ONE
 * exhaustive mapping from reason to the wire error (RFC 6749 §5.2 code, generic description). The
 * internal detail (which token, which rule) goes to the log as `error_detail`, never to the wire; the
 * reason code rides on the error (`reason`), so the `grant.error` log line and the audit trail name it.
 *
 * The wire per RFC 8693 §2.2.2: an unacceptable subject or actor token is `invalid_request`, a target baton
 * will not issue for `invalid_target`; per RFC 7521 §5.2 / RFC 7523 §3.1 an unacceptable assertion is
 * `invalid_grant`; scopes that cannot be granted are `invalid_scope` (RFC 6749 §5.2).
 */
import { errors } from 'oidc-provider';

type Wire =
  | { error: 'invalid_request'; description: string }
  | { error: 'invalid_target'; description?: string }
  | { error: 'invalid_scope'; description: string }
  | { error: 'invalid_grant' };

const WIRE = {
  // token exchange: the request (RFC 8693 §2.1)
  subject_token_missing: { error: 'invalid_request', description: 'subject_token and subject_token_type are required' },
  subject_token_type_unsupported: { error: 'invalid_request', description: 'unsupported subject_token_type' },
  requested_token_type_unsupported: { error: 'invalid_request', description: 'unsupported requested_token_type' },
  // token exchange: the subject token (RFC 8693 §2.1, §2.2.2)
  subject_token_invalid: { error: 'invalid_request', description: 'subject_token is invalid' },
  subject_token_revoked: { error: 'invalid_request', description: 'subject_token has been revoked' },
  subject_token_not_for_actor: { error: 'invalid_request', description: 'subject_token was not issued to this client' },
  subject_not_a_user: { error: 'invalid_request', description: 'subject_token does not represent a user' },
  subject_account_disabled: { error: 'invalid_request', description: 'subject_token is invalid' },
  // token exchange: the actor (RFC 8693 §2.1, §4.1, §4.4)
  actor_token_incomplete: { error: 'invalid_request', description: 'actor_token and actor_token_type go together' },
  actor_token_type_unsupported: { error: 'invalid_request', description: 'unsupported actor_token_type' },
  actor_token_invalid: {
    error: 'invalid_request',
    description: 'actor_token does not identify the authenticated client',
  },
  may_act_mismatch: { error: 'invalid_request', description: 'this client may not act for the subject' },
  chain_too_long: { error: 'invalid_request', description: 'the delegation chain is too long' },
  // token exchange: the target and the policy (RFC 8693 §2.2.2, RFC 8707 §2)
  target_count: { error: 'invalid_target', description: 'exactly one resource or audience is required' },
  target_unknown: { error: 'invalid_target' },
  delegation_missing: { error: 'invalid_target' },
  exchange_scope: { error: 'invalid_scope', description: 'requested scope is not allowed for this exchange' },
  // identity chaining: baton issuing an ID-JAG (draft-ietf-oauth-identity-chaining §2.3)
  chaining_audience_count: {
    error: 'invalid_target',
    description: 'exactly one audience (the foreign authorization server) is required',
  },
  chaining_rule_missing: { error: 'invalid_target' },
  chaining_scope: { error: 'invalid_scope', description: 'requested scope is not allowed for this audience' },
  // ID-JAG redemption (RFC 7523 §3, ID-JAG §4.4.1, MCP Enterprise-Managed Authorization §7)
  assertion_missing: { error: 'invalid_request', description: 'assertion is required' },
  assertion_malformed: { error: 'invalid_request', description: 'assertion is not a JWT' },
  id_jag_issuer_untrusted: { error: 'invalid_grant' },
  id_jag_invalid: { error: 'invalid_grant' },
  id_jag_audience: { error: 'invalid_grant' },
  id_jag_client_mismatch: { error: 'invalid_grant' },
  id_jag_resource: { error: 'invalid_grant' },
  id_jag_user: { error: 'invalid_grant' },
  id_jag_replayed: { error: 'invalid_grant' },
  id_jag_key_binding: { error: 'invalid_grant' },
  id_jag_scope: { error: 'invalid_scope', description: 'no requested scope is granted' },
  // oidc-provider's own grants, decided by baton in getResourceServerInfo (RFC 8707 §2, RFC 6749 §3.3)
  resource_missing: { error: 'invalid_target', description: 'the resource parameter is required' },
  resource_unknown: { error: 'invalid_target' },
  resource_not_allowed: { error: 'invalid_target' },
  client_scope_not_allowed: { error: 'invalid_scope', description: 'requested scope is not allowed' },
  client_scope_none: { error: 'invalid_scope', description: 'no scope can be granted for this resource' },
  user_scope_none: { error: 'invalid_grant' },
} as const satisfies Record<string, Wire>;

export type RefusalReason = keyof typeof WIRE;

/** The error oidc-provider renders for a refusal (it emits `grant.error` with it), with its reason code. */
export type Refusal = InstanceType<typeof errors.OIDCProviderError> & { reason: RefusalReason };

/**
 * The error for `reason`: the wire code and text from the one table above, `detail` for the log only.
 * `scope` is the scope an `invalid_scope` refers to (oidc-provider keeps it on the error).
 */
export function refusal(reason: RefusalReason, detail?: string, scope?: string): Refusal {
  const wire: Wire = WIRE[reason];
  const options = detail === undefined ? undefined : { detail };
  let err: InstanceType<typeof errors.OIDCProviderError>;
  switch (wire.error) {
    case 'invalid_request':
      err = new errors.InvalidRequest(wire.description, undefined, detail);
      break;
    case 'invalid_target':
      err = new errors.InvalidTarget(wire.description, options);
      break;
    case 'invalid_scope':
      err = new errors.InvalidScope(wire.description, scope as string, options);
      break;
    case 'invalid_grant':
      err = new errors.InvalidGrant(detail);
      break;
    default:
      return wire satisfies never;
  }
  return Object.assign(err, { reason });
}

/** The reason code of an error baton decided, if it is one. */
export function reasonOf(err: unknown): RefusalReason | undefined {
  const reason = (err as { reason?: unknown } | null)?.reason;
  return typeof reason === 'string' && Object.hasOwn(WIRE, reason) ? (reason as RefusalReason) : undefined;
}

/** Every reason code (for tests and the docs' table). */
export const REFUSAL_REASONS = Object.keys(WIRE) as RefusalReason[];
