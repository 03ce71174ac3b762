/**
 * `GET ${issuer}/statuslists/:id`: the Status List Token of a list (draft-ietf-oauth-status-list-20 §8.1,
 * §8.2), `application/statuslist+jwt`, public (the lists are what any verifier of baton's tokens reads).
 * CORS allowed (§8.1 SHOULD); `Cache-Control: max-age` = the token's `ttl` (§8.2: a verifier goes by `ttl`
 * and `exp` anyway); gzip when the client accepts it (§8.2 SHOULD). An unknown or retired list is 404; the `time` parameter of historical resolution (§8.4),
 * which baton does not support (§12.7), is 501. `GET ${issuer}/statuslists` is the Status List Aggregation
 * (§9.3: `{ status_lists: [uri, …] }`, application/json), named by the AS metadata (§9.1).
 */
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import type Koa from 'koa';
import type { StatusListTokens } from '../status-list/serve.ts';

export const STATUS_LIST_TYPE = 'application/statuslist+jwt';

type Log = { error(obj: object, msg: string): void };

/** the store failed: 503, so a verifier knows it cannot know (never a 500, never the driver's message) */
async function orUnavailable(ctx: Koa.Context, answer: () => Promise<void>): Promise<void> {
  try {
    await answer();
  } catch (err) {
    (ctx.state as { log?: Log }).log?.error({ reason: (err as Error).message }, 'status_list.unavailable');
    ctx.set('Retry-After', '1');
    refuse(ctx, 503, 'temporarily_unavailable', 'the status list is unavailable; try again later');
  }
}

const refuse = (ctx: Koa.Context, status: number, error: string, description: string) => {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
};

/** list ids are positive int4 (status_lists.id) */
const listId = (raw: string): number | undefined => {
  if (!/^[1-9][0-9]{0,9}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n <= 2_147_483_647 ? n : undefined;
};

export function statusListRoutes(tokens: StatusListTokens, ttlSeconds: number): Router {
  const router = new Router();
  router.get('/statuslists', async (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    await orUnavailable(ctx, async () => {
      ctx.body = { status_lists: await tokens.uris() };
      ctx.set('Cache-Control', `public, max-age=${ttlSeconds}`);
    });
  });
  router.get('/statuslists/:id', async (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    // §8.4: a server that does not support historical resolution SHOULD answer 501
    if (ctx.query.time !== undefined)
      return refuse(ctx, 501, 'invalid_request', 'historical resolution (time) is not supported');
    const id = listId(ctx.params.id!);
    await orUnavailable(ctx, async () => {
      const token = id === undefined ? undefined : await tokens.token(id);
      if (!token) return refuse(ctx, 404, 'not_found', 'no such status list');
      ctx.status = 200;
      ctx.type = STATUS_LIST_TYPE;
      ctx.set('Cache-Control', `public, max-age=${ttlSeconds}`);
      ctx.vary('Accept-Encoding');
      if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
        ctx.set('Content-Encoding', 'gzip');
        ctx.body = gzipSync(token);
      } else {
        ctx.body = token;
      }
    });
  });
  return router;
}
