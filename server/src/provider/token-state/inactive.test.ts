import { describe, expect, it } from 'vitest';
import type { JWTPayload } from 'jose';
import { actorChain, inactiveReason, type StateLookups } from './inactive.ts';

/** Lookups answering from fixed sets, recording what was asked. */
function lookups(state: { blocked?: string[]; revoked?: string[]; grants?: string[]; enabled?: string[] } = {}) {
  const asked: string[] = [];
  const stub: StateLookups = {
    isBlocked: (id) => (state.blocked ?? []).includes(id),
    isRevoked: async (jti) => (asked.push(`jti:${jti}`), (state.revoked ?? []).includes(jti)),
    grantExists: async (gid) => (asked.push(`grant:${gid}`), (state.grants ?? ['g1']).includes(gid)),
    accountEnabled: async (sub) => (asked.push(`account:${sub}`), (state.enabled ?? ['alice']).includes(sub)),
  };
  return { stub, asked };
}

const token: JWTPayload = { jti: 'j1', sub: 'alice', client_id: 'app', gid: 'g1', idp: { iss: 'https://idp' } };

describe('actor chain of a token (RFC 8693 §4.1)', () => {
  it('is the client, then each nested act.sub outermost first, skipping actors without a string sub', () => {
    expect(actorChain({ client_id: 'app' })).toEqual(['app']);
    expect(actorChain({ client_id: 'c', act: { sub: 'b', act: { sub: 42, act: { sub: 'a' } } } })).toEqual([
      'c',
      'b',
      'a',
    ]);
    expect(actorChain({ client_id: 'c', act: 'not-an-object' })).toEqual(['c']);
  });
});

describe('why a verified token is inactive (RFC 7662 §2.2)', () => {
  it('is active when nothing revoked it, and asks the jti, the grant and the account', async () => {
    const { stub, asked } = lookups();
    expect(await inactiveReason(stub, token)).toBeUndefined();
    expect(asked.sort()).toEqual(['account:alice', 'grant:g1', 'jti:j1']);
  });

  it('a blocked client ends its tokens before any storage lookup', async () => {
    const { stub, asked } = lookups({ blocked: ['app'], revoked: ['j1'] });
    expect(await inactiveReason(stub, token)).toBe('client app blocked');
    expect(asked).toEqual([]);
  });

  it('a blocked client anywhere in the actor chain ends the token', async () => {
    const { stub } = lookups({ blocked: ['mcp-1'] });
    const chained = { ...token, client_id: 'mcp-2', act: { sub: 'mcp-1', act: { sub: 'app' } } };
    expect(await inactiveReason(stub, chained)).toBe('client mcp-1 blocked');
  });

  it('names the first reason: revoked jti, then the grant gone, then the account disabled', async () => {
    expect(await inactiveReason(lookups({ revoked: ['j1'], grants: [], enabled: [] }).stub, token)).toBe(
      'token revoked',
    );
    expect(await inactiveReason(lookups({ grants: [], enabled: [] }).stub, token)).toBe('grant g1 revoked');
    expect(await inactiveReason(lookups({ enabled: [] }).stub, token)).toBe('account disabled');
  });

  it('a token without gid asks no grant, and one without idp (a client token) asks no account', async () => {
    const { stub, asked } = lookups({ grants: [], enabled: [] });
    expect(await inactiveReason(stub, { jti: 'j2', sub: 'svc', client_id: 'svc' })).toBeUndefined();
    expect(asked).toEqual(['jti:j2']);
  });
});
