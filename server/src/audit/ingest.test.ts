import { describe, expect, it } from 'vitest';
import { parseBatch, recordsOf, type Batch } from './ingest.ts';
import type { AuditEvent } from './record.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const event = (over: Record<string, unknown> = {}) => ({
  kind: 'api_call',
  method: 'GET',
  name: '/cost/logs',
  outcome: 'allowed',
  status: 200,
  at: '2026-12-01T11:59:00Z',
  ...over,
});
const batch = (events: unknown[], dropped?: number) => parseBatch({ events, ...(dropped ? { dropped } : {}) }, NOW);

describe('a reported batch, checked (audit/ingest.ts)', () => {
  it('refuses a time more than five minutes ahead, control characters, a bad status or hash, naming the event', () => {
    expect(batch([event(), event({ at: '2026-12-01T12:06:00Z' })])).toMatchObject({
      status: 400,
      description: 'events[1].at is in the future',
    });
    expect(batch([event({ at: '2026-12-01T12:04:00Z' })])).toMatchObject({ dropped: 0 });
    expect(batch([event({ name: 'read\nlogs' })])).toMatchObject({ description: 'events[0].name is invalid' });
    expect(batch([event({ status: 42 })])).toMatchObject({ description: 'events[0].status is invalid' });
    expect(batch([event({ arguments_sha256: 'ABC' })])).toMatchObject({
      description: 'events[0].arguments_sha256 is invalid',
    });
    expect(batch([event({ at: 'yesterday' })])).toMatchObject({ description: 'events[0].at is invalid' });
    expect(parseBatch([event()], NOW)).toMatchObject({ status: 400 });
    expect(parseBatch({ events: [], dropped: -1 }, NOW)).toMatchObject({ status: 400 });
  });

  it('keeps a duration the reporter measured (duration_ms) in the record, and refuses one that is not a whole ms count', async () => {
    expect(batch([event({ duration_ms: -1 })])).toMatchObject({ description: 'events[0].duration_ms is invalid' });
    expect(batch([event({ duration_ms: 1.5 })])).toMatchObject({ description: 'events[0].duration_ms is invalid' });
    const parsed = batch([event({ duration_ms: 42 })]) as Batch;
    const records = await recordsOf(parsed, { client: 'cost-service', serves: [COST] }, async () => new Map());
    expect((records as AuditEvent[])[0]!.details).toMatchObject({ status: 200, duration_ms: 42 });
  });

  it('takes the person, the actor chain, the grant and the parent from baton’s record of an exchanged token', async () => {
    const issued: AuditEvent = {
      type: 'token.issued',
      outcome: 'success',
      client: 'logs-mcp',
      account: 'u_alice',
      idp: { iss: 'https://idp.example.com', sub: 'alice' },
      act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
      gid: 'g1',
      parent_jti: 'j-parent',
      resource: COST,
      jti: 'j-hop',
      scope: 'cost.read',
    };
    const asked: string[][] = [];
    const lookup = async (jtis: readonly string[]) => (asked.push([...jtis]), new Map([['j-hop', issued]]));
    const records = await recordsOf(
      batch([event({ jti: 'j-hop' }), event({ outcome: 'denied', status: 401 })], 3) as Batch,
      { client: 'cost-service', serves: [COST], requestId: 'r1' },
      lookup,
    );
    expect(asked).toEqual([['j-hop']]);
    expect(records).toEqual([
      {
        type: 'api.called',
        outcome: 'success',
        account: 'u_alice',
        idp: { iss: 'https://idp.example.com', sub: 'alice' },
        client: 'logs-mcp',
        act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
        gid: 'g1',
        parent_jti: 'j-parent',
        resource: COST,
        jti: 'j-hop',
        request_id: 'r1',
        details: {
          method: 'GET',
          name: '/cost/logs',
          status: 200,
          reported_at: '2026-12-01T11:59:00Z',
          reporter: 'cost-service',
        },
      },
      {
        type: 'api.called',
        outcome: 'refused',
        resource: COST,
        request_id: 'r1',
        details: {
          method: 'GET',
          name: '/cost/logs',
          status: 401,
          reported_at: '2026-12-01T11:59:00Z',
          reporter: 'cost-service',
        },
      },
      {
        type: 'audit.dropped',
        outcome: 'failure',
        client: 'cost-service',
        resource: COST,
        request_id: 'r1',
        details: { count: 3, reporter: 'cost-service' },
      },
    ]);
  });

  it('a jti of another resource is refused even when the reporter serves that resource too', async () => {
    const issued = new Map<string, AuditEvent>([
      ['j1', { type: 'token.issued', outcome: 'success', resource: LOGS, jti: 'j1' }],
    ]);
    const result = await recordsOf(
      batch([event({ resource: COST, jti: 'j1' })]) as Batch,
      { client: 'both', serves: [LOGS, COST] },
      async () => issued,
    );
    expect(result).toMatchObject({
      status: 400,
      description: 'events[0].jti is not a token baton issued for this resource',
      detail: `events[0]: jti j1 was issued for ${LOGS}, not ${COST}`,
    });
  });
});
