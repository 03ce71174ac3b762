/**
 * The admin API (docs/admin-api.md): `${issuer}/admin/api/…`, JSON, for baton's own admin resource
 * (`${issuer}/admin/api`, scopes `admin.read` / `admin.write`). Each route runs the admin operation its
 * `baton` command runs (admin/operations.ts): one implementation under both. The caller's token is checked
 * by `authenticate` (http/own-api-token.ts: RFC 6750 / RFC 9449, the audience, the scope, as introspection
 * would); every call is recorded as an `admin.operation` audit event naming the caller. Refusals are RFC 6749
 * §5.2-shaped JSON; never a 500.
 */
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type Koa from 'koa';
import { ADMIN_ERROR_STATUS, AdminError } from '../admin/errors.ts';
import type { ChainedRow } from '../audit/chain.ts';
import type { Trace } from '../audit/store.ts';
import type { AdminCaller } from '../admin/audit-record.ts';

/** the scopes of the admin resource (consts.ts names the resource) */
export type AdminScope = 'admin.read' | 'admin.write';

export interface AdminApiDeps {
  /** verifies the request's token for the admin resource and `scope`; throws an ApiRefusal otherwise */
  authenticate(ctx: Koa.Context, scope: AdminScope): Promise<AdminCaller>;
  /** runs an admin operation (its arguments checked by the operation) on behalf of `caller` */
  run(caller: AdminCaller, name: string, args: Record<string, unknown>): Promise<unknown>;
}

/** A refusal on the wire (RFC 6749 §5.2): status, code, generic text; the detail goes to the log. */
export class ApiRefusal extends Error {
  readonly status: number;
  readonly error: string;
  readonly detail: string;
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, description: string, detail = description, headers = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.detail = detail;
    this.headers = headers;
  }
}

/** a search page at most (the CLI may ask for more; an HTTP client pages) */
const MAX_SEARCH = 1000;
const SEARCH_PARAMS = ['account', 'client', 'agent', 'resource', 'tool', 'type', 'outcome', 'jti', 'since', 'until'];
const NUMBERS = ['after', 'limit'];

/** The query as an operation's arguments: known parameters only, each once, numbers as numbers. */
function queryArgs(ctx: Koa.Context, strings: readonly string[], numbers: readonly string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (typeof value !== 'string')
      throw new ApiRefusal(400, 'invalid_request', `the query parameter ${name} is given more than once`);
    if (numbers.includes(name)) {
      if (!/^\d{1,15}$/.test(value))
        throw new ApiRefusal(400, 'invalid_request', `the query parameter ${name} takes a number`);
      args[name] = Number(value);
    } else if (strings.includes(name)) args[name] = value;
    else throw new ApiRefusal(400, 'invalid_request', `unknown query parameter ${name.slice(0, 64)}`);
  }
  return args;
}

function json(ctx: Koa.Context, body: unknown): void {
  ctx.status = 200;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** The routes and their handlers: scope, then arguments, then the operation. */
type Route = (method: 'get' | 'post', path: string, handler: (ctx: Koa.Context) => Promise<void>) => void;

function audit(route: Route, deps: AdminApiDeps, parse: Koa.Middleware): void {
  route('get', '/admin/api/audit/events', async (ctx) => {
    const caller = await deps.authenticate(ctx, 'admin.read');
    const args = queryArgs(ctx, SEARCH_PARAMS, NUMBERS);
    const limit = (args.limit as number | undefined) ?? 100;
    if (limit < 1 || limit > MAX_SEARCH)
      throw new ApiRefusal(400, 'invalid_request', `limit is 1–${MAX_SEARCH} (page with after)`);
    const { rows } = (await deps.run(caller, 'audit.search', { ...args, limit, json: true })) as {
      rows: ChainedRow[];
    };
    json(ctx, { events: rows, next_after: rows.length === limit ? rows.at(-1)!.seq : null });
  });
  route('get', '/admin/api/audit/trace/:jti', async (ctx) => {
    const caller = await deps.authenticate(ctx, 'admin.read');
    queryArgs(ctx, [], []);
    const { trace } = (await deps.run(caller, 'audit.trace', {
      jti: (ctx.params as { jti: string }).jti,
      json: true,
    })) as {
      trace: Trace;
    };
    json(ctx, trace);
  });
  route('get', '/admin/api/audit/export', async (ctx) => {
    const caller = await deps.authenticate(ctx, 'admin.read');
    const rows = (await deps.run(caller, 'audit.export', queryArgs(ctx, ['since'], NUMBERS))) as ChainedRow[];
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/x-ndjson';
    ctx.body = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  });
  const verify = async (ctx: Koa.Context, body: Record<string, unknown>) => {
    const caller = await deps.authenticate(ctx, 'admin.read');
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'audit.verify', body));
  };
  route('get', '/admin/api/audit/verify', (ctx) => verify(ctx, {}));
  route('post', '/admin/api/audit/verify', async (ctx) => {
    if (!ctx.is('application/json')) throw new ApiRefusal(400, 'invalid_request', 'the body must be application/json');
    try {
      await parse(ctx, async () => {});
    } catch (err) {
      if ((err as { status?: number }).status === 413)
        throw new ApiRefusal(413, 'invalid_request', 'the body is larger than 1 MiB');
      throw new ApiRefusal(400, 'invalid_request', 'the body is not JSON');
    }
    const body = (ctx.request as { body?: unknown }).body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new ApiRefusal(400, 'invalid_request', 'the body must be a JSON object');
    await verify(ctx, body as Record<string, unknown>);
  });
}

/** Turns what a route threw into its answer: a refusal as such, an operation's refusal by its code, else 503. */
function refusalOf(err: unknown): ApiRefusal {
  if (err instanceof ApiRefusal) return err;
  if (err instanceof AdminError) {
    const status = ADMIN_ERROR_STATUS[err.code];
    return new ApiRefusal(status, status === 404 ? 'not_found' : 'invalid_request', err.message);
  }
  return new ApiRefusal(503, 'server_error', 'the admin API cannot answer right now; try again later', String(err), {
    'Retry-After': '5',
  });
}

/** Every route answers through here: its refusals (and any failure) as RFC 6749 §5.2 JSON. */
function guarded(handler: (ctx: Koa.Context) => Promise<void>): Koa.Middleware {
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (err) {
      const r = refusalOf(err);
      (ctx.state as { log?: { warn(o: object, m: string): void } }).log?.warn(
        { status: r.status, error: r.error, detail: r.detail.slice(0, 500) },
        'admin_api.refused',
      );
      ctx.status = r.status;
      ctx.set('Cache-Control', 'no-store');
      for (const [k, v] of Object.entries(r.headers)) ctx.set(k, v);
      ctx.body = { error: r.error, error_description: r.message };
    }
  };
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function adminApiRoutes(deps: AdminApiDeps): Router {
  const router = new Router();
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: 1024 * 1024, jsonStrict: true });
  const routes: Route = (method, path, handler) => router[method](path, guarded(handler));
  audit(routes, deps, parse);
  // anything else under /admin/api/: 405 with Allow on a known path, 404 otherwise (never the provider's)
  const rest = '/admin/api/*rest';
  router.all(
    rest,
    guarded(async (ctx) => {
      const allow = METHODS.filter((m) => router.match(ctx.path, m).pathAndMethod.some((l) => l.path !== rest));
      if (allow.length > 0)
        throw new ApiRefusal(405, 'invalid_request', `${ctx.method} is not served here`, 'method', {
          Allow: allow.join(', '),
        });
      throw new ApiRefusal(404, 'not_found', 'no such admin API route');
    }),
  );
  return router;
}
