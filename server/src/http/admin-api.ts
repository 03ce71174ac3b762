/**
 * The admin API (docs/admin-api.md): `${issuer}/admin/api/…`, JSON, for baton's own admin resource
 * (`${issuer}/admin/api`, scopes `admin.read` / `admin.write`). Each route runs the admin operation its
 * `baton` command runs (admin/operations.ts): one implementation under both. The caller's token is checked
 * by own-api-token.ts (RFC 6750 / RFC 9449, the audience, the scope, as introspection would); every call is
 * recorded as an `admin.operation` audit event naming the caller (runOperation). Refusals are RFC 6749
 * §5.2-shaped JSON with the RFC 6750 §3 challenge where due; never a 500.
 */
import Router from '@koa/router';
import type Koa from 'koa';
import { ADMIN_ERROR_STATUS, AdminError } from '../admin/errors.ts';
import { ADMIN_READ_SCOPE, ADMIN_RESOURCE_PATH, ADMIN_WRITE_SCOPE } from '../consts.ts';
import { countsOf, type RevocationCounts } from '../revocation/revoke.ts';
import { answer, authenticate, jsonBodyReader, Refused, type OwnApi, type OwnApiDeps } from './own-api-token.ts';
import type { ChainedRow } from '../audit/chain.ts';
import type { Trace } from '../audit/store.ts';
import type { AdminCaller } from '../admin/audit-record.ts';

export interface AdminApiDeps extends OwnApiDeps {
  /** runs an admin operation (its arguments checked by the operation), recorded as the caller's */
  run(caller: AdminCaller, name: string, args: Record<string, unknown>): Promise<unknown>;
}

type Authenticate = (ctx: Koa.Context, scope: string) => Promise<AdminCaller>;

/** a search page at most (the CLI may ask for more; an HTTP client pages) */
const MAX_SEARCH = 1000;
const SEARCH_PARAMS = ['account', 'client', 'agent', 'resource', 'tool', 'type', 'outcome', 'jti', 'since', 'until'];
const NUMBERS = ['after', 'limit'];

/** The query as an operation's arguments: known parameters only, each once, numbers as numbers. */
function queryArgs(ctx: Koa.Context, strings: readonly string[], numbers: readonly string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (typeof value !== 'string')
      throw new Refused(400, 'invalid_request', `the query parameter ${name} is given more than once`);
    if (numbers.includes(name)) {
      if (!/^\d{1,15}$/.test(value))
        throw new Refused(400, 'invalid_request', `the query parameter ${name} takes a number`);
      args[name] = Number(value);
    } else if (strings.includes(name)) args[name] = value;
    else throw new Refused(400, 'invalid_request', `unknown query parameter ${name.slice(0, 64)}`);
  }
  return args;
}

function json(ctx: Koa.Context, body: unknown): void {
  ctx.status = 200;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

/** The routes and their handlers: scope, then arguments, then the operation. */
type Route = (
  method: 'get' | 'post' | 'put' | 'delete',
  path: string,
  handler: (ctx: Koa.Context) => Promise<void>,
) => void;

function audit(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('get', '/admin/api/audit/events', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    const args = queryArgs(ctx, SEARCH_PARAMS, NUMBERS);
    const limit = (args.limit as number | undefined) ?? 100;
    if (limit < 1 || limit > MAX_SEARCH)
      throw new Refused(400, 'invalid_request', `limit is 1–${MAX_SEARCH} (page with after)`);
    const { rows } = (await deps.run(caller, 'audit.search', { ...args, limit, json: true })) as {
      rows: ChainedRow[];
    };
    json(ctx, { events: rows, next_after: rows.length === limit ? rows.at(-1)!.seq : null });
  });
  route('get', '/admin/api/audit/trace/:jti', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
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
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    const rows = (await deps.run(caller, 'audit.export', queryArgs(ctx, ['since'], NUMBERS))) as ChainedRow[];
    ctx.status = 200;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/x-ndjson';
    ctx.body = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  });
  const verify = async (ctx: Koa.Context, body: Record<string, unknown>) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'audit.verify', body));
  };
  route('get', '/admin/api/audit/verify', (ctx) => verify(ctx, {}));
  route('post', '/admin/api/audit/verify', async (ctx) => {
    await verify(ctx, await jsonBody(ctx));
  });
}

/** a JSON body of the admin API, 1 MiB at most (own-api-token.ts: 400 / 413) */
const readBody = jsonBodyReader(1024 * 1024);

/** A JSON object body, or a precise 400 / 413. */
async function jsonBody(ctx: Koa.Context): Promise<Record<string, unknown>> {
  const body = await readBody(ctx);
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new Refused(400, 'invalid_request', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** the body's member for each target, and the operation's argument it becomes */
const TARGETS = { user: 'account', client: 'client', grant: 'grant', token: 'jti' } as const;

/**
 * `POST /admin/api/revocations` `{ "user" | "client" | "grant" | "token": "…" }` (exactly one member, a
 * string): `baton revoke …` (admin/revoke-operations.ts), scope admin.write; 200 with what it reached.
 */
function revocations(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('post', '/admin/api/revocations', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    const body = await jsonBody(ctx);
    const members = Object.keys(body);
    const kind = members[0] as keyof typeof TARGETS;
    if (members.length !== 1 || !Object.hasOwn(TARGETS, kind))
      throw new Refused(400, 'invalid_request', 'the body names exactly one of user, client, grant, token');
    const id = body[kind];
    if (typeof id !== 'string' || id.length === 0 || id.length > 1024)
      throw new Refused(400, 'invalid_request', `${kind} is a string of 1 to 1024 characters`);
    const r = (await deps.run(caller, `revoke.${kind}`, { [TARGETS[kind]]: id })) as RevocationCounts & {
      target: string;
      id: string;
    };
    json(ctx, { target: r.target, id: r.id, ...countsOf(r) });
  });
}

/**
 * `GET /admin/api/access` (`baton access matrix`) and `GET /admin/api/access/people/{account}` (`baton access
 * person ACCOUNT`, the account named as `baton revoke user` names it), scope admin.read.
 */
function access(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('get', '/admin/api/access', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'access.matrix', {}));
  });
  route('get', '/admin/api/access/people/:account', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'access.person', { account: (ctx.params as { account: string }).account }));
  });
}

/**
 * The reads, scope admin.read: `GET /admin/api/accounts` (`baton accounts list`, paged: `limit` ≤ 100, `after`), `GET
 * /admin/api/accounts/{account}` (`baton accounts show ACCOUNT`: its live grants and access tokens, `limit`
 * ≤ 100, cursors `grants_after` / `tokens_after`), `GET /admin/api/clients` (`baton clients list`: static
 * ones, then registered ones paged by `limit` ≤ 100 and `after`), `GET /admin/api/clients/{client}` (`baton
 * clients show ID`), `GET /admin/api/policy` (`baton policy show`), `GET /admin/api/overview` (`baton overview`),
 * `GET /admin/api/health` (`baton health`) and `GET /admin/api/keys` (`baton keys list`).
 */
function reads(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('get', '/admin/api/accounts', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    const args = queryArgs(ctx, ['after', 'search'], ['limit']);
    const limit = (args.limit as number | undefined) ?? 100;
    if (limit < 1 || limit > 100) throw new Refused(400, 'invalid_request', 'limit is 1–100 (page with after)');
    json(ctx, await deps.run(caller, 'accounts.list', { ...args, limit }));
  });
  route('get', '/admin/api/accounts/:account', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    const args = queryArgs(ctx, ['grants_after', 'tokens_after'], ['limit']);
    json(
      ctx,
      await deps.run(caller, 'accounts.show', { ...args, account: (ctx.params as { account: string }).account }),
    );
  });
  route('get', '/admin/api/clients', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    json(ctx, await deps.run(caller, 'clients.list', queryArgs(ctx, ['after'], ['limit'])));
  });
  route('get', '/admin/api/clients/:client/tokens', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    const args = queryArgs(ctx, ['grants_after', 'tokens_after'], ['limit']);
    json(ctx, await deps.run(caller, 'clients.tokens', { ...args, client: (ctx.params as { client: string }).client }));
  });
  route('get', '/admin/api/clients/:client', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'clients.show', { client: (ctx.params as { client: string }).client }));
  });
  route('get', '/admin/api/policy', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'policy.show', {}));
  });
  route('get', '/admin/api/overview', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'overview', {}));
  });
  route('get', '/admin/api/health', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'health', {}));
  });
  route('get', '/admin/api/keys', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, { keys: await deps.run(caller, 'keys.list', {}) });
  });
}

/**
 * The account changes, scope admin.write: `POST /admin/api/accounts/{account}/disable` and `/enable`
 * (`baton accounts disable|enable ACCOUNT`; disabling revokes the account's tokens in the Token Status List)
 * and `POST /admin/api/accounts/{account}/consents/revoke` (`baton consents revoke ACCOUNT [--client ID]`, the
 * body `{}` or `{"client": "…"}`). Each is recorded as `admin.operation` with the caller (runOperation).
 */
function accountWrites(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  const account = (ctx: Koa.Context) => (ctx.params as { account: string }).account;
  for (const action of ['disable', 'enable'] as const)
    route('post', `/admin/api/accounts/:account/${action}`, async (ctx) => {
      const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
      queryArgs(ctx, [], []);
      json(ctx, await deps.run(caller, `accounts.${action}`, { account: account(ctx) }));
    });
  route('post', '/admin/api/accounts/:account/consents/revoke', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    const body = await jsonBody(ctx);
    const members = Object.keys(body);
    if (members.some((m) => m !== 'client') || (members.length === 1 && typeof body.client !== 'string'))
      throw new Refused(400, 'invalid_request', 'the body is {} or {"client": "…"}');
    json(ctx, await deps.run(caller, 'consents.revoke', { ...body, account: account(ctx) }));
  });
}

/** A body that may be absent (then `{}`), else a JSON object of the `allowed` members only, or a precise 400. */
async function optionalBody(ctx: Koa.Context, allowed: readonly string[], shape: string) {
  // no body, or an empty one (RFC 9110 §8.6: Content-Length 0, no Transfer-Encoding): `{}`
  if (!ctx.get('transfer-encoding') && !ctx.request.length) return {};
  const body = await jsonBody(ctx);
  if (Object.keys(body).some((m) => !allowed.includes(m)))
    throw new Refused(
      400,
      'invalid_request',
      `the body is ${shape}`,
      `members ${Object.keys(body).join(',').slice(0, 200)}`,
    );
  return body;
}

/** `force` is the command line's only: the admin API never skips a rotation's wait */
const NO_FORCE = "{} (force is the command line's only: `baton keys … --force`)";

/**
 * The key rotation, scope admin.write (admin/key-operations.ts): `POST /admin/api/keys` (`baton keys
 * publish`: 201 with the new kid and when it may sign), `POST /admin/api/keys/{kid}/activate` and `/retire`
 * (`baton keys activate|retire -- KID`, never forced). Each is recorded as `keys.changed` naming the kid.
 */
function keyWrites(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('post', '/admin/api/keys', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    await optionalBody(ctx, [], NO_FORCE);
    const r = (await deps.run(caller, 'keys.publish', {})) as { kid: string; activate_after_seconds: number };
    const next = `POST ${ADMIN_RESOURCE_PATH}/keys/${r.kid}/activate once it has been published for ${r.activate_after_seconds} s`;
    json(ctx, { ...r, next });
    ctx.status = 201;
  });
  for (const action of ['activate', 'retire'] as const)
    route('post', `/admin/api/keys/:kid/${action}`, async (ctx) => {
      const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
      queryArgs(ctx, [], []);
      await optionalBody(ctx, [], NO_FORCE);
      const r = (await deps.run(caller, `keys.${action}`, { kid: (ctx.params as { kid: string }).kid })) as {
        previous?: string | null;
        retire_after_seconds?: number;
      };
      const next = r.previous
        ? { next: `POST ${ADMIN_RESOURCE_PATH}/keys/${r.previous}/retire after ${r.retire_after_seconds} s` }
        : {};
      json(ctx, { ...r, ...next });
    });
}

/**
 * Blocking clients at runtime, scope admin.write (admin/client-block-operations.ts): `POST
 * /admin/api/clients/{client}/block` (`baton clients block ID [--reason TEXT]`, the body `{}` or
 * `{"reason": "…"}`; 200, a second block too) and `POST /admin/api/clients/{client}/unblock` (`baton clients
 * unblock ID`; 409 for a client the configuration blocks).
 */
function clientWrites(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  const client = (ctx: Koa.Context) => (ctx.params as { client: string }).client;
  route('post', '/admin/api/clients/:client/block', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    const body = await optionalBody(ctx, ['reason'], '{} or {"reason": "…"}');
    if (body.reason !== undefined && (typeof body.reason !== 'string' || !body.reason || body.reason.length > 500))
      throw new Refused(400, 'invalid_request', 'reason is a string of 1 to 500 characters');
    json(ctx, await deps.run(caller, 'clients.block', { ...body, client: client(ctx) }));
  });
  route('post', '/admin/api/clients/:client/unblock', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    await optionalBody(ctx, [], '{}');
    json(ctx, await deps.run(caller, 'clients.unblock', { client: client(ctx) }));
  });
}

/**
 * `POST /admin/api/policy/reload` (`baton policy reload`), scope admin.write, the body `{}` or none: the
 * server re-reads its configuration file and swaps the policy as SIGHUP does, and every process on the store
 * follows (policy/follow.ts); an invalid file is a 400 naming the problem, the old policy staying.
 */
function policyWrites(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  route('post', '/admin/api/policy/reload', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    await optionalBody(ctx, [], '{} or none');
    json(ctx, await deps.run(caller, 'policy.reload', {}));
  });
}

/**
 * A body that carries a secret's value: as jsonBody, but a refusal never keeps the parser's message, which
 * quotes the text it could not parse (it would reach the `admin_api.refused` log line).
 */
async function secretBody(ctx: Koa.Context, allowed: readonly string[], shape: string) {
  let body: Record<string, unknown>;
  try {
    body = await jsonBody(ctx);
  } catch (err) {
    if (err instanceof Refused) throw new Refused(err.status, err.error, err.message);
    throw err;
  }
  if (Object.keys(body).some((m) => !allowed.includes(m)) || typeof body.value !== 'string')
    throw new Refused(400, 'invalid_request', `the body is ${shape}`);
  return body;
}

/**
 * The gateway's upstream secrets (admin/secret-operations.ts): `GET /admin/api/secrets` (`baton secrets list`,
 * admin.read), and, scope admin.write, `PUT /admin/api/secrets/{name}` `{"value": "…"}` (`baton secrets set`:
 * 201; 409 when it exists), `POST /admin/api/secrets/{name}/rotate` `{"value": "…", "overlap_seconds": N}`
 * (`baton secrets rotate`) and `DELETE /admin/api/secrets/{name}` (`baton secrets delete`). No answer ever
 * carries a value; each change is recorded as `secret.changed`.
 */
function secrets(route: Route, deps: AdminApiDeps, auth: Authenticate): void {
  const name = (ctx: Koa.Context) => (ctx.params as { name: string }).name;
  route('get', '/admin/api/secrets', async (ctx) => {
    const caller = await auth(ctx, ADMIN_READ_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'secrets.list', {}));
  });
  route('put', '/admin/api/secrets/:name', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    const { value } = await secretBody(ctx, ['value'], '{"value": "…"}');
    json(ctx, await deps.run(caller, 'secrets.set', { name: name(ctx), value }));
    ctx.status = 201;
  });
  route('post', '/admin/api/secrets/:name/rotate', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    const body = await secretBody(ctx, ['value', 'overlap_seconds'], '{"value": "…", "overlap_seconds": N}');
    json(ctx, await deps.run(caller, 'secrets.rotate', { ...body, name: name(ctx) }));
  });
  route('delete', '/admin/api/secrets/:name', async (ctx) => {
    const caller = await auth(ctx, ADMIN_WRITE_SCOPE);
    queryArgs(ctx, [], []);
    json(ctx, await deps.run(caller, 'secrets.delete', { name: name(ctx) }));
  });
}

/** Turns what a route threw into its answer: a refusal as such, an operation's refusal by its code, else 503. */
function refusalOf(err: unknown): Refused {
  if (err instanceof Refused) return err;
  if (err instanceof AdminError) {
    const status = ADMIN_ERROR_STATUS[err.code];
    return new Refused(status, status === 404 ? 'not_found' : 'invalid_request', err.message);
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new Refused(503, 'server_error', 'the admin API cannot answer right now; try again later', detail, {
    retryAfter: 5,
  });
}

/** Every route answers through here: its refusals (and any failure) as RFC 6749 §5.2 JSON. */
function guarded(realm: string, handler: (ctx: Koa.Context) => Promise<void>): Koa.Middleware {
  return async (ctx) => {
    try {
      await handler(ctx);
    } catch (err) {
      const r = refusalOf(err);
      (ctx.state as { log?: { warn(o: object, m: string): void } }).log?.warn(
        { status: r.status, error: r.error, detail: r.detail.slice(0, 500) },
        'admin_api.refused',
      );
      answer(ctx, realm, r);
    }
  };
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** baton's admin API as its tokens name it (`${issuer}/admin/api`): the API's routes and the console check them */
export const adminApi = (issuer: string): OwnApi => ({
  audience: `${issuer.replace(/\/$/, '')}${ADMIN_RESOURCE_PATH}`,
  name: "baton's admin API",
  replayTag: 'admin-api',
});

/** The routes (under the issuer's path): `/admin/api/…`; anything else there → 404, a wrong method → 405. */
export function adminApiRoutes(deps: AdminApiDeps): Router {
  const api = adminApi(deps.issuer);
  const audience = api.audience;
  const auth: Authenticate = async (ctx, scope) => {
    const token = await authenticate(ctx, deps, api, scope);
    // RFC 9068 §2.2: client_id always; sub is the client itself for client_credentials
    const client = String(token.client_id);
    return { client, ...(token.sub && token.sub !== client ? { account: token.sub } : {}) };
  };
  const router = new Router();
  const route: Route = (method, path, handler) => router[method](path, guarded(audience, handler));
  audit(route, deps, auth);
  revocations(route, deps, auth);
  access(route, deps, auth);
  reads(route, deps, auth);
  accountWrites(route, deps, auth);
  policyWrites(route, deps, auth);
  keyWrites(route, deps, auth);
  clientWrites(route, deps, auth);
  secrets(route, deps, auth);
  const rest = `${ADMIN_RESOURCE_PATH}/*rest`;
  router.all(
    rest,
    guarded(audience, async (ctx) => {
      const allow = METHODS.filter((m) => router.match(ctx.path, m).pathAndMethod.some((l) => l.path !== rest));
      if (allow.length > 0)
        throw new Refused(405, 'invalid_request', `${ctx.method} is not served here`, 'method', {
          allow: allow.join(', '),
        });
      throw new Refused(404, 'not_found', 'no such admin API route');
    }),
  );
  return router;
}
