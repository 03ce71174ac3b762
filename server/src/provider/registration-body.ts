import { bodyParser } from '@koa/bodyparser';
import type Koa from 'koa';
import { replayRequestBody } from './internals.ts';

/**
 * RFC 7591 registration requests (POST/PUT /reg): bounded in size (clients.registration.dcr.max_metadata_bytes,
 * larger → invalid_client_metadata) while the body is read, chunked or not, so an oversized body is refused
 * at the limit and never buffered whole; and without `scope`: baton grants what roles and resources allow,
 * and MCP clients send the protected resource's scopes there, which are not client metadata oidc-provider
 * knows. `request_uris`, which oidc-provider does not process, is still checked as a URI baton would fetch
 * (`uriProblem`): a registration never stores a loopback or private address.
 */
export function registrationBody(limit: number, uriProblem: (uri: unknown) => string | undefined) {
  // koa's parser (raw-body underneath) counts bytes as they arrive and stops at `jsonLimit` with a 413
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: limit });
  const refuse = (ctx: Koa.Context, description: string) => {
    ctx.status = 400;
    ctx.body = { error: 'invalid_client_metadata', error_description: description };
  };
  return async (ctx: Koa.Context, next: () => Promise<void>): Promise<void> => {
    if (
      !ctx.path.startsWith('/reg') ||
      (ctx.method !== 'POST' && ctx.method !== 'PUT') ||
      !ctx.is('application/json')
    ) {
      return next();
    }
    const tooLarge = () => refuse(ctx, `client metadata larger than ${limit} bytes`);
    if (Number(ctx.get('content-length') || 0) > limit) return tooLarge();
    try {
      await parse(ctx, async () => {});
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (status === 413) return tooLarge();
      // not JSON: oidc-provider answers invalid_request (it reads an empty body: the stream is spent)
      replayRequestBody(ctx, Buffer.alloc(0));
      return next();
    }
    const body = (ctx.request as { body?: unknown }).body;
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      const metadata = body as Record<string, unknown>;
      delete metadata.scope;
      if (metadata.request_uris !== undefined) {
        const uris = Array.isArray(metadata.request_uris) ? (metadata.request_uris as unknown[]) : [undefined];
        for (const uri of uris) {
          const problem = uriProblem(uri);
          if (problem) return refuse(ctx, `request_uris: ${String(uri)}: ${problem}`);
        }
      }
    }
    // oidc-provider parses the body itself: it gets what was read (or nothing, when that was not JSON)
    replayRequestBody(ctx, body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body)));
    return next();
  };
}
