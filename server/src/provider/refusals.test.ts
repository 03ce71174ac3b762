import { describe, expect, it } from 'vitest';
import { errors } from 'oidc-provider';
import { reasonOf, REFUSAL_REASONS, refusal } from './refusals.ts';

describe('refusal reasons → the wire (RFC 6749 §5.2, RFC 8693 §2.2.2)', () => {
  it('every reason is an OAuth error with a 400 status and a generic description', () => {
    for (const reason of REFUSAL_REASONS) {
      const err = refusal(reason, 'internal detail: token abc.def');
      expect(err).toBeInstanceOf(errors.OIDCProviderError);
      expect(err.status).toBe(400);
      expect(err.expose).toBe(true);
      expect(['invalid_request', 'invalid_target', 'invalid_scope', 'invalid_grant']).toContain(err.error);
      expect(err.error_description).toEqual(expect.any(String));
      // the detail is for the log only
      expect(err.error_description).not.toContain('abc.def');
      expect((err as { error_detail?: string }).error_detail).toBe('internal detail: token abc.def');
      expect(reasonOf(err)).toBe(reason);
    }
  });

  it('maps the exchange and ID-JAG refusals to their exact wire codes and texts', () => {
    const wire = (e: ReturnType<typeof refusal>) => [e.error, e.error_description];
    expect(wire(refusal('subject_token_revoked'))).toEqual(['invalid_request', 'subject_token has been revoked']);
    expect(wire(refusal('subject_account_disabled'))).toEqual(['invalid_request', 'subject_token is invalid']);
    expect(wire(refusal('chain_too_long'))).toEqual(['invalid_request', 'the delegation chain is too long']);
    expect(wire(refusal('delegation_missing'))).toEqual([
      'invalid_target',
      'resource indicator is missing, or unknown',
    ]);
    expect(wire(refusal('target_count'))).toEqual(['invalid_target', 'exactly one resource or audience is required']);
    expect(wire(refusal('id_jag_replayed'))).toEqual(['invalid_grant', 'grant request is invalid']);
    expect(wire(refusal('assertion_malformed'))).toEqual(['invalid_request', 'assertion is not a JWT']);
  });

  it('an invalid_scope refusal keeps the scope it refers to', () => {
    const err = refusal('exchange_scope', undefined, 'cost.write');
    expect([err.error, err.error_description, (err as { scope?: string }).scope]).toEqual([
      'invalid_scope',
      'requested scope is not allowed for this exchange',
      'cost.write',
    ]);
  });

  it('names no reason for errors baton did not decide', () => {
    expect(reasonOf(new errors.InvalidGrant('x'))).toBeUndefined();
    expect(reasonOf(Object.assign(new Error('x'), { reason: 'not_a_reason' }))).toBeUndefined();
    expect(reasonOf(undefined)).toBeUndefined();
  });
});
