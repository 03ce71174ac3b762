/**
 * SCIM 2.0 provisioning endpoints (RFC 7644), one base per IdP: `${issuer}/idp/<idp id>/scim/v2/` with
 * `ServiceProviderConfig`, `Schemas`, `ResourceTypes` (§4) and `Users` (§3.3 POST, §3.4.1 GET by id, §3.4.2
 * GET with a filter and paging, §3.5.1 PUT, §3.5.2 PATCH, §3.6 DELETE), for the `oidc` IdPs with
 * `identity_providers[].scim` (the others: 404). Every request needs that IdP's bearer token (bearer.ts);
 * bodies are `application/scim+json` or `application/json` (§3.1, §8.1), at most 64 KiB (413). Every
 * refusal is a SCIM error (§3.12, errors.ts), logged as `scim.refused` with its detail; a failure of the
 * store is 503, never a 500. What a change did is recorded in the audit trail (users.ts).
 */
import Router from '@koa/router';
import type Koa from 'koa';
import type { AuditSink } from '../provider/audit-trail.ts';
import { recordNow } from '../audit/sink.ts';
import type { AuditEvent } from '../audit/record.ts';
import { jsonBodyReader, Refused } from '../http/own-api-token.ts';
import { bearerCheck } from './bearer.ts';
import { MAX_BODY_BYTES, noFilter, resourceTypes, schemas, serviceProviderConfig } from './discovery.ts';
import { answer, notFound, refusalOf, SCIM_TYPE, ScimRefusal } from './errors.ts';
import { isUserId, lookupOf, outgoingUser, pagingOf } from './resource.ts';
import SCIMMY from 'scimmy';
import { findUser, listUsers, type ScimUser } from './store.ts';
import {
  createUser,
  deleteUser,
  modifyUser,
  replaceUser,
  type Recorder,
  type ScimIdp,
  type ScimStores,
} from './users.ts';
import type { IdpConfig } from '../config/schema.ts';

export interface ScimDeps extends ScimStores {
  issuer: string;
  /** the configured IdPs (those of type oidc with `scim` serve these endpoints) */
  idps: readonly IdpConfig[];
  /** where the changes are recorded (the audit writer) */
  audit: AuditSink;
}

type Log = { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

interface Request {
  ctx: Koa.Context;
  idp: ScimIdp;
  /** this IdP's SCIM base URL */
  base: string;
  record: Recorder;
}

const readBody = jsonBodyReader(MAX_BODY_BYTES, ['application/json', SCIM_TYPE]);

/** The request's JSON body; the reader's 400 / 413 as SCIM errors (RFC 7644 §3.12 invalidSyntax). */
async function body(ctx: Koa.Context): Promise<unknown> {
  try {
    return await readBody(ctx);
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    if (err.status === 413) throw new ScimRefusal(413, undefined, err.message);
    throw new ScimRefusal(400, 'invalidSyntax', err.message, { logDetail: err.detail });
  }
}

function reply(ctx: Koa.Context, status: number, value: unknown): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = value;
  ctx.type = SCIM_TYPE;
}

/** A User's answer: 200 (201 with its Location, RFC 7644 §3.3), or 404 when it is gone. */
function user(r: Request, found: ScimUser | undefined, status = 200): void {
  if (!found) throw notFound('the User is gone');
  const answered = outgoingUser(found, `${r.base}/Users`);
  if (status === 201) r.ctx.set('Location', answered.meta.location);
  reply(r.ctx, status, answered);
}

const single = (ctx: Koa.Context, name: string): string | undefined => {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw new ScimRefusal(400, 'invalidValue', `${name} is given more than once`);
  return v;
};

type Handler = (r: Request) => Promise<void>;

function userRoutes(deps: ScimDeps): [method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string, Handler][] {
  const id = (r: Request) => {
    const value = (r.ctx.params as { id: string }).id;
    if (!isUserId(value)) throw notFound(`no User ${value.slice(0, 64)}`);
    return value;
  };
  return [
    [
      'get',
      '/Users',
      async (r) => {
        const filter = single(r.ctx, 'filter');
        const lookup = filter === undefined ? undefined : lookupOf(filter);
        const page = pagingOf(r.ctx.query);
        const { users, total } = await listUsers(deps.db, r.idp.id, lookup, page);
        // RFC 7644 §3.4.2: the page baton's query selected (scimmy's ListResponse pages a whole list itself)
        reply(r.ctx, 200, {
          schemas: [SCIMMY.Messages.ListResponse.id],
          totalResults: total,
          Resources: users.map((u) => outgoingUser(u, `${r.base}/Users`)),
          startIndex: page.startIndex,
          itemsPerPage: users.length,
        });
      },
    ],
    ['post', '/Users', async (r) => user(r, await createUser(deps, r.idp, await body(r.ctx), r.record), 201)],
    ['get', '/Users/:id', async (r) => user(r, await findUser(deps.db, r.idp.id, id(r)))],
    ['put', '/Users/:id', async (r) => user(r, await replaceUser(deps, r.idp, id(r), await body(r.ctx), r.record))],
    ['patch', '/Users/:id', async (r) => user(r, await modifyUser(deps, r.idp, id(r), await body(r.ctx), r.record))],
    [
      'delete',
      '/Users/:id',
      async (r) => {
        await deleteUser(deps, r.idp, id(r), r.record);
        r.ctx.status = 204;
      },
    ],
  ];
}

function discoveryRoutes(): [method: 'get', path: string, Handler][] {
  const idOf = (r: Request) => (r.ctx.params as { id?: string }).id;
  return [
    [
      'get',
      '/ServiceProviderConfig',
      async (r) => {
        noFilter(r.ctx.query);
        reply(r.ctx, 200, serviceProviderConfig(r.base, `${r.base}/ServiceProviderConfig`));
      },
    ],
    ['get', '/Schemas', async (r) => (noFilter(r.ctx.query), reply(r.ctx, 200, schemas(r.base, undefined)))],
    ['get', '/Schemas/:id', async (r) => reply(r.ctx, 200, schemas(r.base, idOf(r)))],
    [
      'get',
      '/ResourceTypes',
      async (r) => (noFilter(r.ctx.query), reply(r.ctx, 200, resourceTypes(r.base, undefined))),
    ],
    ['get', '/ResourceTypes/:id', async (r) => reply(r.ctx, 200, resourceTypes(r.base, idOf(r)))],
  ];
}

/** The IdP the path names, when it serves SCIM (else 404, before any token is looked at). */
function scimIdp(deps: ScimDeps, id: string): ScimIdp {
  const idp = deps.idps.find((i) => i.id === id);
  if (!idp || idp.type !== 'oidc' || !idp.scim) throw notFound(`no SCIM service for idp ${id.slice(0, 64)}`);
  return idp as ScimIdp;
}

/** Every route answers through here: the IdP, its token, then the handler; any refusal as a SCIM error. */
function guarded(deps: ScimDeps, handler: Handler): Koa.Middleware {
  const base = (id: string) => `${deps.issuer.replace(/\/$/, '')}/idp/${encodeURIComponent(id)}/scim/v2`;
  const checks = new Map<string, (ctx: Koa.Context) => void>();
  return async (ctx) => {
    const idpId = (ctx.params as { idp: string }).idp;
    const log: Log = (ctx.state as { log?: Log }).log ?? { warn: () => {}, error: () => {} };
    const requestId = typeof ctx.state.reqId === 'string' ? { request_id: ctx.state.reqId } : {};
    const record: Recorder = (events: AuditEvent[]) =>
      events.length === 0
        ? Promise.resolve()
        : recordNow(
            deps.audit,
            events.map((e) => ({ ...e, ...requestId })),
            log,
          ).catch(() => {});
    try {
      const idp = scimIdp(deps, idpId);
      let check = checks.get(idp.id);
      if (!check) checks.set(idp.id, (check = bearerCheck(idp.scim.token)));
      check(ctx);
      await handler({ ctx, idp, base: base(idp.id), record });
    } catch (err) {
      const r = refusalOf(err);
      const entry = {
        idp: idpId.slice(0, 64),
        status: r.status,
        scimType: r.scimType,
        detail: r.logDetail.slice(0, 500),
      };
      if (r.status >= 500) log.error(entry, 'scim.refused');
      else log.warn(entry, 'scim.refused');
      answer(ctx, base(idpId), r);
    }
  };
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The routes (under the issuer's path): `/idp/:idp/scim/v2/…`; another path there → 404, a method → 405. */
export function scimRoutes(deps: ScimDeps): Router {
  const router = new Router();
  const prefix = '/idp/:idp/scim/v2';
  for (const [method, path, handler] of [...discoveryRoutes(), ...userRoutes(deps)])
    router[method](`${prefix}${path}`, guarded(deps, handler));
  const rest = `${prefix}/*rest`;
  router.all(
    rest,
    guarded(deps, (r) => {
      const allow = METHODS.filter((m) => router.match(r.ctx.path, m).pathAndMethod.some((l) => l.path !== rest));
      if (allow.length === 0) throw notFound('no such SCIM endpoint');
      r.ctx.set('Allow', allow.join(', '));
      throw new ScimRefusal(405, undefined, `${r.ctx.method} is not served here`);
    }),
  );
  return router;
}
