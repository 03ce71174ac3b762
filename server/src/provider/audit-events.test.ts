import { describe, expect, it } from 'vitest';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { issuedEvent, refusedEvent } from './audit-events.ts';

const ctx = (entities: Record<string, unknown>, grantType = 'authorization_code') =>
  ({
    state: { reqId: 'req-1' },
    oidc: { client: { clientId: 'ide-agent' }, params: { grant_type: grantType }, entities },
  }) as unknown as KoaContextWithOIDC;

describe('audit events of the token endpoint', () => {
  it('an issued token: ids, the resource, the scope and the chain, never the token', () => {
    const token = {
      jti: 'jti-1',
      accountId: 'u_alice',
      scope: 'cost.read',
      aud: 'https://cost.example.com',
      grantId: 'g-1',
      extra: { act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } }, idp: { iss: 'https://idp', sub: 'alice' } },
      value: 'eyJ.the.token',
    };
    expect(issuedEvent(ctx({ AccessToken: token }, 'urn:ietf:params:oauth:grant-type:token-exchange'))).toEqual({
      type: 'token.issued',
      outcome: 'success',
      client: 'ide-agent',
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      account: 'u_alice',
      idp: { iss: 'https://idp', sub: 'alice' },
      act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
      resource: 'https://cost.example.com',
      scope: 'cost.read',
      jti: 'jti-1',
      gid: 'g-1',
      request_id: 'req-1',
    });
  });

  it('a client credentials token has no person', () => {
    const event = issuedEvent(
      ctx({ ClientCredentials: { jti: 'cc-1', scope: 'cost.read', aud: ['https://cost'] } }, 'client_credentials'),
    );
    expect(event).toEqual({
      type: 'token.issued',
      outcome: 'success',
      client: 'ide-agent',
      grant_type: 'client_credentials',
      resource: 'https://cost',
      scope: 'cost.read',
      jti: 'cc-1',
      request_id: 'req-1',
    });
  });

  it('a refusal: the wire code and the typed reason, not the internal detail', () => {
    const event = refusedEvent(
      ctx({}),
      { error: 'invalid_request', error_detail: 'subject_token: abc' },
      'subject_token_revoked',
    );
    expect(event).toEqual({
      type: 'token.refused',
      outcome: 'refused',
      client: 'ide-agent',
      grant_type: 'authorization_code',
      error: 'invalid_request',
      reason: 'subject_token_revoked',
      request_id: 'req-1',
    });
  });
});
