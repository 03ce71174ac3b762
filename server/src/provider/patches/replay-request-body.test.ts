import { describe, expect, it } from 'vitest';
import type Koa from 'koa';
import { bareProvider } from './bare-provider.ts';
import { replayRequestBody } from './replay-request-body.ts';

const config = { features: { registration: { enabled: true } } };
const metadata = (name: string) => ({ client_name: name, redirect_uris: ['https://rp.test/cb'] });

/** a middleware before oidc-provider that reads the whole body itself (as baton's registration limit does) */
function readsBody(then: (ctx: Koa.Context, bytes: Buffer) => void): Koa.Middleware {
  return async (ctx, next) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
    then(ctx, Buffer.concat(chunks));
    await next();
  };
}

describe('upstream (oidc-provider without the patch)', () => {
  it('reads the body from the request stream itself (req.iterator, while req.readable)', async () => {
    const bare = await bareProvider(config);
    const reads: unknown[] = [];
    bare.provider.use(async (ctx, next) => {
      const iterator = ctx.req.iterator.bind(ctx.req);
      ctx.req.iterator = (options) => (reads.push(options), iterator(options));
      await next();
    });
    const res = await bare.http.post('/reg').send(metadata('original'));
    expect(res.status).toBe(201);
    expect(res.body.client_name).toBe('original');
    expect(reads).toEqual([{ destroyOnReturn: false }]);
  });

  it('falls back to ctx.request.body once the stream is spent', async () => {
    const bare = await bareProvider(config);
    bare.provider.use(readsBody((ctx) => void ((ctx.request as { body?: unknown }).body = metadata('fallback'))));
    const res = await bare.http.post('/reg').send(metadata('original'));
    expect(res.status).toBe(201);
    expect(res.body.client_name).toBe('fallback');
  });

  it('checks what it reads against content-length', async () => {
    const bare = await bareProvider(config);
    bare.provider.use(
      readsBody((ctx, bytes) => {
        replayRequestBody(ctx, Buffer.from(JSON.stringify(metadata('a longer name than the original'))));
        ctx.req.headers['content-length'] = String(bytes.length); // the original length, not the replayed one
      }),
    );
    const res = await bare.http.post('/reg').send(metadata('original'));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: 'failed to parse the request body' });
  });
});

describe('replay-request-body (the patch)', () => {
  it('oidc-provider parses the bytes given back, as it would the original stream', async () => {
    const bare = await bareProvider(config);
    bare.provider.use(
      readsBody((ctx, bytes) => {
        (ctx.request as { body?: unknown }).body = metadata('fallback'); // not used: the stream is there again
        const read = JSON.parse(bytes.toString()) as Record<string, unknown>;
        replayRequestBody(ctx, Buffer.from(JSON.stringify({ ...read, client_name: 'replayed, and longer' })));
      }),
    );
    const res = await bare.http.post('/reg').send(metadata('original'));
    expect(res.status).toBe(201);
    expect(res.body.client_name).toBe('replayed, and longer');
  });

  it('an empty replay is an empty body to oidc-provider', async () => {
    const bare = await bareProvider(config);
    bare.provider.use(readsBody((ctx) => replayRequestBody(ctx, Buffer.alloc(0))));
    const res = await bare.http.post('/reg').send(metadata('original'));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: 'failed to parse the request body' });
  });
});
