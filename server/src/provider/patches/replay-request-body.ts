/**
 * Patch: give oidc-provider back a request body that a baton middleware has already read.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/shared/selective_body.js (reads the body from the Node request itself while `req.readable`,
 * through `req.iterator({ destroyOnReturn: false })`, checking the size against `content-length`; when the
 * stream is spent it falls back to `ctx.request.body` and prints a one-time plain-text WARNING on stderr).
 * Serves: RFC 7591 §3 (baton's registration middleware must read the body first: its size limit, its `scope`).
 * Test: replay-request-body.test.ts.
 *
 * The bytes oidc-provider is to parse become the request's stream content, which oidc-provider then reads
 * as it would have read the original (its length checks included).
 */
import type Koa from 'koa';

export function replayRequestBody(ctx: Koa.Context, bytes: Buffer): void {
  const req = ctx.req;
  let consumed = false;
  Object.defineProperty(req, 'readable', { configurable: true, get: () => !consumed });
  Object.defineProperty(req, 'iterator', {
    configurable: true,
    value: async function* replay() {
      consumed = true;
      yield bytes;
    },
  });
  req.headers['content-length'] = String(bytes.length);
  delete req.headers['transfer-encoding'];
}
