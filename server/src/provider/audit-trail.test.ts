import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { awaitAudit, currentRequest, recordFor, track, type AuditSink } from './audit-trail.ts';

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

describe('awaitAudit: every write of the request, wherever it started', () => {
  const logged: unknown[] = [];
  function appWith(handler: Koa.Middleware, refuse?: (ctx: Koa.Context) => void) {
    const koa = new Koa();
    koa.use(async (ctx, next) => {
      (ctx.state as Record<string, unknown>).log = { error: (obj: unknown, msg: string) => logged.push([msg, obj]) };
      await next();
    });
    koa.use(awaitAudit(refuse));
    koa.use(handler);
    return koa.callback();
  }
  const failing: AuditSink = { write: () => Promise.reject(new Error('disk full')) };

  it('a write started once earlier work settles (a revocation, then its record) still guards the answer', async () => {
    const res = await request(
      appWith((ctx) => {
        // resolves after awaitAudit started waiting (a macrotask later), then starts the record
        const work = new Promise((resolve) => setImmediate(resolve)).then(() => {
          void recordFor(ctx, failing, { audit: [{ type: 'client.registered', outcome: 'success' }] });
        });
        track(ctx, work, false);
        ctx.status = 303;
        ctx.set('Location', 'https://client.example.com/cb?code=SECRET-CODE');
      }),
    ).get('/');
    expect(res.status).toBe(503);
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toEqual({
      error: 'server_error',
      error_description: 'the audit trail is unavailable; try again later',
    });
  });

  it("the refusal is the caller's when it gives one (the sign-in pages show a page)", async () => {
    const res = await request(
      appWith(
        (ctx) => {
          void recordFor(ctx, failing, { audit: [{ type: 'login.success', outcome: 'success' }] });
          ctx.body = 'continue';
        },
        (ctx) => {
          ctx.status = 503;
          ctx.body = 'the 503 page';
        },
      ),
    ).get('/');
    expect([res.status, res.text]).toEqual([503, 'the 503 page']);
  });

  it('currentRequest is the request being answered, inside awaitAudit only', async () => {
    let seen: unknown;
    let same = false;
    await request(
      appWith((ctx) => {
        seen = currentRequest();
        same = seen === ctx;
        ctx.body = 'ok';
      }),
    )
      .get('/')
      .expect(200);
    expect(same).toBe(true);
    expect(currentRequest()).toBeUndefined();
  });
});
