import { createHash, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonical, chainEvents, GENESIS, hashRecord } from './chain.ts';
import type { AuditEvent } from './record.ts';
import { checkpointDigest, checkpointNote, verifyCheckpoint, type Checkpoint } from './checkpoint.ts';
import { sign } from 'node:crypto';
import type { JWK } from 'jose';

describe('canonical', () => {
  it('sorts keys at every depth, drops undefined members, writes no whitespace', () => {
    expect(canonical({ b: 1, a: { d: [1, 'x', null, true], c: undefined, ä: 'ü' }, A: 0.5 })).toBe(
      '{"A":0.5,"a":{"d":[1,"x",null,true],"ä":"ü"},"b":1}',
    );
    expect(canonical({ z: 1, a: 2 })).toBe(canonical({ a: 2, z: 1 }));
  });

  it('refuses what JSON cannot carry exactly', () => {
    expect(() => canonical({ n: Number.NaN })).toThrow('canonical: a number must be finite');
    expect(() => canonical({ f: () => 1 })).toThrow('canonical: cannot encode a function');
  });
});

describe('chainEvents and hashRecord', () => {
  const events = [
    { type: 'token.issued', outcome: 'success', client: 'ide-agent', jti: 'j1', at: 1_700_000_000_000 },
    { type: 'token.refused', outcome: 'refused', client: 'a\u0000b\uD800', error: 'invalid_grant', at: -5 },
  ] as const;

  it('numbers after the head, links each row to the one before, hashes SHA-256(prev ‖ canonical(row))', () => {
    const rows = chainEvents({ seq: 41, hash: 'ab'.repeat(32) }, events, 1_800_000_000_000);
    expect(rows.map((r) => r.seq)).toEqual([42, 43]);
    expect(rows[0]!.prev_hash).toBe('ab'.repeat(32));
    expect(rows[1]!.prev_hash).toBe(rows[0]!.hash);
    const { hash, ...unsealed } = rows[0]!;
    const expected = createHash('sha256')
      .update(Buffer.from('ab'.repeat(32), 'hex'))
      .update(canonical(unsealed))
      .digest('hex');
    expect(hash).toBe(expected);
    expect(hashRecord(unsealed)).toBe(expected);
    expect(rows[0]).toMatchObject({
      at: '2023-11-14T22:13:20.000Z',
      client_id: 'ide-agent',
      jti: 'j1',
      account_id: null,
    });
  });

  it('stores what PostgreSQL can hold: NUL and lone surrogates become U+FFFD, an impossible time is now', () => {
    const [, refused] = chainEvents({ seq: 0, hash: GENESIS }, events, 1_800_000_000_000);
    expect(refused!.client_id).toBe('a\uFFFDb\uFFFD');
    expect(refused!.event.client).toBe('a\uFFFDb\uFFFD');
    expect(refused!.at).toBe('2027-01-15T08:00:00.000Z');
    expect(refused!.event.at).toBe(1_800_000_000_000);
  });

  it('hashes a fixed chain as it always has (a chain written by an earlier version still verifies)', () => {
    const fixed = [
      {
        ...{ type: 'token.issued', outcome: 'success', client: 'logs-mcp', account: 'u_1', resource: 'https://cost' },
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        idp: { iss: 'https://idp', sub: 'alice' },
        act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
        ...{ scope: 'cost.read', jti: 'j1', parent_jti: 'j0', gid: 'g1', request_id: 'r1', at: 1_700_000_000_000 },
      },
      {
        ...{ type: 'token.refused', outcome: 'refused', client: 'a\u0000b\uD800', error: 'invalid_grant', at: -5 },
        reason: undefined,
        details: { n: Infinity, list: [1, 'x', null, true, undefined], 'k\uDC00': 'v', z: { y: 'é' } },
      },
      { type: 'tool.called', outcome: 'failure', details: { tool: 'q"uote\\', count: 3.5e-7 } },
    ] as unknown as AuditEvent[];
    const rows = chainEvents({ seq: 0, hash: GENESIS }, fixed, 1_800_000_000_000);
    expect(rows.map((r) => r.hash)).toEqual([
      '1caeb2fa25ec0153914ebbf2d27f42ed58afaa70c582808d0ec9dac1c7603a7a',
      '2c4425f1d03ba60f5f68f49b09d334fb865f316ecf653ebbc7c63f285c4b8e7f',
      '56361106e3e5eba54f5ff80f6bdcde102162c5ad6824f331ad44a99f1fadf936',
    ]);
    expect(rows[1]!.event).toEqual({
      ...{ type: 'token.refused', outcome: 'refused', client: 'a\uFFFDb\uFFFD', error: 'invalid_grant' },
      at: 1_800_000_000_000,
      details: { n: null, list: [1, 'x', null, true, undefined], 'k\uFFFD': 'v', z: { y: 'é' } },
    });
    expect(Object.keys(rows[1]!.event)).not.toContain('reason');
    // rows read back from jsonb come in another key order: the same hash
    const [first] = rows;
    const { hash, event, ...columns } = first!;
    const reordered = Object.fromEntries(Object.entries(event).reverse()) as unknown as AuditEvent;
    expect(hashRecord({ ...columns, event: reordered })).toBe(hash);
  });

  it('any change to a column, the seq included, changes the hash', () => {
    const [row] = chainEvents({ seq: 0, hash: GENESIS }, [events[0]]);
    const { hash, ...r } = row!;
    for (const changed of [
      { ...r, seq: 2 },
      { ...r, outcome: 'refused' },
      { ...r, jti: 'j2' },
      { ...r, prev_hash: 'cd'.repeat(32) },
    ]) {
      expect(hashRecord(changed)).not.toBe(hash);
    }
  });
});

describe('checkpoint notes', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'k1' };
  const unsigned = {
    seq: 10,
    hash: 'ab'.repeat(32),
    at: '2026-12-01T00:00:00.000Z',
    prev_seq: 4,
    prev_digest: 'cd'.repeat(32),
  };

  it('is the C2SP-style note: origin, size, hash, then extension lines; its signature verifies', () => {
    expect(checkpointNote(unsigned)).toBe(
      `baton audit log v1\n10\n${'ab'.repeat(32)}\nat 2026-12-01T00:00:00.000Z\nprev 4 ${'cd'.repeat(32)}\n`,
    );
    const c: Checkpoint = {
      ...unsigned,
      kid: 'k1',
      signature: sign(null, Buffer.from(checkpointNote(unsigned)), privateKey).toString('base64url'),
    };
    expect(verifyCheckpoint(c, jwk)).toBe(true);
    expect(verifyCheckpoint({ ...c, seq: 11 }, jwk)).toBe(false);
    expect(verifyCheckpoint({ ...c, prev_digest: 'ef'.repeat(32) }, jwk)).toBe(false);
    expect(verifyCheckpoint({ ...c, signature: 'not-base64url!' }, jwk)).toBe(false);
    expect(checkpointDigest(c)).toMatch(/^[0-9a-f]{64}$/);
    expect(checkpointDigest({ ...c, seq: 11 })).not.toBe(checkpointDigest(c));
  });
});
