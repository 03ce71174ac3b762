import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { errorBoundary, requestContext, securityHeaders } from './middleware.ts';
import { createLogger } from '../logger.ts';
import { Writable } from 'node:stream';

const quiet = createLogger('error', new Writable({ write: (_c, _e, cb) => cb() }));

function app(issuer: string, handler: Koa.Middleware): Koa {
  const a = new Koa();
  a.silent = true;
  a.use(requestContext(quiet))
    .use(errorBoundary())
    .use(securityHeaders(new URL(issuer)))
    .use(handler);
  return a;
}

describe('securityHeaders', () => {
  it('HSTS for an https issuer only; frame and script rules on pages', async () => {
    const page: Koa.Middleware = (ctx) => {
      ctx.type = 'text/html';
      ctx.body = '<p>hi</p>';
    };
    const tls = await request(app('https://auth.example.com', page).callback()).get('/');
    expect(tls.headers['strict-transport-security']).toBe('max-age=31536000');
    expect(tls.headers['x-frame-options']).toBe('DENY');
    expect(tls.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const plain = await request(app('http://127.0.0.1:9400', page).callback()).get('/');
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });

  it('no policy on answers that are not pages; on pages, only the script hashes oidc-provider adds', async () => {
    const json = await request(app('http://127.0.0.1:9400', (ctx) => void (ctx.body = { ok: true })).callback()).get(
      '/',
    );
    expect(json.headers['content-security-policy']).toBeUndefined();
    // a page whose renderer widened script-src beyond hashes: only the hash-source survives
    const widened: Koa.Middleware = (ctx) => {
      ctx.set(
        'Content-Security-Policy',
        `${ctx.response.get('Content-Security-Policy')} 'unsafe-inline' 'sha256-YWJj'`,
      );
      ctx.type = 'text/html';
      ctx.body = '<p>hi</p>';
    };
    const page = await request(app('http://127.0.0.1:9400', widened).callback()).get('/');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; script-src 'sha256-YWJj'",
    );
  });

  it('also on the error answer of a failing request', async () => {
    const res = await request(
      app('https://auth.example.com', () => {
        throw new Error('a bug');
      }).callback(),
    ).get('/');
    expect(res.status).toBe(500);
    expect(res.body.error).toBe('server_error');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000');
  });
});
