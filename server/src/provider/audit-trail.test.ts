import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { awaitAudit, recordFor, type AuditSink } from './audit-trail.ts';

function app(sink: AuditSink, logged: unknown[], guards = true) {
  const koa = new Koa();
  koa.use(async (ctx, next) => {
    (ctx.state as Record<string, unknown>).log = { error: (obj: unknown, msg: string) => logged.push([msg, obj]) };
    await next();
  });
  koa.use(awaitAudit());
  koa.use((ctx) => {
    void recordFor(ctx, sink, { audit: [{ type: 'token.issued', outcome: 'success', jti: 'j1' }] }, { guards });
    ctx.body = { access_token: 'the-token', token_type: 'Bearer' };
  });
  return koa.callback();
}

describe('awaitAudit: no token without its audit record', () => {
  it('answers once the record is durable', async () => {
    const written: unknown[] = [];
    let settle!: () => void;
    const sink: AuditSink = {
      write: (batch) => {
        written.push(batch);
        return new Promise<void>((resolve) => (settle = resolve));
      },
    };
    const answer = request(app(sink, []))
      .post('/token')
      .then((r) => r);
    while (written.length === 0) await new Promise((r) => setTimeout(r, 5)); // the request reached the handler
    expect(written).toEqual([{ audit: [{ type: 'token.issued', outcome: 'success', jti: 'j1' }] }]);
    settle();
    const res = await answer;
    expect(res.status).toBe(200);
    expect(res.body.access_token).toBe('the-token');
  });

  it('a failed write replaces the answer with 503 server_error: the token is never sent', async () => {
    const logged: unknown[] = [];
    const sink: AuditSink = { write: () => Promise.reject(new Error('connection refused')) };
    const res = await request(app(sink, logged)).post('/token');
    expect(res.status).toBe(503);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({
      error: 'server_error',
      error_description: 'the audit trail is unavailable; try again later',
    });
    expect(JSON.stringify(res.body)).not.toContain('the-token');
    expect(logged).toEqual([['audit.write_failed', { reason: 'connection refused' }]]);
  });

  it('a failed write of a record that guards nothing (a refusal) leaves the answer as it is, and is logged', async () => {
    const logged: unknown[] = [];
    const sink: AuditSink = { write: () => Promise.reject(new Error('connection refused')) };
    const res = await request(app(sink, logged, false)).post('/token');
    expect(res.status).toBe(200);
    expect(logged).toEqual([['audit.write_failed', { reason: 'connection refused' }]]);
  });
});
